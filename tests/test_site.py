"""The Django project skeleton: pages answer, settings fail loudly on bad values."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from securepix_site import env


@pytest.mark.django_db
def test_the_home_page_names_the_product_and_its_ciphers(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"SecurePix" in response.content and b"aes-gcm" in response.content


def test_the_health_check_answers_ok(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_env_helpers_read_good_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SP_BOOL", "Yes")
    monkeypatch.setenv("SP_INT", "42")
    monkeypatch.setenv("SP_LIST", "a.example, b.example,")
    assert env.envbool("SP_BOOL", False) is True
    assert env.envint("SP_INT", 0) == 42
    assert env.envlist("SP_LIST", []) == ["a.example", "b.example"]
    assert env.envint("SP_UNSET", 7) == 7


@pytest.mark.parametrize(("helper", "value"), [(env.envbool, "maybe"), (env.envint, "forty"), (env.envint, "-1")])
def test_env_helpers_refuse_bad_values(monkeypatch: pytest.MonkeyPatch, helper: object, value: str) -> None:
    monkeypatch.setenv("SP_BAD", value)
    with pytest.raises(ImproperlyConfigured, match="SP_BAD"):
        helper("SP_BAD", 0)  # type: ignore[operator]


def test_a_local_secret_is_made_once_and_kept_private(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "nested" / "secret"
    first = env.local_secret(path)
    assert len(first) > 40 and env.local_secret(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
