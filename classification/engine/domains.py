"""The vendored ImageNet class index and its mapping onto the content domains."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"


@cache
def imagenet_classes() -> list[dict[str, object]]:
    """The 1000 ImageNet-1k classes in model output order: index, wnid, name, domain."""
    classes: list[dict[str, object]] = json.loads((DATA / "imagenet_domains.json").read_text())
    return classes


def class_name(index: int) -> str:
    return str(imagenet_classes()[index]["name"]).split(",")[0]


def class_domain(index: int) -> str:
    return str(imagenet_classes()[index]["domain"])
