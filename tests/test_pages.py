"""The HTML pages without a browser: access, security headers, errors in the
page, and what is never echoed back."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken
from audit import triggers
from audit.models import AuditEvent
from audit.services import record
from cipher.engine.envelope import encrypt_file
from core.context import Context
from tests import dicom_files
from tests.conftest import ACCOUNT_PASSWORD, make_user
from tests.images import encode, image_in_mode

IMAGE_PASSWORD = "larch-beacon-mosaic-61"


def browser_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def htmx(client: Client, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data, HTTP_HX_REQUEST="true")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/", {"operator", "auditor", "admin"}),
        ("/encrypt/", {"operator", "admin"}),
        ("/decrypt/", {"operator", "admin"}),
        ("/jobs/", {"operator", "admin"}),
        ("/audit/", {"auditor", "admin"}),
        ("/accounts/tokens/", {"operator", "auditor", "admin"}),
        ("/accounts/two-factor/", {"operator", "auditor", "admin"}),
    ],
)
@pytest.mark.django_db
def test_pages_follow_the_role_table(url: str, allowed: set[str]) -> None:
    assert Client().get(url).status_code in (200, 302)  # anonymous: the welcome page or the login page
    if url != "/":
        assert Client().get(url)["Location"].startswith("/accounts/login/")
    for role in ("operator", "auditor", "admin"):
        response = browser_for(make_user(f"user-{role}", role)).get(url)
        assert response.status_code == (200 if role in allowed else 403), (url, role)


@pytest.mark.django_db
def test_every_page_has_the_security_headers_and_names_model_and_role(operator: Any) -> None:
    response = browser_for(operator).get("/encrypt/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    body = response.content.decode()
    assert "<script>" not in body and " style=" not in body and " onclick=" not in body
    assert 'data-testid="model">efficientnet-lite0<' in body and 'data-testid="role">operator<' in body
    login = Client().post("/accounts/login/", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
    cookie = login.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_htmx_posts_need_the_csrf_token(operator: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    refused = htmx(client, "/accounts/tokens/new", {"name": "x"})
    assert refused.status_code == 403 and not ApiToken.objects.exists()
    client.get("/accounts/tokens/")
    token = client.cookies["csrftoken"].value
    made = client.post("/accounts/tokens/new", {"name": "x"}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert made.status_code == 200 and ApiToken.objects.count() == 1


@pytest.mark.django_db
def test_decryption_in_the_page_is_not_cached_and_errors_stay_in_the_page(operator: Any) -> None:
    client = browser_for(operator)
    png = encode(image_in_mode("RGB", 40, 30))
    encrypted = encrypt_file(png, IMAGE_PASSWORD).data
    done = htmx(client, "/decrypt/run", {"file": _file(encrypted, "a.securepix.png"), "password": IMAGE_PASSWORD})
    assert done.status_code == 200 and done["Cache-Control"] == "no-store"
    assert 'download="a.png"' in done.content.decode() and IMAGE_PASSWORD not in done.content.decode()
    wrong = htmx(client, "/decrypt/run", {"file": _file(encrypted, "a.securepix.png"), "password": "guess-123"})
    assert wrong.status_code == 400 and "wrong password" in wrong.content.decode().lower()
    assert "guess-123" not in wrong.content.decode() and "<html" not in wrong.content.decode()
    altered = bytearray(encrypted)
    altered[-40] ^= 1
    tampered = htmx(client, "/decrypt/run", {"file": _file(bytes(altered), "a.png"), "password": IMAGE_PASSWORD})
    assert tampered.status_code == 400 and "problem" in tampered.content.decode()
    dicom = encrypt_file(dicom_files.packaged("ct_signed"), IMAGE_PASSWORD).data
    as_dicom = htmx(client, "/decrypt/run", {"file": _file(dicom, "ct.securepix.png"), "password": IMAGE_PASSWORD})
    assert (
        'download="ct.dcm"' in as_dicom.content.decode()
        and "data:application/dicom;base64," in as_dicom.content.decode()
    )


@pytest.mark.django_db
def test_the_decrypt_page_shares_the_api_throttle(operator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from web.throttles import DecryptUserThrottle

    monkeypatch.setattr(DecryptUserThrottle, "THROTTLE_RATES", {"decrypt_user": "3/min"})
    client = browser_for(operator)
    answers = [
        htmx(client, "/decrypt/run", {"file": _file(b"x" * 50, "a.png"), "password": "p"}).status_code for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    assert "Too many decryption attempts" in htmx(client, "/decrypt/run", {"password": "p"}).content.decode()


@pytest.mark.django_db
@override_settings(SECUREPIX_MAX_UPLOAD_BYTES=1000)
def test_oversized_uploads_in_the_pages_are_413(operator: Any) -> None:
    big = _file(b"x" * 200_000, "big.png")  # over the limit and its slack
    response = htmx(browser_for(operator), "/encrypt/classify", {"images": big, "declared_domain": "none"})
    assert response.status_code == 413 and "larger than 1000 bytes" in response.content.decode()


@pytest.mark.django_db
def test_a_file_that_is_not_an_image_is_415_in_the_page_too(operator: Any) -> None:
    form = {
        "image": _file(b"%PDF-1.7", "a.pdf"),
        "password": IMAGE_PASSWORD,
        "password2": IMAGE_PASSWORD,
        "declared_domain": "none",
    }
    response = htmx(browser_for(operator), "/encrypt/run", form)
    assert response.status_code == 415 and "not an image" in response.content.decode()


@pytest.mark.django_db
def test_encrypt_refuses_differing_passwords_without_echoing_them(operator: Any) -> None:
    response = htmx(
        browser_for(operator),
        "/encrypt/run",
        {"image": _file(encode(image_in_mode("RGB")), "a.png"), "password": "first-secret-1", "password2": "other-2",
         "declared_domain": "none"},
    )  # fmt: skip
    text = response.content.decode()
    assert response.status_code == 400 and "differ" in text and "first-secret-1" not in text and "other-2" not in text
    assert not AuditEvent.objects.filter(action="encrypt").exists()


@pytest.mark.django_db
def test_the_encrypt_page_has_no_declared_domain_until_files_are_chosen(operator: Any) -> None:
    body = browser_for(operator).get("/encrypt/").content.decode()
    assert "declared_domain" not in body and '<select id="declared' not in body  # no silent default for all files
    assert 'hx-params="images"' in body and 'data-readyz-url="/readyz"' in body


@pytest.mark.django_db
def test_the_classify_fragment_has_one_declared_domain_per_file_with_nothing_chosen(operator: Any) -> None:
    client = browser_for(operator)
    files = [
        _file(dicom_files.packaged("ct_signed"), "ct.dcm"),
        _file(b"%PDF-1.7", "notes.pdf"),
        _file(encode(image_in_mode("RGB", 64, 64)), "flat.png"),
    ]
    text = htmx(client, "/encrypt/classify", {"images": files}).content.decode()
    assert text.count('data-testid="prediction"') == 3
    assert 'name="declared_0"' in text and 'name="declared_2"' in text and 'name="declared_1"' not in text
    assert text.count('<option value="">Choose…</option>') == 2 and "selected" not in text
    assert "declared_domain" not in text
    assert "Looks like <strong" in text and "Medical</strong> content, more than 99% sure" in text
    assert "Why: " in text and "DICOM modality CT" in text
    assert text.count("<details") == 2  # the raw labels, once per file, behind a toggle
    assert "ImageNet labels:" not in text and "top labels" not in text and "looks none" not in text
    assert 'data-suggest="medical" data-for="declared_0">Use the suggestion: Medical<' in text
    assert "notes.pdf" in text and "cannot be encrypted" in text
    # never the passwords
    assert 'hx-params="declared_0,predicted,confidence,leaning,leaning_confidence,index,name"' in text


def _decide(
    client: Client,
    declared: str,
    predicted: str = "medical",
    confidence: str = "0.98",
    index: str = "1",
    **leaning: str,
) -> Any:
    fields = {"predicted": predicted, "confidence": confidence, "index": index, "name": "ct.dcm", **leaning}
    return htmx(client, "/encrypt/decide", {**fields, f"declared_{index}": declared})


@pytest.mark.django_db
def test_decide_asks_when_an_unsure_none_leans_to_a_stricter_domain(operator: Any) -> None:
    client = browser_for(operator)
    unsure = {"predicted": "none", "confidence": "0.09", "leaning": "medical", "leaning_confidence": "0.52"}
    asked = _decide(client, "personal", **unsure).content.decode()
    assert 'data-decision="acknowledge"' in asked
    assert "ct.dcm may be Medical content (52% sure: the classifier is unsure)" in asked
    assert 'data-decision="allow"' in _decide(client, "medical", **unsure).content.decode()
    for bad in ({"leaning": "x-ray"}, {"leaning_confidence": "2"}, {"leaning_confidence": "much"}):
        assert _decide(client, "none", **{**unsure, **bad}).status_code == 400


@pytest.mark.django_db
@override_settings(SECUREPIX_MISMATCH_RULES="personal:medical=block")
def test_decide_says_allow_acknowledge_with_fields_for_that_file_or_block(operator: Any) -> None:
    client = browser_for(operator)
    allowed = _decide(client, "medical").content.decode()
    assert 'data-decision="allow"' in allowed and "Allowed: ct.dcm will be encrypted as Medical" in allowed
    assert 'data-decision="allow"' in _decide(client, "medical", predicted="personal").content.decode()  # stricter
    acknowledge = _decide(client, "legal").content.decode()
    assert 'data-decision="acknowledge"' in acknowledge and 'data-declared="legal"' in acknowledge
    assert "ct.dcm looks like Medical content (98% sure), which needs more care" in acknowledge
    assert 'name="acknowledge_1"' in acknowledge and 'name="acknowledgment_reason_1"' in acknowledge
    assert "I have checked ct.dcm: encrypt it as Legal anyway." in acknowledge
    assert '<label for="acknowledgment_reason_1">Reason for ct.dcm' in acknowledge
    blocked = _decide(client, "personal").content.decode()
    assert 'data-decision="block"' in blocked and "Blocked by policy" in blocked and "acknowledge_1" not in blocked
    unsure = _decide(client, "none", confidence="0.3").content.decode()
    assert 'data-decision="allow"' in unsure
    nothing = _decide(client, "")
    assert nothing.status_code == 200 and "Choose the declared domain of ct.dcm" in nothing.content.decode()
    assert _decide(client, "", confidence="nan").status_code == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("declared", "secret"),
        ("predicted", "x-ray"),
        ("confidence", "1.5"),
        ("confidence", "-0.1"),
        ("confidence", "nan"),
        ("confidence", "very"),
        ("index", "first"),
        ("index", "²"),
    ],
)
@pytest.mark.django_db
def test_decide_refuses_bad_input_with_a_problem_fragment(operator: Any, field: str, value: str) -> None:
    good = {"declared": "legal", "predicted": "medical", "confidence": "0.9", "index": "0"}
    response = _decide(browser_for(operator), **{**good, field: value})
    text = response.content.decode()
    assert response.status_code == 400 and 'data-testid="problem"' in text and "<html" not in text
    assert "data-decision" not in text


@pytest.mark.django_db
def test_decide_is_for_those_who_may_encrypt(auditor: Any) -> None:
    assert Client().post("/encrypt/decide", {"index": "0"}).status_code == 302
    assert _decide(browser_for(auditor), "legal").status_code == 403


@pytest.mark.django_db
def test_encrypt_refuses_a_file_without_a_declared_domain(operator: Any) -> None:
    form = {
        "image": _file(encode(image_in_mode("RGB")), "a.png"),
        "password": IMAGE_PASSWORD,
        "password2": IMAGE_PASSWORD,
    }
    response = htmx(browser_for(operator), "/encrypt/run", form)
    assert response.status_code == 400 and "choose the declared domain" in response.content.decode().lower()
    assert not AuditEvent.objects.filter(action="encrypt", outcome="success").exists()


@pytest.mark.django_db
def test_encrypt_decides_again_whatever_the_page_showed(operator: Any) -> None:
    scan = _file(dicom_files.packaged("ct_signed"), "ct.dcm")
    form = {"image": scan, "password": IMAGE_PASSWORD, "password2": IMAGE_PASSWORD, "declared_domain": "none"}
    response = htmx(browser_for(operator), "/encrypt/run", form)
    assert response.status_code == 409 and "acknowledge the mismatch" in response.content.decode()


@pytest.mark.django_db
def test_the_verification_panel_names_the_first_broken_event(auditor: Any) -> None:
    for _ in range(3):
        record("classify", "success", Context(actor=auditor))
    client = browser_for(auditor)
    assert "Intact: 4 events" in htmx(client, "/audit/verify", {}).content.decode()  # with the login
    from django.db import connection

    triggers.remove(connection)
    AuditEvent.objects.filter(sequence=2).update(outcome="failure")
    text = htmx(client, "/audit/verify", {}).content.decode()
    assert "Broken at event #2: altered" in text
    detail = client.get("/audit/events/2", HTTP_HX_REQUEST="true").content.decode()
    assert "Event #2" in detail and "failure" in detail
    assert htmx(client, "/audit/events", {}).status_code == 405
    assert client.get("/audit/events?since=yesterday", HTTP_HX_REQUEST="true").status_code == 400


@pytest.mark.django_db
def test_two_factor_set_up_in_the_page(operator: Any) -> None:
    client = browser_for(operator)
    started = client.post("/accounts/two-factor/", {"step": "start"}).content.decode()
    assert "<svg" in started and "Key:" in started
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    done = client.post("/accounts/two-factor/", {"step": "confirm", "otp_token": code}).content.decode()
    assert "your authenticator app is now needed" in done and TOTPDevice.objects.get(user=operator).confirmed
    login = Client().post("/accounts/login/", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
    assert login.status_code == 302 and login["Location"] == "/accounts/login/code/"


@pytest.mark.django_db
@override_settings(SECUREPIX_REQUIRE_2FA=True)
def test_required_second_factor_sends_auditors_to_set_it_up(auditor: Any, operator: Any) -> None:
    response = browser_for(auditor).get("/audit/")
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/"
    assert browser_for(operator).get("/encrypt/").status_code == 200


@pytest.mark.django_db
def test_password_change_page(operator: Any) -> None:
    client = browser_for(operator)
    new = "another-long-passphrase-5"
    response = client.post(
        "/accounts/password/", {"old_password": ACCOUNT_PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.check_password(new)


def _file(data: bytes, name: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)
