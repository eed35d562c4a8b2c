"""Checking the audit log with no database and no secret: an export against
signed checkpoints and the log's public key (`securepix audit verify`), and an
operation's receipt (`securepix audit receipt`).  Imports no Django."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import tlog

from .chain import canonical

# The fields of an event that its leaf covers, in the export's own names (docs/AUDIT.md).
LEAF_FIELDS = (
    "sequence", "created", "actor_id", "username", "action", "outcome", "reason", "declared_domain",
    "predicted_domain", "confidence", "mismatch", "decision", "model_name", "image_width", "image_height",
    "image_mode", "image_format", "image_bytes", "encrypted_sha256", "client_address", "user_agent", "request_id",
    "extra",
)  # fmt: skip


def key_argument(value: str) -> str:
    """A key given on the command line: the key itself, or a file whose first line it is."""
    path = Path(value)
    return path.read_text().strip().splitlines()[0] if path.is_file() else value.strip()


class VerificationFailed(ValueError):
    """The export, a checkpoint or a proof does not verify; the message names what."""


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: tlog.Checkpoint
    witnesses: tuple[str, ...] = field(default=())  # names of the witnesses whose cosignatures verified


def read_checkpoint(
    note_text: str, log_key: str | Sequence[str], witness_keys: Sequence[str] = (), required_witnesses: int = 0
) -> SignedCheckpoint:
    """A checkpoint whose note is signed by the log's key, or one of its keys
    across rotations (and cosigned by at least `required_witnesses` of `witness_keys`)."""
    keys = [log_key] if isinstance(log_key, str) else list(log_key)
    log_verifiers = [tlog.parse_verifier_key(key) for key in keys]
    log_verifier = log_verifiers[0]
    if any(v.signature_type != tlog.ED25519 for v in log_verifiers):
        raise VerificationFailed("a log key is an Ed25519 signing key (type 0x01), not a witness's cosigning key")
    try:
        verified = tlog.verify_note(note_text, log_verifiers)
        checkpoint = tlog.parse_checkpoint(verified.text)
    except (tlog.NoteError, tlog.CheckpointError) as exc:
        raise VerificationFailed(f"the checkpoint is not signed by {log_verifier.name}: {exc}") from exc
    if checkpoint.origin != log_verifier.name:
        raise VerificationFailed(f"the checkpoint is of the log {checkpoint.origin!r}, not {log_verifier.name!r}")
    witnesses: list[str] = []
    note = tlog.parse_note(note_text)
    for key in witness_keys:
        witness = tlog.parse_verifier_key(key)
        for signature in note.signatures:
            if (signature.name, signature.key_id) == (witness.name, witness.key_id):
                try:
                    tlog.verify_cosignature(verified.text, signature, witness)
                except tlog.NoteError as exc:
                    raise VerificationFailed(f"the cosignature of {witness.name} does not verify: {exc}") from exc
                if witness.name not in witnesses:  # a witness counts once, however often it is listed
                    witnesses.append(witness.name)
    if len(witnesses) < required_witnesses:
        raise VerificationFailed(
            f"the checkpoint has {len(witnesses)} witness cosignature(s), {required_witnesses} required: "
            "without a witness, a stolen signing key could have rewritten history"
        )
    return SignedCheckpoint(checkpoint, tuple(witnesses))


def leaf_bytes(row: dict[str, Any]) -> bytes:
    """An exported event's canonical bytes, as its leaf hashes them."""
    try:
        return canonical({name: row[name] for name in LEAF_FIELDS})
    except KeyError as exc:
        raise VerificationFailed(f"event {row.get('sequence', '?')} lacks the field {exc}") from exc


def export_rows(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise VerificationFailed(f"line {number} of the export is not JSON: {exc}") from exc
            if not isinstance(row, dict):
                raise VerificationFailed(f"line {number} of the export is not an event")
            yield row


@dataclass(frozen=True)
class Report:
    events: int
    checkpoints: tuple[int, ...]  # the sizes checked
    signed: int  # how many of the events, from the first, the checkpoints vouch for


def verify_export(export: TextIO, checkpoints: Sequence[SignedCheckpoint]) -> Report:
    """Every event of the export, from the first, hashes into the tree that each
    checkpoint signs.  The first event that does not belong is named: a gap or a
    repeat by its number; an altered, inserted or removed event by the
    checkpoints between which the roots first disagree."""
    if not checkpoints:
        raise VerificationFailed("give at least one signed checkpoint")
    by_size = sorted(checkpoints, key=lambda c: c.checkpoint.size)
    tree = tlog.CompactRange()
    expected, verified_up_to, checked = 1, 0, []
    pending = list(by_size)
    for row in export_rows(export):
        sequence = row.get("sequence")
        if sequence != expected:
            raise VerificationFailed(
                f"event {expected} is missing from the export (found {sequence!r} in its place)"
                if isinstance(sequence, int) and sequence > expected
                else f"event {sequence!r} does not belong after event {expected - 1}"
            )
        tree.append(tlog.leaf_hash(leaf_bytes(row)))
        expected += 1
        while pending and pending[0].checkpoint.size == tree.size:
            signed = pending.pop(0).checkpoint
            if tree.root() != signed.root_hash:
                raise VerificationFailed(
                    f"an event between {verified_up_to + 1} and {signed.size} does not belong: the events do not "
                    f"hash to the root signed for {signed.size} events"
                )
            verified_up_to = signed.size
            checked.append(signed.size)
    if pending:
        raise VerificationFailed(
            f"the export ends at event {expected - 1}, but a checkpoint signs {pending[0].checkpoint.size} events: "
            "events were cut off or deleted"
        )
    return Report(expected - 1, tuple(checked), verified_up_to)


def verify_receipt(receipt: dict[str, Any], log_key: str) -> tuple[int, int]:
    """A saved receipt: its checkpoint is signed by the log, and its leaf is in
    that checkpoint's tree.  Returns (leaf index, tree size)."""
    try:
        signed = read_checkpoint(receipt["checkpoint"], log_key).checkpoint
        leaf = tlog.leaf_hash(base64.b64decode(receipt["leaf"], validate=True))
        proof = [base64.b64decode(p, validate=True) for p in receipt["proof"]]
        index = int(receipt["index"])
    except (KeyError, ValueError, TypeError, binascii.Error) as exc:
        raise VerificationFailed(f"not a SecurePix audit receipt: {exc}") from exc
    try:
        tlog.verify_inclusion(index, signed.size, leaf, proof, signed.root_hash)
    except tlog.ProofError as exc:
        raise VerificationFailed(f"leaf {index} is not in the signed tree of {signed.size} events: {exc}") from exc
    return index, signed.size
