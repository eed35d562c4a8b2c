"""The role table of the README (core/permissions.py), endpoint by endpoint, for anonymous users,
operators, auditors and administrators (API and pages); deny by default."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import make_user, token_client

ROLES = ["anonymous", "nobody", "operator", "auditor", "admin"]
DENIED = {"anonymous": 401}  # everyone else without the permission: 403

# endpoint -> roles allowed (a user in no group is allowed nothing but /me and tokens)
API = {
    ("post", "/api/v1/encrypt"): {"operator", "admin"},
    ("post", "/api/v1/decrypt"): {"operator", "admin"},
    ("post", "/api/v1/classify"): {"operator", "admin"},
    ("get", "/api/v1/history"): {"operator", "auditor", "admin"},
    ("get", "/api/v1/audit/events"): {"auditor", "admin"},
    ("get", "/api/v1/audit/export"): {"auditor", "admin"},
    ("get", "/api/v1/audit/verify"): {"auditor", "admin"},
}


def _client(role: str) -> APIClient:
    return (
        APIClient()
        if role == "anonymous"
        else token_client(make_user(f"user-{role}", None if role == "nobody" else role))
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_the_api_follows_the_role_table(role: str) -> None:
    client = _client(role)
    for (method, url), allowed in API.items():
        # empty requests: an allowed caller gets past the permission check to a 400 (or a 200 for queries)
        response = getattr(client, method)(url, {}, format="multipart" if method == "post" else None)
        if role in allowed:
            assert response.status_code in (200, 400), (role, url, response.status_code)
        else:
            expected = DENIED.get(role, 403)
            assert response.status_code == expected, (role, url, response.status_code)
            assert response.json()["error"]["code"] in ("not_authenticated", "forbidden")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_own_acknowledgments_and_me(role: str) -> None:
    client = _client(role)
    listed = client.get("/api/v1/acknowledgments")
    me = client.get("/api/v1/me")
    if role == "anonymous":
        assert (listed.status_code, me.status_code) == (401, 401)
    else:
        assert listed.status_code == 200 and me.status_code == 200
        assert me.json()["roles"] == ([] if role == "nobody" else [role])


@pytest.mark.django_db
def test_acknowledgments_are_own_for_operators_and_all_for_auditors(operator: Any, auditor: Any) -> None:
    from classification.models import MismatchAcknowledgment

    other = make_user("another-operator", "operator")
    for user in (operator, other):
        MismatchAcknowledgment.objects.create(
            user=user,
            declared_domain="personal",
            predicted_domain="medical",
            confidence=0.9,
            model_name="m",
            reason="r",
        )
    assert token_client(operator).get("/api/v1/acknowledgments").json()["count"] == 1
    assert token_client(auditor).get("/api/v1/acknowledgments").json()["count"] == 2


@pytest.mark.django_db
def test_history_is_your_own(operator: Any, auditor: Any) -> None:
    from audit.services import record
    from core.context import Context

    record("classify", "success", Context(actor=operator))
    record("verify", "success", Context(actor=auditor))
    rows = token_client(operator).get("/api/v1/history").json()["results"]
    assert [(r["username"], r["action"]) for r in rows] == [("radiographer", "classify")]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_only_admins_manage_users_and_roles(role: str) -> None:
    browser = Client()
    if role != "anonymous":
        browser.force_login(make_user(f"user-{role}", None if role == "nobody" else role))
    for url in ("/admin/auth/user/", "/admin/auth/group/"):
        response = browser.get(url)
        if role == "admin":
            assert response.status_code == 200
        else:
            assert response.status_code == 302 and "/admin/login/" in response["Location"]
