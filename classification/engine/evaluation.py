"""Train the domain head and measure the classifier on a folder per domain.

A dataset is DIR/<domain>/*.{png,jpg,...,dcm} with the domains of DOMAINS.
Cross-validation keeps a group of images on one side of each split: the
`package` column of DIR/manifest.csv where there is one (the real images of
../shared/devimages: grouped by the package they came from), else the part of
the file name before "__" (the dev set's source picture).  The manifest's
`also` column names a second acceptable domain.  Every image is read once:
its embedding, ImageNet labels and signals; heads
are then trained and combined with those, so that cross-validation costs one
pass of the network and of OCR.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.domains import DOMAINS
from core.errors import SecurePixError
from imaging import imagefile
from imaging.limits import DEFAULT_MAX_PIXELS

from . import signals
from .classifier import Classification, DomainClassifier
from .head import DomainHead, train

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".nii", ".gz"}


@dataclass
class Example:
    path: Path
    domain: str
    group: str
    embedding: NDArray[np.float32]
    evidence: list[signals.Evidence]
    top5: list[tuple[str, float]]
    ocr: str
    also: str = ""


def dataset_files(root: Path) -> list[tuple[Path, str]]:
    folders = [p for p in sorted(root.iterdir()) if p.is_dir()] if root.is_dir() else []
    unknown = [p.name for p in folders if p.name not in DOMAINS]
    if not folders or unknown:
        raise ValueError(f"{root} must hold one folder per domain ({', '.join(DOMAINS)}); found {unknown or 'none'}")
    return [
        (path, folder.name)
        for folder in folders
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]


def _manifest_rows(root: Path) -> dict[str, dict[str, str]]:
    path = root / "manifest.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as rows:
        return {row["file"]: row for row in csv.DictReader(rows)}


def read_examples(classifier: DomainClassifier, root: Path) -> list[Example]:
    examples = []
    rows = _manifest_rows(root)
    for path, domain in dataset_files(root):
        try:
            upload = imagefile.parse(path.read_bytes(), DEFAULT_MAX_PIXELS)
            rgb, grey = classifier.rendered(upload)
        except SecurePixError as exc:  # e.g. a DICOM file whose window cannot be applied
            log.warning("left out %s: %s", path, exc)
            continue
        sight = classifier.look(rgb)
        evidence, top5, ocr = classifier.gather_signals(upload, sight, grey)
        row = rows.get(f"{domain}/{path.name}", {})
        group = row.get("package") or path.stem.split("__")[0]
        examples.append(Example(path, domain, group, sight.embedding, evidence, top5, ocr, row.get("also", "")))
    return examples


def manifest(examples: list[Example], backbone: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.domain}/{example.path.name}\n".encode())
        digest.update(hashlib.sha256(example.path.read_bytes()).digest())
    counts = {d: sum(e.domain == d for e in examples) for d in DOMAINS}
    return {
        "backbone": backbone,
        "trained": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "examples": counts,
        "dataset_sha256": digest.hexdigest(),
    }


def train_head(examples: list[Example], backbone: str) -> DomainHead:
    return train(
        np.stack([e.embedding for e in examples]), [e.domain for e in examples], backbone, manifest(examples, backbone)
    )


def predictions(
    classifier: DomainClassifier, examples: list[Example], folds: int = 0, also_train: list[Example] | None = None
) -> list[Classification]:
    """Each example classified by the classifier's head, or, with folds > 1, by a
    head trained without the example's group (grouped k-fold cross-validation;
    at most one fold per group), on the other groups and `also_train`."""
    if folds <= 1:
        return [classifier.combine(e.embedding, e.evidence, e.top5, e.ocr) for e in examples]
    from sklearn.model_selection import GroupKFold

    results: list[Classification | None] = [None] * len(examples)
    groups = [e.group for e in examples]
    splits = GroupKFold(n_splits=min(folds, len(set(groups)))).split(examples, groups=groups)
    for train_index, test_index in splits:
        head = train_head([examples[i] for i in train_index] + (also_train or []), classifier.model)
        fold_classifier = classifier.with_head(head)
        for i in test_index:
            e = examples[i]
            results[i] = fold_classifier.combine(e.embedding, e.evidence, e.top5, e.ocr)
    return [r for r in results if r is not None]


def _right(example: Example, predicted: str) -> bool:
    return predicted in (example.domain, example.also)


def expected_calibration_error(examples: list[Example], results: list[Classification], bins: int = 10) -> float:
    """Weighted gap between the top score and how often the top domain is right, over 10 score bins."""
    tops = np.array([max(r.scores.values()) for r in results])
    right = np.array(
        [_right(e, max(r.scores, key=r.scores.__getitem__)) for e, r in zip(examples, results, strict=True)]
    )
    edges = np.linspace(0, 1, bins + 1)
    gap = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (tops > low) & (tops <= high)
        if inside.any():
            gap += float(inside.mean()) * abs(float(tops[inside].mean()) - float(right[inside].mean()))
    return gap


def report(examples: list[Example], results: list[Classification]) -> dict[str, Any]:
    """Accuracy (the `also` domain counts as right), recall per domain, the
    confusion matrix (rows: truth) and the expected calibration error."""
    confusion = {truth: {predicted: 0 for predicted in DOMAINS} for truth in DOMAINS}
    for example, result in zip(examples, results, strict=True):
        confusion[example.domain][result.domain] += 1
    present = [d for d in DOMAINS if sum(confusion[d].values())]
    right = {
        d: sum(_right(e, r.domain) for e, r in zip(examples, results, strict=True) if e.domain == d) for d in present
    }
    per_domain = {d: right[d] / sum(confusion[d].values()) for d in present}
    return {
        "overall": sum(right.values()) / len(examples),
        "per_domain": per_domain,
        "macro_recall": sum(per_domain.values()) / len(per_domain),
        "ece": expected_calibration_error(examples, results),
        "confusion": confusion,
        "examples": len(examples),
        "mistakes": [
            {"file": str(e.path), "truth": e.domain, "predicted": r.domain, "reasons": r.reasons}
            for e, r in zip(examples, results, strict=True)
            if not _right(e, r.domain)
        ],
    }


def render_table(result: dict[str, Any]) -> str:
    lines = [
        f"overall {result['overall']:.1%}   macro recall {result['macro_recall']:.1%}   "
        f"ECE {result['ece']:.3f}   ({result['examples']} images)"
    ]
    lines.append("truth \\ predicted " + " ".join(f"{d[:6]:>7}" for d in DOMAINS) + "   recall")
    for truth in DOMAINS:
        row = result["confusion"][truth]
        if sum(row.values()):
            recall = result["per_domain"][truth]
            lines.append(f"{truth:<18}" + " ".join(f"{row[d]:>7}" for d in DOMAINS) + f"   {recall:.1%}")
    return "\n".join(lines)
