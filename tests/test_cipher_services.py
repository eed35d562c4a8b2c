"""cipher.services, called directly as the API, the pages and the jobs call
it: one contract in, one audited outcome out, the upload parsed once."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import numpy as np
import pydicom
import pytest

from audit.models import AuditEvent
from cipher import services
from cipher.contracts import DecryptRequest, EncryptRequest
from cipher.engine import envelope
from core.context import Context
from core.errors import AuthenticationFailed, ErrorCode, Forbidden, InvalidInput, SecurePixError
from core.forms import Upload
from imaging import imagefile
from tests import dicom_files
from tests.images import decoded_pixels, encode, image_in_mode

IMAGE_PASSWORD = "long enough passphrase for files"


def _encrypt(user: Any, data: bytes, declared: str = "medical", **fields: Any) -> services.Encrypted:
    request = EncryptRequest(Upload("scan.dcm", data), IMAGE_PASSWORD, declared, **fields)
    return services.do_encrypt(context=Context(actor=user), request=request)


def test_a_dicom_upload_is_read_once_for_classification_encryption_and_the_audit(
    operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = dicom_files.packaged("ct_signed")
    reads = []
    real_dcmread = pydicom.dcmread

    def counting_dcmread(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real_dcmread(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting_dcmread)
    done = _encrypt(operator, data)
    assert len(reads) == 1
    assert done.classification.domain == "medical" and "DICOM modality CT" in done.classification.reasons
    event = AuditEvent.objects.get(action="encrypt")
    assert (event.outcome, event.image_format, event.image_width) == ("success", "DICOM", 128)


def test_a_refused_contract_is_recorded_with_the_field_that_was_wrong(operator: Any) -> None:
    png = encode(image_in_mode("RGB"))
    with pytest.raises(InvalidInput) as refused:
        _encrypt(operator, png, "medical", acknowledge=True, acknowledgment_reason="")
    assert refused.value.fields == {"acknowledgment_reason": ["an acknowledgment needs a reason"]}
    with pytest.raises(InvalidInput, match="declared_domain"):
        _encrypt(operator, png, "pets")
    reasons = list(AuditEvent.objects.order_by("sequence").values_list("outcome", "reason"))
    assert reasons == [("failure", "invalid_acknowledgment_reason"), ("failure", "invalid_declared_domain")]


def test_a_mismatch_without_acknowledgment_is_refused_with_the_prediction(operator: Any) -> None:
    with pytest.raises(SecurePixError) as refused:
        _encrypt(operator, dicom_files.packaged("ct_signed"), "personal")
    assert refused.value.error_code is ErrorCode.ACKNOWLEDGMENT_REQUIRED and refused.value.status == 409
    assert refused.value.details["classification"]["domain"] == "medical"
    assert AuditEvent.objects.get().outcome == "denied"
    done = _encrypt(
        operator, dicom_files.packaged("ct_signed"), "personal", acknowledge=True, acknowledgment_reason="consented"
    )
    assert done.acknowledgment is not None and done.acknowledgment.audit_event == done.event


def test_decryption_tells_a_wrong_password_from_an_altered_file(operator: Any) -> None:
    encrypted = _encrypt(operator, encode(image_in_mode("RGB")), "none").data
    context = Context(actor=operator)
    with pytest.raises(AuthenticationFailed):
        services.do_decrypt(context=context, request=DecryptRequest(Upload("x", encrypted), "not the password"))
    done = services.do_decrypt(context=context, request=DecryptRequest(Upload("x", encrypted), IMAGE_PASSWORD))
    assert done.suffix == ".png" and done.image.mode == "RGB"
    outcomes = list(AuditEvent.objects.filter(action="decrypt").order_by("sequence").values_list("outcome", "reason"))
    assert outcomes == [("failure", "wrong_password"), ("success", "")]


def test_only_a_role_that_may_encrypt_can(auditor: Any) -> None:
    with pytest.raises(Forbidden):
        _encrypt(auditor, encode(image_in_mode("RGB")))
    assert AuditEvent.objects.get().outcome == "denied"


def test_a_request_without_its_file_is_refused_and_recorded(operator_api: Any) -> None:
    missing = operator_api.post("/api/v1/encrypt", {"password": IMAGE_PASSWORD, "declared_domain": "none"})
    assert missing.status_code == 400 and missing.json()["error"]["fields"] == {"image": ["choose one image"]}
    from django.core.files.uploadedfile import SimpleUploadedFile

    empty = operator_api.post(
        "/api/v1/decrypt", {"file": SimpleUploadedFile("x.png", b""), "password": IMAGE_PASSWORD}, format="multipart"
    )
    assert empty.status_code == 400 and empty.json()["error"]["fields"] == {"file": ["the file is empty"]}
    refusals = list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "reason"))
    assert refusals == [("encrypt", "failure", "invalid_image"), ("decrypt", "failure", "invalid_file")]


def test_without_keeping_the_image_it_is_encrypted_in_its_own_memory(operator: Any) -> None:
    """The API and the jobs want only the file: the decoded photo becomes its
    ciphertext (no second copy of the image), and the upload's bytes are let
    go once decoded; the file is the same as ever."""
    png = encode(image_in_mode("RGB", 64, 96))

    def request() -> EncryptRequest:
        return EncryptRequest(
            Upload("photo.png", png), IMAGE_PASSWORD, "none", acknowledge=True, acknowledgment_reason="test"
        )

    consumed = request()
    done = services.do_encrypt(context=Context(actor=operator), request=consumed, keep_image=False)
    assert np.shares_memory(done.image.samples, done.encrypted.body)
    assert consumed.upload.data == b"" and consumed.upload.size == len(png)
    assert AuditEvent.objects.get(pk=done.event.pk).image_bytes == len(png)
    back = services.do_decrypt(
        context=Context(actor=operator), request=DecryptRequest(Upload("p.png", done.data, "file"), IMAGE_PASSWORD)
    )
    assert np.array_equal(back.image.samples, decoded_pixels(png))
    kept_request = request()
    kept = services.do_encrypt(context=Context(actor=operator), request=kept_request)
    assert np.array_equal(kept.image.samples, decoded_pixels(png))
    assert kept_request.upload.data == png  # the pages keep the image, and its file


@pytest.fixture(params=["inline", "beside"])
def beside(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the services work: a small image's classification (or a small
    file's digest) in the caller's thread, a large one's on a second thread
    beside the cipher (forced here for small ones)."""
    if request.param == "beside":
        monkeypatch.setattr(services, "BESIDE_MIN_BYTES", 0)
        monkeypatch.setattr(imagefile, "screened", lambda data, max_pixels: True)  # DICOM too
    return str(request.param)


def test_a_refusal_comes_after_the_classification_either_way(operator: Any, beside: str) -> None:
    """Beside the cipher, the file is encrypted before the policy decides: a
    refused file's ciphertext is dropped, and the audit trail holds the
    refusal alone, as when the classification comes first."""
    with pytest.raises(SecurePixError) as refused:
        _encrypt(operator, dicom_files.packaged("ct_signed"), "personal")
    assert refused.value.error_code is ErrorCode.ACKNOWLEDGMENT_REQUIRED
    assert list(AuditEvent.objects.values_list("action", "outcome")) == [("encrypt", "denied")]
    done = _encrypt(operator, dicom_files.packaged("ct_signed"), "medical")
    assert done.classification.domain == "medical" and done.decision.action == "allow"
    assert done.event.encrypted_sha256 == hashlib.sha256(done.data).hexdigest()


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_an_image_encrypted_in_place_is_classified_from_its_plaintext(
    operator: Any, beside: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The classifier gets renderings of its own (a grey image's would
    otherwise be its samples), so that encrypting the image in its own
    memory, while the classifier reads, cannot hand it ciphertext.  Beside
    the cipher, the classifier here looks only once the image has been
    encrypted."""
    from classification import services as classification

    classifier = classification.classifier()
    encrypted = threading.Event()
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    real_classify, real_seal = classifier.classify_rendered, envelope.seal_image

    def sealing(*args: Any, **kwargs: Any) -> Any:
        sealed = real_seal(*args, **kwargs)
        encrypted.set()
        return sealed

    def watching(upload: Any, rgb: np.ndarray, grey: np.ndarray) -> Any:
        if beside == "beside":
            assert encrypted.wait(30)
        seen.append((rgb.copy(), grey.copy()))
        return real_classify(upload, rgb, grey)

    monkeypatch.setattr(envelope, "seal_image", sealing)
    monkeypatch.setattr(classifier, "classify_rendered", watching)
    png = encode(image_in_mode(mode, 64, 96))

    def request() -> EncryptRequest:
        return EncryptRequest(
            Upload("page.png", png), IMAGE_PASSWORD, "none", acknowledge=True, acknowledgment_reason="t"
        )

    in_place = services.do_encrypt(context=Context(actor=operator), request=request(), keep_image=False)
    assert np.shares_memory(in_place.image.samples, in_place.encrypted.body)  # the image became ciphertext
    plaintext = classifier.rendered(imagefile.parse(png, 1 << 20))
    assert all(map(np.array_equal, seen[0], plaintext))  # what the classifier read did not
    kept = services.do_encrypt(context=Context(actor=operator), request=request())
    assert in_place.classification.as_dict() == kept.classification.as_dict()


def test_a_decryption_event_holds_the_files_digest_either_way(operator: Any, beside: str) -> None:
    encrypted = _encrypt(operator, encode(image_in_mode("RGB")), "none").data
    context = Context(actor=operator)
    with pytest.raises(AuthenticationFailed):
        services.do_decrypt(context=context, request=DecryptRequest(Upload("x", encrypted), "not the password"))
    services.do_decrypt(context=context, request=DecryptRequest(Upload("x", encrypted), IMAGE_PASSWORD))
    digests = AuditEvent.objects.filter(action="decrypt").values_list("outcome", "encrypted_sha256")
    assert sorted(digests) == [
        ("failure", hashlib.sha256(encrypted).hexdigest()),
        ("success", hashlib.sha256(encrypted).hexdigest()),
    ]


@pytest.fixture
def busy_gate(monkeypatch: pytest.MonkeyPatch) -> services.DerivationGate:
    """A derivation gate whose one slot is taken, that waits 50 ms."""
    gate = services.DerivationGate(1, 0.05)
    gate.__enter__()
    monkeypatch.setattr(services, "_gate", lambda: gate)
    return gate


def test_a_refusal_is_recorded_even_when_the_derivation_is_busy(
    operator: Any, beside: str, busy_gate: services.DerivationGate
) -> None:
    """Beside the cipher, the derivation fails before the policy has decided:
    the refusal still comes first, recorded, as in turn."""
    with pytest.raises(SecurePixError) as refused:
        _encrypt(operator, dicom_files.packaged("ct_signed"), "personal")
    assert refused.value.error_code is ErrorCode.ACKNOWLEDGMENT_REQUIRED
    assert list(AuditEvent.objects.values_list("outcome", "reason")) == [("denied", "acknowledgment_required")]
    with pytest.raises(SecurePixError) as busy:
        _encrypt(operator, dicom_files.packaged("ct_signed"), "medical")
    assert busy.value.error_code is ErrorCode.BUSY


def test_a_classification_error_is_recorded_even_when_the_derivation_is_busy(
    operator: Any, beside: str, busy_gate: services.DerivationGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    from classification import services as classification

    def away(upload: Any, rgb: Any, grey: Any) -> Any:
        raise SecurePixError("the model process does not answer", code=ErrorCode.MODELS_UNAVAILABLE)

    monkeypatch.setattr(classification.classifier(), "classify_rendered", away)
    with pytest.raises(SecurePixError) as failed:
        _encrypt(operator, dicom_files.packaged("ct_signed"), "medical")
    assert failed.value.error_code is ErrorCode.MODELS_UNAVAILABLE
    assert list(AuditEvent.objects.values_list("outcome", "reason")) == [("failure", "models_unavailable")]


def test_a_decryption_hashes_its_file_after_the_key_and_never_waits_for_ever(
    operator: Any, beside: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside, the file's digest waits for the key's derivation (which the
    decryption waits for) instead of competing with it; a decryption that
    never derives (every slot busy, a file that is no SecurePix file) still
    records the digest, and does not hang."""
    encrypted = _encrypt(operator, encode(image_in_mode("RGB")), "none").data
    context = Context(actor=operator)
    steps: list[str] = []
    real_derive, real_hash = envelope.derive_keys, services._file_sha256

    def deriving(*args: Any) -> Any:
        keys = real_derive(*args)
        steps.append("derived")
        return keys

    def hashing(source: Any, after: threading.Event | None = None) -> str:
        assert after is None or after.wait(30), "the digest was left waiting"
        steps.append("hashing")
        return real_hash(source, after)

    monkeypatch.setattr(envelope, "derive_keys", deriving)
    monkeypatch.setattr(services, "_file_sha256", hashing)
    services.do_decrypt(context=context, request=DecryptRequest(Upload("x", encrypted), IMAGE_PASSWORD))
    assert steps == (["derived", "hashing"] if beside == "beside" else ["hashing", "derived"])
    gate = services.DerivationGate(1, 0.05)
    gate.__enter__()
    monkeypatch.setattr(services, "_gate", lambda: gate)
    for refused in (encrypted, b"not a SecurePix file" * 10):
        with pytest.raises(SecurePixError):
            services.do_decrypt(context=context, request=DecryptRequest(Upload("x", refused), IMAGE_PASSWORD))
    digests = AuditEvent.objects.filter(action="decrypt", outcome="failure").values_list("reason", "encrypted_sha256")
    assert sorted(digests) == sorted(
        [
            ("busy", hashlib.sha256(encrypted).hexdigest()),
            ("not_securepix_file", hashlib.sha256(b"not a SecurePix file" * 10).hexdigest()),
        ]
    )


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A 1 for each key derivation from now on."""
    counted: list[int] = []
    real = envelope.derive_keys

    def counting(*args: Any) -> Any:
        counted.append(1)
        return real(*args)

    monkeypatch.setattr(envelope, "derive_keys", counting)
    return counted


def test_a_small_image_refused_costs_no_key_derivation(operator: Any, derivations: list[int]) -> None:
    with pytest.raises(SecurePixError):
        _encrypt(operator, dicom_files.packaged("ct_signed"), "personal")
    assert derivations == []
    _encrypt(operator, dicom_files.packaged("ct_signed"), "medical")
    assert derivations == [1]


@pytest.mark.parametrize(
    ("upload", "code"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(5 << 20), ErrorCode.NOT_AN_IMAGE),
        (encode(image_in_mode("RGB", 4000, 2000), "BMP"), ErrorCode.IMAGE_TOO_LARGE),
    ],
)
def test_a_large_upload_refused_from_its_header_costs_no_key_derivation(
    operator: Any, derivations: list[int], settings: Any, upload: bytes, code: ErrorCode
) -> None:
    """The key of a large picture is derived while it decodes, but only once
    its header has passed: junk, or a picture over the pixel limit, holds no
    derivation slot."""
    settings.SECUREPIX_MAX_PIXELS = 4_000_000
    with pytest.raises(SecurePixError) as refused:
        _encrypt(operator, upload, "none")
    assert refused.value.error_code is code and derivations == []
    assert AuditEvent.objects.get().outcome == "failure"
