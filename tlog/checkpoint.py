"""C2SP tlog-checkpoint note text: origin, tree size and root hash, one per line (https://c2sp.org/tlog-checkpoint).

Parsing is strict: only the one encoding a conforming log produces is accepted, so two different texts
never stand for the same checkpoint.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from tlog._base64 import decode_canonical
from tlog.merkle import HASH_SIZE

MAX_TREE_SIZE = 2**64 - 1  # tree sizes are uint64 throughout the C2SP specs

_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")  # ASCII only, unlike int(); no sign, no leading zeros


class CheckpointError(ValueError):
    """A checkpoint text or field does not follow c2sp.org/tlog-checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_line(self.origin, "origin")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size} is outside 0..2**64-1")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash is {len(self.root_hash)} bytes long, not {HASH_SIZE}")
        for extension in self.extensions:
            _require_line(extension, "extension line")


def _require_line(line: str, what: str) -> None:
    if not line:
        raise CheckpointError(f"{what} is empty")
    # A signed note allows no control character but its line breaks.
    if any(character < " " for character in line):
        raise CheckpointError(f"{what} {line!r} contains a line break or another control character")


def format_checkpoint(checkpoint: Checkpoint) -> str:
    root = base64.b64encode(checkpoint.root_hash).decode("ascii")
    lines = [checkpoint.origin, str(checkpoint.size), root, *checkpoint.extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note text (without its signature lines)."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint has {len(lines)} lines, not at least 3 (origin, tree size, root hash)")
    origin, size_line, root_line, *extensions = lines
    if not _TREE_SIZE.fullmatch(size_line):
        raise CheckpointError(f"tree size {size_line!r} is not a decimal number without leading zeros")
    return Checkpoint(origin, int(size_line), decode_hash(root_line), tuple(extensions))


def decode_hash(line: str) -> bytes:
    """A 32-byte hash from its one encoding: canonical standard base64 with padding."""
    try:
        value = decode_canonical(line)
    except ValueError as error:
        raise CheckpointError(f"hash {error}") from error
    if len(value) != HASH_SIZE:
        raise CheckpointError(f"hash {line!r} is {len(value)} bytes long, not {HASH_SIZE}")
    return value
