"""Pieces of the operation contracts (cipher/contracts.py,
classification/contracts.py): an uploaded file and the form values every
front end sends as text."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from .errors import InvalidInput

_TRUE = ("true", "1", "on", "yes")
_FALSE = ("false", "0", "off", "no", "")


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes
    field: str = "image"
    problem: str = ""  # what is wrong with the form's file(s): checked by the service, so that it is recorded
    # A large encrypted file kept on disk by the API (ciphertext only, deleted
    # at the request's end: cipher/api.py), read from there; `data` is then empty.
    spooled: BinaryIO | None = None

    def __repr__(self) -> str:  # never the bytes, in a traceback or a log (nor a closed file's size)
        held = "spooled" if self.spooled is not None else f"{self.size} bytes"
        return f"Upload(name={self.name!r}, {held})"

    @property
    def size(self) -> int:
        if self.spooled is None:
            released: int | None = self.__dict__.get("_released_size")
            return len(self.data) if released is None else released
        return os.fstat(self.spooled.fileno()).st_size

    def release(self) -> None:
        """Let go of the bytes held in memory, for a service that has read
        all it needs of them (an encryption, once the image is decoded): a
        4096x4096 photo's PNG is 23.5 MB, kept beside the image for nothing.
        `data` is empty afterwards; `size` still answers."""
        if self.spooled is None and "_released_size" not in self.__dict__:
            object.__setattr__(self, "_released_size", len(self.data))
            object.__setattr__(self, "data", b"")

    @property
    def source(self) -> bytes | BinaryIO:
        """The file, in memory or spooled (what the container reads either way)."""
        return self.data if self.spooled is None else self.spooled

    def check(self) -> None:
        if self.problem:
            raise InvalidInput({self.field: [self.problem]})


def one_upload(files: Sequence[tuple[str, bytes | BinaryIO]], field: str, what: str) -> Upload:
    """The one non-empty file of a form field (or what is wrong with it)."""
    if len(files) != 1:
        return Upload("", b"", field, f"choose one {what}")
    name, data = files[0]
    upload = Upload(name, data, field) if isinstance(data, bytes) else Upload(name, b"", field, spooled=data)
    return upload if upload.size else Upload(name, b"", field, "the file is empty")


def text(fields: Mapping[str, Any], name: str, default: str = "", *, max_length: int = 2000) -> str:
    value = fields.get(name, default)
    if not isinstance(value, str):
        raise InvalidInput({name: ["must be text"]})
    if len(value) > max_length:
        raise InvalidInput({name: [f"at most {max_length} characters"]})
    return value


def boolean(fields: Mapping[str, Any], name: str) -> bool:
    value = str(fields.get(name, "")).strip().lower()
    if value not in _TRUE + _FALSE:
        raise InvalidInput({name: ["must be true or false"]})
    return value in _TRUE
