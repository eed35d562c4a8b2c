"""A load test of the production stack (`make serve`) over HTTP on 127.0.0.1.

    python -m benchmarks.load [--url URL] [--seconds S] [--concurrency N ...]

Encrypts a 512x512 RGB photo through the API (classification, Argon2id, the
cipher, an audit event, PostgreSQL) from N client threads at once, each on its
own keep-alive connection, for S seconds per concurrency level, and reports
throughput, latency percentiles and errors.  Then: decryption attempts with a
wrong password, to show that the throttle lets exactly its limit through
whichever worker answers; the audit log verified from end to end; the
resident memory of each web worker.

It talks to the database of the stack it loads (as `scripts/serve` sets it up:
the same DATABASE_URL, data folder and keys) to make its operator and token.
Run it once per worker count (`SECUREPIX_WEB_WORKERS=1 make serve`, then 2)
to see how throughput scales.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

STACK = {  # what scripts/serve uses, unless the environment says otherwise
    "DJANGO_SETTINGS_MODULE": "securepix_site.settings",
    "DATABASE_URL": "postgres://securepix@127.0.0.1:54330/securepix",
    "SECUREPIX_CACHE": "redis",
    "SECUREPIX_REDIS_URL": "redis://127.0.0.1:6390/0",
    "SECUREPIX_PRODUCTION": "1",
    "SECUREPIX_DATA_DIR": "var",
    "SECUREPIX_WARM_UP": "0",
}


def operator_token() -> str:
    """An operator account of the load test and a fresh API token for it."""
    for name, value in STACK.items():
        os.environ.setdefault(name, value)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.models import ApiToken
    from accounts.roles import ensure_groups

    ensure_groups()
    user, made = get_user_model().objects.get_or_create(username="load-test-operator")
    if made:
        user.set_unusable_password()
        user.save()
    user.groups.add(Group.objects.get(name="operator"))
    return str(ApiToken.issue(user)[1])


def photo_png() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")
    return buffer.getvalue()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart body (Django's test client's encoder) and its content type."""
    from django.test.client import encode_multipart

    boundary = uuid.uuid4().hex
    data: dict[str, object] = dict(fields)
    for name, (filename, payload) in files.items():
        handle = io.BytesIO(payload)
        handle.name = filename
        data[name] = handle
    return encode_multipart(boundary, data), f"multipart/form-data; boundary={boundary}"


class Client:
    """One keep-alive connection, reopened after an error."""

    def __init__(self, url: str, token: str) -> None:
        self.where = urlsplit(url)
        self.token = token
        self.connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                self.where.hostname or "127.0.0.1", self.where.port or 80, timeout=300
            )
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": content_type}
        try:
            self.connection.request("POST", path, body, headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            return 0, b""


# What each kind of process on this machine is, by its command line (the
# first mark found); everything else is "other" (the kernel's own threads,
# the desktop of the machine, ...).
_KINDS = (
    ("benchmarks.load", "load generator"),
    ("gunicorn", "web"),
    ("model-process", "model"),
    ("celery", "celery"),
    ("postgres", "postgresql"),
    ("redis", "redis"),
)


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """Each running process's kind (_KINDS) and the CPU time (user and
    system) spent so far by it and by its children that have ended (e.g.
    PostgreSQL's backends of closed connections), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    spent: dict[int, tuple[str, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = next((name for mark, name in _KINDS if mark in command), "other")
        spent[int(stat.parent.name)] = (kind, sum(int(field) for field in fields[11:15]) / ticks)
    return spent


def cpu_per_request(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request by kind of process, between two
    cpu_seconds() (a process started meanwhile counts whole; one that ended
    meanwhile counts with its parent, less what it had spent before),
    with their total and the throughput that this machine's cores would
    allow if they did nothing else: the ceiling for any number of workers."""
    share: dict[str, float] = {}
    for pid, (kind, seconds) in after.items():
        was = before.get(pid)
        spent = seconds - (was[1] if was is not None and was[0] == kind else 0.0)
        share[kind] = share.get(kind, 0.0) + 1000 * spent / max(1, requests)
    for pid, (kind, seconds) in before.items():
        if after.get(pid, ("", 0.0))[0] != kind:  # it ended: its parent now counts its whole time
            # (a pid taken since by another kind of process included): take back what came before
            share[kind] = share.get(kind, 0.0) - 1000 * seconds / max(1, requests)
    share = {kind: round(value, 2) for kind, value in sorted(share.items()) if value >= 0.005}
    total = sum(share.values())
    cores = len(os.sched_getaffinity(0))
    return {**share, "total": round(total, 2), "ceiling_per_second": round(1000 * cores / total, 1) if total else 0.0}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def encrypt_load(url: str, token: str, photo: bytes, concurrency: int, seconds: float) -> dict[str, object]:
    body, content_type = multipart(
        {"password": "load test password 1", "declared_domain": "personal"}, {"image": ("astronaut.png", photo)}
    )
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(concurrency)
    deadline = [0.0]

    def run() -> None:
        client = Client(url, token)
        start.wait()
        if not deadline[0]:
            deadline[0] = time.perf_counter() + seconds
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            status, _ = client.post("/api/v1/encrypt", body, content_type)
            took = (time.perf_counter() - began) * 1000
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(took)

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    spent, began = cpu_seconds(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    requests = sum(statuses.values())
    cpu = cpu_per_request(spent, cpu_seconds(), requests)
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "requests": requests,
        "errors": sum(n for status, n in statuses.items() if status != 200),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "per_second": round(len(latencies) / elapsed, 2),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "cpu_ms_per_request": cpu,
    }


def throttle_check(url: str, token: str, attempts: int) -> dict[str, object]:
    """Wrong-password decryptions on fresh connections (so that the workers take
    turns), all within one window of the per-user limit."""
    from django.conf import settings

    rates: dict[str, str] = getattr(settings, "REST_FRAMEWORK")["DEFAULT_THROTTLE_RATES"]  # noqa: B009
    rate = rates["decrypt_user"]
    if time.time() % 60 > 40:  # not enough of this minute's window left
        time.sleep(61 - time.time() % 60)
    body, content_type = multipart({"password": "not the password"}, {"file": ("x.securepix.png", b"x" * 100)})
    statuses: dict[int, int] = {}
    for _ in range(attempts):
        status, _ = Client(url, token).post("/api/v1/decrypt", body, content_type)
        statuses[status] = statuses.get(status, 0) + 1
    return {"limit": rate, "attempts": attempts, "statuses": {str(s): n for s, n in sorted(statuses.items())}}


def audit_intact() -> dict[str, object]:
    from audit.services import check_chain

    began = time.perf_counter()
    verified = check_chain()
    return {"intact": verified.intact, "events": verified.events, "seconds": round(time.perf_counter() - began, 1)}


def status_kib(pid: int, field: str) -> int:
    """A memory field of a process's /proc status (VmRSS, or VmHWM: the
    peak), in KiB; 0 once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field + ":")), 0)


def workers() -> list[dict[str, Any]]:
    """Each web worker (a gunicorn process whose parent is one), each job
    worker (a Celery pool process, whose parent is the Celery worker) and the
    model process if there is one, with its resident memory."""
    processes = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            command = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        rss = fields.get("VmRSS", "0 kB").split()[0]
        if "securepix_site.cli model-process" in command:
            processes[status.parent.name] = ("model", "", rss)
        for kind, mark in (("web", "gunicorn"), ("job", "celery")):
            if mark in command and (kind == "web" or " worker" in command):
                processes[status.parent.name] = (kind, fields["PPid"].strip(), rss)
    return [
        {"kind": kind, "pid": int(pid), "rss_mb": round(int(rss) / 1024)}
        for pid, (kind, parent, rss) in processes.items()
        if parent in processes or kind == "model"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=60.0, help="per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--throttle-attempts", type=int, default=50)
    arguments = parser.parse_args()
    token = operator_token()
    photo = photo_png()
    running = workers()
    web = sum(worker["kind"] == "web" for worker in running)
    report: dict[str, object] = {"url": arguments.url, "workers": web, "image": "astronaut 512x512 RGB PNG"}
    report["encrypt"] = [
        encrypt_load(arguments.url, token, photo, concurrency, arguments.seconds)
        for concurrency in arguments.concurrency
    ]
    report["decrypt_throttle"] = throttle_check(arguments.url, token, arguments.throttle_attempts)
    time.sleep(2)  # the sequencers number the last events within their second
    report["audit"] = audit_intact()
    report["worker_memory"] = workers()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
