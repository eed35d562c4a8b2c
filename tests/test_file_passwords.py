"""Passwords that protect files follow a policy (Django's password
validators): the API refuses a weak one with the reasons, the page explains
it as it is typed, the command line refuses it unless told to allow it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from audit.models import AuditEvent
from cipher.passwords import password_problems
from tests.images import encode, image_in_mode
from tests.test_cli import run


@pytest.mark.parametrize("weak", ["a", "12345678901234", "password12345", "short pass"])
def test_weak_passwords_are_named_with_their_reasons(weak: str) -> None:
    assert password_problems(weak)


def test_a_long_uncommon_password_passes() -> None:
    assert password_problems("larch-beacon-mosaic-61") == []


def test_the_api_refuses_a_weak_password_with_the_reasons(operator_api: Any) -> None:
    form = {"image": SimpleUploadedFile("a.png", encode(image_in_mode("RGB"))), "password": "a"}
    refused = operator_api.post("/api/v1/encrypt", {**form, "declared_domain": "none"}, format="multipart")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "weak_password" and any("at least 12 characters" in r for r in error["reasons"])
    assert AuditEvent.objects.get().reason == "weak_password"


@override_settings(SECUREPIX_FILE_PASSWORD_MIN_LENGTH=20)
def test_the_page_explains_the_policy_as_the_password_is_typed(operator: Any) -> None:
    from django.conf import settings

    browser = Client()
    browser.force_login(operator)
    assert 'minlength="20"' in browser.get("/encrypt/").content.decode()
    with override_settings(
        SECUREPIX_FILE_PASSWORD_VALIDATORS=[
            {
                "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
                "OPTIONS": {"min_length": settings.SECUREPIX_FILE_PASSWORD_MIN_LENGTH},
            }
        ]
    ):
        weak = browser.post("/encrypt/password", {"password": "a"}, HTTP_HX_REQUEST="true")
        strong = browser.post("/encrypt/password", {"password": "x" * 25}, HTTP_HX_REQUEST="true")
    assert weak.status_code == 200 and "data-weak" in weak.content.decode()
    assert "at least 20 characters" in weak.content.decode()
    assert "data-weak" not in strong.content.decode() and weak["Cache-Control"] == "no-store"


def test_the_command_line_refuses_a_weak_password_unless_allowed(tmp_path: Path) -> None:
    image = tmp_path / "old.png"
    image.write_bytes(encode(image_in_mode("RGB")))
    refused = run("encrypt", image, "--json", password="hunter2")
    assert refused.returncode == 2 and "too weak" in refused.stderr
    assert not (tmp_path / "old.securepix.png").exists()
    allowed = run("encrypt", image, "--json", "--allow-weak-password", password="hunter2")
    assert allowed.returncode == 0 and json.loads(allowed.stdout)["status"] == "ok"
