"""Concurrent appends never fork the chain: 8 threads x 50 events."""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.db import connection

from audit import services
from audit.models import AuditEvent
from audit.services import Context, check_chain, record

THREADS, EACH = 8, 50


@pytest.mark.usefixtures("committed_audit")
def test_eight_threads_appending_at_once_leave_one_intact_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    if connection.vendor == "postgresql":
        # Only the database serialises appends here, as between server processes.
        monkeypatch.setattr(services, "_append_lock", contextlib.nullcontext())
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                record("classify", "success", Context(request_id=f"w{worker}-{i}"), extra={"worker": worker, "i": i})
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, THREADS * EACH + 1))
    assert len(set(AuditEvent.objects.values_list("request_id", flat=True))) == THREADS * EACH
    result = check_chain()
    assert result.intact and result.events == THREADS * EACH
