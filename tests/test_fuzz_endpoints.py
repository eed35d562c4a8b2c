"""Fuzzing every upload endpoint with mutated real files, as a logged-in operator.

The contract, for each request: a status in {200, 400, 409, 413, 415} (never
a 5xx, never an exception out of the view); a refusal in the one error shape,
{"error": {"code", "message"}} with the code's own status on the API and an
HTML message in the pages; every refused upload audited as a failure (a 409
as denied); no MismatchAcknowledgment for a refusal; no file left behind in
the data folder (or as a temporary upload).

Inputs: tests/mutations.py; every known crasher is also sent as it is to every
endpoint.  Examples per endpoint: SECUREPIX_FUZZ_EXAMPLES (default 200) times
its weight; failures are saved under /tmp/fuzz-crashers.
"""

from __future__ import annotations

import html
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from audit.models import AuditEvent
from classification.models import MismatchAcknowledgment
from core.domains import DOMAINS
from core.errors import ErrorCode
from jobs.models import StoredResult
from tests import mutations
from tests.conftest import token_client
from tests.mutations import (
    PASSWORD,
    Failures,
    FuzzInput,
    event,
    fuzz_inputs,
    fuzz_settings,
    fuzz_user,
    unexpected,
)

ALLOWED_STATUSES = {200, 400, 409, 413, 415}
IMAGE_REFUSALS = {"not_an_image", "damaged_image", "unsupported_image", "image_too_large", "upload_too_large"}
FILE_REFUSALS = IMAGE_REFUSALS | {"not_securepix_file", "authentication_failed", "kdf_parameters_refused"}
ACK_REASON = "checked by hand: the fuzz test says so"


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    api: bool  # the REST API (a token), or a page (a session, htmx fragment)
    action: str  # the audit event's action
    file_field: str
    refusals: frozenset[str]  # the error codes a malformed file may get

    def form(self, data: bytes, extra: dict[str, Any]) -> dict[str, Any]:
        upload = io.BytesIO(data)
        upload.name = {"file": "scan.securepix.png"}.get(self.file_field, "upload.bin")
        return {self.file_field: upload, **extra}


ENDPOINTS = {
    e.name: e
    for e in (
        Endpoint("api-classify", "/api/v1/classify", True, "classify", "image", frozenset(IMAGE_REFUSALS)),
        Endpoint("api-encrypt", "/api/v1/encrypt", True, "encrypt", "image", frozenset(IMAGE_REFUSALS)),
        Endpoint("api-decrypt", "/api/v1/decrypt", True, "decrypt", "file", frozenset(FILE_REFUSALS)),
        Endpoint("page-classify", "/encrypt/classify", False, "classify", "images", frozenset(IMAGE_REFUSALS)),
        Endpoint("page-encrypt", "/encrypt/run", False, "encrypt", "image", frozenset(IMAGE_REFUSALS)),
        Endpoint("page-decrypt", "/decrypt/run", False, "decrypt", "file", frozenset(FILE_REFUSALS)),
    )
}
failures = {name: Failures(f"endpoint-{name}") for name in ENDPOINTS}
crasher_failures = Failures("known-crashers-endpoints")


# Fields besides the file ----------------------------------------------------------


@st.composite
def encrypt_fields(draw: st.DrawFn, page: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {"password": PASSWORD, "declared_domain": draw(st.sampled_from(DOMAINS))}
    if page:
        fields["password2"] = PASSWORD
    if draw(st.booleans()):  # an acknowledgment must never outlive a refusal
        fields.update(acknowledge="true", acknowledgment_reason=ACK_REASON)
    return fields


def fields_for(endpoint: Endpoint) -> st.SearchStrategy[dict[str, Any]]:
    if endpoint.action == "encrypt":
        return encrypt_fields(not endpoint.api)
    if endpoint.action == "decrypt":
        return st.just({"password": PASSWORD})
    return st.one_of(st.just({}), st.sampled_from(DOMAINS).map(lambda d: {"declared_domain": d}))


# The state around a request ------------------------------------------------------


def leftover_files() -> set[str]:
    """Files in the data folder (and the media and temporary-upload folders), and temporary uploads."""
    roots = {settings.DATA_DIR, getattr(settings, "MEDIA_ROOT", ""), getattr(settings, "FILE_UPLOAD_TEMP_DIR", "")}
    roots.add(settings.STORAGES["results"].get("OPTIONS", {}).get("location", ""))
    found = {str(p) for root in roots if root and Path(root).is_dir() for p in Path(root).rglob("*") if p.is_file()}
    found |= {str(p) for p in Path(tempfile.gettempdir()).glob("*.upload*")}
    return found


@dataclass(frozen=True)
class Before:
    last_event: int  # the newest audit event's row id (its chain sequence may come later)
    acknowledgments: int
    files: frozenset[str]

    @classmethod
    def now(cls) -> Before:
        last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        return cls(last, MismatchAcknowledgment.objects.count(), frozenset(leftover_files()))

    def events(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(pk__gt=self.last_event).order_by("pk"))


def check_contract(endpoint: Endpoint, response: Any, before: Before) -> list[str]:
    """The contract; each assertion's message starts with the rule's name.
    Returns the outcomes of the request's audit events."""
    status = response.status_code
    assert status in ALLOWED_STATUSES, f"status: {status} from {endpoint.url}: {response.content[:600]!r}"
    event(f"status: {status}")
    outcomes = [e.outcome for e in before.events() if e.action == endpoint.action]
    if status == 200 and endpoint.name == "page-classify":  # one row per file, a refused file's row included
        assert outcomes in (["success"], ["failure"]), f"audit: one file classified, recorded as {outcomes}"
    elif status == 200:
        assert outcomes == ["success"], f"audit: a 200 recorded as {outcomes}"
    else:
        expected = "denied" if status == 409 else "failure"
        assert outcomes == [expected], f"audit: a {status} recorded as {outcomes}, not as one {expected} event"
    if status != 200 or outcomes == ["failure"]:
        new_acks = MismatchAcknowledgment.objects.count() - before.acknowledgments
        assert new_acks == 0, f"acknowledgment: {new_acks} stored for a refused upload"
    if endpoint.api and status != 200:
        check_error_body(endpoint, response)
    if not endpoint.api:
        text = response.content.decode("utf-8", "replace")
        assert response["Content-Type"].startswith("text/html"), f"page: {response['Content-Type']}"
        if status != 200:
            assert 'data-testid="problem"' in text, f"page: a {status} without the problem message"
        elif outcomes == ["failure"]:
            assert 'class="problem" role="alert"' in text, "page: a refused file without its message"
        elif endpoint.name == "page-classify":
            assert 'data-testid="predicted-domain"' in text, f"page: no prediction in {html.unescape(text)[:200]}"
    left = leftover_files() - before.files
    if endpoint.name == "page-encrypt" and status == 200 and outcomes == ["success"]:
        # the page keeps the encrypted file (ciphertext) for its owner, and that alone
        made = StoredResult.objects.filter(job_file__audit_event__in=before.events())
        kept = list(made.values_list("storage_name", flat=True))
        left -= {str(Path(settings.STORAGES["results"]["OPTIONS"]["location"]) / name) for name in kept}
        assert len(kept) == 1, f"stored results: {len(kept)} for one encrypted file"
    assert not left, f"leftover files: {sorted(left)}"
    event(f"audited: {outcomes}")
    return outcomes


def check_error_body(endpoint: Endpoint, response: Any) -> None:
    status = response.status_code
    assert response["Content-Type"].startswith("application/json"), f"error shape: {response['Content-Type']}"
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), f"error shape: {body}"
    code, message = body["error"]["code"], body["error"]["message"]
    assert isinstance(message, str) and message, f"error shape: empty message {body}"
    event(f"error code: {code}")
    allowed = endpoint.refusals | ({"acknowledgment_required"} if endpoint.action == "encrypt" else set())
    assert code in allowed, f"error code: {code} ({message})"
    known = ErrorCode.from_code(code)
    assert known is not None and known.status == status, f"error status: {code} came with {status}"


# Clients ---------------------------------------------------------------------------


@pytest.fixture
def clients(db: None) -> dict[bool, Any]:
    operator = fuzz_user("fuzz-operator", "operator")
    page = Client()
    page.force_login(operator)
    return {True: token_client(operator), False: page}


def post(clients: dict[bool, Any], endpoint: Endpoint, data: bytes, fields: dict[str, Any]) -> Any:
    cache.clear()  # the decrypt throttles count per minute: every example is a first attempt
    form = endpoint.form(data, fields)
    if endpoint.api:
        return clients[True].post(endpoint.url, form, format="multipart")
    return clients[False].post(endpoint.url, form, HTTP_HX_REQUEST="true")


def run_case(clients: dict[bool, Any], endpoint: Endpoint, case: FuzzInput, fields: dict[str, Any]) -> None:
    before = Before.now()
    response = post(clients, endpoint, case.data, fields)
    check_contract(endpoint, response, before)


# the fuzz report and collected failures (tests/mutations.py)
_summary, _collected = mutations.summary_fixture, mutations.collected_fixture


# The fuzz tests, one per endpoint ---------------------------------------------------

IMAGE_INPUTS = fuzz_inputs(mutations.all_image_seeds())
# Mostly SecurePix files, mutated; now and then an image or a known crasher.
SECUREPIX_INPUTS = fuzz_inputs(
    mutations.securepix_seeds() * 6 + mutations.image_seeds()[:6] + mutations.crasher_seeds()
)


def endpoint_test(name: str, inputs: st.SearchStrategy[FuzzInput], weight: float) -> Callable[..., None]:
    endpoint = ENDPOINTS[name]

    @fuzz_settings(weight=weight)
    @given(case=inputs, fields=fields_for(endpoint))
    def test(clients: dict[bool, Any], case: FuzzInput, fields: dict[str, Any]) -> None:
        with failures[name].watch(case, unexpected):
            run_case(clients, endpoint, case, fields)

    test.__doc__ = f"POST {endpoint.url} with mutated files: the contract holds for every one."
    return test


test_api_classify_fuzz = endpoint_test("api-classify", IMAGE_INPUTS, 1.5)
test_api_encrypt_fuzz = endpoint_test("api-encrypt", IMAGE_INPUTS, 1.5)
test_api_decrypt_fuzz = endpoint_test("api-decrypt", SECUREPIX_INPUTS, 1.5)
test_page_classify_fuzz = endpoint_test("page-classify", IMAGE_INPUTS, 1)
test_page_encrypt_fuzz = endpoint_test("page-encrypt", IMAGE_INPUTS, 1)
test_page_decrypt_fuzz = endpoint_test("page-decrypt", SECUREPIX_INPUTS, 1)


# The known crashers, as they are, at every endpoint -------------------------------

CRASHERS = {c.name: c for c in mutations.known_crashers()}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_a_known_crasher_gets_the_contract_at_every_endpoint(clients: dict[bool, Any], name: str) -> None:
    """Each endpoint in turn; every broken rule is collected, then all are reported."""
    crasher = CRASHERS[name]
    case = FuzzInput(f"crasher-{name}", "crasher", (), crasher.data)
    broken = []
    for endpoint, target in sorted(ENDPOINTS.items()):
        fields = {
            "encrypt": {"password": PASSWORD, "declared_domain": "medical", "password2": PASSWORD},
            "decrypt": {"password": PASSWORD},
            "classify": {},
        }[target.action]
        if target.api:
            fields.pop("password2", None)
        try:
            with crasher_failures.watch(case, lambda exc, e=endpoint: f"{e}-{name}-{unexpected(exc)}"):
                before = Before.now()
                response = post(clients, target, crasher.data, fields)
                outcomes = check_contract(target, response, before)
                if crasher.must_refuse:
                    assert outcomes == ["failure"], f"accepted: {crasher.what} got {response.status_code}, {outcomes}"
        except Exception as exc:
            broken.append(f"{endpoint}: {type(exc).__name__}: {exc}")
    assert not broken, f"{crasher.what}:\n" + "\n".join(broken)
