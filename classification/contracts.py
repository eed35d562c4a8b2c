"""What a classification request is, for the API and the pages alike: the
fields are read here and the rules checked here, once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.domains import DOMAINS
from core.errors import InvalidInput
from core.forms import Upload, one_upload, text


def check_domain(declared: str) -> None:
    if not declared:
        raise InvalidInput({"declared_domain": [f"choose the declared domain: one of {', '.join(DOMAINS)}"]})
    if declared not in DOMAINS:
        raise InvalidInput({"declared_domain": [f"unknown domain {declared!r}; choose one of {', '.join(DOMAINS)}"]})


def check_acknowledgment_reason(reason: str) -> None:
    """An acknowledgment of a mismatch always says why."""
    if not reason.strip():
        raise InvalidInput({"acknowledgment_reason": ["an acknowledgment needs a reason"]})


@dataclass(frozen=True)
class ClassifyRequest:
    upload: Upload
    declared_domain: str = ""  # optional: with it, the policy's decision too

    @classmethod
    def from_form(cls, fields: Mapping[str, Any], files: Sequence[tuple[str, bytes]]) -> ClassifyRequest:
        return cls(one_upload(files, "image", "image"), text(fields, "declared_domain", max_length=32))

    def check(self) -> None:
        self.upload.check()
        if self.declared_domain:
            check_domain(self.declared_domain)
