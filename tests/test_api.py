"""The REST API: encrypt, decrypt, classify, acknowledgments, audit queries,
tokens; one error shape and the right status everywhere."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.models import AuditEvent
from audit.services import check_chain
from classification.models import MismatchAcknowledgment
from tests import dicom_files
from tests.conftest import ACCOUNT_PASSWORD
from tests.images import encode, image_in_mode

IMAGE_PASSWORD = "saffron-otter-cathedral-93"


def ct() -> bytes:
    return dicom_files.packaged("ct_signed")


def upload(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def encrypt(client: APIClient, data: bytes, declared: str, name: str = "scan.dcm", **extra: Any) -> Any:
    form = {"image": upload(data, name), "password": IMAGE_PASSWORD, "declared_domain": declared, **extra}
    return client.post("/api/v1/encrypt", form, format="multipart")


def decrypt(client: APIClient, data: bytes, password: str = IMAGE_PASSWORD) -> Any:
    return client.post(
        "/api/v1/decrypt", {"file": upload(data, "scan.securepix.png"), "password": password}, format="multipart"
    )


def error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return response.status_code, body["error"]["code"]


def test_a_ct_scan_declared_medical_round_trips_bit_exactly(operator_api: APIClient) -> None:
    original = ct()
    encrypted = encrypt(operator_api, original, "medical")
    assert encrypted.status_code == 200, encrypted.content
    assert encrypted["Content-Type"] == "image/png" and encrypted.content.startswith(b"\x89PNG")
    assert encrypted["X-SecurePix-Domain"] == "medical" and encrypted["X-SecurePix-Decision"] == "allow"
    assert encrypted["X-SecurePix-Model"] == "efficientnet-lite0"
    assert 'filename="scan.securepix.png"' in encrypted["Content-Disposition"]
    decrypted = decrypt(operator_api, encrypted.content)
    assert decrypted.status_code == 200 and decrypted["Content-Type"] == "application/dicom"
    assert dicom_files.read(decrypted.content).pixel_array.tobytes() == dicom_files.read(original).pixel_array.tobytes()
    event = AuditEvent.objects.get(sequence=int(encrypted["X-SecurePix-Audit-Event"]))
    assert (event.action, event.outcome, event.username) == ("encrypt", "success", "radiographer")
    assert (event.image_width, event.image_height, event.image_format, event.image_bytes) == (
        128,
        128,
        "DICOM",
        len(original),
    )
    assert event.predicted_domain == "medical" and not event.mismatch and len(event.encrypted_sha256) == 64


def test_a_mismatch_needs_an_acknowledgment_which_is_stored_and_linked(operator_api: APIClient) -> None:
    refused = encrypt(operator_api, ct(), "personal")
    assert error(refused) == (409, "acknowledgment_required")
    assert refused.json()["error"]["classification"]["domain"] == "medical"
    assert "DICOM modality CT" in refused.json()["error"]["classification"]["reasons"]
    no_reason = encrypt(operator_api, ct(), "personal", acknowledge="true")
    assert error(no_reason) == (400, "invalid")
    accepted = encrypt(operator_api, ct(), "personal", acknowledge="true", acknowledgment_reason="research consent")
    assert accepted.status_code == 200 and accepted["X-SecurePix-Decision"] == "acknowledge"
    stored = MismatchAcknowledgment.objects.get()
    assert stored.audit_event is not None and str(stored.audit_event.sequence) == accepted["X-SecurePix-Audit-Event"]
    assert (stored.declared_domain, stored.predicted_domain, stored.reason) == (
        "personal",
        "medical",
        "research consent",
    )
    denied = AuditEvent.objects.get(outcome="denied")
    assert (denied.reason, denied.mismatch, denied.declared_domain) == ("acknowledgment_required", True, "personal")
    listed = operator_api.get("/api/v1/acknowledgments").json()
    assert listed["count"] == 1 and listed["results"][0]["audit_event"] == stored.audit_event.sequence


@override_settings(SECUREPIX_MISMATCH_RULES="personal:medical=block")
def test_a_policy_block_is_403_and_recorded(operator_api: APIClient) -> None:
    assert error(encrypt(operator_api, ct(), "personal", acknowledge="true", acknowledgment_reason="x")) == (
        403,
        "blocked_by_policy",
    )
    assert AuditEvent.objects.get().reason == "blocked_by_policy"


def test_wrong_password_and_altered_file_are_authentication_failures(operator_api: APIClient) -> None:
    encrypted = encrypt(operator_api, ct(), "medical").content
    assert error(decrypt(operator_api, encrypted, "not the password")) == (400, "authentication_failed")
    altered = bytearray(encrypted)
    altered[len(altered) // 2] ^= 1
    assert error(decrypt(operator_api, bytes(altered))) == (400, "authentication_failed")
    reasons = list(AuditEvent.objects.filter(action="decrypt").values_list("outcome", "reason"))
    assert reasons == [("failure", "wrong_password"), ("failure", "tampered_file")]


def test_classify_returns_the_result_and_the_decision(operator_api: APIClient) -> None:
    response = operator_api.post(
        "/api/v1/classify", {"image": upload(ct(), "ct.dcm"), "declared_domain": "finance"}, format="multipart"
    )
    body = response.json()
    assert response.status_code == 200 and body["domain"] == "medical" and body["decision"] == "acknowledge"
    assert set(body["scores"]) == {"medical", "legal", "surveillance", "finance", "personal", "none"}
    assert len(body["top5"]) == 5 and body["model"] == "efficientnet-lite0"
    assert AuditEvent.objects.get(action="classify").mismatch


# Bad input -------------------------------------------------------------------


def test_bad_input_gets_the_right_status_and_leaves_only_an_audit_event(operator_api: APIClient) -> None:
    png = encode(image_in_mode("RGB"))
    assert error(operator_api.post("/api/v1/encrypt", {}, format="multipart")) == (400, "invalid")
    assert error(encrypt(operator_api, b"%PDF-1.7 not an image", "medical", "a.pdf")) == (415, "not_an_image")
    assert error(encrypt(operator_api, png[: len(png) // 2], "medical", "cut.png")) == (400, "damaged_image")
    bad_domain = encrypt(operator_api, png, "pets", "a.png")
    assert error(bad_domain) == (400, "invalid") and "declared_domain" in bad_domain.json()["error"]["fields"]
    assert error(operator_api.post("/api/v1/encrypt", {"image": "text"}, format="json")) == (
        415,
        "unsupported_media_type",
    )
    assert error(decrypt(operator_api, png)) == (400, "not_securepix_file")
    assert error(operator_api.get("/api/v1/no-such-thing")) == (404, "not_found")
    assert MismatchAcknowledgment.objects.count() == 0
    assert not AuditEvent.objects.filter(outcome="success").exists()


UPLOADS = {
    "/api/v1/encrypt": ("image", {"password": IMAGE_PASSWORD, "declared_domain": "medical"}),
    "/api/v1/decrypt": ("file", {"password": IMAGE_PASSWORD}),
    "/api/v1/classify": ("image", {}),
}


@pytest.mark.parametrize("url", list(UPLOADS))
def test_every_upload_endpoint_refuses_bad_files_alike(operator_api: APIClient, url: str) -> None:
    field, others = UPLOADS[url]

    def send(data: bytes | None, **changes: str) -> tuple[int, str]:
        form: dict[str, Any] = {**others, **changes}
        if data is not None:
            form[field] = upload(data, "x.png")
        return error(operator_api.post(url, form, format="multipart"))

    png = encode(image_in_mode("L"))
    assert send(None) == (400, "invalid")
    assert send(b"") == (400, "invalid")
    not_image = send(b"just some text, no image")
    assert not_image == ((400, "not_securepix_file") if url.endswith("decrypt") else (415, "not_an_image"))
    cut = send(png[:-30])
    assert cut == ((400, "not_securepix_file") if url.endswith("decrypt") else (400, "damaged_image"))
    with override_settings(SECUREPIX_MAX_UPLOAD_BYTES=100):
        assert send(png) == (413, "upload_too_large")
    if "declared_domain" in others or url.endswith("classify"):
        assert send(png, declared_domain="pets") == (400, "invalid")
    assert not AuditEvent.objects.filter(outcome="success").exists()


@override_settings(SECUREPIX_MAX_UPLOAD_BYTES=1000)
def test_an_oversized_upload_is_413(operator_api: APIClient) -> None:
    assert error(encrypt(operator_api, ct(), "medical")) == (413, "upload_too_large")


@override_settings(SECUREPIX_MAX_PIXELS=100)
def test_too_many_pixels_is_413(operator_api: APIClient) -> None:
    assert error(encrypt(operator_api, ct(), "medical")) == (413, "image_too_large")


def test_bad_expired_and_revoked_tokens_are_401(operator: Any) -> None:
    client = APIClient()
    assert error(client.get("/api/v1/me")) == (401, "not_authenticated")
    client.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    assert error(client.get("/api/v1/me")) == (401, "bad_token")
    token, plain = ApiToken.issue(operator)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain[:-2]}xx")
    assert error(client.get("/api/v1/me")) == (401, "bad_token")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert client.get("/api/v1/me").json()["roles"] == ["operator"]
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert error(client.get("/api/v1/me")) == (401, "token_expired")
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() + timedelta(days=1))
    assert client.delete(f"/api/v1/tokens/{token.key_id}").status_code == 204
    assert error(client.get("/api/v1/me")) == (401, "token_revoked")


def test_tokens_are_stored_hashed_and_made_from_credentials(operator: Any) -> None:
    client = APIClient()
    made = client.post("/api/v1/tokens", {"username": "radiographer", "password": ACCOUNT_PASSWORD, "name": "batch"})
    assert made.status_code == 201, made.content
    plain = made.json()["token"]
    stored = ApiToken.objects.get(key_id=made.json()["key_id"])
    assert plain not in repr(list(ApiToken.objects.values())) and stored.secret_hash not in plain
    assert (stored.expires - timezone.now()).days in (29, 30)
    assert error(client.post("/api/v1/tokens", {"username": "radiographer", "password": "wrong"})) == (
        401,
        "bad_credentials",
    )
    assert AuditEvent.objects.filter(action="token_create", outcome="success").count() == 1
    assert AuditEvent.objects.filter(action="login", outcome="failure").count() == 1


def test_session_posts_need_the_csrf_token(operator: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.get("/accounts/login/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    browser.force_login(operator)
    response = browser.post("/api/v1/tokens", {"name": "from the browser"})
    assert error(response) == (403, "csrf_failed")
    assert browser.post("/api/v1/tokens", {"name": "ok"}, HTTP_X_CSRFTOKEN=token).status_code == 201


def test_decrypt_attempts_are_throttled(operator_api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from web.throttles import DecryptUserThrottle

    monkeypatch.setattr(DecryptUserThrottle, "THROTTLE_RATES", {"decrypt_user": "3/min"})
    statuses = [decrypt(operator_api, b"x" * 100, "guess").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert error(decrypt(operator_api, b"x" * 100))[1] == "throttled"


def test_the_schema_validates_without_warnings(tmp_path: Any) -> None:
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    assert "bearerToken" in schema and "/api/v1/audit/verify" in schema


def test_the_schema_and_its_ui_are_served_without_a_cdn() -> None:
    schema = Client().get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/encrypt" in schema.content
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    assert b"cdn" not in page.content.lower() and b"/static/drf_spectacular_sidecar/" in page.content
    assert b"<script>" not in page.content  # its script comes from a URL too
    csp = page["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self' 'unsafe-inline'" in csp  # Swagger UI injects a style


def test_the_chain_stays_intact_through_a_session_of_work(operator_api: APIClient, auditor_api: APIClient) -> None:
    encrypted = encrypt(operator_api, ct(), "medical").content
    decrypt(operator_api, encrypted)
    decrypt(operator_api, encrypted, "wrong")
    export = auditor_api.get("/api/v1/audit/export", {"format": "csv"})
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert export.status_code == 200 and lines[0].startswith("sequence,created,actor_id")
    assert len(lines) == 1 + 3 + 1  # header, three operations, the export itself
    verified = auditor_api.get("/api/v1/audit/verify").json()
    assert verified == {"intact": True, "events": 4, "problem": None}  # the check is recorded after it ran
    assert check_chain().intact and AuditEvent.objects.last().action == "verify"  # type: ignore[union-attr]


def test_auditors_filter_events(operator_api: APIClient, auditor_api: APIClient) -> None:
    encrypt(operator_api, ct(), "medical")
    encrypt(operator_api, ct(), "personal")

    def count(**query: str) -> int:
        response = auditor_api.get("/api/v1/audit/events", query)
        assert response.status_code == 200, response.content
        return int(response.json()["count"])

    assert count() == 2 and count(user="radiographer", action="encrypt") == 2
    assert count(outcome="denied") == 1 and count(mismatch="true") == 1 and count(domain="personal") == 1
    assert count(since=(timezone.now() + timedelta(hours=1)).isoformat()) == 0
    assert error(auditor_api.get("/api/v1/audit/events", {"action": "launch"})) == (400, "invalid")
    jsonl = auditor_api.get("/api/v1/audit/export", {"format": "jsonl", "outcome": "denied"})
    rows = b"".join(jsonl.streaming_content).decode().splitlines()
    assert len(rows) == 1 and '"reason": "acknowledgment_required"' in rows[0]
    assert AuditEvent.objects.filter(action="export").count() == 1


def test_large_uploads_stay_in_memory(operator_api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import numpy as np
    from PIL import Image

    def no_temporary_files(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temporary_files)
    noise = np.random.default_rng(5).integers(0, 256, (1100, 1100, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG", compress_level=0)
    assert len(out.getvalue()) > 3 * 1024 * 1024  # above Django's 2.5 MB in-memory default
    response = encrypt(operator_api, out.getvalue(), "none", "noise.png", acknowledge="true", acknowledgment_reason="t")
    assert response.status_code in (200, 400), response.content  # 400: no mismatch, nothing to acknowledge
    decrypted = decrypt(operator_api, response.content) if response.status_code == 200 else None
    assert decrypted is None or np.array_equal(np.asarray(Image.open(io.BytesIO(decrypted.content))), noise)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_large_file_is_answered_a_megabyte_at_a_time(
    operator_api: APIClient, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """From STREAM_MIN_BYTES on, the encrypted file (with its length) and the
    decrypted PNG (deflated as it is sent) are streamed, never made whole
    beside the image: the same bytes as ever, the digest in the audit event
    the streamed file's, the round trip exact."""
    import hashlib

    import numpy as np
    from PIL import Image

    from cipher.engine import container
    from web import downloads

    monkeypatch.setattr(downloads, "STREAM_MIN_BYTES", 1 << 20)
    original = image_in_mode(mode, 1000, 1100)
    form = {"acknowledge": "true", "acknowledgment_reason": "streamed"}
    encrypted = encrypt(operator_api, encode(original), "personal", "big.png", **form)
    assert encrypted.status_code == 200 and encrypted.streaming
    body = b"".join(encrypted.streaming_content)
    assert int(encrypted["Content-Length"]) == len(body)
    header, ciphertext = container.read_ciphertext(body, 10**7)
    assert body == container.write(header, ciphertext.reshape(-1))
    event = AuditEvent.objects.get(action="encrypt", outcome="success")
    assert event.encrypted_sha256 == hashlib.sha256(body).hexdigest()
    decrypted = decrypt(operator_api, body)
    assert decrypted.status_code == 200 and decrypted.streaming and decrypted["Cache-Control"] == "no-store"
    png = b"".join(decrypted.streaming_content)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), np.asarray(original))
    monkeypatch.setattr(downloads, "STREAM_MIN_BYTES", 1 << 30)
    whole = decrypt(operator_api, body)
    assert not whole.streaming and whole.content == png


def test_a_large_encrypted_file_is_read_from_a_temporary_file_that_goes_with_the_request(
    operator_api: APIClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, settings: Any
) -> None:
    """Ciphertext from SPOOL_MIN_BYTES on is spooled to disk and read from
    there a piece at a time (the worker holds the image, not the file beside
    it); the file is gone when the request ends, refused or not; the audit
    events hold its digest.  A smaller one, and every image to encrypt, stays
    in memory."""
    import hashlib

    import numpy as np
    from PIL import Image

    from cipher import services
    from web import uploads

    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    original = image_in_mode("RGB", 300, 400)
    form = {"acknowledge": "true", "acknowledgment_reason": "spooled"}
    encrypted = encrypt(operator_api, encode(original), "personal", "photo.png", **form).content
    spooled: list[bool] = []
    real = services.do_decrypt

    def watching(**arguments: Any) -> Any:
        spool = arguments["request"].upload.spooled
        spooled.append(spool is not None)
        if spool is not None:  # no name on disk while it is read: a killed worker leaves nothing
            assert os.fstat(spool.fileno()).st_nlink == 0 and list(tmp_path.iterdir()) == []
        return real(**arguments)

    monkeypatch.setattr(services, "do_decrypt", watching)
    monkeypatch.setattr(uploads, "SPOOL_MIN_BYTES", 1 << 16)
    wrong = decrypt(operator_api, encrypted, "not the password at all")
    decrypted = decrypt(operator_api, encrypted)
    assert error(wrong) == (400, "authentication_failed") and decrypted.status_code == 200
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(decrypted.content))), np.asarray(original))
    assert spooled == [True, True] and list(tmp_path.iterdir()) == []
    digests = AuditEvent.objects.filter(action="decrypt").values_list("encrypted_sha256", flat=True)
    assert set(digests) == {hashlib.sha256(encrypted).hexdigest()} and len(digests) == 2
    monkeypatch.setattr(uploads, "SPOOL_MIN_BYTES", 1 << 30)
    assert decrypt(operator_api, encrypted).status_code == 200 and spooled[-1] is False


def test_only_a_securepix_file_is_spooled_and_never_past_the_upload_limit(
    operator_api: APIClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, settings: Any
) -> None:
    """A plaintext image sent to decrypt by mistake stays in memory (and is
    refused); a file past the upload limit is refused (413) with nothing left
    on disk, whether its request says so beforehand or not."""
    from web import uploads

    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    monkeypatch.setattr(uploads, "SPOOL_MIN_BYTES", 1 << 16)
    written: list[str] = []

    class Spooling(uploads.SpooledUpload):
        def __init__(self, name: str, *args: Any) -> None:
            written.append(name)
            super().__init__(name, *args)

    monkeypatch.setattr(uploads, "SpooledUpload", Spooling)
    photo = encode(image_in_mode("RGB", 1000, 800))  # its encrypted file is more than one piece of the upload
    assert error(decrypt(operator_api, photo)) == (400, "not_securepix_file") and written == []
    form = {"acknowledge": "true", "acknowledgment_reason": "limit"}
    encrypted = encrypt(operator_api, photo, "personal", "photo.png", **form).content
    settings.SECUREPIX_MAX_UPLOAD_BYTES = len(encrypted) - 1000  # within the request's slack
    assert error(decrypt(operator_api, encrypted))[0] == 413 and len(written) == 1
    settings.SECUREPIX_MAX_UPLOAD_BYTES = len(encrypted) // 2  # refused from the request's length
    assert error(decrypt(operator_api, encrypted))[0] == 413 and len(written) == 1
    assert list(tmp_path.iterdir()) == []
