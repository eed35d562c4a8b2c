"""The trained domain head: multinomial logistic regression on a backbone's
penultimate embedding, kept as JSON (no pickle) with its training manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.domains import DOMAINS

from .domains import DATA

HEADS = DATA / "heads"
# How the head's probabilities meet the signals (classifier.combine), chosen by
# the leave-one-package-out evaluation on the real images (docs/CLASSIFICATION.md):
# the head is never surer than FLOOR allows, its log-probabilities count WEIGHT
# against the signals' log-odds, and the sum is a softmax at TEMPERATURE.
FLOOR = 0.01
WEIGHT = 0.8
TEMPERATURE = 1.0


@dataclass(frozen=True)
class DomainHead:
    backbone: str
    classes: tuple[str, ...]
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]  # classes x features
    intercept: NDArray[np.float64]
    manifest: dict[str, Any]
    floor: float = FLOOR
    weight: float = WEIGHT
    temperature: float = TEMPERATURE

    def probabilities(self, embeddings: NDArray[np.float32]) -> NDArray[np.float64]:
        """Per-domain probabilities in DOMAINS order, one row per embedding."""
        z = (np.asarray(embeddings, dtype=np.float64) - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        out = np.full((p.shape[0], len(DOMAINS)), 1e-6)
        for column, domain in enumerate(self.classes):
            out[:, DOMAINS.index(domain)] = p[:, column]
        return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float64)

    def floored(self, embeddings: NDArray[np.float32]) -> NDArray[np.float64]:
        """The probabilities, none below the floor (a head trained on a few hundred
        pictures is not 99.99 % sure of anything, and must leave room for evidence)."""
        p = np.maximum(self.probabilities(embeddings), self.floor)
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)

    def to_json(self) -> str:
        return json.dumps(
            {
                "backbone": self.backbone,
                "classes": list(self.classes),
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist(),
                "manifest": self.manifest,
                "floor": self.floor,
                "weight": self.weight,
                "temperature": self.temperature,
            }
        )

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> DomainHead:
        raw = json.loads(text)
        return cls(
            backbone=raw["backbone"],
            classes=tuple(raw["classes"]),
            mean=np.array(raw["mean"]),
            scale=np.array(raw["scale"]),
            coef=np.array(raw["coef"]),
            intercept=np.array(raw["intercept"]),
            manifest=raw["manifest"],
            floor=float(raw.get("floor", FLOOR)),
            weight=float(raw.get("weight", WEIGHT)),
            temperature=float(raw.get("temperature", TEMPERATURE)),
        )


def default_path(backbone: str) -> Path:
    return HEADS / f"{backbone}.json"


def load_default(backbone: str) -> DomainHead | None:
    path = default_path(backbone)
    return DomainHead.from_json(path.read_text()) if path.is_file() else None


def train(
    embeddings: NDArray[np.float32], labels: list[str], backbone: str, manifest: dict[str, Any], c: float = 0.5
) -> DomainHead:
    """Fit standardised multinomial logistic regression (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(embeddings, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    model.fit((x - mean) / scale, labels)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # one row for the second class against the first: split it into two softmax rows
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    return DomainHead(
        backbone=backbone,
        classes=tuple(str(c) for c in model.classes_),
        mean=mean,
        scale=scale,
        coef=coef,
        intercept=intercept,
        manifest=manifest,
    )
