"""Encryption and decryption for the web and the API, each recorded in the
audit trail, failures included (wrong password, altered file, bad image,
policy block).  Passwords and image bytes stay in memory."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from types import TracebackType
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from audit.models import Action, AuditEvent, Outcome
from audit.models import Decision as AuditDecision
from audit.services import record, refuse, require
from classification import services as classification
from classification.engine.classifier import Classification
from classification.models import MismatchAcknowledgment
from classification.policy import Decision
from core import permissions
from core.context import Context
from core.domains import ACKNOWLEDGE, BLOCK
from core.errors import ErrorCode, SecurePixError
from core.executors import Inline
from imaging import imagefile
from imaging.imagefile import DecodedImage

from .contracts import DecryptRequest, EncryptRequest
from .engine.envelope import EncryptedImage, decrypt_file, encrypt_decoded, encrypt_decoding
from .engine.kdf import KdfLimits

MIME_TYPES = {".png": "image/png", ".dcm": "application/dicom", ".tiff": "image/tiff"}


@dataclass(frozen=True)
class Encrypted:
    encrypted: EncryptedImage  # the SecurePix PNG, with what was encrypted (in memory only)
    classification: Classification
    decision: Decision
    event: AuditEvent
    acknowledgment: MismatchAcknowledgment | None

    @property
    def data(self) -> bytes:
        return self.encrypted.data

    @property
    def image(self) -> DecodedImage:
        return self.encrypted.source


@dataclass(frozen=True)
class Decrypted:
    image: DecodedImage
    event: AuditEvent
    made: bytes | None = None  # the file, once made (do_decrypt makes all but a plain PNG's)

    @property
    def suffix(self) -> str:
        """.png, .dcm or .tiff"""
        return imagefile.suffix(self.image)

    @property
    def content_type(self) -> str:
        return MIME_TYPES[self.suffix]

    @property
    def data(self) -> bytes:
        """The decrypted file, made when first asked for (kept on the instance)."""
        if self.made is None:
            object.__setattr__(self, "made", imagefile.encode(self.image)[0])
        assert self.made is not None
        return self.made

    def pieces(self) -> Iterator[bytes | memoryview]:
        """The decrypted file a piece at a time (imagefile.pieces), never
        whole in memory unless it has been made."""
        return iter((self.made,)) if self.made is not None else imagefile.pieces(self.image)


# What the policy's refusals say: a blocked pair, or a mismatch not acknowledged.
_POLICY_REFUSALS = {
    BLOCK: (ErrorCode.BLOCKED_BY_POLICY, "the policy blocks encrypting it as declared"),
    ACKNOWLEDGE: (ErrorCode.ACKNOWLEDGMENT_REQUIRED, "acknowledge the mismatch with a reason to encrypt anyway"),
}


class DerivationGate:
    """At most `slots` key derivations at once in this process, so that memory
    stays within slots x the Argon2id memory cost; a request waits up to
    `wait` seconds for its turn, then is told to come back (503)."""

    def __init__(self, slots: int, wait: float) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._wait = wait

    def __enter__(self) -> DerivationGate:
        if not self._slots.acquire(timeout=self._wait):
            raise SecurePixError("too many decryptions at once: try again shortly", code=ErrorCode.BUSY)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._slots.release()


@cache
def derivation_gate(slots: int, wait: float) -> DerivationGate:
    return DerivationGate(slots, wait)


def _gate() -> DerivationGate:
    return derivation_gate(settings.SECUREPIX_KDF_CONCURRENCY, settings.SECUREPIX_KDF_WAIT_SECONDS)


def kdf_limits() -> KdfLimits:
    """The server's policy for the key-derivation work a file may ask for."""
    return KdfLimits(
        max_memory_kib=settings.SECUREPIX_KDF_MAX_MEMORY_KIB,
        max_iterations=settings.SECUREPIX_KDF_MAX_ITERATIONS,
        max_parallelism=settings.SECUREPIX_KDF_MAX_PARALLELISM,
    )


def image_fields(image: DecodedImage, size: int) -> dict[str, Any]:
    return {
        "image_width": image.width,
        "image_height": image.height,
        "image_mode": image.mode,
        "image_format": image.source_format,
        "image_bytes": size,
    }


# From this many bytes of file, a request uses a second thread: the key is
# derived while the file is decoded (or read), and the classification (or the
# file's digest) runs beside the cipher.
# Below it, everything runs in turn: a small image gains a few milliseconds,
# and a web worker is one core's worth of capacity (securepix_site/gunicorn.conf.py),
# whose neighbours want the other cores under load.
BESIDE_MIN_BYTES = 4 << 20


def _beside(large: bool) -> Executor:
    return ThreadPoolExecutor(1) if large else Inline()


class _Signalling:
    """A derivation gate that also says when the derivation it was held
    around is over (`over`), for work that should not compete with it."""

    def __init__(self, gate: DerivationGate, over: threading.Event) -> None:
        self._gate, self._over = gate, over

    def __enter__(self) -> _Signalling:
        self._gate.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self._gate.__exit__(kind, error, trace)
        finally:
            self._over.set()


def _file_sha256(source: bytes | BinaryIO, after: threading.Event | None = None) -> str:
    """The SHA-256 of a file in memory, or of an open one read by position
    (os.pread): whoever else reads it meanwhile keeps their place.  `after`:
    wait for it first (the key's derivation, which the decryption waits for,
    gets the cores to itself)."""
    if after is not None:
        after.wait()
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest, descriptor, offset = hashlib.sha256(), source.fileno(), 0
    while piece := os.pread(descriptor, 1 << 20, offset):
        digest.update(piece)
        offset += len(piece)
    return digest.hexdigest()


@sensitive_variables("request")
def do_encrypt(*, context: Context, request: EncryptRequest, keep_image: bool = True) -> Encrypted:
    """Classify, apply the mismatch policy, encrypt: the upload is parsed once.
    `keep_image=False` (the API, jobs: only the encrypted file is wanted): the
    image may be encrypted in its own memory, so that no second copy of it is
    made (`Encrypted.image` then holds ciphertext), and the upload's bytes
    are let go once decoded (Upload.release).

    A large picture (BESIDE_MIN_BYTES of file, its header read and within
    the limits) uses a second thread: its key is derived while the file is
    decoded, both threads make the classifier's renderings,
    then the image is classified while it is encrypted and the result hashed,
    and the policy decides once both are done: a refused file's ciphertext is
    dropped, unseen, and the refusal is what is recorded and raised even if
    the encryption failed meanwhile.  A small one is classified and decided
    first, and a refusal costs no key derivation."""
    require(context, permissions.ENCRYPT, Action.ENCRYPT)
    declared, size = request.declared_domain, request.upload.size

    def failed(error: SecurePixError) -> None:
        refuse(Action.ENCRYPT, context, error, declared_domain=declared, image_bytes=size)

    try:
        request.check()
        classifier = classification.classifier()
    except SecurePixError as error:
        failed(error)
        raise
    image: DecodedImage | None = None
    classifying: Future[Classification] | None = None
    settled: tuple[Classification, Decision, dict[str, Any]] | None = None  # in turn: before the encryption

    def settle() -> tuple[Classification, Decision, dict[str, Any]]:
        """The classification and the policy's decision, or the refusal, recorded."""
        assert image is not None and classifying is not None  # set by decoded_and_rendered
        try:
            result = classifying.result()
        except SecurePixError as error:
            failed(error)
            raise
        decision = classification.decide(declared, result)
        fields = {**image_fields(image, size), **classification.prediction_fields(declared, result)}
        if decision.action == BLOCK or (decision.action == ACKNOWLEDGE and not request.acknowledgment):
            code, advice = _POLICY_REFUSALS[decision.action]
            details = {"classification": result.as_dict(), "decision": decision.action}
            refusal = SecurePixError(f"{decision.reason}; {advice}", code=code, details=details)
            recorded = classification.RECORDED_DECISIONS[decision.action]
            raise refuse(Action.ENCRYPT, context, refusal, Outcome.DENIED, decision=recorded, **fields)
        return result, decision, fields

    # The key is derived beside the decoding only for a picture whose header
    # passes (a junk or oversized file costs no derivation, and holds no slot).
    large = size >= BESIDE_MIN_BYTES and imagefile.screened(request.upload.data, settings.SECUREPIX_MAX_PIXELS)
    consume = not keep_image
    with _beside(large) as beside:

        def decoded_and_rendered() -> DecodedImage:
            """The image, once the classifier has its renderings of it (all
            that it reads), and its classification under way."""
            nonlocal image, classifying
            try:
                upload = classification.parse(request.upload.data)
                if consume:  # the file's bytes are not needed past its decoding
                    request.upload.release()
                image = upload.decoded  # a NIfTI volume has none: 415
                rgb, grey = classifier.rendered(upload, beside)
            except SecurePixError as error:
                failed(error)
                raise
            classifying = beside.submit(classifier.classify_rendered, upload, rgb, grey)
            return image

        if isinstance(beside, Inline):  # in turn: a refusal costs no key derivation, and holds no slot
            prepared = decoded_and_rendered()
            settled = settle()
            with _gate():
                encrypted = encrypt_decoded(prepared, request.password, cipher=request.cipher, consume=consume)
        else:
            try:
                encrypted = encrypt_decoding(
                    decoded_and_rendered,
                    request.password,
                    cipher=request.cipher,
                    consume=consume,
                    gate=_gate(),
                    pool=beside,
                )
            except BaseException:
                # The classification's refusal or error comes first, recorded, as
                # it does in turn (e.g. before a busy derivation gate's 503).
                if classifying is not None:
                    settle()
                raise
        digest = encrypted.sha256()  # a piece at a time: the file is made only if asked for
        result, decision, fields = settled or settle()
    with transaction.atomic():
        event = record(
            Action.ENCRYPT,
            Outcome.SUCCESS,
            context,
            encrypted_sha256=digest,
            decision=AuditDecision.ACKNOWLEDGED if decision.action == ACKNOWLEDGE else AuditDecision.ALLOW,
            extra={"cipher": request.cipher},
            commits_soon=True,
            **fields,
        )
        acknowledgment = None
        if decision.action == ACKNOWLEDGE:
            acknowledgment = classification.do_acknowledge(
                context=context, declared=declared, result=result, reason=request.acknowledgment, encryption=event
            )
    return Encrypted(encrypted, result, decision, event, acknowledgment)


@sensitive_variables("request")
def do_decrypt(*, context: Context, request: DecryptRequest) -> Decrypted:
    """Check and decrypt a SecurePix file (in memory, or spooled to disk by
    the API: Upload.spooled); a wrong password or an altered file is an
    error, never noise.  A large file is read while its key is derived, then
    hashed (for its audit event) on another thread while it is decrypted."""
    require(context, permissions.DECRYPT, Action.DECRYPT)
    source, size = request.upload.source, request.upload.size
    with _beside(size >= BESIDE_MIN_BYTES) as beside:
        # Hashed once the key is derived (or the attempt is over): the
        # derivation and the reading of the file are what the decryption
        # waits for, the digest only the audit event at the end.
        derived = threading.Event()
        inline = isinstance(beside, Inline)
        digest = beside.submit(_file_sha256, source, None if inline else derived)
        try:
            request.check()
            image = decrypt_file(
                source,
                request.password,
                max_pixels=settings.SECUREPIX_MAX_PIXELS,
                kdf_limits=kdf_limits(),
                gate=_Signalling(_gate(), derived),
                overlap=not inline,
            )
        except SecurePixError as error:
            derived.set()
            refuse(Action.DECRYPT, context, error, encrypted_sha256=digest.result(), image_bytes=size)
            raise
        finally:
            derived.set()  # (whatever happened: the digest is never left waiting)
    # A file that Pillow, pydicom or tifffile writes is made before the event
    # (it could still fail); a plain PNG is made as it is sent (Decrypted.pieces).
    made = None if imagefile.plain_png(image) else imagefile.encode(image)[0]
    fields = {"encrypted_sha256": digest.result(), **image_fields(image, size)}
    event = record(Action.DECRYPT, Outcome.SUCCESS, context, **fields)
    return Decrypted(image, event, made)
