"""Concurrent appends never fork the chain: 8 threads x 50 events."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from audit import services
from audit.models import AuditEvent
from audit.services import check_chain, record
from core.context import Context
from tests.conftest import concurrent_writers_need_postgresql

THREADS, EACH = 8, 50


@pytest.mark.usefixtures("committed_audit")
def test_eight_threads_appending_at_once_leave_one_intact_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    on_postgresql = connection.vendor == "postgresql"
    if on_postgresql:
        # Only the database serialises appends here, as between server processes.
        monkeypatch.setattr(services, "_append_lock", contextlib.nullcontext())
    errors: list[BaseException] = []
    # On PostgreSQL a ninth thread verifies meanwhile (SQLite's shared in-memory test database locks readers out).
    start = threading.Barrier(THREADS + on_postgresql)

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                record("classify", "success", Context(request_id=f"w{worker}-{i}"), extra={"worker": worker, "i": i})
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    checks: list[bool] = []

    def verify_meanwhile() -> None:
        try:
            start.wait()
            while any(t.is_alive() for t in threads[:THREADS]):
                checks.append(check_chain().intact)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    if on_postgresql:
        threads.append(threading.Thread(target=verify_meanwhile))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(checks)  # verifying while others append never reports a break
    assert checks or not on_postgresql
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, THREADS * EACH + 1))
    assert len(set(AuditEvent.objects.values_list("request_id", flat=True))) == THREADS * EACH
    result = check_chain()
    assert result.intact and result.events == THREADS * EACH


@pytest.mark.usefixtures("committed_audit")
def test_writers_that_never_wait_for_each_other_get_one_gapless_log(settings: object) -> None:
    """The production mode: each writer commits its event without waiting for
    a lock, numbering it in its own transaction when nobody holds the head;
    the sequencer numbers the rest, in batches, after each commit."""
    concurrent_writers_need_postgresql()
    settings.SECUREPIX_AUDIT_SEQUENCING = "after_commit"  # type: ignore[attr-defined]
    errors: list[BaseException] = []
    recorded: list[AuditEvent] = []
    start = threading.Barrier(THREADS)

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                recorded.append(record("classify", "success", Context(request_id=f"w{worker}-{i}"), extra={"i": i}))
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
    from audit.log import wait_until_sequenced

    wait_until_sequenced(recorded)  # the sequencer numbers what was written, within its delay
    assert sorted(event.sequence or 0 for event in recorded) == list(range(1, THREADS * EACH + 1))
    assert check_chain().intact
    from audit import log

    assert log.tree_size() == THREADS * EACH


@pytest.mark.usefixtures("committed_audit")
def test_the_sequencer_reconnects_quietly_after_the_database_drops_its_connection(
    settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    """The sequencer keeps its connection between rounds; a database restart
    (here: its backends terminated) makes it connect again, without an error."""
    if connection.vendor != "postgresql":
        pytest.skip("terminating a server's connections needs PostgreSQL")
    settings.SECUREPIX_AUDIT_SEQUENCING = "after_commit"  # type: ignore[attr-defined]
    from audit.log import sequencer, wait_until_sequenced

    sequencer.stop()
    settings.SECUREPIX_CHECKPOINT_SECONDS = 3600  # type: ignore[attr-defined]  # rounds when woken only, none of its own
    with transaction.atomic():  # a writer's own transaction: its event is left to the sequencer
        first = record("classify", "success", Context(request_id="before"))
    wait_until_sequenced([first])  # the sequencer thread now holds a connection
    rounds = -1
    while sequencer.rounds != rounds:  # idle between rounds (a round cut short is logged, rightly)
        rounds = sequencer.rounds
        time.sleep(0.3)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    second = record("classify", "success", Context(request_id="after"))
    wait_until_sequenced([second])
    assert (first.sequence, second.sequence) == (1, 2)
    assert not [r for r in caplog.records if r.name == "audit.log" and r.levelname == "ERROR"]


def _postgresql_after_commit(settings: object) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("skipping a locked row needs PostgreSQL; SQLite's writers queue at BEGIN")
    settings.SECUREPIX_AUDIT_SEQUENCING = "after_commit"  # type: ignore[attr-defined]


@pytest.mark.usefixtures("committed_audit")
def test_a_writer_numbers_its_event_in_its_own_transaction_when_no_sequencer_holds_the_head(settings: object) -> None:
    """One commit for the event and its number: the number is known when record returns."""
    _postgresql_after_commit(settings)
    from audit.log import sequencer, wait_until_sequenced

    rounds = sequencer.rounds
    events = [record("classify", "success", Context(request_id=f"own-{i}")) for i in range(3)]
    assert [event.sequence for event in events] == [1, 2, 3]
    stored = {e.pk: (e.sequence, e.previous_mac, e.mac) for e in AuditEvent.objects.all()}
    assert stored == {e.pk: (e.sequence, e.previous_mac, e.mac) for e in events}
    with transaction.atomic():  # the caller says its transaction ends at once
        quick = record("classify", "success", Context(request_id="soon"), commits_soon=True)
        assert quick.sequence is None  # known once committed: a rollback would take it back
    assert quick.sequence == 4
    assert sequencer.rounds == rounds  # nobody had to wake the sequencer
    with transaction.atomic(), transaction.atomic():  # inside a longer transaction (a job's file, then its storage)
        nested = record("classify", "success", Context(request_id="nested"), commits_soon=True)
    assert nested.sequence is None  # the head was not held for the rest of that transaction
    wait_until_sequenced([nested])
    assert nested.sequence == 5
    assert check_chain().intact


@pytest.mark.usefixtures("committed_audit")
def test_a_writer_never_waits_for_a_held_head_and_the_sequencer_numbers_its_event(settings: object) -> None:
    _postgresql_after_commit(settings)
    from audit.log import wait_until_sequenced
    from audit.models import ChainHead

    record("classify", "success", Context(request_id="first"))  # the head row exists
    holding, release = threading.Event(), threading.Event()

    def hold_head() -> None:
        try:
            with transaction.atomic():
                ChainHead.objects.select_for_update().get(pk=1)
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_head)
    holder.start()
    try:
        assert holding.wait(30)
        done: list[AuditEvent] = []

        def write() -> None:
            try:
                done.append(record("classify", "success", Context(request_id="w")))
            finally:
                connection.close()

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(30)
        assert done and done[0].sequence is None  # written and committed while the head was held
        assert AuditEvent.objects.filter(request_id="w", sequence__isnull=True).exists()
    finally:
        release.set()
        holder.join(30)
    wait_until_sequenced(done)
    assert done[0].sequence == 2
    assert check_chain().intact


@pytest.mark.usefixtures("committed_audit")
def test_a_transaction_taken_back_takes_its_numbers_back(settings: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its own event's, and those of other writers that it numbered too: they wait again."""
    _postgresql_after_commit(settings)
    from audit import log
    from audit.models import ChainHead

    class Abandoned(Exception):
        pass

    def sequence_of(request_id: str) -> int | None:
        return AuditEvent.objects.get(request_id=request_id).sequence

    kept = record("classify", "success", Context(request_id="kept"))
    monkeypatch.setattr(log.sequencer, "wake", lambda: None)  # nobody numbers behind the test's back
    with transaction.atomic(), transaction.atomic():  # another writer's, left to the sequencer
        record("classify", "success", Context(request_id="other"))
    assert sequence_of("other") is None
    with contextlib.suppress(Abandoned), transaction.atomic():
        dropped = record("classify", "success", Context(request_id="dropped"), commits_soon=True)
        assert (sequence_of("other"), sequence_of("dropped")) == (2, 3)  # numbered in place
        assert dropped.sequence is None  # until the commit
        raise Abandoned
    assert dropped.sequence is None
    assert not AuditEvent.objects.filter(request_id="dropped").exists()
    assert sequence_of("other") is None
    assert ChainHead.objects.get(pk=1).count == 1
    after = record("classify", "success", Context(request_id="after"))
    assert (kept.sequence, sequence_of("other"), after.sequence) == (1, 2, 3)
    assert check_chain().intact


@pytest.mark.usefixtures("committed_audit")
def test_a_connection_lost_while_numbering_in_place_fails_the_operation(settings: object) -> None:
    """Neither the event nor its number was written: the writer must not carry on as if it were."""
    _postgresql_after_commit(settings)
    from django.db import DatabaseError

    from audit import log

    record("classify", "success", Context(request_id="before"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    signing = log._checkpoint_if_due

    def cut_off(*args: object, **kwargs: object) -> object:
        def terminate() -> None:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
            finally:
                connection.close()

        killer = threading.Thread(target=terminate)
        killer.start()
        killer.join(30)
        return signing(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(log, "_checkpoint_if_due", cut_off)
        with pytest.raises(DatabaseError):
            record("classify", "success", Context(request_id="lost"))
    connection.close()
    assert not AuditEvent.objects.filter(request_id="lost").exists()
    assert check_chain().intact and check_chain().events == 1


@pytest.mark.usefixtures("committed_audit")
def test_a_failure_to_number_in_the_writers_transaction_leaves_the_event_to_the_sequencer(
    settings: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The operation still succeeds: its event is written, and numbered after its commit."""
    _postgresql_after_commit(settings)
    from django.db import DatabaseError

    from audit import log

    signing = log._checkpoint_if_due
    failures = iter([True])

    def fails_once(*args: object, **kwargs: object) -> object:
        if next(failures, False):
            raise DatabaseError("the checkpoint could not be read")
        return signing(*args, **kwargs)

    monkeypatch.setattr(log, "_checkpoint_if_due", fails_once)
    event = record("classify", "success", Context(request_id="left"))
    assert event.sequence is None
    assert "numbering an audit event in its writer's transaction failed" in caplog.text
    log.wait_until_sequenced([event])
    assert event.sequence == 1
    assert check_chain().intact


@pytest.mark.django_db
def test_a_head_row_that_the_first_lookup_missed_is_still_locked_and_used(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the log's start every writer looks for the head row at once.  On
    PostgreSQL, a lookup whose snapshot was taken just before another writer
    committed the row finds nothing, though the next statement sees the row.
    A writer numbering in its own transaction must still lock it and number
    its event (in CI, two of eight writers were told "none" and waited for a
    sequencer that could not see their uncommitted events).  The lookup that
    missed the row is played by answering None once."""
    from django.db.models import QuerySet

    from audit import chain, log
    from audit.models import ChainHead

    settings.SECUREPIX_AUDIT_SEQUENCING = "after_commit"  # type: ignore[attr-defined]
    ChainHead.objects.create(pk=1, count=0, last_mac=chain.GENESIS)  # another writer's, committed
    real_first = QuerySet.first
    missed: list[bool] = []

    def first(self: QuerySet[Any]) -> Any:
        if self.model is ChainHead and self.query.select_for_update and not missed:
            missed.append(True)
            return None
        return real_first(self)

    monkeypatch.setattr(QuerySet, "first", first)
    with transaction.atomic():
        with transaction.atomic():  # left to the sequencer
            event = record("classify", "success", Context(request_id="missed"))
        assert event.sequence is None
        numbered = log.integrate()
    assert missed == [True]
    assert numbered is not None and numbered[event.pk].sequence == 1


@pytest.mark.django_db
def test_a_writer_numbering_in_its_transaction_gets_through_a_backlog() -> None:
    """Events left waiting (the mode was after_commit until now), more than a
    batch, come first, batch after batch, then the writer's own (the tests'
    mode, in_transaction: conftest.py)."""
    from django.utils import timezone

    from audit import log

    left = log.BATCH + 5
    AuditEvent.objects.bulk_create(
        AuditEvent(created=timezone.now(), action="classify", outcome="success", request_id=f"left-{i}")
        for i in range(left)
    )
    own = record("classify", "success", Context(request_id="own"))
    assert own.sequence == left + 1
    assert list(AuditEvent.objects.order_by("id").values_list("sequence", flat=True)) == list(range(1, left + 2))
    assert check_chain().intact
