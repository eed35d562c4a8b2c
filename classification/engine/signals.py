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
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imaging import dicom
from imaging.imagefile import ParsedUpload

from . import faces as face_detection
from .data.lexicons import LEXICONS
from .domains import class_domain, class_name

OCR_TIMEOUT_SECONDS = 60
# Tesseract's OpenMP threads make one page slower, not faster, on a small
# machine (about 1.5 s against 0.9 s here).
_OCR_ENVIRONMENT = {"OMP_THREAD_LIMIT": "1"}

OCR_WEIGHT_PER_TERM = 0.8
OCR_WEIGHT_CAP = 6.0
AMOUNTS_MIN = 6
AMOUNTS_WEIGHT = 1.0
AMOUNTS_WEIGHT_CAP = 3.0
FACE_WEIGHT = 4.0
CLINICAL_MODALITY_WEIGHT = 6.0
NIFTI_WEIGHT = 6.0
UNKNOWN_MODALITY_WEIGHT = 1.0
IMAGENET_WEIGHT = 2.0
IMAGENET_REASON_MASS = 0.25
# What the ImageNet classes of each domain show, for the reasons (the labels stay in top5).
IMAGENET_SUBJECTS = {
    "medical": "medical equipment",
    "legal": "envelopes, files, pens or weapons",
    "finance": "money, wallets or safes",
    "personal": "clothing or personal belongings",
    "surveillance": "street, vehicles, shop fronts or screens",
}


@dataclass
class Evidence:
    scores: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def add(self, domain: str, amount: float, reason: str | None = None) -> None:
        self.scores[domain] = self.scores.get(domain, 0.0) + amount
        if reason:
            self.reasons.append(reason)


def container(upload: ParsedUpload) -> Evidence:
    """A NIfTI volume, or a DICOM file of a clinical modality, is evidence of
    medical imaging (strong, not a verdict); a DICOM file without a modality is
    only weak evidence, since any picture can be wrapped in one."""
    evidence = Evidence()
    if upload.is_nifti:
        evidence.add("medical", NIFTI_WEIGHT, "NIfTI volume")
    elif upload.dataset is not None:
        modality = dicom.modality(upload.dataset)
        if modality in dicom.NON_CLINICAL_MODALITIES:
            evidence.reasons.append(f"DICOM modality {modality} (not evidence by itself)")
        elif modality:
            evidence.add("medical", CLINICAL_MODALITY_WEIGHT, f"DICOM modality {modality}")
        else:
            evidence.add("medical", UNKNOWN_MODALITY_WEIGHT, "DICOM file without a modality (weak evidence)")
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
        if amount >= 0.05:  # named in the reasons only when it is a good part of what the picture shows
            reason = f"shows {IMAGENET_SUBJECTS[domain]}" if amount >= IMAGENET_REASON_MASS else None
            evidence.add(domain, IMAGENET_WEIGHT * amount, reason)
    top5 = [(class_name(int(i)), float(probabilities[i])) for i in order[:5]]
    return evidence, top5


def faces(found: list[face_detection.Face]) -> Evidence:
    """People in the picture: one to a few faces make a portrait or a group photo
    (personal); a crowd of small faces is a public scene, personal or surveillance."""
    evidence = Evidence()
    count = len(found)
    if not count:
        return evidence
    label = f"{count} face{'s' if count > 1 else ''}"
    largest = max(face.area for face in found)
    if count <= 4 or largest >= 0.01:
        evidence.add("personal", FACE_WEIGHT + 0.5 * min(count - 1, 3), label)
    else:
        evidence.add("personal", FACE_WEIGHT / 2, f"{label}, small (a crowd)")
        evidence.add("surveillance", FACE_WEIGHT / 2)
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


def share(mask: NDArray[np.bool_], axis: int | None = None) -> Any:
    """The share of True in `mask` (along `axis`): exactly np.mean's, without
    turning every element into a float first (a 4096x4096 page: a tenth of
    the time)."""
    return np.count_nonzero(mask, axis=axis) / (mask.size if axis is None else mask.shape[axis])


_COUNTED_ROWS_BYTES = 1 << 20  # rows of a picture compared at a time


def _share_by_bands(grey: NDArray[np.uint8], threshold: int, *, below: bool) -> float:
    """share(grey < threshold) if `below` else share(grey > threshold), the
    same number, counted a band of rows at a time."""
    rows = max(1, _COUNTED_ROWS_BYTES // max(1, grey.shape[1]))
    compare = np.less if below else np.greater
    count = sum(int(np.count_nonzero(compare(grey[top : top + rows], threshold))) for top in range(0, len(grey), rows))
    return count / grey.size


def looks_like_text_page(grey: NDArray[np.uint8], *, inverted: bool = False) -> bool:
    """Mostly light background with many thin dark strokes in horizontal bands.
    Columns dark from top to bottom (a form's frame, table rules, a scan's dark
    margin) are left out first: they are not text and would join every line.

    `inverted`: the test of 255 - grey (light text on a dark screen), whose
    copy is made only once the page is mostly dark.  The first test, which a
    photo fails, counts a band of rows at a time: no mask the size of a
    4096x4096 photo (16 MB) while it is being encrypted."""
    if min(grey.shape) < 64 or _share_by_bands(grey, 95 if inverted else 160, below=inverted) < 0.55:
        return False
    if inverted:
        grey = 255 - grey
    dark = grey < 110
    dark = dark[:, share(dark, axis=0) <= 0.3]
    if dark.shape[1] < 64:
        return False
    if not 0.0005 < share(dark) < 0.35:
        return False
    text_rows = share(dark, axis=1) > 0.002
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
    if not 0.003 < share(bright) < 0.1:
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


def read_overlay(bands: list[NDArray[np.uint8]]) -> list[str]:
    return [" ".join(ocr(255 - band, 6).split()) for band in bands]


def overlay_evidence(captions: list[str]) -> Evidence:
    """A date and time, or a camera number, is what CCTV burns into its frames."""
    evidence = Evidence()
    for words in captions:
        if _TIMESTAMP.search(words):
            evidence.add("surveillance", OVERLAY_TIMESTAMP_WEIGHT, "overlay: date and time")
        if _CAMERA.search(words):
            evidence.add("surveillance", OVERLAY_CAMERA_WEIGHT, "overlay: camera number")
    return evidence


def overlay_text(bands: list[NDArray[np.uint8]]) -> Evidence:
    """OCR the overlay bands of a frame and score them.  The text is never kept."""
    captions = read_overlay(bands)
    evidence = overlay_evidence(captions)
    del captions
    return evidence


def normalised_words(text: str) -> str:
    """Lower case, accents folded, only letters, digits and apostrophes, one space
    between words and one at each end (so that terms match whole words)."""
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9' ]+", " ", folded).split()
    return f" {' '.join(words)} "


def read_page(grey: NDArray[np.uint8]) -> str:
    from PIL import Image

    if grey.shape[1] > 1600:
        image = Image.fromarray(grey)
        grey = np.asarray(image.resize((1600, round(image.height * 1600 / image.width))))
    return ocr(grey, 3)


# An amount of money as any language writes it: 1,234.56  1.234,56  1 234,56  -12.00  € 5,00
_AMOUNT = re.compile(r"(?<![\d.,])[-+]?\d{1,3}(?:[ .,\u00a0']?\d{3})*[.,]\d{2}(?![\d.,])|[$€£¥]\s?\d")


def text_evidence(text: str) -> Evidence:
    """Score a page's words against the domain lexicons (each distinct term found
    counts, up to a cap; the reason names the first few), and count amounts of
    money, which ledgers, invoices and statements are made of in any language."""
    evidence = Evidence()
    words = normalised_words(text)
    for domain, lexicon in LEXICONS.items():
        hits = [term for term in dict.fromkeys(lexicon) if f" {term} " in words]
        if hits:
            amount = min(OCR_WEIGHT_CAP, OCR_WEIGHT_PER_TERM * len(hits))
            evidence.add(domain, amount, f"words: {', '.join(hits[:4])}")
    amounts = len(_AMOUNT.findall(text))
    if amounts >= AMOUNTS_MIN:
        evidence.add(
            "finance", min(AMOUNTS_WEIGHT_CAP, AMOUNTS_WEIGHT * amounts / AMOUNTS_MIN), f"{amounts} amounts of money"
        )
    del words
    return evidence


def text(grey: NDArray[np.uint8]) -> Evidence:
    """OCR a page and score the domain lexicons.  The text is never kept."""
    text = read_page(grey)
    evidence = text_evidence(text)
    del text
    return evidence
