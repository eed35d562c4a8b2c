"""Names of output files, the same in the pages, the API and the command line:
`scan.dcm` encrypts to `scan.securepix.png`, which decrypts to `scan.dcm`."""

from __future__ import annotations

import re

ENCRYPTED_SUFFIX = ".securepix.png"
_ENCRYPTED_SUFFIXES = (ENCRYPTED_SUFFIX, ".spx.png")  # .spx.png: what the command line wrote before 0.2
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 100


def stem(name: str | None) -> str:
    """A safe file stem: the base name without folders and unsafe characters,
    and without its SecurePix suffix, else its extension."""
    base = _UNSAFE.sub("_", (name or "image").replace("\\", "/").rsplit("/", 1)[-1]).strip("._") or "image"
    for suffix in _ENCRYPTED_SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    else:
        base = base.rsplit(".", 1)[0]
    return base.strip("._")[:_MAX_STEM] or "image"


def encrypted_name(name: str | None) -> str:
    return stem(name) + ENCRYPTED_SUFFIX


def decrypted_name(name: str | None, suffix: str) -> str:
    """`suffix` is the decrypted file's own: .png, .dcm or .tiff."""
    return stem(name) + suffix
