"""The web pages in a real browser: Playwright driving Debian's Chromium
against a live server.  Screenshots go to test-artifacts/ (not committed)."""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from audit.models import AuditEvent
from classification.models import MismatchAcknowledgment
from tests import dicom_files
from tests.conftest import ACCOUNT_PASSWORD, make_user, totp_code

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
IMAGE_PASSWORD = "harbour-violet-compass-28"

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Chromium is not installed: scripts/install-system-packages --browser"
    ),
    pytest.mark.usefixtures("committed_audit"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop; the test's own ORM calls are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(60_000)  # the first classification loads the model
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    csp = [e for e in errors if "Content Security Policy" in e or "Refused" in e]
    assert csp == [], csp  # no inline script or style was needed


def log_in(page: Any, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(ACCOUNT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def photo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    from skimage import data

    pixels = data.astronaut()
    path = tmp_path / "astronaut.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


SUGGESTION = None  # in encrypt_files: press "Use the suggestion" instead of choosing a domain


def file_block(page: Any, name: str) -> Any:
    return page.locator(f"[data-testid=prediction][data-name='{name}']")


def encrypt_files(page: Any, files: list[Path], declared: list[str | None]) -> None:
    """Choose the files, declare each one's domain (or take the suggestion), and type the password."""
    page.goto("/encrypt/")
    page.locator("#images").set_input_files([str(f) for f in files])
    expect(page.get_by_test_id("prediction")).to_have_count(len(files), timeout=60_000)  # the first loads the model
    expect(page.locator("#gate-reason")).to_contain_text("Choose the declared domain of each image")
    screenshot(page, "encrypt-choose")
    for path, domain in zip(files, declared, strict=True):
        block = file_block(page, path.name)
        if domain is SUGGESTION:
            block.get_by_role("button", name=re.compile("^Use the suggestion: ")).click()
        else:
            page.get_by_label(f"Declared domain of {path.name}").select_option(domain)
        chosen = page.get_by_label(f"Declared domain of {path.name}").input_value()
        expect(block.locator(f"[data-decision][data-declared='{chosen}']")).to_have_count(1)
    page.locator("#password").fill(IMAGE_PASSWORD)
    page.locator("#password2").fill(IMAGE_PASSWORD)


def test_an_operator_encrypts_a_photo_downloads_it_and_gets_the_same_pixels_back(tab: Any, tmp_path: Path) -> None:
    make_user("radiographer", "operator")
    log_in(tab, "radiographer")
    assert tab.get_by_test_id("role").inner_text() == "operator"
    assert tab.get_by_test_id("model").inner_text() == "efficientnet-lite0"
    source, pixels = photo(tmp_path)
    encrypt_files(tab, [source], [SUGGESTION])
    assert tab.get_by_test_id("predicted-domain").get_attribute("data-domain") == "personal"
    assert tab.get_by_label("Declared domain of astronaut.png").input_value() == "personal"
    assert tab.locator("[data-thumb] img").count() == 1  # the preview sits in the file's block
    expect(tab.get_by_test_id("decision")).to_contain_text("Allowed")
    tab.get_by_role("button", name="Encrypt", exact=True).click()
    result = tab.get_by_test_id("encrypted-result")
    result.wait_for()
    assert float(tab.get_by_test_id("entropy-after").inner_text()) > 7.99
    assert tab.locator("svg path.hist-red").count() == 2
    screenshot(tab, "encrypt-result")
    tab.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(tab, "encrypt-result-phone")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    tab.set_viewport_size({"width": 1280, "height": 900})
    with tab.expect_download() as download:
        tab.get_by_test_id("download-encrypted").click()
    encrypted = tmp_path / download.value.suggested_filename
    download.value.save_as(encrypted)
    assert encrypted.name == "astronaut.securepix.png" and encrypted.read_bytes().startswith(b"\x89PNG")

    tab.goto("/decrypt/")
    tab.get_by_label("SecurePix file").set_input_files(str(encrypted))
    tab.get_by_label("Password").fill(IMAGE_PASSWORD)
    tab.get_by_role("button", name="Decrypt").click()
    tab.get_by_test_id("decrypted-result").wait_for()
    assert tab.get_by_label("Password").input_value() == ""  # the password is not kept in the page
    screenshot(tab, "decrypt-result")
    with tab.expect_download() as download:
        tab.get_by_test_id("download-decrypted").click()
    back = tmp_path / "back.png"
    download.value.save_as(back)
    assert np.array_equal(np.asarray(Image.open(back)), pixels)
    tab.goto("/")
    expect(tab.get_by_role("heading", name="My recent operations")).to_be_visible()
    screenshot(tab, "dashboard")


def test_a_wrong_password_shows_a_clear_message(tab: Any, tmp_path: Path) -> None:
    from cipher.engine.envelope import encrypt_file

    make_user("radiographer", "operator")
    log_in(tab, "radiographer")
    source, _ = photo(tmp_path)
    encrypted = tmp_path / "astronaut.securepix.png"
    encrypted.write_bytes(encrypt_file(source.read_bytes(), IMAGE_PASSWORD).data)
    tab.goto("/decrypt/")
    tab.get_by_label("SecurePix file").set_input_files(str(encrypted))
    tab.get_by_label("Password").fill("not-the-password")
    tab.get_by_role("button", name="Decrypt").click()
    message = tab.get_by_test_id("problem")
    message.wait_for()
    assert "wrong password" in message.inner_text().lower()
    assert tab.get_by_test_id("decrypted-result").count() == 0
    assert "not-the-password" not in tab.content()


def test_a_mismatch_holds_the_encrypt_button_until_acknowledged_and_the_auditor_sees_it(
    browser: Any, tab: Any, tmp_path: Path, live_server: Any
) -> None:
    make_user("radiographer", "operator")
    make_user("compliance", "auditor")
    log_in(tab, "radiographer")
    scan = tmp_path / "ct.dcm"
    scan.write_bytes(dicom_files.packaged("ct_signed"))
    encrypt_files(tab, [scan], ["personal"])
    assert tab.get_by_test_id("predicted-domain").get_attribute("data-domain") == "medical"
    button = tab.get_by_role("button", name="Encrypt", exact=True)
    gate = tab.locator("#gate-reason")
    expect(gate).to_have_text("Acknowledge the mismatch for ct.dcm (tick its box and give a reason).")
    assert button.is_disabled()
    tab.get_by_label("I have checked ct.dcm: encrypt it as Personal Privacy anyway.").check()
    expect(gate).to_have_text("Give the reason for encrypting ct.dcm as declared.")  # a reason is needed too
    assert button.is_disabled()
    tab.get_by_label("Reason for ct.dcm (kept with your acknowledgment, shown to auditors)").fill(
        "consented teaching file"
    )
    assert button.is_enabled()
    button.click()
    tab.get_by_test_id("encrypted-result").wait_for()
    acknowledgment = MismatchAcknowledgment.objects.get()
    assert acknowledgment.reason == "consented teaching file" and acknowledgment.audit_event is not None
    encryption = AuditEvent.objects.get(pk=acknowledgment.audit_event.pk)  # numbered once its transaction committed

    # The compliance officer, in Paris: finds the acknowledgment by the policy's decision, reads the reason.
    auditor = browser.new_context(base_url=live_server.url, timezone_id="Europe/Paris", locale="en-GB").new_page()
    log_in(auditor, "compliance")
    auditor.goto("/audit/")
    auditor.get_by_label("Policy decision").select_option("acknowledged")
    expect(auditor.get_by_test_id("event-count")).to_have_text("2")  # the encryption and its acknowledgment
    auditor.get_by_label("Action", exact=True).select_option("acknowledge")
    expect(auditor.get_by_test_id("event-count")).to_have_text("1")
    expect(auditor).to_have_url(re.compile(r"/audit/\?action=acknowledge&decision=acknowledged$"))
    row = auditor.get_by_test_id("events").locator("tbody tr")
    for words in ("radiographer", "Acknowledge mismatch", "Personal Privacy → Medical", "consented teaching file"):
        expect(row).to_contain_text(words)
    when = row.locator("time")
    expect(when).to_contain_text("CET")  # the viewer's time zone; UTC on hover
    assert when.get_attribute("title").endswith(" UTC")  # type: ignore[union-attr]
    screenshot(auditor, "audit-acknowledgments")

    row.get_by_role("button", name="details").click()
    dialog = auditor.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("reason-given")).to_have_text("consented teaching file")
    expect(dialog).to_contain_text("Allowed after an acknowledgment")
    assert "{" not in dialog.inner_text()  # in words, not a Python dict
    screenshot(auditor, "audit-detail")
    dialog.get_by_test_id("related-event").click()  # to its encryption
    expect(dialog.get_by_role("heading", level=2)).to_have_text(f"Event #{encryption.sequence}: Encrypt, success")
    expect(dialog).to_contain_text(encryption.encrypted_sha256)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    auditor.reload()  # the filter is in the address: a reload (or the link, shared) shows the same events
    expect(auditor.get_by_test_id("event-count")).to_have_text("1")
    expect(auditor.get_by_label("Action", exact=True)).to_have_value("acknowledge")
    expect(auditor.get_by_label("Policy decision")).to_have_value("acknowledged")
    auditor.context.close()


def test_several_files_come_back_as_one_zip(tab: Any, tmp_path: Path) -> None:
    from skimage import data

    make_user("radiographer", "operator")
    log_in(tab, "radiographer")
    files = []
    for name in ("coffee", "chelsea", "rocket"):
        path = tmp_path / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(path)
        files.append(path)
    encrypt_files(tab, files, [SUGGESTION, SUGGESTION, SUGGESTION])
    expect(tab.locator("[data-decision=allow]")).to_have_count(3)
    tab.get_by_role("button", name="Encrypt", exact=True).click()
    with tab.expect_download() as download:
        tab.get_by_test_id("download-zip").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert sorted(archive.namelist()) == ["chelsea.securepix.png", "coffee.securepix.png", "rocket.securepix.png"]
    assert tab.locator("#progress").get_attribute("value") == "3"
    assert AuditEvent.objects.filter(action="encrypt", outcome="success").count() == 3


def test_two_files_declared_differently_and_only_one_acknowledged(tab: Any, tmp_path: Path) -> None:
    make_user("radiographer", "operator")
    log_in(tab, "radiographer")
    scan = tmp_path / "ct.dcm"
    scan.write_bytes(dicom_files.packaged("ct_signed"))
    portrait, _ = photo(tmp_path)
    encrypt_files(tab, [scan, portrait], ["medical", "none"])
    scan_block, portrait_block = file_block(tab, "ct.dcm"), file_block(tab, "astronaut.png")
    expect(scan_block.get_by_test_id("decision")).to_contain_text("Allowed: ct.dcm will be encrypted as Medical")
    assert scan_block.locator("input[type=checkbox]").count() == 0
    expect(scan_block.get_by_role("button", name="Use the suggestion: Medical")).to_be_hidden()  # taken already
    expect(portrait_block.get_by_test_id("decision")).to_contain_text("looks like Personal Privacy content")
    screenshot(tab, "encrypt-declare")
    tab.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(tab, "encrypt-declare-phone")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    tab.set_viewport_size({"width": 1280, "height": 900})
    button = tab.get_by_role("button", name="Encrypt", exact=True)
    assert button.is_disabled()
    tab.get_by_label("I have checked astronaut.png: encrypt it as None (not sensitive) anyway.").check()
    tab.get_by_label("Reason for astronaut.png (kept with your acknowledgment, shown to auditors)").fill("stock photo")
    button.click()
    expect(tab.get_by_test_id("encrypted-result")).to_have_count(2)
    done = AuditEvent.objects.filter(action="encrypt", outcome="success")
    assert sorted(done.values_list("declared_domain", "predicted_domain")) == [
        ("medical", "medical"),
        ("none", "personal"),
    ]
    acknowledgment = MismatchAcknowledgment.objects.get()
    assert (acknowledgment.declared_domain, acknowledgment.reason) == ("none", "stock photo")


def test_the_page_says_when_the_classifier_is_still_starting(tab: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from classification import services

    state = {"now": "loading"}
    monkeypatch.setattr(services, "readiness", lambda: state["now"])
    make_user("radiographer", "operator")
    log_in(tab, "radiographer")
    tab.goto("/encrypt/")
    indicator = tab.locator("#classifying")
    expect(indicator).to_contain_text("Starting the classifier")
    state["now"] = "ready"
    expect(indicator).to_have_text("Classifying…")


def test_operators_cannot_open_the_audit_page_and_auditors_filter_export_and_verify(tab: Any, tmp_path: Path) -> None:
    from audit.services import record
    from core.context import Context

    operator = make_user("radiographer", "operator")
    make_user("compliance", "auditor")
    for i in range(30):
        record("classify", "success" if i % 3 else "failure", Context(actor=operator), declared_domain="medical")
    scan = {"declared_domain": "personal", "predicted_domain": "medical", "confidence": 0.98, "mismatch": True}
    held = Context(actor=operator, request_id="a" * 32)
    record("encrypt", "denied", held, reason="acknowledgment_required", decision="acknowledgment_required", **scan)
    done = Context(actor=operator, request_id="b" * 32)
    record("encrypt", "success", done, decision="acknowledged", extra={"cipher": "chaotic"}, **scan)
    record(
        "acknowledge",
        "success",
        done,
        decision="acknowledged",
        extra={"acknowledgment": 1, "reason": "teaching"},
        **scan,
    )
    record("otp_enrol", "success", Context(actor=operator))
    log_in(tab, "radiographer")
    response = tab.goto("/audit/")
    assert response.status == 403 and "does not allow" in tab.content()
    tab.get_by_role("button", name="Log out").click()

    log_in(tab, "compliance")
    assert tab.get_by_test_id("role").inner_text() == "auditor"
    tab.goto("/audit/")
    assert tab.get_by_test_id("event-count").inner_text() == str(AuditEvent.objects.count())
    assert tab.get_by_role("button", name="Older").is_visible()  # 25 a page
    expect(tab.get_by_test_id("events")).to_contain_text("Enrol two-factor device")  # in words, not otp_enrol
    screenshot(tab, "audit")
    tab.get_by_label("User").fill("RADIO")  # part of the name, any case
    expect(tab.get_by_test_id("event-count")).to_have_text(
        str(AuditEvent.objects.filter(username="radiographer").count())
    )
    tab.get_by_label("Outcome").select_option("failure")
    expect(tab.get_by_test_id("event-count")).to_have_text("10")
    expect(tab).to_have_url(re.compile(r"/audit/\?user=RADIO&outcome=failure$"))
    with tab.expect_download() as download:
        tab.get_by_test_id("export-csv").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 1 + 10 and lines[0].startswith("sequence,") and all(",failure," in line for line in lines[1:])
    assert lines[0].endswith(",acknowledgment_reason")
    assert AuditEvent.objects.filter(action="export", username="compliance").count() == 1
    tab.reload()
    expect(tab.get_by_label("User")).to_have_value("RADIO")
    expect(tab.get_by_test_id("event-count")).to_have_text("10")
    tab.get_by_test_id("verify").click()
    status = tab.get_by_test_id("chain-status")
    status.wait_for()
    assert status.inner_text().startswith("Intact:")
    tab.get_by_role("link", name="Clear").click()
    expect(tab.get_by_label("User")).to_have_value("")
    tab.get_by_label("Policy decision").select_option("acknowledged")
    expect(tab.get_by_test_id("event-count")).to_have_text("2")
    tab.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(tab, "audit-phone")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    tab.get_by_role("button", name="Details of event").first.click()
    expect(tab.get_by_role("dialog")).to_contain_text("teaching")
    screenshot(tab, "audit-detail-phone")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400


def test_the_api_docs_and_the_admin_work_under_the_content_security_policy(tab: Any) -> None:
    tab.goto("/api/docs/")
    expect(tab.get_by_text("/api/v1/encrypt", exact=True)).to_be_visible()
    make_user("it-admin", "admin")
    tab.goto("/admin/login/")
    tab.get_by_label("Username").fill("it-admin")
    tab.get_by_label("Password").fill(ACCOUNT_PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.goto("/admin/audit/auditevent/")
    expect(tab.get_by_role("heading", name="Select audit event to view")).to_be_visible()


def _read_qr(shot: np.ndarray) -> str:
    """Read a QR code as a phone would: closer, sharpened to black and white,
    with a margin. The code is drawn at about 3.4 pixels a module, blurred
    between pixels; OpenCV's detector alone misses about 6 % of such codes
    (simulated on 300 random secrets; 0 of 300 missed read this way)."""
    import cv2

    views = []
    for factor in (1, 2, 3, 4):
        for interpolation in (cv2.INTER_NEAREST, cv2.INTER_CUBIC):
            view = shot if factor == 1 else cv2.resize(shot, None, fx=factor, fy=factor, interpolation=interpolation)
            views += [view, cv2.threshold(view, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]]
    for view in views:
        framed = cv2.copyMakeBorder(view, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
        for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
            if text := detector.detectAndDecode(framed)[0]:
                return str(text)
    return ""


def test_setting_up_an_authenticator_app_and_logging_in_with_it(tab: Any) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    make_user("radiographer", "operator")
    log_in(tab, "radiographer")
    tab.get_by_role("link", name="Two-factor").click()
    tab.get_by_role("button", name="Set up an authenticator app").click()
    expect(tab.locator(".qr svg")).to_be_visible()
    screenshot(tab, "two-factor")
    device = TOTPDevice.objects.get(confirmed=False)
    import cv2

    shot = cv2.imdecode(np.frombuffer(tab.locator(".qr").screenshot(), dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    assert _read_qr(shot) == device.config_url  # the whole code is shown, and an app can read it
    tab.get_by_label("Code from the app").fill(totp_code(device))
    tab.get_by_role("button", name="Confirm").click()
    expect(tab.get_by_role("status")).to_contain_text("your authenticator app is now needed")
    tab.get_by_role("button", name="Log out").click()

    tab.goto("/accounts/login/")
    tab.get_by_label("Username").fill("radiographer")
    tab.get_by_label("Password", exact=True).fill(ACCOUNT_PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url("**/accounts/login/code/")
    tab.get_by_label("Code from your authenticator app").fill(totp_code(device))
    tab.get_by_role("button", name="Continue").click()
    tab.wait_for_url("**/")
    assert tab.get_by_test_id("role").inner_text() == "operator"
