"""The verifiable audit log under load (docs/AUDIT.md), in numbers.

    python -m benchmarks.audit_log [--writers 1,4,8] [--events 400] [--leaves 1000000] [--export 1000000]

- writers: N threads each recording events as the platform does (each commits
  its event without a lock; the sequencer numbers what has committed, in
  batches, right after each commit): events per second over all writers and
  the per-event latency (record and numbered), p50 and p99;
- proofs: an inclusion and a consistency proof in a tree of --leaves leaves
  (a node table built for the purpose), median of 50;
- offline: `securepix audit verify`'s check of an export of --export events
  against a signed checkpoint, with no database.

Uses DATABASE_URL when set (PostgreSQL: the writers' figure that counts),
else a throw-away SQLite file.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import tempfile
import time
from typing import Any

from .timing import median_ms


def _setup() -> None:
    import django

    workdir = tempfile.mkdtemp(prefix="securepix-audit-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securepix_site.settings")
    os.environ["SECUREPIX_DATA_DIR"] = workdir
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ["SECUREPIX_AUDIT_SEQUENCING"] = "after_commit"
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _empty_log() -> None:
    from django.db import connection

    from audit import triggers

    triggers.remove(connection)
    with connection.cursor() as cursor:
        for table in ("classification_mismatchacknowledgment", "audit_cosignature", *triggers.LOG_TABLES):
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute(f"DELETE FROM {triggers.TABLE}")
        cursor.execute("DELETE FROM audit_chainhead")
    triggers.install(connection)


def _write(worker: int, each: int, start: Any, out: Any) -> None:
    """One writer process: as a web worker would, records events one after another."""
    from django.db import connection

    from audit.services import record
    from core.context import Context

    connection.close()  # never share the parent's connection
    start.wait()
    latencies = []
    for i in range(each):
        began = time.perf_counter()
        record("classify", "success", Context(request_id=f"w{worker}-{i}"), extra={"i": i})
        latencies.append(time.perf_counter() - began)
    out.put(latencies)
    connection.close()


def writers(counts: list[int], each: int) -> dict[str, object]:
    """N writer processes (the platform's web and job workers are processes)."""
    import multiprocessing

    from django.db import connection

    from audit import log
    from audit.models import AuditEvent
    from audit.services import check_chain

    context = multiprocessing.get_context("fork")
    result: dict[str, object] = {}
    for count in counts:
        _empty_log()
        connection.close()
        start, out = context.Barrier(count + 1), context.Queue()
        processes = [context.Process(target=_write, args=(n, each, start, out)) for n in range(count)]
        for process in processes:
            process.start()
        start.wait()
        began = time.perf_counter()
        latencies = [value for _ in processes for value in out.get()]
        seconds = time.perf_counter() - began
        for process in processes:
            process.join()
        while AuditEvent.objects.filter(sequence__isnull=True).exists():  # what the writers' sequencers left
            log.integrate()
        numbered_after = time.perf_counter() - began
        ordered = sorted(latencies)
        assert len(ordered) == count * each and check_chain().intact
        assert AuditEvent.objects.filter(sequence__isnull=False).count() == count * each
        result[f"writers_{count}"] = {
            "events_per_second": round(count * each / seconds),
            "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
            "all_numbered_after_s": round(numbered_after, 2),
        }
    return result


def proofs(leaves: int) -> dict[str, object]:
    """A node table for `leaves` random leaves (as the sequencer would have
    written it), then proofs from it."""
    from django.db import connection

    import tlog
    from audit import log, triggers
    from audit.models import ChainHead, MerkleNode

    _empty_log()
    rng = random.Random(7)
    tree = tlog.CompactRange()
    began = time.perf_counter()
    batch: list[MerkleNode] = []
    for _ in range(leaves):
        batch += [MerkleNode(level=n.level, index=n.index, hash=n.hash) for n in tree.append(rng.randbytes(32))]
        if len(batch) >= 50_000:
            MerkleNode.objects.bulk_create(batch)
            batch = []
    MerkleNode.objects.bulk_create(batch)
    ChainHead.objects.create(pk=1, count=leaves, last_mac="0" * 64, seal="", tree_edge=[h.hex() for h in tree.hashes])
    built = time.perf_counter() - began
    root = tree.root()
    indexes = [rng.randrange(leaves) for _ in range(50)]
    sizes = [rng.randrange(1, leaves) for _ in range(50)]
    for index in indexes[:3]:  # the proofs verify against the tree's root
        leaf, proof = log.inclusion_proof(index, leaves)
        tlog.verify_inclusion(index, leaves, leaf, proof, root)
    inclusion = median_ms(lambda: log.inclusion_proof(indexes.pop(), leaves), 49)
    consistency = median_ms(lambda: log.consistency_proof(sizes.pop(), leaves), 49)
    triggers.remove(connection)
    return {
        "leaves": leaves,
        "node_table_build_s": round(built, 1),
        "inclusion_proof_ms": inclusion,
        "consistency_proof_ms": consistency,
    }


def offline(events: int) -> dict[str, object]:
    """An export of `events` synthetic events and a checkpoint signed over them, checked with no database."""
    import tlog
    from audit import offline as verifier

    signer_key, verifier_key = tlog.generate_key("bench.example/audit")
    tree = tlog.CompactRange()
    lines = []
    for sequence in range(1, events + 1):
        row: dict[str, Any] = dict.fromkeys(verifier.LEAF_FIELDS, "")
        row.update(
            sequence=sequence, created=f"2026-11-28T09:00:00.{sequence % 1_000_000:06d}+00:00", extra={"i": sequence}
        )
        row.update(
            actor_id=None, confidence=None, mismatch=False, image_width=None, image_height=None, image_bytes=None
        )
        row.update(action="classify", outcome="success")
        tree.append(tlog.leaf_hash(verifier.leaf_bytes(row)))
        lines.append(json.dumps(row, sort_keys=True))
    export = "\n".join(lines) + "\n"
    note = tlog.sign_note(
        tlog.format_checkpoint(tlog.Checkpoint("bench.example/audit", events, tree.root())),
        [tlog.parse_signer_key(signer_key)],
    )
    began = time.perf_counter()
    checkpoint = verifier.read_checkpoint(note, verifier_key)
    report = verifier.verify_export(io.StringIO(export), [checkpoint])
    seconds = time.perf_counter() - began
    assert report.events == events
    return {"events": events, "export_mb": round(len(export) / 1e6, 1), "verify_s": round(seconds, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", default="1,4,8")
    parser.add_argument("--events", type=int, default=400, help="events per writer")
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--export", type=int, default=1_000_000)
    arguments = parser.parse_args()
    _setup()
    from django.db import connection

    figures: dict[str, object] = {"database": connection.vendor}
    figures.update(writers([int(n) for n in arguments.writers.split(",")], arguments.events))
    figures["proofs"] = proofs(arguments.leaves)
    figures["offline"] = offline(arguments.export)
    print(json.dumps(figures, indent=2))
