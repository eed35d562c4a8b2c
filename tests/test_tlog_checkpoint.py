"""tlog.checkpoint: the c2sp.org/tlog-checkpoint note text, formatted and parsed strictly."""

from __future__ import annotations

import base64

import pytest

from tlog import Checkpoint, CheckpointError, format_checkpoint, leaf_hash, parse_checkpoint

# The example of c2sp.org/tlog-checkpoint (C2SP/C2SP tlog-checkpoint.md), without its signature line.
SPEC_EXAMPLE = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
# golang.org/x/mod sumdb/tlog/note_test.go TestFormatTree: the Go checksum database's tree note is a checkpoint
# whose origin is "go.sum database tree", for 123456789012 records, hashed as RecordHash("hello world").
SUMDB_TREE = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
ROOT_LINE = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


def test_spec_example_parses_and_formats_back_unchanged() -> None:
    checkpoint = parse_checkpoint(SPEC_EXAMPLE)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root_hash == base64.b64decode(ROOT_LINE)
    assert checkpoint.extensions == ()
    assert format_checkpoint(checkpoint) == SPEC_EXAMPLE


def test_sumdb_tree_note_is_a_checkpoint() -> None:
    checkpoint = parse_checkpoint(SUMDB_TREE)
    assert checkpoint == Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    assert format_checkpoint(checkpoint) == SUMDB_TREE


def test_extension_lines_round_trip() -> None:
    checkpoint = Checkpoint("securepix.example/audit", 0, bytes(32), ("first extension", "— second"))
    text = format_checkpoint(checkpoint)
    root = base64.b64encode(bytes(32)).decode()
    assert text == f"securepix.example/audit\n0\n{root}\nfirst extension\n— second\n"
    assert parse_checkpoint(text) == checkpoint


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (SPEC_EXAMPLE[:-1], "does not end with a newline"),
        ("example.com/behind-the-sofa\n20852163\n", "not at least 3"),  # truncated: the root hash is missing
        ("example.com/behind-the-sofa\n20852163", "does not end with a newline"),
        ("", "does not end with a newline"),
        (f"\n20852163\n{ROOT_LINE}\n", "origin is empty"),
        (f"example.com/log\n020852163\n{ROOT_LINE}\n", "leading zeros"),
        (f"example.com/log\n00\n{ROOT_LINE}\n", "leading zeros"),
        (f"example.com/log\n+20852163\n{ROOT_LINE}\n", "leading zeros"),
        (f"example.com/log\n-34\n{ROOT_LINE}\n", "leading zeros"),
        (f"example.com/log\n 20852163\n{ROOT_LINE}\n", "leading zeros"),
        (f"example.com/log\n20_852_163\n{ROOT_LINE}\n", "leading zeros"),
        (f"example.com/log\n\u0662\u0660\n{ROOT_LINE}\n", "leading zeros"),  # digits int() would accept
        (f"example.com/log\n0xabcdef\n{ROOT_LINE}\n", "leading zeros"),
        (f"example.com/log\n{2**64}\n{ROOT_LINE}\n", "outside 0..2\\*\\*64-1"),
        ("example.com/log\n1\nThisIsn'tBase64\n", "not standard base64"),
        ("example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", "not standard base64"),  # unpadded
        ("example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", "not canonical base64"),
        ("example.com/log\n1\nYmFuYW5hcw==\n", "7 bytes long, not 32"),
        ("go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n", "not"),
        (SPEC_EXAMPLE + "\n", "extension line is empty"),
        (SPEC_EXAMPLE + "extension\n\n", "extension line is empty"),
        ("example.com/log\r\n1\n" + ROOT_LINE + "\n", "control character"),
    ],
)
def test_malformed_checkpoints_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason):
        parse_checkpoint(text)


def test_checkpoint_fields_are_checked_when_built() -> None:
    with pytest.raises(CheckpointError, match="31 bytes long"):
        Checkpoint("example.com/log", 1, bytes(31))
    with pytest.raises(CheckpointError, match="outside"):
        Checkpoint("example.com/log", -1, bytes(32))
    with pytest.raises(CheckpointError, match="line break"):
        Checkpoint("example.com/log\n2", 1, bytes(32))
    with pytest.raises(CheckpointError, match="extension line is empty"):
        Checkpoint("example.com/log", 1, bytes(32), ("",))
