"""The Django project skeleton: pages answer, settings fail loudly on bad values."""

from __future__ import annotations

import os

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


def test_a_local_secret_comes_from_its_file_and_nothing_is_written_without_one(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "nested" / "secret"
    made_up = env.local_secret(path)
    assert len(made_up) > 40 and env.local_secret(path) != made_up  # one per process, never stored
    assert not path.parent.exists() and "secret" in env.LOCAL_SECRETS
    path.parent.mkdir()
    path.write_text("kept in a file\n")
    assert env.local_secret(path) == "kept in a file"


def test_the_local_secrets_script_makes_private_key_files_once(tmp_path: object) -> None:
    import subprocess
    from pathlib import Path

    folder = Path(str(tmp_path)) / "data"
    script = Path(__file__).resolve().parent.parent / "scripts" / "local-secrets"
    subprocess.run([script], env={"PATH": os.environ["PATH"], "SECUREPIX_DATA_DIR": str(folder)}, check=True)
    first = {name: (folder / name).read_text() for name in ("secret_key", "audit_key")}
    assert all(len(value.strip()) > 40 for value in first.values())
    assert all((folder / name).stat().st_mode & 0o777 == 0o600 for name in first)
    subprocess.run([script], env={"PATH": os.environ["PATH"], "SECUREPIX_DATA_DIR": str(folder)}, check=True)
    assert {name: (folder / name).read_text() for name in first} == first


def test_importing_the_settings_writes_nothing(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(str(tmp_path)) / "data"
    environment = {**os.environ, "SECUREPIX_DATA_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "securepix_site.settings"}
    code = "import django; django.setup(); from django.core.management import call_command; call_command('check')"
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert not folder.exists()
    assert "securepix.W001" in done.stderr  # the made-up keys are reported


def test_every_package_and_the_pages_ship_in_the_distribution() -> None:
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    included = {pattern.rstrip("*") for pattern in config["packages"]["find"]["include"]}
    packages = {path.parent.name for path in root.glob("*/__init__.py")} - {"tests"}
    assert packages == included
    assert config["package-data"]["securepix_site"] == ["templates/**/*.html", "static/**/*"]
    assert (root / "securepix_site" / "templates" / "base.html").exists()
