"""Signed notes (https://c2sp.org/signed-note) and checkpoint cosignatures (https://c2sp.org/tlog-cosignature).

Keys are Ed25519, of one of two signature types: plain note signatures (type 0x01, the keys and
formats of golang.org/x/mod/sumdb/note) and timestamped cosignature/v1 signatures over a checkpoint
(type 0x04). A key is known by its name and a 4-byte key ID derived from the name, the type and the
public key, and is written as text:

    verifier key  <name>+<hex key ID>+<base64(type || 32-byte public key)>
    signer key    PRIVATE+KEY+<name>+<hex key ID>+<base64(type || 32-byte private seed)>
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tlog._base64 import decode_canonical
from tlog.checkpoint import CheckpointError, parse_checkpoint

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
SIGNATURE_TYPES = (ED25519, COSIGNATURE_V1)

# The spec asks verifiers to cap signatures per note, and to accept at least 16; sumdb/note allows 100.
MAX_SIGNATURES = 100
MAX_TIMESTAMP = 2**63 - 1
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
KEY_ID_SIZE = 4
TIMESTAMP_SIZE = 8

_SIGNATURE_LINE_PREFIX = "\u2014 "  # em dash, space
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


class NoteError(ValueError):
    """A note, key or signature is malformed, or a note does not carry a valid signature from a known key."""


class NoteSigner(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, message: bytes) -> bytes: ...


class NoteVerifier(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """First four bytes of SHA-256(name || 0x0A || type || public key), big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:KEY_ID_SIZE], "big")


def is_valid_key_name(name: str) -> bool:
    """Non-empty, without spaces, plus signs or control characters (which no note may contain)."""
    return bool(name) and "+" not in name and not any(character.isspace() or character < " " for character in name)


def _require_key(name: str, signature_type: int, key: bytes, what: str) -> None:
    if not is_valid_key_name(name):
        raise NoteError(f"key name {name!r} is empty or contains a space, a plus sign or a control character")
    if signature_type not in SIGNATURE_TYPES:
        raise NoteError(f"signature type {signature_type:#04x} is not Ed25519 (0x01) or cosignature/v1 (0x04)")
    if len(key) != ED25519_KEY_SIZE:
        raise NoteError(f"{what} is {len(key)} bytes long, not {ED25519_KEY_SIZE}")


@dataclass(frozen=True)
class Ed25519Verifier:
    """A public key checking note signatures (type 0x01) or checkpoint cosignatures (type 0x04)."""

    name: str
    signature_type: int
    public_key: bytes
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        _require_key(self.name, self.signature_type, self.public_key, "public key")
        object.__setattr__(self, "key_id", key_id(self.name, self.signature_type, self.public_key))

    @property
    def verifier_key(self) -> str:
        return _key_string(self.name, self.key_id, self.signature_type, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if self.signature_type == COSIGNATURE_V1:
            return self.cosigned_at(message, signature) is not None
        return _ed25519_verify(self.public_key, message, signature)

    def cosigned_at(self, message: bytes, signature: bytes) -> int | None:
        """The Unix time in a valid cosignature/v1 of the checkpoint text message, or None."""
        if self.signature_type != COSIGNATURE_V1:
            raise NoteError(f"key {self.name}+{self.key_id:08x} is not a cosignature/v1 key (type 0x04)")
        if len(signature) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
            return None
        timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        try:
            signed = cosignature_message(message.decode("utf-8"), timestamp)
        except (UnicodeDecodeError, NoteError):
            return None
        return timestamp if _ed25519_verify(self.public_key, signed, signature[TIMESTAMP_SIZE:]) else None


def _ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


class Ed25519Signer:
    """A private key making note signatures (type 0x01) or checkpoint cosignatures (type 0x04).

    A cosigner signs with the time from clock; cosign_checkpoint takes an explicit one.
    """

    def __init__(self, name: str, signature_type: int, seed: bytes, clock: Callable[[], float] = time.time) -> None:
        _require_key(name, signature_type, seed, "private key seed")
        self._private_key = Ed25519PrivateKey.from_private_bytes(seed)
        self._clock = clock
        self.verifier = Ed25519Verifier(name, signature_type, self._private_key.public_key().public_bytes_raw())

    def __repr__(self) -> str:
        return f"Ed25519Signer({self.verifier.verifier_key!r})"

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    @property
    def signature_type(self) -> int:
        return self.verifier.signature_type

    def sign(self, message: bytes) -> bytes:
        if self.signature_type == COSIGNATURE_V1:
            return self.cosign(message.decode("utf-8"), int(self._clock()))
        return self._private_key.sign(message)

    def cosign(self, checkpoint_text: str, timestamp: int) -> bytes:
        """timestamp || Ed25519 signature of the cosignature/v1 message: the bytes after the key ID."""
        if self.signature_type != COSIGNATURE_V1:
            raise NoteError(f"key {self.name}+{self.key_id:08x} is not a cosignature/v1 key (type 0x04)")
        signed = cosignature_message(checkpoint_text, timestamp)
        return timestamp.to_bytes(TIMESTAMP_SIZE, "big") + self._private_key.sign(signed)


def _key_string(name: str, identifier: int, signature_type: int, key: bytes) -> str:
    return f"{name}+{identifier:08x}+{base64.b64encode(bytes([signature_type]) + key).decode('ascii')}"


def generate_key(name: str, signature_type: int = ED25519) -> tuple[str, str]:
    """A new (signer key, verifier key) pair; the signer key is secret."""
    private_key = Ed25519PrivateKey.generate()
    seed, public_key = private_key.private_bytes_raw(), private_key.public_key().public_bytes_raw()
    verifier = Ed25519Verifier(name, signature_type, public_key)
    return _PRIVATE_KEY_PREFIX + _key_string(name, verifier.key_id, signature_type, seed), verifier.verifier_key


def parse_verifier_key(verifier_key: str) -> Ed25519Verifier:
    name, identifier, signature_type, public_key = _parse_key_string(verifier_key, "verifier key")
    verifier = Ed25519Verifier(name, signature_type, public_key)
    if verifier.key_id != identifier:
        raise NoteError(f"verifier key {name}+{identifier:08x} does not match its key ID ({verifier.key_id:08x})")
    return verifier


def parse_signer_key(signer_key: str, clock: Callable[[], float] = time.time) -> Ed25519Signer:
    if not signer_key.startswith(_PRIVATE_KEY_PREFIX):
        raise NoteError("signer key does not start with PRIVATE+KEY+")
    name, identifier, signature_type, seed = _parse_key_string(signer_key[len(_PRIVATE_KEY_PREFIX) :], "signer key")
    signer = Ed25519Signer(name, signature_type, seed, clock)
    # The key ID hashes the public key, so it can only be checked once that is derived from the seed.
    if signer.key_id != identifier:
        raise NoteError(f"signer key {name}+{identifier:08x} does not match its key ID ({signer.key_id:08x})")
    return signer


def _parse_key_string(text: str, what: str) -> tuple[str, int, int, bytes]:
    """(name, key ID, signature type, key bytes) of "<name>+<hex key ID>+<base64(type || key)>"."""
    parts = text.split("+", 2)  # base64 may itself contain "+"; a name may not
    if len(parts) != 3:
        raise NoteError(f"{what} is not <name>+<key ID>+<key>")
    name, identifier, encoded = parts
    if len(identifier) != 2 * KEY_ID_SIZE or any(digit not in "0123456789abcdef" for digit in identifier):
        raise NoteError(f"{what} key ID {identifier!r} is not 8 lowercase hexadecimal digits")
    try:
        typed_key = decode_canonical(encoded)
    except ValueError as error:
        raise NoteError(f"{what} key {error}") from error
    if not typed_key:
        raise NoteError(f"{what} has no key")
    return name, int(identifier, 16), typed_key[0], typed_key[1:]


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name and ID, and the signature bytes that follow the ID."""

    name: str
    key_id: int
    signature: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise NoteError(f"signature key name {self.name!r} is empty or contains a space, plus sign or control")
        if not 0 <= self.key_id < 2 ** (8 * KEY_ID_SIZE):
            raise NoteError(f"key ID {self.key_id} does not fit in {KEY_ID_SIZE} bytes")
        if not self.signature:
            raise NoteError(f"signature by {self.name} is empty")

    @property
    def line(self) -> str:
        encoded = base64.b64encode(self.key_id.to_bytes(KEY_ID_SIZE, "big") + self.signature).decode("ascii")
        return f"{_SIGNATURE_LINE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True)
class Note:
    """A note as parsed, before any signature is checked."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class VerifiedNote:
    """A note with at least one valid signature from a known key; signatures of unknown keys are kept aside."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def _require_note_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text does not end with a newline")
    if any(character < " " and character != "\n" for character in text):
        raise NoteError("note text contains a control character other than newline")


def sign_note(text: str, signers: Iterable[NoteSigner], existing: Iterable[NoteSignature] = ()) -> str:
    """The signed note: text, a blank line, the existing signatures, then one from each signer.

    An existing signature by the same key as a new signer is replaced, as sumdb/note does.
    """
    _require_note_text(text)
    message = text.encode("utf-8")
    new = [NoteSignature(signer.name, signer.key_id, signer.sign(message)) for signer in signers]
    replaced = {(signature.name, signature.key_id) for signature in new}
    signatures = [signature for signature in existing if (signature.name, signature.key_id) not in replaced] + new
    if not signatures:
        raise NoteError("a signed note needs at least one signature")
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"{len(signatures)} signatures is more than the {MAX_SIGNATURES} a note may carry")
    return text + "\n" + "".join(signature.line for signature in signatures)


def parse_note(message: str | bytes) -> Note:
    """Split a signed note into its text and signature lines, checking only their syntax."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NoteError("note is not valid UTF-8") from error
    if any(character < " " and character != "\n" for character in message):
        raise NoteError("note contains a control character other than newline")
    # The text may contain blank lines; the last one separates it from the signatures.
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note does not end with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signatures, more than the {MAX_SIGNATURES} accepted")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIGNATURE_LINE_PREFIX):
        raise NoteError(f"note line {line!r} is not a signature line (em dash, space, name, space, signature)")
    name, _, encoded = line[len(_SIGNATURE_LINE_PREFIX) :].partition(" ")
    if not is_valid_key_name(name):
        raise NoteError(f"signature line names an invalid key {name!r}")
    try:
        signature = decode_canonical(encoded)
    except ValueError as error:
        raise NoteError(f"signature of {name} {error}") from error
    if len(signature) <= KEY_ID_SIZE:
        raise NoteError(f"signature of {name} is too short to hold a key ID and a signature")
    return NoteSignature(name, int.from_bytes(signature[:KEY_ID_SIZE], "big"), signature[KEY_ID_SIZE:])


def verify_note(message: str | bytes, verifiers: Iterable[NoteVerifier]) -> VerifiedNote:
    """Check a signed note against the known keys.

    A signature is by a known key when both its name and key ID match one; any other is ignored (this
    is what lets a log rotate keys, and witnesses add cosignatures). Every signature by a known key
    must verify, and at least one must be present.
    """
    known: dict[tuple[str, int], NoteVerifier] = {}
    for verifier in verifiers:
        identity = (verifier.name, verifier.key_id)
        if known.setdefault(identity, verifier) != verifier:
            raise NoteError(f"two different known keys are both {verifier.name}+{verifier.key_id:08x}")

    note = parse_note(message)
    text = note.text.encode("utf-8")
    verified: dict[tuple[str, int], NoteSignature] = {}
    unverified: dict[NoteSignature, None] = {}  # ordered, without repeats
    for signature in note.signatures:
        identity = (signature.name, signature.key_id)
        key = known.get(identity)
        if key is None:
            unverified[signature] = None
        elif key.verify(text, signature.signature):
            verified.setdefault(identity, signature)
        else:
            raise NoteError(f"invalid signature by known key {signature.name}+{signature.key_id:08x}")
    if not verified:
        raise NoteError("note has no signature from a known key")
    return VerifiedNote(note.text, tuple(verified.values()), tuple(unverified))


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: a header line, a time line, then the checkpoint note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside 0..2**63-1")
    try:
        parse_checkpoint(checkpoint_text)
    except CheckpointError as error:
        raise NoteError(f"only a checkpoint can be cosigned: {error}") from error
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


def cosign_checkpoint(checkpoint_text: str, cosigner: Ed25519Signer, timestamp: int) -> NoteSignature:
    """A cosignature/v1 signature line for the checkpoint, made at the given Unix time."""
    return NoteSignature(cosigner.name, cosigner.key_id, cosigner.cosign(checkpoint_text, timestamp))


def verify_cosignature(checkpoint_text: str, signature: NoteSignature, verifier: Ed25519Verifier) -> int:
    """The Unix time of a valid cosignature/v1 of the checkpoint by verifier; NoteError otherwise.

    Whether that time is acceptable (not in the future, recent enough) is the caller's policy.
    """
    if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
        raise NoteError(
            f"cosignature is by {signature.name}+{signature.key_id:08x}, not {verifier.name}+{verifier.key_id:08x}"
        )
    timestamp = verifier.cosigned_at(checkpoint_text.encode("utf-8"), signature.signature)
    if timestamp is None:
        raise NoteError(f"invalid cosignature by {signature.name}+{signature.key_id:08x}")
    return timestamp
