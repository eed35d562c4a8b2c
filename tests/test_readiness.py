"""Readiness: the classifier is loaded and warmed in the background when the
server starts, /readyz says when it is ready, and /healthz stays the liveness check."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from typing import NoReturn

import pytest
from django.test import Client, override_settings

from classification import services


@pytest.fixture
def cold_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a freshly started process: no classifier loaded, no warm-up started."""
    monkeypatch.setattr(services, "_classifier", None)
    monkeypatch.setattr(services, "_warm", threading.Event())
    monkeypatch.setattr(services, "_warming", None)
    monkeypatch.setattr(services, "_warm_up_failed_at", None)
    yield
    if services._warming is not None:
        services._warming.join(120)  # before the module's state is put back


def test_readyz_says_loading_then_ready_with_the_real_model(cold_process: None) -> None:
    client = Client()
    loading = client.get("/readyz")
    assert loading.status_code == 503 and loading.json() == {"status": "loading"}
    assert client.get("/healthz").status_code == 200  # alive while the model loads
    assert services._warming is not None
    services._warming.join(120)
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "classifier": services.model_name()}


def test_a_started_warm_up_loads_the_classifier_once_for_everyone(cold_process: None) -> None:
    thread = services.warm_up_in_background()
    assert services.warm_up_in_background() is thread  # one warm-up per process
    thread.join(120)
    assert services._classifier is not None and services.classifier() is services._classifier
    assert services.readiness() == "ready"


def test_a_failed_warm_up_says_failed(cold_process: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: float) -> NoReturn:
        raise OSError("no weights")

    monkeypatch.setattr(services, "classifier", broken)
    services.warm_up_in_background().join(10)
    response = Client().get("/readyz")
    assert response.status_code == 503 and response.json() == {"status": "failed"}


def test_a_failed_warm_up_is_tried_again_while_readyz_is_asked(
    cold_process: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when the workers start before their model process: failed, then ready once it answers."""
    attempts: list[int] = []
    loaded = services.classifier

    def late(**kwargs: float) -> object:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("no model process answers")
        return loaded()

    monkeypatch.setattr(services, "classifier", late)
    monkeypatch.setattr(services, "RETRY_WARM_UP_SECONDS", 0.0)
    client = Client()
    services.warm_up_in_background().join(10)
    assert client.get("/readyz").json() == {"status": "loading"}  # failed, and so tried again at once
    assert services._warming is not None
    services._warming.join(120)
    assert client.get("/readyz").status_code == 200 and len(attempts) == 2


@pytest.mark.parametrize("enabled", [True, False])
def test_the_wsgi_server_starts_the_warm_up_unless_turned_off(cold_process: None, enabled: bool) -> None:
    # SECUREPIX_CHECKPOINT_SECONDS=0: no background sequencer thread against the test database
    # (importing the module runs it: the first import too happens under these settings)
    with override_settings(SECUREPIX_WARM_UP=enabled, SECUREPIX_CHECKPOINT_SECONDS=0):
        from securepix_site import wsgi

        importlib.reload(wsgi)
    assert (services._warming is not None) is enabled
