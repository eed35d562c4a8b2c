"""One error model: the enum, its three mappings, and the README's table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from core.errors import ErrorCode, ImageTooLarge, SecurePixError
from tests.images import encode, image_in_mode

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_code_is_listed_in_the_readme_as_the_enum_says() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \| (\d) \| (.+) \|$", README.read_text(), re.MULTILINE)
    assert [(code, int(status), int(exit_code), meaning) for code, status, exit_code, meaning in rows] == [
        (member.code, member.status, member.exit_code, member.meaning) for member in ErrorCode
    ]


def test_codes_are_unique_and_statuses_are_errors() -> None:
    assert len({member.code for member in ErrorCode}) == len(ErrorCode)
    assert all(400 <= member.status < 600 and member.exit_code > 0 for member in ErrorCode)
    assert ErrorCode.from_code("image_too_large") is ErrorCode.IMAGE_TOO_LARGE
    assert ErrorCode.from_code("no_such_code") is None


def test_an_error_carries_its_code_status_and_exit_code() -> None:
    error = ImageTooLarge("too many pixels")
    assert (error.code, error.status, error.exit_code) == ("image_too_large", 413, 2)
    overridden = SecurePixError("no", code=ErrorCode.BLOCKED_BY_POLICY, details={"decision": "block"})
    assert (overridden.status, overridden.details) == (403, {"decision": "block"})


def test_the_api_and_the_page_answer_one_error_with_one_status(operator_api: Any, operator: Any) -> None:
    png = encode(image_in_mode("RGB", height=100, width=100))
    with override_settings(SECUREPIX_MAX_PIXELS=99):
        api = operator_api.post("/api/v1/classify", {"image": _file(png)}, format="multipart")
        browser = Client()
        browser.force_login(operator)
        fields = {"image": _file(png), "password": "x" * 20, "password2": "x" * 20, "declared_domain": "none"}
        page = browser.post("/encrypt/run", fields, HTTP_HX_REQUEST="true")
    assert api.status_code == page.status_code == 413
    assert api.json()["error"]["code"] == "image_too_large"
    assert "over the limit" in page.content.decode()


def _file(data: bytes) -> Any:
    return SimpleUploadedFile("big.png", data, content_type="image/png")


def test_an_acknowledgment_without_a_reason_is_the_same_400_for_the_api_and_the_page(
    operator_api: Any, operator: Any
) -> None:
    png = encode(image_in_mode("RGB"))
    fields = {"password": "y" * 20, "declared_domain": "medical", "acknowledge": "true", "acknowledgment_reason": " "}
    api = operator_api.post("/api/v1/encrypt", {"image": _file(png), **fields}, format="multipart")
    browser = Client()
    browser.force_login(operator)
    page = browser.post("/encrypt/run", {"image": _file(png), "password2": "y" * 20, **fields}, HTTP_HX_REQUEST="true")
    assert api.status_code == page.status_code == 400
    assert api.json()["error"]["fields"] == {"acknowledgment_reason": ["an acknowledgment needs a reason"]}
    assert "acknowledgment needs a reason" in page.content.decode()
