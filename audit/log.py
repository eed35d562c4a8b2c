"""The audit log as a verifiable log: every event is a leaf of an RFC 6962
Merkle tree, and signed checkpoints (C2SP tlog-checkpoint, as signed notes)
commit to the tree, so that anyone holding the public key can check an event's
inclusion, the log's consistency between two checkpoints, or a whole export
without trusting the server (docs/AUDIT.md).

Writers insert events (audit.services.record).  The sequencer
(`integrate`) numbers the waiting events in batches under one row lock (a
writer whose transaction ends right after its event runs it itself when the
lock is free: `number_now`): it
chains them (HMAC, the key holder's check), adds them to the tree (a node
table of perfect subtrees, so a proof costs O(log n) reads) and signs a
checkpoint when enough events or enough time have passed.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

import tlog
from core.errors import ErrorCode, SecurePixError

from . import chain
from .models import AuditEvent, ChainHead, Checkpoint, Cosignature, MerkleNode

logger = logging.getLogger(__name__)

BATCH = 2000  # events numbered per sequencer transaction
# A writer numbers at most this many in its own transaction: more waiting
# means the sequencer is behind (it catches up), and a request should not pay for it.
IN_PLACE_BATCH = 50
LEAVES_PAGE = 1000  # the most leaves one request may fetch


def leaf_bytes(event: AuditEvent) -> bytes:
    """The event's canonical bytes: what its leaf hashes (docs/AUDIT.md)."""
    return chain.canonical(event.content())


def audit_key() -> bytes:
    """The chain's key (its length is checked at start-up: audit/checks.py)."""
    return str(settings.SECUREPIX_AUDIT_KEY).encode()


@cache
def _signer(signer_key: str) -> tlog.Ed25519Signer:
    return tlog.parse_signer_key(signer_key)


def signer() -> tlog.Ed25519Signer:
    """The log's Ed25519 signing key (outside the database: SECUREPIX_AUDIT_SIGNING_KEY or its file)."""
    return _signer(str(settings.SECUREPIX_AUDIT_SIGNING_KEY))


def verifier_key() -> str:
    """The current public key, in the signed-note verifier-key format."""
    return signer().verifier.verifier_key


def verifiers() -> list[tlog.Ed25519Verifier]:
    """The current key and the rotated-out ones, so that old checkpoints still verify."""
    old = [tlog.parse_verifier_key(key) for key in settings.SECUREPIX_AUDIT_OLD_VERIFIER_KEYS]
    return [signer().verifier, *old]


def witness_verifiers() -> list[tlog.Ed25519Verifier]:
    return [tlog.parse_verifier_key(key) for key in settings.SECUREPIX_AUDIT_WITNESS_KEYS]


# The sequencer -------------------------------------------------------------


def _head_if_free(wait: bool) -> ChainHead | None:
    """The head row, locked (None when another sequencer holds it and `wait` is false).

    A lookup that finds no row may have missed one: the log's first event
    creates it, and on PostgreSQL a row committed while the statement ran is
    not in its snapshot.  The row is then made if it is missing (or waited
    for, until its maker commits) and looked up again; a waiting caller
    always gets it."""
    skip = not wait and connection.features.has_select_for_update_skip_locked
    locked = ChainHead.objects.select_for_update(skip_locked=skip).filter(pk=1)
    head = locked.first()
    if head is None and (wait or not ChainHead.objects.filter(pk=1).exists()):
        ChainHead.objects.get_or_create(pk=1, defaults={"count": 0, "last_mac": chain.GENESIS})
        head = locked.first()
    return head


def _head() -> ChainHead:
    head = _head_if_free(wait=True)
    assert head is not None  # waiting for the lock always gets the row
    return head


def integrate(wait: bool = True, batch: int = BATCH) -> dict[int, AuditEvent] | None:
    """Number, chain and add to the tree the events waiting (oldest first, up to
    `batch`), and sign a checkpoint when one is due.  Returns the events it
    numbered by row id; None when another sequencer was busy and `wait` is
    false (that one numbers whatever had committed)."""
    with transaction.atomic():
        head = _head_if_free(wait)
        if head is None:
            return None
        waiting = list(AuditEvent.objects.filter(sequence__isnull=True).order_by("id")[:batch])
        if waiting:
            _append(head, waiting)
        _checkpoint_if_due(head)
    return {event.pk: event for event in waiting}


def _append(head: ChainHead, events: list[AuditEvent]) -> None:
    tree = tlog.CompactRange(head.count, [bytes.fromhex(h) for h in head.tree_edge])
    nodes: list[MerkleNode] = []
    key = audit_key()
    for event in events:
        event.sequence = head.count + 1
        event.previous_mac = head.last_mac
        event.mac = chain.mac(key, head.last_mac, event.content())
        head.count, head.last_mac = event.sequence, event.mac
        nodes += [MerkleNode(level=n.level, index=n.index, hash=n.hash) for n in tree.append(leaf_hash(event))]
    # One statement run for many rows (the ORM's bulk_update builds CASE
    # expressions whose compilation took most of the sequencer's time).
    table, quote = AuditEvent._meta.db_table, connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(table)} SET {quote('sequence')} = %s, {quote('previous_mac')} = %s, {quote('mac')} = %s "
            f"WHERE {quote('id')} = %s",
            [(e.sequence, e.previous_mac, e.mac, e.pk) for e in events],
        )
    MerkleNode.objects.bulk_create(nodes)
    head.seal = chain.head_mac(key, head.count, head.last_mac)
    head.tree_edge = [h.hex() for h in tree.hashes]
    head.save()


def leaf_hash(event: AuditEvent) -> bytes:
    return tlog.leaf_hash(leaf_bytes(event))


def _checkpoint_if_due(head: ChainHead, force: bool = False) -> Checkpoint | None:
    latest = Checkpoint.objects.order_by("-size", "-id").first()
    if latest is not None and latest.size == head.count:
        return None
    due_by_count = latest is None or head.count - latest.size >= settings.SECUREPIX_CHECKPOINT_EVERY
    due_by_time = latest is None or timezone.now() - latest.created >= timedelta(
        seconds=settings.SECUREPIX_CHECKPOINT_SECONDS
    )
    if not (force or due_by_count or due_by_time):
        return None
    return sign_checkpoint(head)


def sign_checkpoint(head: ChainHead) -> Checkpoint:
    root = tlog.CompactRange(head.count, [bytes.fromhex(h) for h in head.tree_edge]).root()
    body = tlog.format_checkpoint(tlog.Checkpoint(settings.SECUREPIX_AUDIT_LOG_ORIGIN, head.count, root))
    note = tlog.sign_note(body, [signer()])
    return Checkpoint.objects.create(size=head.count, root_hash=root, note=note, created=timezone.now())


class Sequencer:
    """This process's sequencer thread: woken after each commit that recorded
    an event its writer did not number (and every `interval` seconds), it
    numbers whatever has committed, in batches, so that writers never wait
    for each other or for the lock."""

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._rounds = 0  # rounds finished, under _done
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._guard = threading.Lock()

    def wake(self) -> None:
        with self._guard:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._stopping,), name="audit-sequencer", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the thread finish its round and end (the next wake starts a
        new one): before the database goes away, e.g. at the end of a test."""
        with self._guard:
            thread, self._thread = self._thread, None
            self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self, stopping: threading.Event) -> None:
        while True:
            self._wake.wait(timeout=float(settings.SECUREPIX_CHECKPOINT_SECONDS) or 1.0)
            if stopping.is_set():
                connection.close()  # this thread's own connection, kept between rounds
                return
            self._wake.clear()
            integrate_logged(drain=True)
            with self._done:
                self._rounds += 1
                self._done.notify_all()

    @property
    def rounds(self) -> int:
        with self._done:
            return self._rounds

    def wait_past(self, rounds: int, timeout: float) -> None:
        """Until a round ends after `rounds` had (at most `timeout` seconds):
        a round that ends before the caller starts waiting is not missed."""
        with self._done:
            self._done.wait_for(lambda: self._rounds > rounds, timeout)


sequencer = Sequencer()


def wait_until_sequenced(events: Iterable[AuditEvent], timeout: float = 10.0) -> None:
    """Fill in the sequence of `events` (committed): in this thread's
    transaction when it is still open (in_transaction), else by waking this
    process's sequencer and waiting for it (or another process's) to number them."""
    pending = {event.pk: event for event in events if event.sequence is None}
    while pending and connection.in_atomic_block:
        # Oldest first: behind a backlog (e.g. left when the mode changed), batch after batch.
        numbered = integrate() or {}
        _fill(pending, numbered)
        if len(numbered) < BATCH:
            break
    deadline = time.monotonic() + timeout
    while pending:
        rounds = sequencer.rounds
        sequencer.wake()
        sequencer.wait_past(rounds, 0.05)
        rows = AuditEvent.objects.filter(pk__in=list(pending), sequence__isnull=False)
        _fill(pending, {row.pk: row for row in rows.only("sequence", "previous_mac", "mac")})
        if pending and time.monotonic() > deadline:
            raise TimeoutError("the audit sequencer did not number the events in time")


def number_now(event: AuditEvent) -> bool:
    """Number the waiting events, `event` (just written) among them, in the
    caller's transaction, unless another sequencer holds the head: a writer
    skips the lock, never waits for it.  Whether `event` was numbered; its
    fields are filled once the transaction commits (a transaction taken back
    takes its number back too), and the head stays locked until then.

    At most IN_PLACE_BATCH events: when more wait, `event` (the newest) may
    not be among them and is left to the sequencer.  A failure that the
    savepoint took back is logged and leaves the event to the sequencer; one
    that it could not take back (the connection lost) is raised: the event
    was not written, and the operation must not look done."""
    try:
        numbered = integrate(wait=False, batch=IN_PLACE_BATCH)
    except Exception:
        if connection.needs_rollback or connection.connection is None:
            raise
        # as the sequencer's own rounds (integrate_logged): not the operation's failure
        logger.exception("numbering an audit event in its writer's transaction failed; the sequencer will")
        return False
    if numbered is None or event.pk not in numbered:
        return False
    done = {event.pk: numbered[event.pk]}
    transaction.on_commit(lambda: _fill({event.pk: event}, done))
    return True


def _fill(pending: dict[int, AuditEvent], numbered: dict[int, AuditEvent]) -> None:
    for pk, done in numbered.items():
        if pk in pending:
            event = pending.pop(pk)
            event.sequence, event.previous_mac, event.mac = done.sequence, done.previous_mac, done.mac


def integrate_logged(*, drain: bool) -> None:
    """One round of the sequencer thread (`drain`: batch after batch while
    they come full) or of the web servers' timer (one batch); a failure is
    logged and the next round tries again: the events wait, never lost.
    The thread keeps its database connection from round to round while it
    is younger than CONN_MAX_AGE (a connection made for each round kept
    every request waiting for it), makes a new one when the kept one has
    died, and closes it after a failure."""
    connection.close_if_unusable_or_obsolete()
    kept = connection.connection is not None
    try:
        try:
            numbered = integrate()
        except (OperationalError, InterfaceError):
            if not kept:
                raise
            # The kept connection died between rounds (e.g. the database
            # restarted): nothing was numbered; once more, on a new one.
            connection.close()
            numbered = integrate()
        while drain and numbered is not None and len(numbered) == BATCH:
            numbered = integrate()
    except Exception:
        logger.exception("the audit sequencer failed")
        connection.close()


def keep_sequencing(interval: float, stop: threading.Event | None = None) -> threading.Thread:
    """A daemon thread that runs the sequencer every `interval` seconds (until
    `stop` is set), so that every event is covered by a signed checkpoint within
    about that delay even when no request comes (web servers start it:
    securepix_site/wsgi.py)."""
    stopped = stop or threading.Event()

    def run() -> None:
        while not stopped.wait(interval):
            integrate_logged(drain=False)
        connection.close()

    thread = threading.Thread(target=run, name="audit-checkpoints", daemon=True)
    thread.start()
    return thread


def refresh_if_stale() -> None:
    """For readers of the checkpoint: when the newest is older than the bounded
    delay, number and sign what waits, unless a sequencer is at it already."""
    latest = Checkpoint.objects.order_by("-size", "-id").only("created").first()
    if latest is None or timezone.now() - latest.created >= timedelta(seconds=settings.SECUREPIX_CHECKPOINT_SECONDS):
        integrate(wait=False)


def checkpoint_now() -> Checkpoint:
    """The latest checkpoint, after numbering what waits and signing a new one if the tree grew."""
    integrate()
    with transaction.atomic():
        head = _head()
        return _checkpoint_if_due(head, force=True) or latest_checkpoint()


def latest_checkpoint() -> Checkpoint:
    latest = Checkpoint.objects.order_by("-size", "-id").first()
    if latest is None:
        with transaction.atomic():
            return sign_checkpoint(_head())
    return latest


def served_note(checkpoint: Checkpoint) -> str:
    """The signed note with the witnesses' cosignature lines appended (C2SP tlog-cosignature)."""
    lines = [c.line for c in checkpoint.cosignatures.order_by("witness")]  # each ends with its newline
    return checkpoint.note + "".join(lines)


# Proofs ----------------------------------------------------------------------


class LogError(SecurePixError):
    """A proof, leaf or cosignature request that the log cannot answer."""

    error_code = ErrorCode.BAD_INPUT


def tree_size() -> int:
    head = ChainHead.objects.filter(pk=1).first()
    return 0 if head is None else head.count


def _subtree_hashes(positions: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of the perfect subtrees at `positions`, in one query."""
    if not positions:
        return {}
    wanted = Q()
    for level, index in positions:
        wanted |= Q(level=level, index=index)
    rows = MerkleNode.objects.filter(wanted).values_list("level", "index", "hash")
    return {(level, index): bytes(value) for level, index, value in rows}


def _with_stored_subtrees(build: Any) -> list[bytes]:
    """Run a proof builder twice: once to learn which subtrees it needs, once
    with their hashes fetched in a single query."""
    needed: set[tuple[int, int]] = set()

    def note(level: int, index: int) -> bytes:
        needed.add((level, index))
        return bytes(32)

    build(note)
    hashes = _subtree_hashes(needed)
    missing = needed - hashes.keys()
    if missing:
        raise LogError(f"the tree is missing {len(missing)} stored subtree hash(es): the node table is damaged")
    result: list[bytes] = build(lambda level, index: hashes[(level, index)])
    return result


def _check_size(size: int) -> None:
    if not 1 <= size <= tree_size():
        raise LogError(f"size must be between 1 and the tree's size, {tree_size()}")


def inclusion_proof(index: int, size: int) -> tuple[bytes, list[bytes]]:
    """(leaf hash, audit path) of leaf `index` in the tree of `size` leaves."""
    _check_size(size)
    if not 0 <= index < size:
        raise LogError("index must be below size")
    proof = _with_stored_subtrees(lambda subtree: tlog.inclusion_proof(index, size, subtree))
    return _subtree_hashes({(0, index)})[(0, index)], proof


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    _check_size(new_size)
    if not 1 <= old_size <= new_size:
        raise LogError("from must be between 1 and to")
    return _with_stored_subtrees(lambda subtree: tlog.consistency_proof(old_size, new_size, subtree))


def leaves(start: int, end: int) -> list[bytes]:
    """The canonical bytes of leaves [start, end), at most LEAVES_PAGE of them."""
    size = tree_size()
    if not 0 <= start < end <= size or end - start > LEAVES_PAGE:
        raise LogError(f"need 0 <= start < end <= {size} and at most {LEAVES_PAGE} leaves")
    events = AuditEvent.objects.filter(sequence__gt=start, sequence__lte=end).order_by("sequence")
    return [leaf_bytes(event) for event in events]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Witnesses -------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    witness: str
    signed_at: datetime


def add_cosignature(note_text: str) -> list[Accepted]:
    """Keep the cosignatures in a witness's copy of a checkpoint that verify
    against a configured witness key (others are ignored); the checkpoint must
    be one this log signed."""
    try:
        note = tlog.parse_note(note_text)
    except tlog.NoteError as exc:
        raise LogError(f"not a signed note: {exc}") from exc
    try:
        size = tlog.parse_checkpoint(note.text).size
    except tlog.CheckpointError as exc:
        raise LogError(f"not a checkpoint: {exc}") from exc
    candidates = Checkpoint.objects.filter(size=size).order_by("-id")[:100]  # by the indexed size, then exactly
    checkpoint = next((c for c in candidates if c.note.startswith(note.text + "\n")), None)
    if checkpoint is None:
        raise LogError("this log signed no such checkpoint")
    accepted = []
    for signature in note.signatures:
        for witness in witness_verifiers():
            if (signature.name, signature.key_id) != (witness.name, witness.key_id):
                continue
            try:
                stamp = tlog.verify_cosignature(note.text, signature, witness)
            except tlog.NoteError as exc:
                raise LogError(f"the cosignature of {witness.name} does not verify: {exc}") from exc
            try:
                signed_at = datetime.fromtimestamp(stamp, tz=timezone.get_current_timezone())
            except (OverflowError, ValueError, OSError) as exc:
                raise LogError(f"the cosignature of {witness.name} has an impossible time: {stamp}") from exc
            Cosignature.objects.get_or_create(
                checkpoint=checkpoint,
                witness=witness.name,
                defaults={"line": signature.line, "signed_at": signed_at, "received": timezone.now()},
            )
            accepted.append(Accepted(witness.name, signed_at))
    if not accepted:
        raise LogError("no cosignature from a known witness")
    return accepted
