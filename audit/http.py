"""The little HTTP that the receipt command and the witness speak to a
SecurePix server's public audit endpoints (standard library only)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from core.errors import ErrorCode, SecurePixError, UsageError

TIMEOUT_SECONDS = 30
TOKEN_ENV = "SECUREPIX_TOKEN"


class ServerUnreachable(SecurePixError):
    error_code = ErrorCode.SERVER_ERROR


def read_token(path: Path | None) -> str:
    if path is not None:
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read the token file {path}: {exc}") from exc
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UsageError(f"no API token: use --token-file or set {TOKEN_ENV}")
    return token


def _request(server: str, path: str, token: str = "", body: bytes | None = None, content_type: str = "") -> bytes:
    request = urllib.request.Request(server.rstrip("/") + path, data=body, method="POST" if body else "GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", errors="replace")
        raise ServerUnreachable(f"{path}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ServerUnreachable(f"cannot reach {server}: {exc}") from exc


def get_text(server: str, path: str, token: str = "") -> str:
    return _request(server, path, token).decode("utf-8")


def get_json(server: str, path: str, token: str = "") -> Any:
    return json.loads(_request(server, path, token))


def post_text(server: str, path: str, text: str, token: str = "") -> Any:
    return json.loads(_request(server, path, token, text.encode(), "text/plain; charset=utf-8"))


def post_json(server: str, path: str, payload: dict[str, Any], token: str = "") -> Any:
    return json.loads(_request(server, path, token, json.dumps(payload).encode(), "application/json"))
