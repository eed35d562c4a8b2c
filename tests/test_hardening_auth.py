"""Every way in asks for the second factor of anyone who has one; wrong codes
count like wrong passwords; a user with no role sees nothing; token lifetimes
have a ceiling.  Each test here failed before the fix it pins."""

from __future__ import annotations

from typing import Any

from django.test import Client, override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.conftest import ACCOUNT_PASSWORD, make_user, token_client


def _device(user: Any) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_the_admin_login_does_not_take_the_password_alone_from_a_device_owner(admin: Any) -> None:
    _device(admin)
    browser = Client()
    response = browser.post(
        "/admin/login/?next=/admin/", {"username": admin.username, "password": ACCOUNT_PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in browser.session
    assert browser.get("/admin/").status_code == 302


def test_a_session_without_the_second_factor_opens_nothing(admin: Any) -> None:
    """A session that logged in before the device was enrolled (or any other
    password-only session) is sent back through the two-step login."""
    _device(admin)
    browser = Client()
    browser.force_login(admin)
    assert browser.get("/admin/").status_code == 302
    audit_page = browser.get("/audit/")
    assert audit_page.status_code == 302 and audit_page["Location"].startswith("/accounts/login/")
    browser.force_login(admin)
    minted = browser.post("/api/v1/tokens", {"name": "from the session"})
    assert minted.status_code == 403 and minted.json()["error"]["code"] == "second_factor_required"


def test_wrong_one_time_passwords_on_the_api_are_audited_and_lock_the_login(operator: Any) -> None:
    device = _device(operator)
    api = APIClient(REMOTE_ADDR="192.0.2.9")
    form = {"username": operator.username, "password": ACCOUNT_PASSWORD}
    wrong = "000000" if _code(device) != "000000" else "111111"
    statuses = [api.post("/api/v1/tokens", {**form, "otp_token": wrong}).status_code for _ in range(4)]
    statuses.append(api.post("/api/v1/tokens", form).status_code)  # no code at all counts too
    assert statuses == [401, 401, 401, 401, 429]  # the fifth failure locks, as with passwords
    failures = list(AuditEvent.objects.filter(action="login").values_list("outcome", "reason"))
    assert failures == [("failure", "otp_invalid")] * 4 + [("denied", "locked_out")]
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)  # django-otp's own slow-down
    locked = api.post("/api/v1/tokens", {**form, "otp_token": _code(device)})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "locked_out"


def test_a_user_in_no_group_sees_nothing_on_the_dashboard(db: None) -> None:
    from audit.services import record
    from core.context import Context

    nobody = make_user("no-role", None)
    record("classify", "success", Context(actor=nobody), declared_domain="medical")
    browser = Client()
    browser.force_login(nobody)
    page = browser.get("/").content.decode()
    assert "no role yet" in page and "Classify" not in page


@override_settings(SECUREPIX_REQUIRE_2FA=True)
def test_an_auditor_without_a_device_may_only_enrol(auditor: Any) -> None:
    api = token_client(auditor)
    assert api.get("/api/v1/tokens").status_code == 403
    assert api.get("/api/v1/audit/events").status_code == 403
    key_id = auditor.api_tokens.first().key_id
    assert api.delete(f"/api/v1/tokens/{key_id}").status_code == 403
    assert api.post("/api/v1/otp/totp").status_code == 201


def test_token_days_is_a_ceiling(operator: Any) -> None:
    api = APIClient()
    form = {"username": operator.username, "password": ACCOUNT_PASSWORD}
    too_long = api.post("/api/v1/tokens", {**form, "days": 365})
    assert too_long.status_code == 400 and "days" in too_long.json()["error"]["fields"]
    shorter = api.post("/api/v1/tokens", {**form, "days": 7})
    assert shorter.status_code == 201


def test_the_plaintext_image_and_a_new_token_are_never_cached(operator_api: Any, operator: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cipher.engine.envelope import encrypt_file
    from tests.images import encode, image_in_mode

    password = "larch-beacon-mosaic-61"
    encrypted = encrypt_file(encode(image_in_mode("RGB")), password).data
    form = {"file": SimpleUploadedFile("x.securepix.png", encrypted), "password": password}
    decrypted = operator_api.post("/api/v1/decrypt", form, format="multipart")
    assert decrypted.status_code == 200 and decrypted["Cache-Control"] == "no-store"
    token = APIClient().post("/api/v1/tokens", {"username": operator.username, "password": ACCOUNT_PASSWORD})
    assert token.status_code == 201 and token["Cache-Control"] == "no-store"


def test_the_documented_production_settings_pass_the_deploy_checks() -> None:
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    import tlog

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- production settings -->\n```sh\n", 1)[1].split("```", 1)[0]
    production = {}
    for line in block.splitlines():
        name, value = line.split("#", 1)[0].strip().split("=", 1)
        made = {"<random>": secrets.token_hex(32), "<signer key>": tlog.generate_key("securepix.example.org/audit")[0]}
        production[name] = made.get(value, value)
    assert {"SECUREPIX_SECRET_KEY", "SECUREPIX_AUDIT_KEY", "SECUREPIX_HTTPS"} <= set(production)
    check = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}  # the browser tests set it
    done = subprocess.run(check, env={**environment, **production}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_served_for_real_without_its_keys_the_platform_refuses_to_start(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("SECUREPIX_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    for switch in ("SECUREPIX_HTTPS", "SECUREPIX_PRODUCTION"):
        served = {**environment, "SECUREPIX_DEBUG": "0", switch: "1", "SECUREPIX_DATA_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "manage.py", "check"], env=served, capture_output=True, text=True)
        assert done.returncode != 0
        assert "production server but no" in done.stderr and "SECUREPIX_AUDIT_SIGNING_KEY" in done.stderr
