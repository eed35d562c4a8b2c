"""The load test's account of where the CPU went (benchmarks/load.py)."""

from __future__ import annotations

import os

from benchmarks.load import cpu_per_request, cpu_seconds


def test_cpu_is_shared_out_per_request_by_kind_of_process() -> None:
    before = {10: ("web", 5.0), 11: ("web", 1.0), 20: ("postgresql", 2.0), 30: ("other", 9.0)}
    # Worker 11 is gone (its time went to its parent's count, here not listed);
    # backend 21 started meanwhile and counts whole; pid 30 was reused by a
    # process of another kind, which counts whole too.
    after = {10: ("web", 6.0), 20: ("postgresql", 2.1), 21: ("postgresql", 0.1), 30: ("redis", 0.02)}
    shares = cpu_per_request(before, after, requests=100)
    cores = len(os.sched_getaffinity(0))
    assert shares == {
        "postgresql": 2.0,
        "redis": 0.2,
        "web": 10.0,
        "total": 12.2,
        "ceiling_per_second": round(1000 * cores / 12.2, 1),
    }


def test_this_process_is_counted_among_the_running_ones() -> None:
    spent = cpu_seconds()
    assert os.getpid() in spent
    kind, seconds = spent[os.getpid()]
    assert kind == "other" and seconds >= 0  # pytest is none of the stack's processes
