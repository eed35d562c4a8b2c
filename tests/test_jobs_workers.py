"""Jobs on real Celery workers, with Redis as the broker and PostgreSQL: a
worker killed with SIGKILL half-way leaves no file undone and none done twice;
files whose tasks a restart of Redis lost fail as lost, and their job ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = 16


def _service(script: str, **environment: str) -> str:
    started = subprocess.run(
        [str(ROOT / "scripts" / script)], capture_output=True, text=True, env={**os.environ, **environment}
    )
    if started.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"{script}: {started.stderr.strip()}")
        pytest.skip(f"{script}: {started.stderr.strip()}")
    return started.stdout.strip()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A database of its own on the PostgreSQL test server, a Redis, keys, migrations."""
    import psycopg

    server = _service("local-postgres")
    redis_url = _service("local-redis", SECUREPIX_REDIS_PORT="6392")
    with psycopg.connect(server.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS securepix_jobs_workers WITH (FORCE)")
        connection.execute("CREATE DATABASE securepix_jobs_workers")
    data = tmp_path_factory.mktemp("jobs-workers")
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SECUREPIX_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "securepix_site.settings",
        "DATABASE_URL": server.rsplit("/", 1)[0] + "/securepix_jobs_workers",
        "SECUREPIX_DATA_DIR": str(data),
        "SECUREPIX_JOB_BROKER": redis_url,
        "SECUREPIX_JOB_REDELIVER_SECONDS": "5",
        "SECUREPIX_WARM_UP": "0",
    }
    subprocess.run([str(ROOT / "scripts" / "local-secrets")], env={**environment, "PYTHON": sys.executable}, check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=environment, check=True)
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return environment


SUBMIT = f"""
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from accounts.roles import ensure_groups
from core.context import Context
from jobs import services, tasks
from jobs.contracts import JobRequest
from tests.images import encode, image_in_mode
ensure_groups()
user = get_user_model().objects.get_or_create(username="worker-test-operator")[0]
user.groups.add(Group.objects.get(name="operator"))
files = [(f"p{{i}}.png", encode(image_in_mode("RGB", 48, 64, seed=i))) for i in range({FILES})]
form = {{"password": "worker test password 7", "declared_domain": "none"}}
request = JobRequest.from_form(form, files, [], services.limits())
print(services.do_submit_job(context=Context(actor=user), request=request, dispatch=tasks.dispatch).id)
"""


def _worker(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "securepix_site",
        "worker",
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _until(
    done: Callable[[], bool], worker: subprocess.Popen[bytes], log: Path, deadline: float, pause: float = 0.5
) -> None:
    """Wait until `done`, while the worker runs and before the deadline (its log in the failure)."""
    while not done():
        assert time.monotonic() < deadline and worker.poll() is None, log.read_text()[-3000:]
        time.sleep(pause)


def _counts(environment: dict[str, str], job: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(environment["DATABASE_URL"]) as connection:
        states = dict(
            connection.execute("SELECT state, COUNT(*) FROM jobs_jobfile WHERE job_id = %s GROUP BY state", [job])
        )
        events = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT encrypted_sha256) FROM audit_auditevent"
            " WHERE action = 'encrypt' AND outcome = 'success' AND request_id = %s",
            [job],
        ).fetchone()
        results = connection.execute(
            "SELECT COUNT(*) FROM jobs_storedresult r JOIN jobs_jobfile f ON r.job_file_id = f.id WHERE f.job_id = %s",
            [job],
        ).fetchone()
    return {"states": states, "events": events, "results": results[0] if results else 0}


def _done(environment: dict[str, str], job: str) -> int:
    return int(_counts(environment, job)["states"].get("done", 0))


def _leave_the_restore_lock_held(environment: dict[str, str]) -> None:
    import redis

    expire = subprocess.run(
        [sys.executable, "-c", LOCK_EXPIRY], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    redis.Redis.from_url(environment["SECUREPIX_JOB_BROKER"]).set("unacked_mutex", "killed", ex=int(expire.stdout))


# How long the workers' lock lasts (kombu's default when the settings say nothing).
LOCK_EXPIRY = """
import django
django.setup()
from django.conf import settings
print(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("unacked_mutex_expire", 300))
"""


def test_a_worker_killed_half_way_leaves_every_file_encrypted_exactly_once(
    stack: dict[str, str], tmp_path: Path
) -> None:
    submitted = subprocess.run(
        [sys.executable, "-c", SUBMIT], cwd=ROOT, env=stack, capture_output=True, text=True, check=True
    )
    job = submitted.stdout.strip().splitlines()[-1]
    log = tmp_path / "workers.log"
    first = _worker(stack, log)
    deadline = time.monotonic() + 240
    _until(lambda: _done(stack, job) >= FILES // 3, first, log, deadline, pause=0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool process, mid-job
    first.wait(timeout=30)
    halfway = _counts(stack, job)
    print(f"killed after {time.monotonic() - deadline + 240:.1f} s: {halfway}")
    assert halfway["states"].get("done", 0) < FILES, "the job ended before the kill: nothing was tested"
    # The worst moment to die: holding the lock under which workers look for
    # messages to deliver again (kombu's, left as a killed holder leaves it).
    _leave_the_restore_lock_held(stack)
    second = _worker(stack, log)
    try:
        _until(lambda: _done(stack, job) == FILES, second, log, deadline)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)
    final = _counts(stack, job)
    print(f"done after {time.monotonic() - deadline + 240:.1f} s: {final}")
    assert final["states"] == {"done": FILES}
    assert final["events"] == (FILES, FILES), "one encryption event per file, each of a different output"
    assert final["results"] == FILES


SWEEP = """
import django
django.setup()
from jobs import tasks
print(tasks.fail_lost_files.run())
"""


EXPORT = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from accounts.roles import ensure_groups
from audit.services import EventFilter
from core.context import Context
from core.permissions import AUDITOR
from jobs import services, tasks
ensure_groups()
user = get_user_model().objects.get_or_create(username="worker-test-auditor")[0]
user.groups.add(Group.objects.get(name=AUDITOR))
context, where = Context(actor=user), EventFilter()
print(services.do_start_audit_export(context=context, where=where, fmt="jsonl", dispatch=tasks.dispatch_export).id)
"""


def _submitted(stack: dict[str, str], script: str = SUBMIT) -> str:
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=stack, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_files_whose_tasks_a_restart_of_redis_lost_fail_instead_of_waiting_for_ever(stack: dict[str, str]) -> None:
    """Redis keeps the queue in memory only (the tasks carry sealed keys): a
    job queued before its restart has no tasks left.  The periodic sweep
    (celery beat, every minute) fails its files with `queue_lost`, so that
    the job ends and says why; a job queued after the restart is left alone.
    So is an audit export queued before the restart: failed, its owner's
    place freed."""
    before = _submitted(stack)  # no worker runs: its files stay queued
    export = _submitted(stack, EXPORT)
    assert _counts(stack, before)["states"] == {"queued": FILES}
    port = {"SECUREPIX_REDIS_PORT": "6392"}
    subprocess.run([str(ROOT / "scripts" / "local-redis"), "stop"], env={**os.environ, **port}, check=True)
    assert _service("local-redis", **port) == stack["SECUREPIX_JOB_BROKER"]
    after = _submitted(stack)
    swept = subprocess.run([sys.executable, "-c", SWEEP], cwd=ROOT, env=stack, capture_output=True, text=True)
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert swept.stdout.strip().splitlines()[-1] == str(FILES + 1)  # the files and the export
    assert _counts(stack, before)["states"] == {"failed": FILES}
    assert _counts(stack, after)["states"] == {"queued": FILES}
    import psycopg

    with psycopg.connect(stack["DATABASE_URL"]) as connection:
        finished = dict(
            connection.execute(
                "SELECT id::text, finished IS NOT NULL FROM jobs_job WHERE id IN (%s, %s)", [before, after]
            )
        )
        codes = connection.execute(
            "SELECT DISTINCT outcome->'error'->>'code' FROM jobs_jobfile WHERE job_id = %s", [before]
        ).fetchall()
        exported = connection.execute("SELECT state, error FROM jobs_auditexport WHERE id = %s", [export]).fetchall()
    assert finished == {before: True, after: False} and codes == [("queue_lost",)]
    assert exported == [("failed", "queue_lost")]


def test_a_file_another_worker_holds_is_looked_at_again_not_dropped(stack: dict[str, str], tmp_path: Path) -> None:
    """A task delivered while another worker holds its file (here: the test
    holds the file's row lock, as a worker on a machine that died would until
    its session ends) is retried, not acknowledged as done: once the lock is
    let go, the file is encrypted, once."""
    import psycopg

    job = _submitted(stack)
    log = tmp_path / "workers.log"
    with psycopg.connect(stack["DATABASE_URL"]) as holder:
        held = holder.execute(
            "SELECT id FROM jobs_jobfile WHERE job_id = %s ORDER BY index LIMIT 1 FOR UPDATE", [job]
        ).fetchone()
        assert held is not None
        worker = _worker(stack, log)
        try:
            deadline = time.monotonic() + 240
            # the other files done, and the held one's task seen busy and retried, twice
            _until(
                lambda: _done(stack, job) == FILES - 1 and log.read_text().count("Retry in") >= 2, worker, log, deadline
            )
            assert _counts(stack, job)["states"] == {"done": FILES - 1, "queued": 1}
            holder.rollback()  # the holder's session ends: its lock with it
            _until(lambda: _done(stack, job) == FILES, worker, log, deadline)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
    final = _counts(stack, job)
    assert final["states"] == {"done": FILES}
    assert final["events"] == (FILES, FILES) and final["results"] == FILES
