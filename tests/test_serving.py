"""The production web server as it runs: gunicorn with the project's settings
(securepix_site/gunicorn.conf.py), a real worker process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_gunicorn_worker_takes_no_request_before_its_model_is_warm(tmp_path: Path) -> None:
    """The first answer a fresh worker gives is already 'ready': the model is
    loaded after the fork and warmed before the worker accepts a connection."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SECUREPIX_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "securepix_site.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "SECUREPIX_DATA_DIR": str(tmp_path),
        "SECUREPIX_PRODUCTION": "1",
        "SECUREPIX_WEB_WORKERS": "1",
        "SECUREPIX_CHECKPOINT_SECONDS": "0",
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(ROOT / "scripts" / "local-secrets")], env={**environment, "PYTHON": sys.executable}, check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=environment, check=True)
    port = free_port()  # just before the server binds it, not before the setup above
    environment["SECUREPIX_BIND"] = f"127.0.0.1:{port}"
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "-c", "securepix_site/gunicorn.conf.py", "securepix_site.wsgi"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        first = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=60) as response:
                    first = (response.status, json.loads(response.read()))
                break
            except urllib.error.HTTPError as refused:
                first = (refused.code, json.loads(refused.read()))
                break
            except OSError:  # not listening yet
                time.sleep(0.2)
        assert first is not None, (tmp_path / "gunicorn.log").read_text()[-2000:]
        assert first == (200, {"status": "ready", "classifier": first[1].get("classifier")}), first
        assert first[1]["classifier"]
        assert "classifier warm" in (tmp_path / "gunicorn.log").read_text()
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
