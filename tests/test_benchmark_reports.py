"""What the benchmarks report: where the load test's CPU went (benchmarks/load.py),
and the large images' times against the engine (benchmarks/large_images.py)."""

from __future__ import annotations

import os

from benchmarks.load import cpu_per_request, cpu_seconds


def test_cpu_is_shared_out_per_request_by_kind_of_process() -> None:
    before = {10: ("web", 5.0), 11: ("web", 1.0), 20: ("postgresql", 2.0), 22: ("postgresql", 0.3)}
    # Worker 11 ended meanwhile, having spent 1.5 s in all: its parent, the
    # arbiter (10), counts it now. Backend 21 started meanwhile and counts
    # whole; 22's pid was taken by a process of another kind, which counts
    # whole too, while 22's own time went to the postmaster (20).
    after = {10: ("web", 6.5), 20: ("postgresql", 2.1 + 0.4), 21: ("postgresql", 0.1), 22: ("redis", 0.02)}
    shares = cpu_per_request(before, after, requests=100)
    cores = len(os.sched_getaffinity(0))
    # web: 1.5 - 1.0 (worker 11 during the run); postgresql: 0.5 - 0.3 + 0.1
    assert shares == {
        "postgresql": 3.0,
        "redis": 0.2,
        "web": 5.0,
        "total": 8.2,
        "ceiling_per_second": round(1000 * cores / 8.2, 1),
    }


def test_this_process_is_counted_among_the_running_ones() -> None:
    spent = cpu_seconds()
    assert os.getpid() in spent
    kind, seconds = spent[os.getpid()]
    assert kind == "other" and seconds >= 0  # pytest is none of the stack's processes


def test_an_end_to_end_time_is_weighed_against_the_engine_with_and_without_its_derivation() -> None:
    from benchmarks.large_images import _times

    report = {"engine_ms": {"encrypt": 176.0, "decrypt": 170.0}, "kdf_ms": 16.0}
    assert _times(0.38, report, "encrypt") == 2.16
    assert _times(0.38, report, "encrypt", with_kdf=True) == 1.98
    assert _times(0.34, report, "decrypt", with_kdf=True) == 1.83
