"""Evidence for a domain from sources other than the CNN's embedding.

Each signal returns per-domain evidence (a log-odds bonus, 0 for no evidence)
and human-readable reasons.  None of them stores or logs what it read: OCR
text lives in memory for the length of one call.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imaging import dicom
from imaging.imagefile import ParsedUpload

from .domains import class_domain, class_name

OCR_TIMEOUT_SECONDS = 60
# Tesseract's OpenMP threads make one page slower, not faster, on a small
# machine (about 1.5 s against 0.9 s here).
_OCR_ENVIRONMENT = {"OMP_THREAD_LIMIT": "1"}

LEXICONS = {
    "finance": (
        "invoice", "balance", "account", "tax", "payment", "amount due", "balance due", "bank", "statement",
        "total", "subtotal", "iban", "credit", "debit", "interest", "transaction", "deposit", "withdrawal",
        "receipt", "vat", "remittance", "due date", "salary", "payroll", "loan",
    ),
    "legal": (
        "court", "plaintiff", "defendant", "agreement", "hereby", "statute", "attorney", "witness", "whereas",
        "jurisdiction", "contract", "party", "parties", "clause", "judge", "case no", "docket", "affidavit",
        "counsel", "hereinafter", "notary", "subpoena", "verdict", "law", "signed", "petitioner", "respondent",
    ),
    "medical": (
        "patient", "diagnosis", "dose", "clinical", "hospital", "physician", "prescription", "mg", "radiology",
        "discharge", "symptoms", "treatment", "medical record", "blood", "allergies", "mrn", "dob",
    ),
    "personal": (
        "passport", "date of birth", "driver's licence", "driver's license", "driving licence", "nationality",
        "identity card", "place of birth", "sex", "surname", "given names", "social security",
    ),
    "surveillance": ("cam", "camera", "rec", "cctv", "channel"),
}  # fmt: skip
OCR_WEIGHT_PER_HIT = 1.2
OCR_WEIGHT_CAP = 4.0
FACE_WEIGHT = 2.0
DICOM_WEIGHT = 8.0
IMAGENET_WEIGHT = 2.0


@dataclass
class Evidence:
    scores: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def add(self, domain: str, amount: float, reason: str | None = None) -> None:
        self.scores[domain] = self.scores.get(domain, 0.0) + amount
        if reason:
            self.reasons.append(reason)


def container(upload: ParsedUpload) -> Evidence:
    """A DICOM file of a clinical modality, or a NIfTI volume, is medical imaging."""
    evidence = Evidence()
    if upload.is_nifti:
        evidence.add("medical", DICOM_WEIGHT, "NIfTI volume")
    elif upload.dataset is not None:
        modality = dicom.modality(upload.dataset)
        if modality in dicom.NON_CLINICAL_MODALITIES:
            evidence.reasons.append(f"DICOM modality {modality} (not evidence by itself)")
        elif modality:
            evidence.add("medical", DICOM_WEIGHT, f"DICOM modality {modality}")
        else:
            evidence.add("medical", DICOM_WEIGHT / 2, "DICOM file without a modality")
    return evidence


def imagenet(probabilities: NDArray[np.float32], top_k: int = 10) -> tuple[Evidence, list[tuple[str, float]]]:
    """Probability mass per domain over the top-k ImageNet labels (weak evidence)."""
    evidence = Evidence()
    order = np.argsort(probabilities)[::-1][:top_k]
    mass: dict[str, float] = {}
    for index in order:
        domain = class_domain(int(index))
        if domain != "none":
            mass[domain] = mass.get(domain, 0.0) + float(probabilities[index])
    for domain, amount in mass.items():
        if amount >= 0.05:
            labels = [class_name(int(i)) for i in order if class_domain(int(i)) == domain][:3]
            evidence.add(domain, IMAGENET_WEIGHT * amount, f"ImageNet labels: {', '.join(labels)}")
    top5 = [(class_name(int(i)), float(probabilities[i])) for i in order[:5]]
    return evidence, top5


@cache
def _face_detector() -> Any:
    import cv2

    cascades = Path(cv2.__file__).parent / "data"  # the Haar cascades ship inside the OpenCV wheel
    return cv2.CascadeClassifier(str(cascades / "haarcascade_frontalface_alt2.xml"))


def faces(grey: NDArray[np.uint8]) -> Evidence:
    """Frontal faces (OpenCV's Haar cascade, shipped in its wheel): personal content."""
    evidence = Evidence()
    scale = min(1.0, 480 / max(grey.shape))  # faces that matter are large; small images detect fast
    small: NDArray[Any] = grey
    if scale < 1.0:
        import cv2

        small = np.asarray(cv2.resize(grey, (round(grey.shape[1] * scale), round(grey.shape[0] * scale))))
    minimum = max(24, min(small.shape) // 10)
    found = _face_detector().detectMultiScale(small, scaleFactor=1.15, minNeighbors=5, minSize=(minimum, minimum))
    count = len(found)
    if count:
        evidence.add("personal", FACE_WEIGHT + 0.5 * min(count - 1, 4), f"{count} face{'s' if count > 1 else ''}")
    return evidence


def ocr_available() -> bool:
    if shutil.which("tesseract") is None:
        return False
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def looks_like_text_page(grey: NDArray[np.uint8]) -> bool:
    """Mostly light background with many thin dark strokes in horizontal bands."""
    if min(grey.shape) < 64:
        return False
    light = float(np.mean(grey > 160))
    dark = grey < 110
    dark_fraction = float(np.mean(dark))
    if light < 0.55 or not 0.0005 < dark_fraction < 0.35:
        return False
    rows = dark.mean(axis=1)
    text_rows = rows > 0.002
    transitions = int(np.count_nonzero(np.diff(text_rows.astype(np.int8))))
    return transitions >= 6  # at least three separate lines of text


_TIMESTAMP = re.compile(r"\b(19|20)\d\d[-/.](0?[1-9]|1[0-2])[-/.]\d{1,2}\s+\d{1,2}:\d{2}(:\d{2})?\b")
_CAMERA = re.compile(r"\b(cam|camera|ch|channel)\s*-?\s*\d{1,3}\b", re.IGNORECASE)
OVERLAY_TIMESTAMP_WEIGHT = 3.0
OVERLAY_CAMERA_WEIGHT = 2.0


def _looks_like_caption(band: NDArray[np.uint8]) -> bool:
    """A few percent of near-white pixels, most of them thin strokes (darker 3
    pixels away both across and along), as burnt-in text has and highlights do not."""
    bright = band >= 215
    share = float(np.mean(bright))
    if not 0.003 < share < 0.1:
        return False
    b = band.astype(np.int16)
    across = np.zeros_like(bright)
    along = np.zeros_like(bright)
    across[:, 3:] |= b[:, 3:] - b[:, :-3] > 80
    across[:, :-3] |= b[:, :-3] - b[:, 3:] > 80
    along[3:, :] |= b[3:, :] - b[:-3, :] > 80
    along[:-3, :] |= b[:-3, :] - b[3:, :] > 80
    return float(np.sum(bright & across & along)) >= 0.5 * float(np.sum(bright))


def overlay_bands(grey: NDArray[np.uint8]) -> list[NDArray[np.uint8]]:
    """The top and bottom bands of a frame that seem to hold overlay text."""
    height = grey.shape[0]
    if height < 96:
        return []
    band = max(24, height // 9)
    return [b for b in (grey[:band], grey[-band:]) if _looks_like_caption(b)]


def ocr(grey: NDArray[np.uint8], page_mode: int) -> str:
    """Tesseract (the one pytesseract is set to use) on a grey image, through
    pipes: pytesseract's own calls write the image and the text to temporary
    files, and neither may touch the disk."""
    import subprocess

    import pytesseract
    from PIL import Image

    png = io.BytesIO()
    Image.fromarray(grey).save(png, "PNG", compress_level=1)
    done = subprocess.run(
        [pytesseract.pytesseract.tesseract_cmd, "stdin", "stdout", "--psm", str(page_mode)],
        input=png.getvalue(),
        capture_output=True,
        env={**os.environ, **_OCR_ENVIRONMENT},
        timeout=OCR_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"Tesseract failed: {done.stderr.decode(errors='replace').strip()[-200:]}")
    return done.stdout.decode("utf-8", errors="replace")


def overlay_text(bands: list[NDArray[np.uint8]]) -> Evidence:
    """OCR the overlay bands: a date and time, or a camera number, is what CCTV
    burns into its frames."""
    evidence = Evidence()
    for band in bands:
        words = " ".join(ocr(255 - band, 6).split())
        if _TIMESTAMP.search(words):
            evidence.add("surveillance", OVERLAY_TIMESTAMP_WEIGHT, "overlay: date and time")
        if _CAMERA.search(words):
            evidence.add("surveillance", OVERLAY_CAMERA_WEIGHT, "overlay: camera number")
        del words
    return evidence


def text(grey: NDArray[np.uint8]) -> Evidence:
    """OCR a page and score the domain lexicons.  The text is never kept."""
    from PIL import Image

    evidence = Evidence()
    if grey.shape[1] > 1600:
        image = Image.fromarray(grey)
        grey = np.asarray(image.resize((1600, round(image.height * 1600 / image.width))))
    words = ocr(grey, 3).lower()
    words = re.sub(r"[^a-z0-9' ]+", " ", words)
    padded = f" {' '.join(words.split())} "
    for domain, lexicon in LEXICONS.items():
        hits = [term for term in lexicon if f" {term} " in padded]
        if hits:
            amount = min(OCR_WEIGHT_CAP, OCR_WEIGHT_PER_HIT * len(hits))
            evidence.add(domain, amount, f"text mentions: {', '.join(hits[:4])}")
    del words, padded
    return evidence
