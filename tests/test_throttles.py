"""Throttles count each request once, however many server processes share the
counts: fixed windows with the cache's atomic increment (web/throttles.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from web.throttles import DecryptAddressThrottle, DecryptUserThrottle

ROOT = Path(__file__).resolve().parent.parent


def request_from(address: str, user: Any = None) -> Any:
    return SimpleNamespace(META={"REMOTE_ADDR": address}, headers={}, user=user)


def test_a_window_lets_exactly_its_number_through_and_says_how_long_to_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(DecryptAddressThrottle, "THROTTLE_RATES", {"decrypt_address": "3/min"})
    monkeypatch.setattr(DecryptAddressThrottle, "timer", lambda self: now[0])
    throttle = DecryptAddressThrottle()
    verdicts = [throttle.allow_request(request_from("192.0.2.1"), None) for _ in range(5)]
    assert verdicts == [True, True, True, False, False]
    window_end = (1_000_000 // 60 + 1) * 60
    assert throttle.wait() == pytest.approx(window_end - now[0])
    assert throttle.allow_request(request_from("192.0.2.2"), None), "another address has its own count"
    now[0] = window_end + 0.5
    assert throttle.allow_request(request_from("192.0.2.1"), None), "a new window starts a new count"


def test_each_user_has_a_count() -> None:
    alice, bob = SimpleNamespace(pk=1, is_authenticated=True), SimpleNamespace(pk=2, is_authenticated=True)
    throttle = DecryptUserThrottle()
    for _ in range(throttle.num_requests):
        assert throttle.allow_request(request_from("192.0.2.1", alice), None)
    assert not throttle.allow_request(request_from("192.0.2.1", alice), None)
    assert throttle.allow_request(request_from("192.0.2.1", bob), None)


@pytest.fixture(scope="module")
def redis_url() -> str:
    """A real Redis server (scripts/local-redis installs and starts it)."""
    started = subprocess.run(
        [str(ROOT / "scripts" / "local-redis")],
        capture_output=True,
        text=True,
        env={**os.environ, "SECUREPIX_REDIS_PORT": "6391"},
    )
    if started.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"no Redis server: {started.stderr.strip()}")
        pytest.skip(f"no Redis server here: {started.stderr.strip()}")
    return started.stdout.strip()


HAMMER = """
import json, os, sys
import django
django.setup()
from types import SimpleNamespace
from web.throttles import DecryptAddressThrottle
DecryptAddressThrottle.timer = lambda self: 1_000_000.0  # one window, whenever the minute ends
throttle = DecryptAddressThrottle()
print("ready", flush=True)
sys.stdin.readline()  # every process starts at once
request = SimpleNamespace(META={"REMOTE_ADDR": "198.51.100.7"}, headers={}, user=None)
print(json.dumps(sum(throttle.allow_request(request, None) for _ in range(int(sys.argv[1])))))
"""


def test_several_processes_sharing_redis_let_exactly_the_limit_through(redis_url: str) -> None:
    """Four server processes, 40 decrypt attempts each from one address, at
    once, against a limit of 60 per minute: 60 pass, not 4 x 60 (per-process
    counts) nor more than 60 (a read-then-write race)."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "securepix_site.settings",
        "SECUREPIX_CACHE": "redis",
        "SECUREPIX_REDIS_URL": redis_url,
        "SECUREPIX_DECRYPT_RATE_ADDRESS": "60/min",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, "40"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for _ in range(4)
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", process.stderr
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    allowed = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        allowed.append(json.loads(out))
    assert sum(allowed) == 60, allowed
