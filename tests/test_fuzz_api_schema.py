"""Schemathesis against the live /api/schema/: every operation, for each role
(operator, auditor, admin) with a real token, through Django's WSGI
application (the one securepix_site/wsgi.py serves).  No response with a status of 500 or more, and every response
matches the schema (documented status, content type, headers and body).

The schema is fetched from the application when this module is collected;
examples per operation and role: SECUREPIX_FUZZ_EXAMPLES (default 200) times
SCHEMA_WEIGHT, positive and negative (schema-violating) requests alike.
Failures are saved under /tmp/fuzz-crashers (the curl command that reproduces each).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import mutations
from tests.mutations import Failures, FuzzInput, event, fuzz_settings, fuzz_user

ROLES = ("operator", "auditor", "admin")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SCHEMA_WEIGHT = 0.2


@functools.cache
def wsgi_application() -> Any:
    """The application securepix_site/wsgi.py serves, without that module's
    server start-up (it starts the audit sequencer thread and the model
    warm-up, which would run against the test database for the whole session)."""
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


@functools.cache
def api_schema() -> Any:
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_application())


def _operations() -> dict[str, Any]:
    found = {}
    for result in api_schema().get_all_operations():
        operation = result.ok()  # an operation the schema cannot describe is itself a failure
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


OPERATIONS = _operations()
failures = {role: Failures(f"schema-{role}") for role in ROLES}


@functools.cache
def strategy(label: str) -> st.SearchStrategy[Any]:
    operation = OPERATIONS[label]
    return st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )


@pytest.fixture
def in_process_app(db: None) -> Iterator[None]:
    """The WSGI application runs in this thread, inside the test's transaction:
    keep Django from closing the connection at each request, as its test client does."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(role: str, in_process_app: None) -> str:
    from accounts.models import ApiToken

    _, plain = ApiToken.issue(fuzz_user(f"fuzz-{role}", role))
    return f"Bearer {plain}"


# the fuzz report and collected failures (tests/mutations.py)
_summary, _collected = mutations.summary_fixture, mutations.collected_fixture


def _failure_key(label: str, failure: Failure) -> str:
    return f"{label}: {failure.title}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
@fuzz_settings(weight=SCHEMA_WEIGHT)
@given(data=st.data())
def test_every_operation_answers_within_its_schema(bearer: str, role: str, label: str, data: st.DataObject) -> None:
    case = data.draw(strategy(label), label="case")
    cache.clear()  # throttles: every example is a first attempt
    headers = {"Authorization": bearer}
    response = case.call(headers=headers)
    event(f"status: {response.status_code}")
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        curl = case.as_curl_command(headers=headers)
        found = sorted(group.exceptions, key=lambda f: f.code)
        answer = f"{response.status_code} {response.headers.get('content-type', [''])[0]}: {response.content[:300]!r}"
        for failure in found:
            event(f"FAILED: {failure.title}")
            description = f"{role}: {curl}  ->  {answer}"
            reproducer = FuzzInput(label, "request", (), curl.encode())
            failures[role].add(_failure_key(label, failure), reproducer, failure, description=description)
        if mutations.COLLECT:
            return
        found[0].add_note(f"Reproduce ({role}'s token): {curl}\nAnswer: {answer}")
        raise found[0] from None  # one type per kind of failure: Hypothesis reports each kind
