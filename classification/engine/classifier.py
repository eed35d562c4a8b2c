"""The domain classifier: backbone embedding and labels, trained head, and the
container, OCR and face signals, combined into per-domain scores with reasons."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, wait
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from core.domains import DOMAINS
from imaging import imagefile
from imaging.imagefile import ParsedUpload
from imaging.limits import DEFAULT_MAX_PIXELS

from . import backbones, faces, signals
from .head import DomainHead, load_default

log = logging.getLogger(__name__)


@dataclass
class Classification:
    domain: str
    confidence: float
    scores: dict[str, float]
    top5: list[tuple[str, float]]
    model: str
    reasons: list[str]
    ocr: str = "not needed"  # "used", "not needed", or "unavailable"
    head: str | None = None

    @property
    def leaning(self) -> tuple[str, float] | None:
        """An unsure `none` (no domain reached the classifier's confidence): the
        domain it leans to and that domain's probability; else None."""
        if self.domain != "none" or not self.scores:
            return None
        towards = max(self.scores, key=lambda domain: self.scores[domain])
        return None if towards == "none" else (towards, self.scores[towards])

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["top5"] = [[label, round(p, 4)] for label, p in self.top5]
        result["scores"] = {d: round(s, 4) for d, s in self.scores.items()}
        result["confidence"] = round(self.confidence, 4)
        return result


@dataclass(frozen=True)
class Sight:
    """What the models (TensorFlow's part of classifying) make of an RGB
    rendering: the backbone's embedding and ImageNet probabilities, and the faces."""

    embedding: NDArray[np.float32]
    probabilities: NDArray[np.float32]
    faces: list[faces.Face]


class Vision(Protocol):
    """The models, in this process (LocalVision) or in a model process of
    their own (model_process.RemoteVision)."""

    @property
    def name(self) -> str: ...  # the backbone's

    def look(self, rgb: NDArray[np.uint8]) -> Sight: ...


class LocalVision:
    """The backbone and the face detector, loaded in this process (each takes
    one call at a time; by default the process's shared detector)."""

    def __init__(self, backbone: backbones.Backbone, detector: faces.FaceDetector | None = None) -> None:
        self.backbone = backbone
        # loaded now: a missing model fails at start, not on the first photo
        self.detector = detector or faces.detector()

    @property
    def name(self) -> str:
        return self.backbone.name

    def look(self, rgb: NDArray[np.uint8]) -> Sight:
        embedding, probabilities = self.backbone.run(self.backbone.preprocess(rgb)[None])
        return Sight(embedding[0], probabilities[0], self.detector(rgb))


@dataclass
class DomainClassifier:
    """Loaded once per process; `classify` is safe to call from several threads."""

    model_name: str = "auto"
    resnet50_weights: Path | None = None  # see backbones.find_resnet50_weights
    head: DomainHead | None = None
    use_ocr: bool = True
    # A sensitive domain is asserted only from this combined probability on
    # (the confidence the default mismatch policy acts on); below it the image
    # is "none", with the leaning in the reasons and the scores.
    min_confidence: float = 0.6
    # The models: by default loaded here (model_name, resnet50_weights);
    # model_process.RemoteVision asks a model process instead.
    vision: Vision | None = None
    ocr_available: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.vision is None:
            self.vision = LocalVision(backbones.load(self.model_name, self.resnet50_weights))
        if self.head is None:
            self.head = load_default(self.vision.name)
        if self.head is not None and self.head.backbone != self.vision.name:
            raise ValueError(f"the domain head was trained on {self.head.backbone}, not {self.vision.name}")
        self.ocr_available = self.use_ocr and signals.ocr_available()
        if self.use_ocr and not self.ocr_available:
            log.warning("Tesseract is not installed: classifying without the OCR signal")

    @property
    def model(self) -> str:
        """The backbone's name."""
        assert self.vision is not None  # set by __post_init__
        return self.vision.name

    def with_head(self, head: DomainHead) -> DomainClassifier:
        """The same loaded models with another head (for training and cross-validation)."""
        return replace(self, head=head)

    def look(self, rgb: NDArray[np.uint8]) -> Sight:
        assert self.vision is not None  # set by __post_init__
        return self.vision.look(rgb)

    @staticmethod
    def rendered(upload: ParsedUpload, pool: Executor | None = None) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """(RGB, grey) 8-bit renderings of an image file (RGB or grey; a NIfTI
        volume's middle slice), in memory of their own (see renderings): all
        that the classification reads of the image, so that its samples may be
        encrypted in place once they are made."""
        return renderings(upload.rendering(), pool)

    def gather_signals(
        self,
        upload: ParsedUpload,
        sight: Sight,
        grey: NDArray[np.uint8],
    ) -> tuple[list[signals.Evidence], list[tuple[str, float]], str]:
        """Evidence from the container, the ImageNet labels, faces and OCR (pages of text,
        dark or light, or overlay captions)."""
        imagenet_evidence, top5 = signals.imagenet(sight.probabilities)
        found = [signals.container(upload), imagenet_evidence, signals.faces(sight.faces)]
        reading: Callable[[], signals.Evidence] | None = None
        if signals.looks_like_text_page(grey):
            reading = partial(signals.text, grey)
        elif signals.looks_like_text_page(grey, inverted=True):
            # Light text on a dark screen (a scanner console, a dose report,
            # a viewer in dark mode): read it as a page, dark on light.
            reading = partial(signals.text, 255 - grey)
        elif bands := signals.overlay_bands(grey):
            reading = partial(signals.overlay_text, bands)
        ocr = "not needed"
        if reading is not None and self.ocr_available:
            found.append(reading())
            ocr = "used"
        elif reading is not None:
            ocr = "unavailable"
        return found, top5, ocr

    def classify(self, upload: ParsedUpload | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Classification:
        """`upload`: the parsed upload, or a file's bytes (parsed here, within `max_pixels`)."""
        if isinstance(upload, bytes):
            upload = imagefile.parse(upload, max_pixels)
        return self.classify_rendered(upload, *self.rendered(upload))

    def classify_rendered(
        self, upload: ParsedUpload, rgb: NDArray[np.uint8], grey: NDArray[np.uint8]
    ) -> Classification:
        """classify() of the upload's renderings (DomainClassifier.rendered):
        reads nothing more of the upload's samples."""
        sight = self.look(rgb)
        found, top5, ocr = self.gather_signals(upload, sight, grey)
        return self.combine(sight.embedding, found, top5, ocr)

    def combine(
        self, embedding: NDArray[np.float32], found: list[signals.Evidence], top5: list[tuple[str, float]], ocr: str
    ) -> Classification:
        """The head's log-probabilities (uniform without a head), weighted, plus the
        signals' log-odds, then softmax at the head's calibration temperature:
        the floor, weight and temperature are the head's (see head.FLOOR)."""
        if self.head is not None:
            prior = self.head.floored(embedding[None])[0]
            weight, temperature = self.head.weight, self.head.temperature
        else:
            prior = np.full(len(DOMAINS), 1 / len(DOMAINS))
            weight, temperature = 1.0, 1.0
        logits = weight * np.log(prior)
        reasons: list[str] = []
        for evidence in found:
            for domain, amount in evidence.scores.items():
                logits[DOMAINS.index(domain)] += amount
            reasons.extend(evidence.reasons)
        logits = (logits - logits.max()) / temperature
        scores = np.exp(logits) / np.exp(logits).sum()
        best = int(np.argmax(scores))
        if self.head is not None and prior[best] >= 0.5:
            reasons.insert(0, f"appearance: {DOMAINS[best]} ({prior[best]:.0%})")
        if ocr == "unavailable":
            reasons.append("has text to read, but OCR (Tesseract) is not installed")
        domain = DOMAINS[best]
        if domain != "none" and scores[best] < self.min_confidence:
            reasons.append(f"no domain reaches {self.min_confidence:.0%} (leaning {domain}, {scores[best]:.0%})")
            domain, best = "none", DOMAINS.index("none")
        return Classification(
            domain=domain,
            confidence=float(scores[best]),
            scores={d: float(s) for d, s in zip(DOMAINS, scores, strict=True)},
            top5=top5,
            model=self.model,
            reasons=reasons,
            ocr=ocr,
            head=self.head.digest[:12] if self.head is not None else None,
        )


# The appearance model sees 224 pixels and the face detector 128: a larger
# rendering is first box-averaged by a whole factor (Image.reduce, a few
# milliseconds) to at most twice this side, instead of resizing a 4096x4096
# photo three times over (a third of a second).
MODEL_SIDE = 1024
# Pixels of a band of rows rendered at once: Pillow's copy of a band (4 bytes
# a pixel for RGB) is a few megabytes, where a whole 4096x4096 photo's is 67 MB.
BAND_PIXELS = 1 << 20


def renderings(
    rendering: NDArray[np.uint8], pool: Executor | None = None, *, band_pixels: int = BAND_PIXELS
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(RGB, grey) renderings of an 8-bit RGB or grey `rendering`, in memory of
    their own: the RGB one for the appearance model and the face detector,
    box-averaged by a whole factor (Image.reduce) to at most twice MODEL_SIDE
    on its longer side; the grey one (Pillow's "L") for OCR, at full size.

    Made a band of rows at a time, each band a whole number of the factor's
    blocks high, so that the result is the same bytes as from one Pillow copy
    of the whole; every other band on `pool` when one is given (Pillow lets go
    of the GIL: both cores render a large photo)."""
    height, width = rendering.shape[:2]
    factor = max(height, width) // MODEL_SIDE
    step = factor if factor >= 2 else 1
    rows = step * max(1, band_pixels // (width * step))
    grey = np.empty((height, width), dtype=np.uint8)
    small = np.empty((-(-height // step), -(-width // step), *rendering.shape[2:]), dtype=np.uint8)

    def band(top: int) -> None:
        part = rendering[top : top + rows]
        if part.ndim == 2 and step == 1:
            grey[top : top + rows] = small[top : top + rows] = part
            return
        picture = Image.fromarray(part)  # (its memory goes back when the band is done)
        grey[top : top + rows] = part if part.ndim == 2 else np.asarray(picture.convert("L"))
        reduced = np.asarray(picture.reduce(step)) if step > 1 else part
        small[top // step : top // step + reduced.shape[0]] = reduced

    tops = range(0, height, rows)
    elsewhere = [pool.submit(band, top) for top in tops[1::2]] if pool is not None else []
    try:
        for top in tops[0::2] if pool is not None else tops:
            band(top)
    finally:
        wait(elsewhere)  # no band is still writing when the caller goes on
    for done in elsewhere:
        done.result()
    rgb = np.repeat(small[..., None], 3, axis=2) if small.ndim == 2 else small
    return rgb, grey


def warm_up_rendering() -> NDArray[np.uint8]:
    """A small generated RGB picture to classify once before the first user's
    (a model's first run is slow: graph building, allocations)."""
    rows, columns = np.mgrid[0:96, 0:128]
    return np.stack([rows * 2, columns * 2, 255 - columns * 2], axis=-1).astype(np.uint8)
