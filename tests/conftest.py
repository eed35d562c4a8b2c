from __future__ import annotations

from typing import Any

import pytest

from imaging.imagefile import DecodedImage
from tests.images import photo_array

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def photo512() -> DecodedImage:
    return DecodedImage(photo_array(512, 512, 3, seed=7), "RGB", "PNG")


# Users, roles and API clients -------------------------------------------------

ACCOUNT_PASSWORD = "tidal-quartz-lantern-47"


@pytest.fixture(scope="session", autouse=True)
def _sequencer_stopped_before_the_test_database_goes(django_db_setup: None) -> Any:
    """The audit sequencer thread ends before the test database is dropped."""
    yield
    from audit.log import sequencer

    sequencer.stop()


@pytest.fixture(autouse=True)
def _audit_numbered_in_the_test_transaction(settings: Any) -> None:
    """Tests run inside a transaction that never commits, so the sequencer's
    after-commit run would never come: number events inside it instead (the
    after-commit mode has tests of its own, on committed transactions)."""
    settings.SECUREPIX_AUDIT_SEQUENCING = "in_transaction"


@pytest.fixture(autouse=True)
def _results_storage_of_the_test(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Stored results (jobs, the encrypt page) go to a folder of the test run, never the data folder."""
    folder = tmp_path_factory.getbasetemp() / "results"
    settings.STORAGES = {
        **settings.STORAGES,
        "results": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(folder)}},
    }


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters live in the cache: every test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _throttle_windows_on_a_fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttles count in windows of the clock's minutes: a minute that ended
    between a test's requests would start a new count and let one more through."""
    from web.throttles import WindowThrottle

    monkeypatch.setattr(WindowThrottle, "timer", lambda self: 1_000_000.0)


def make_user(username: str, role: str | None, password: str | None = ACCOUNT_PASSWORD) -> Any:
    """A user in `role`; `password=None` for one that logs in by token or
    force_login only (hashing a password with Argon2 costs 0.3 s)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.roles import ensure_groups

    ensure_groups()
    admin = role == "admin"
    user = get_user_model().objects.create_user(username, password=password, is_staff=admin, is_superuser=admin)
    if role in ("operator", "auditor"):
        user.groups.add(Group.objects.get(name=role))
    return user


def token_client(user: Any) -> Any:
    from rest_framework.test import APIClient

    from accounts.models import ApiToken

    client = APIClient()
    _, plain = ApiToken.issue(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def totp_code(device: Any) -> str:
    """A code that the device's next check accepts, even when a 30-second
    step ends between making it and checking it: the step after the last one
    used (checks refuse a used step), else the device's current step (its
    clock drift included; the check allows one step either side)."""
    from django_otp.oath import TOTP, hotp

    device.refresh_from_db()
    now = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).t()
    return f"{hotp(device.bin_key, max(device.last_t + 1, now), digits=device.digits):06d}"


def wrong_totp_code(device: Any) -> str:
    """A code the device refuses (one its next check would accept is never this)."""
    return "000000" if totp_code(device) != "000000" else "111111"


def concurrent_writers_need_postgresql() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's shared in-memory test database refuses concurrent writers; the PostgreSQL run covers it")


def twice_at_once(work: Any) -> list[Any]:
    """`work()` run by two threads released together, each on a database
    connection of its own (PostgreSQL: committed, as two requests): what
    each returned, or the exception it raised."""
    import threading

    from django.db import connection

    start = threading.Barrier(2)
    outcomes: list[Any] = []

    def run() -> None:
        try:
            start.wait()
            outcomes.append(work())
        except BaseException as error:  # the caller looks at it
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.fixture
def operator(db: None) -> Any:
    return make_user("radiographer", "operator")


@pytest.fixture
def auditor(db: None) -> Any:
    return make_user("compliance", "auditor")


@pytest.fixture
def admin(db: None) -> Any:
    return make_user("it-admin", "admin")


@pytest.fixture
def operator_api(operator: Any) -> Any:
    return token_client(operator)


@pytest.fixture
def auditor_api(auditor: Any) -> Any:
    return token_client(auditor)


@pytest.fixture
def committed_audit(transactional_db: None) -> Any:
    """Events really committed (threads, a live server); removed afterwards,
    past the append-only triggers, so that the next test starts empty."""
    from django.db import connection

    from audit import triggers
    from audit.log import sequencer
    from audit.models import ChainHead
    from classification.models import MismatchAcknowledgment
    from jobs.models import Job

    yield
    sequencer.stop()  # no round of its own while the tables are emptied
    MismatchAcknowledgment.objects.all().delete()  # they point at events
    Job.objects.all().delete()  # their files point at events, their results at files
    with connection.cursor() as cursor:
        triggers.remove(connection)
        for table in (*reversed(triggers.LOG_TABLES), triggers.TABLE):  # cosignatures first
            cursor.execute(f"DELETE FROM {table}")
        triggers.install(connection)
    ChainHead.objects.all().delete()
