"""Jobs (many files in one request, one task per file) and the encrypted
results kept for their owner.  Here the tasks run in-process, as under `make
run`; tests/test_jobs_workers.py runs them on real Celery workers."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from audit.models import AuditEvent
from cipher.engine.envelope import decrypt_file
from jobs import sealing, services
from jobs.models import Job, JobFile, StoredResult
from tests import dicom_files
from tests.conftest import concurrent_writers_need_postgresql, make_user, token_client, twice_at_once
from tests.images import decoded_pixels, encode, image_in_mode

PASSWORD = "quartz-meadow-lantern-58"


@pytest.fixture(autouse=True)
def _results_in_a_temporary_folder(settings: Any, tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    settings.STORAGES = {
        **django_settings.STORAGES,
        "results": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(folder)}},
    }
    return folder


def photos(count: int) -> list[tuple[str, bytes]]:
    return [(f"photo{i}.png", encode(image_in_mode("RGB", 64, 80, seed=i))) for i in range(count)]


def submit(client: APIClient, files: list[tuple[str, bytes]], capture: Any, **fields: Any) -> Any:
    """Submit a job; its tasks run in-process when the test's transaction
    would commit (as under `make run`); returns the job's status then."""
    form: dict[str, Any] = {"password": PASSWORD, **fields}
    form["files"] = [_named(name, data) for name, data in files]
    with capture(execute=True):
        response = client.post("/api/v1/jobs", form, format="multipart")
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "running" and response.json()["counts"]["queued"] == len(files)
    return client.get(response["Location"])


def _named(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_an_encryption_job_encrypts_each_file_once_and_keeps_the_results_for_their_owner(
    operator_api: APIClient,
    operator: Any,
    django_capture_on_commit_callbacks: Any,
    _results_in_a_temporary_folder: Path,
) -> None:
    files = [*photos(2), ("ct.dcm", dicom_files.packaged("ct_signed"))]
    domains = json.dumps(["personal", "none", "medical"])
    response = submit(operator_api, files, django_capture_on_commit_callbacks, declared_domains=domains)
    job = status = response.json()
    assert response["Location"] == f"/api/v1/jobs/{job['id']}"
    assert status["state"] == "finished" and status["progress"] == 1.0
    assert status["counts"] == {"queued": 0, "done": 3, "failed": 0, "cancelled": 0}
    assert [f["declared_domain"] for f in status["files"]] == ["personal", "none", "medical"]
    assert status["files"][2]["classification"]["domain"] == "medical"
    # each file: one encryption event, tied to the job
    events = AuditEvent.objects.filter(action="encrypt", request_id=job["id"], outcome="success")
    assert events.count() == 3
    assert AuditEvent.objects.filter(action="job_submit", extra__job=job["id"]).count() == 1
    # one result back, decrypted bit-exactly; downloads are recorded
    first = status["files"][0]["result"]
    download = operator_api.get(f"/api/v1/results/{first['id']}")
    assert download.status_code == 200 and download["Content-Type"] == "image/png"
    data = b"".join(download.streaming_content)
    assert len(data) == first["size"] and first["name"] == "photo0.securepix.png"
    assert (decrypted_pixels(data) == decoded_pixels(files[0][1])).all()
    archive = operator_api.get(f"/api/v1/jobs/{job['id']}/download")
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert names == ["photo0.securepix.png", "photo1.securepix.png", "ct.securepix.png"]
    assert AuditEvent.objects.filter(action="download").count() == 2
    # ciphertext only on disk: no staged input is left, no plaintext was ever kept
    stored = [p for p in _results_in_a_temporary_folder.rglob("*") if p.is_file()]
    assert len(stored) == 3 and all("/results/" in str(p) for p in stored)
    everything = b"".join(p.read_bytes() for p in stored)
    assert files[0][1][16:200] not in everything and PASSWORD.encode() not in everything


def decrypted_pixels(data: bytes) -> Any:
    return decrypt_file(data, PASSWORD).samples


def test_files_of_a_job_are_declared_and_acknowledged_one_by_one(
    operator_api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    ct = dicom_files.packaged("ct_signed")
    files = [("a.dcm", ct), ("b.dcm", ct), ("c.png", photos(1)[0][1])]
    response = submit(
        operator_api,
        files,
        django_capture_on_commit_callbacks,
        declared_domains=json.dumps(["personal", "personal", "personal"]),
        acknowledgment_reasons=json.dumps(["research copy, consent on file", "", ""]),
    )
    status = response.json()
    states = [(f["state"], f.get("decision"), f.get("error", {}).get("code")) for f in status["files"]]
    assert states == [
        ("done", "acknowledge", None),
        ("failed", None, "acknowledgment_required"),
        ("done", "allow", None),
    ]
    assert StoredResult.objects.count() == 2


def test_a_classification_job_stores_no_output(
    operator_api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    response = submit(operator_api, photos(2), django_capture_on_commit_callbacks, kind="classify", password="")
    assert all(f["state"] == "done" and "classification" in f for f in response.json()["files"])
    assert StoredResult.objects.count() == 0


def test_a_zip_archive_is_a_job_of_its_files(operator_api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("series/IM0001.dcm", dicom_files.packaged("ct_signed"))
        archive.writestr("series/IM0002.dcm", dicom_files.packaged("ct_signed"))
        archive.writestr("__MACOSX/series/._IM0001.dcm", b"resource fork")
    form = {"password": PASSWORD, "declared_domain": "medical", "archive": _named("series.zip", buffer.getvalue())}
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post("/api/v1/jobs", form, format="multipart")
    assert response.status_code == 202, response.content
    assert [(f["name"], f["state"]) for f in operator_api.get(response["Location"]).json()["files"]] == [
        ("IM0001.dcm", "done"),
        ("IM0002.dcm", "done"),
    ]


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"declared_domains": "[medical"}, 400, "invalid"),
        ({"declared_domains": '["medical"]'}, 400, "invalid"),
        ({"declared_domain": "pets"}, 400, "invalid"),
        ({"declared_domain": ""}, 400, "invalid"),
        ({"kind": "shred"}, 400, "invalid"),
        ({"password": "short"}, 400, "weak_password"),
        ({"acknowledgment_reasons": "[1, 2]"}, 400, "invalid"),
        ({"archive": "not a zip"}, 400, "bad_input"),
        ({"archive": zip_of({f"{i}.png": b"x" for i in range(5)})}, 413, "too_many_files"),
        ({"archive": zip_of({"bomb.png": b"\0" * 5_000_000})}, 413, "upload_too_large"),
        ({"files": 5}, 413, "too_many_files"),
    ],
)
def test_a_bad_job_is_refused_whole_and_leaves_nothing_behind(
    operator_api: APIClient,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    _results_in_a_temporary_folder: Path,
    form: dict[str, Any],
    status: int,
    code: str,
) -> None:
    settings.SECUREPIX_JOB_MAX_FILES = 4
    settings.SECUREPIX_MAX_UPLOAD_BYTES = 4_000_000
    fields: dict[str, Any] = {"password": PASSWORD, "declared_domain": "personal", **form}
    files = photos(fields.pop("files", 2))
    if "archive" in fields:
        fields["archive"] = _named(
            "a.zip", fields["archive"].encode() if isinstance(fields["archive"], str) else fields["archive"]
        )
        files = []
    fields["files"] = [_named(name, data) for name, data in files]
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post("/api/v1/jobs", fields, format="multipart")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not Job.objects.exists() and not JobFile.objects.exists()
    assert not any(p.is_file() for p in _results_in_a_temporary_folder.rglob("*"))


def test_a_user_has_a_bounded_number_of_running_jobs(operator_api: APIClient, operator: Any, settings: Any) -> None:
    settings.SECUREPIX_JOB_MAX_ACTIVE = 1
    form = {"password": PASSWORD, "declared_domain": "none", "files": [_named(*photos(1)[0])]}
    assert operator_api.post("/api/v1/jobs", form, format="multipart").status_code == 202  # not run: never committed
    again = operator_api.post("/api/v1/jobs", {**form, "files": [_named(*photos(1)[0])]}, format="multipart")
    assert again.status_code == 429 and again.json()["error"]["code"] == "too_many_jobs"
    job = Job.objects.get()
    assert operator_api.post(f"/api/v1/jobs/{job.id}/cancel").json()["state"] == "cancelled"
    assert AuditEvent.objects.filter(action="job_cancel").count() == 1


def test_a_job_its_last_file_closed_after_the_cancel_read_it_is_not_cancelled(
    operator_api: APIClient, operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import timezone

    from core.context import Context

    form = {"password": PASSWORD, "declared_domain": "none", "files": [_named(*photos(1)[0])]}
    assert operator_api.post("/api/v1/jobs", form, format="multipart").status_code == 202  # not run: never committed
    job = Job.objects.get()
    read_before = services.own_job(Context(actor=operator), job.id)
    Job.objects.filter(pk=job.pk).update(finished=timezone.now())  # a worker closed it meanwhile
    monkeypatch.setattr(services, "own_job", lambda context, job_id: read_before)
    cancelled = services.do_cancel_job(context=Context(actor=operator), job_id=job.id)
    assert not cancelled.cancelled and cancelled.finished is not None
    assert not AuditEvent.objects.filter(action="job_cancel").exists()


def test_a_result_the_purge_deletes_while_it_is_asked_for_is_expired_not_an_error(
    operator_api: APIClient, operator: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked just before it expires, its file deleted by the purge before it
    is opened: 410 `expired`, for the result and for the job's ZIP, not a 500."""
    from datetime import timedelta
    from types import SimpleNamespace

    from django.utils import timezone

    from core.context import Context

    job = submit(operator_api, photos(2), django_capture_on_commit_callbacks, declared_domain="none").json()
    stored = StoredResult.objects.get(pk=job["files"][1]["result"]["id"])
    expires = stored.expires
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: expires - timedelta(seconds=1)))
    assert operator_api.get(f"/api/v1/results/{stored.pk}").status_code == 200  # in time

    def checked_in_time_then_purged() -> Any:
        times = iter([expires - timedelta(seconds=1)])
        return SimpleNamespace(now=lambda: next(times, expires + timedelta(seconds=1)))

    services.results_storage().delete(stored.storage_name)  # the purge, between the check and the opening
    for url in (f"/api/v1/results/{stored.pk}", f"/api/v1/jobs/{job['id']}/download"):
        monkeypatch.setattr(services, "timezone", checked_in_time_then_purged())
        gone = operator_api.get(url)
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "expired", url
    monkeypatch.setattr(services, "timezone", timezone)
    StoredResult.objects.filter(pk=stored.pk).update(expires=timezone.now() + timedelta(hours=1))
    with pytest.raises(FileNotFoundError):  # missing before its time: the platform's failure, not the user's
        services.do_download_result(context=Context(actor=operator), result_id=stored.pk)


def test_jobs_and_results_are_their_owners_alone(
    operator_api: APIClient, django_capture_on_commit_callbacks: Any, auditor_api: APIClient
) -> None:
    job = submit(operator_api, photos(1), django_capture_on_commit_callbacks, declared_domain="none").json()
    result = job["files"][0]["result"]["id"]
    other = token_client(make_user("another-operator", "operator"))
    for client in (other, auditor_api):
        for path in (f"/api/v1/jobs/{job['id']}", f"/api/v1/results/{result}", f"/api/v1/jobs/{job['id']}/download"):
            assert client.get(path).status_code == 404, path
        assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 404
    assert APIClient().get(f"/api/v1/results/{result}").status_code == 401
    # an auditor may not submit: refused before the body is even read
    archive = {"archive": _named("a.zip", zip_of({"a.png": photos(1)[0][1]})), "declared_domain": "none"}
    assert auditor_api.post("/api/v1/jobs", archive, format="multipart").status_code == 403


def test_the_jobs_list_counts_every_job_in_one_query_newest_first(
    operator_api: APIClient, django_capture_on_commit_callbacks: Any, django_assert_max_num_queries: Any
) -> None:
    """The list is summaries (the files of one job: GET /api/v1/jobs/ID), and
    its cost does not grow with the number of jobs."""
    submitted = [
        submit(operator_api, photos(count), django_capture_on_commit_callbacks, declared_domain="none").json()["id"]
        for count in (1, 2, 3)
    ]
    with django_assert_max_num_queries(6):  # authentication (4), the jobs, their counts; it was one more a job
        listed = operator_api.get("/api/v1/jobs").json()
    assert [job["id"] for job in listed] == submitted[::-1]
    assert [job["counts"]["done"] for job in listed] == [3, 2, 1]
    assert all(job["state"] == "finished" and job["progress"] == 1.0 and "files" not in job for job in listed)
    other = token_client(make_user("a-newcomer", "operator"))
    assert other.get("/api/v1/jobs").json() == []


def test_a_file_runs_once_however_often_its_task_is_delivered(
    operator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from core.context import Context
    from jobs.contracts import JobRequest

    queued: list[tuple[int, str]] = []  # the task messages: (file, sealed secrets)
    request = JobRequest.from_form({"password": PASSWORD, "declared_domain": "none"}, photos(2), [], services.limits())
    with django_capture_on_commit_callbacks(execute=True):
        job = services.do_submit_job(
            context=Context(actor=operator), request=request, dispatch=lambda *message: queued.append(message)
        )
    (first, token), (second, _) = queued
    assert PASSWORD not in token
    wrong_key = sealing.seal_secrets(sealing.JobSecrets(b"\0" * 32, PASSWORD), django_settings.SECRET_KEY)
    with pytest.raises(ValueError, match="staged input"):  # another job's key opens nothing
        services.run_file(first, wrong_key)
    with pytest.raises(ValueError, match="cannot be opened"):
        services.run_file(first, token[:-6] + "AAAAAA")
    assert services.run_file(first, token) == "done"
    assert services.run_file(first, token) == "already"
    assert AuditEvent.objects.filter(action="encrypt", request_id=str(job.id)).count() == 1
    services.do_cancel_job(context=Context(actor=operator), job_id=job.id)
    assert services.run_file(second, token) == "cancelled"
    assert AuditEvent.objects.filter(action="encrypt", request_id=str(job.id)).count() == 1
    assert Job.objects.get(pk=job.pk).finished is not None


def test_a_passing_shortage_leaves_the_file_queued_for_a_later_delivery(
    operator: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model process away (or every key derivation slot taken): on a worker
    the file stays queued with nothing recorded, and its task comes again;
    the last try (or a job run in the request, under make run) fails the file."""
    from classification import services as classification
    from classification.engine.model_process import ModelProcessUnavailable
    from core.context import Context
    from jobs import tasks
    from jobs.contracts import JobRequest

    queued: list[tuple[int, str]] = []
    request = JobRequest.from_form({"password": PASSWORD, "declared_domain": "none"}, photos(2), [], services.limits())
    with django_capture_on_commit_callbacks(execute=True):
        job = services.do_submit_job(
            context=Context(actor=operator), request=request, dispatch=lambda *message: queued.append(message)
        )
    (first, token), (second, _) = queued
    working = classification.classifier

    def away(**kwargs: float) -> Any:
        raise ModelProcessUnavailable("no model process answers")

    monkeypatch.setattr(classification, "classifier", away)
    events_before = AuditEvent.objects.count()
    with pytest.raises(services.TryLater):
        services.run_file(first, token, may_retry=True)
    assert JobFile.objects.get(pk=first).state == JobFile.State.QUEUED
    assert AuditEvent.objects.count() == events_before  # nothing recorded of the try

    retried: list[dict[str, Any]] = []

    def retry(**options: Any) -> Exception:
        retried.append(options)
        return RuntimeError("retry")

    @contextlib.contextmanager
    def delivered_to_a_worker(retries: int) -> Iterator[None]:
        tasks.run_file.push_request(retries=retries, is_eager=False)
        try:
            yield
        finally:
            tasks.run_file.pop_request()

    monkeypatch.setattr(tasks.run_file, "retry", retry)
    with delivered_to_a_worker(0), pytest.raises(RuntimeError, match="retry"):
        tasks.run_file.run(first, token)
    assert retried and retried[0]["countdown"] == tasks.RETRY_SECONDS
    assert JobFile.objects.get(pk=first).state == JobFile.State.QUEUED

    with delivered_to_a_worker(tasks.MAX_RETRIES):  # the last try
        assert tasks.run_file.run(second, token) == "failed"
    assert JobFile.objects.get(pk=second).outcome["error"]["code"] == "models_unavailable"

    monkeypatch.setattr(classification, "classifier", working)
    assert services.run_file(first, token, may_retry=True) == "done"  # back: the later delivery encrypts it
    assert AuditEvent.objects.filter(action="encrypt", outcome="success", request_id=str(job.id)).count() == 1


def test_files_whose_task_the_queue_lost_fail_and_say_why(
    operator: Any, django_capture_on_commit_callbacks: Any, operator_api: APIClient, settings: Any
) -> None:
    """A file queued under an earlier run of the broker (a restart of Redis,
    which keeps its queue in memory only) lost its task: it fails with
    `queue_lost` and its job ends, instead of waiting for ever; a file done
    stays done, a file queued again since (a retry) and a job queued under
    the current run are left alone, and a file that could not be queued at
    all fails at once."""
    from core.context import Context
    from jobs.contracts import JobRequest

    def submitted(count: int, dispatch: services.Dispatch) -> Job:
        request = JobRequest.from_form(
            {"password": PASSWORD, "declared_domain": "none"}, photos(count), [], services.limits()
        )
        with django_capture_on_commit_callbacks(execute=True):
            return services.do_submit_job(context=Context(actor=operator), request=request, dispatch=dispatch)

    queued: list[tuple[int, str]] = []
    before, after, cancelled = (submitted(n, lambda *message: queued.append(message)) for n in (4, 1, 2))
    JobFile.objects.filter(job__in=[before, cancelled]).update(queue_run="run-before-the-restart")
    JobFile.objects.filter(job=after).update(queue_run="run-now")
    retried = JobFile.objects.get(job=before, index=3)  # its task queued again since, under the current run
    JobFile.objects.filter(pk=retried.pk).update(queue_run="run-now")
    services.do_cancel_job(context=Context(actor=operator), job_id=cancelled.id)
    assert services.run_file(*queued[0]) == "done"
    assert services.fail_lost_files("") == 0  # the broker does not say: nothing is taken for lost
    assert services.fail_lost_files("run-now", lambda: "a later run") == 0  # restarted again: the next sweep
    assert services.fail_lost_files("run-now", lambda: "run-now") == 4
    states = dict(JobFile.objects.filter(job=before).values_list("index", "state"))
    assert states == {0: "done", 1: "failed", 2: "failed", 3: "queued"}
    assert services.run_file(retried.pk, queued[0][1]) == "done"  # the retry's delivery
    status = operator_api.get(f"/api/v1/jobs/{before.id}").json()
    assert status["state"] == "finished" and status["counts"] == {"queued": 0, "done": 2, "failed": 2, "cancelled": 0}
    codes = {file["error"]["code"] for file in status["files"] if file["state"] == "failed"}
    assert codes == {"queue_lost"}
    assert set(JobFile.objects.filter(job=cancelled).values_list("state", flat=True)) == {"cancelled"}
    assert Job.objects.get(pk=cancelled.pk).finished is not None
    assert JobFile.objects.get(job=after).state == "queued" and Job.objects.get(pk=after.pk).finished is None
    assert services.fail_lost_files("run-now", lambda: "run-now") == 0

    def broker_down(file_id: int, sealed: str) -> None:
        raise ConnectionError("the broker does not answer")

    unqueued = submitted(2, broker_down)  # no broker here: the task failed in the request
    outcomes = JobFile.objects.filter(job=unqueued).values_list("state", "outcome")
    assert {(state, outcome["error"]["code"]) for state, outcome in outcomes} == {("failed", "server_error")}
    assert Job.objects.get(pk=unqueued.pk).finished is not None
    settings.SECUREPIX_JOB_BROKER = "redis://127.0.0.1:1/1"  # a broker that does not answer
    assert services.broker_run() == ""
    unqueued = submitted(1, broker_down)
    outcome = JobFile.objects.get(job=unqueued).outcome
    assert outcome["error"]["code"] == "queue_lost" and "could not take" in outcome["error"]["message"]
    assert services.broker_run() == ""  # no broker here (jobs run in the request)


def test_expired_results_are_deleted_and_say_so(
    operator_api: APIClient, django_capture_on_commit_callbacks: Any, _results_in_a_temporary_folder: Path
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    job = submit(operator_api, photos(1), django_capture_on_commit_callbacks, declared_domain="none").json()
    result = job["files"][0]["result"]
    assert services.purge_expired() == 0
    assert services.purge_expired(timezone.now() + timedelta(hours=25)) == 1
    assert not any(p.is_file() for p in _results_in_a_temporary_folder.rglob("*"))
    gone = operator_api.get(f"/api/v1/results/{result['id']}")
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "expired"
    assert operator_api.get(f"/api/v1/jobs/{job['id']}/download").status_code == 410
    assert operator_api.get(f"/api/v1/jobs/{job['id']}").json()["files"][0]["result"]["available"] is False


def test_the_encrypt_page_links_each_result_and_one_zip_instead_of_embedding_them(operator: Any) -> None:
    """A large result made the page tens of megabytes (the image as a data: URL);
    now the page keeps the ciphertext for its owner and links it."""
    import re

    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.test_pages import browser_for, htmx

    client = browser_for(operator)
    big = encode(image_in_mode("RGB", 1024, 1024, seed=3))
    form = {"password": PASSWORD, "password2": PASSWORD, "declared_domain": "none"}
    first = htmx(client, "/encrypt/run", {**form, "image": SimpleUploadedFile("big.png", big)})
    page = first.content.decode()
    assert first.status_code == 200 and len(first.content) < 100_000, len(first.content)
    assert "data:image/png;base64" not in page.split('data-testid="download-encrypted"')[1].split(">")[0]
    job = re.search(r'data-job="([0-9a-f-]+)"', page).group(1)  # type: ignore[union-attr]
    link = re.search(r'href="(/results/[0-9a-f-]+)"', page).group(1)  # type: ignore[union-attr]
    second = htmx(client, "/encrypt/run", {**form, "job": job, "image": SimpleUploadedFile("b.png", photos(1)[0][1])})
    assert second.status_code == 200 and f'data-job="{job}"' in second.content.decode()
    download = client.get(link)
    assert download.status_code == 200 and download["Cache-Control"] == "no-store"
    assert decrypted_pixels(b"".join(download.streaming_content)).shape == (1024, 1024, 3)
    archive = client.get(f"/jobs/{job}/download")
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert names == ["big.securepix.png", "b.securepix.png"]
    assert AuditEvent.objects.filter(action="download").count() == 2
    stranger = browser_for(make_user("someone-else", "operator"))
    assert stranger.get(link).status_code == 404 and stranger.get(f"/jobs/{job}/download").status_code == 404
    taken = htmx(stranger, "/encrypt/run", {**form, "job": job, "image": SimpleUploadedFile("c.png", photos(1)[0][1])})
    assert taken.status_code == 404 and StoredResult.objects.count() == 2


def test_an_audit_export_runs_as_a_job_into_storage_for_its_auditor(
    auditor_api: APIClient, auditor: Any, operator: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    from audit.services import record
    from core.context import Context

    for _ in range(5):
        record("classify", "success", Context(actor=operator))
    monkeypatch.setattr(services, "EXPORT_CHUNK", 100)  # several chunks
    with django_capture_on_commit_callbacks(execute=True):
        started = auditor_api.post("/api/v1/audit/exports?format=jsonl&action=classify")
    assert started.status_code == 202, started.content
    status = auditor_api.get(started["Location"]).json()
    assert status["state"] == "done" and status["events"] == 5 and status["available"]
    assert status["filter"] == {"action": "classify"}
    download = auditor_api.get(started["Location"] + "/download")
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert download["Content-Type"] == "application/x-ndjson" and len(lines) == 5
    assert all(json.loads(line)["action"] == "classify" for line in lines)
    assert status["size"] == sum(len(line) + 1 for line in lines)
    assert AuditEvent.objects.filter(action="export", actor=auditor).count() == 1
    assert AuditEvent.objects.filter(action="download", actor=auditor).count() == 1
    other = token_client(make_user("another-auditor", "auditor"))
    assert other.get(started["Location"]).status_code == 404
    assert other.get(started["Location"] + "/download").status_code == 404
    assert token_client(operator).post("/api/v1/audit/exports").status_code == 403
    assert auditor_api.post("/api/v1/audit/exports?format=xml").status_code == 400


def test_the_jobs_page_shows_progress_and_asks_again_while_a_job_runs(operator: Any) -> None:
    from core.context import Context
    from jobs.contracts import JobRequest
    from tests.test_pages import browser_for

    request = JobRequest.from_form({"password": PASSWORD, "declared_domain": "none"}, photos(3), [], services.limits())
    queued: list[tuple[int, str]] = []
    job = services.do_submit_job(context=Context(actor=operator), request=request, dispatch=lambda *m: queued.append(m))
    client = browser_for(operator)
    page = client.get("/jobs/").content.decode()
    assert 'data-state="running"' in page and "0 of 3" in page and 'hx-trigger="every 2s"' in page
    first = JobFile.objects.filter(job=job).order_by("index").first()
    assert first is not None
    token = sealing.seal_secrets(sealing.JobSecrets(b"\0" * 32, PASSWORD), django_settings.SECRET_KEY)
    with pytest.raises(ValueError):  # not this job's key: nothing is done
        services.run_file(first.pk, token)
    services.do_cancel_job(context=Context(actor=operator), job_id=job.id)
    for file_id in JobFile.objects.filter(job=job).values_list("pk", flat=True):
        services.run_file(file_id, sealing.seal_secrets(sealing.JobSecrets(b"\0" * 32, ""), django_settings.SECRET_KEY))
    fragment = client.get("/jobs/list").content.decode()
    assert 'data-state="cancelled"' in fragment and "3 of 3" in fragment and "3 left out" in fragment
    assert "every 2s" not in fragment  # nothing runs: the page stops asking
    assert client.get("/jobs/").status_code == 200


def test_the_chosen_cipher_is_the_one_each_file_gets(
    operator_api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    from cipher.engine import container

    job = submit(
        operator_api, photos(1), django_capture_on_commit_callbacks, declared_domain="none", cipher="aes-gcm"
    ).json()
    data = b"".join(operator_api.get(f"/api/v1/results/{job['files'][0]['result']['id']}").streaming_content)
    assert container.read_header(data, 10**8).cipher == "aes-gcm"
    assert AuditEvent.objects.get(action="encrypt", request_id=job["id"]).extra["cipher"] == "aes-gcm"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        # a name that starts with NUL, which Python's zipfile cuts to nothing
        ({"archive": zip_of({"X.png": b"x"}).replace(b"X.png", b"\0.png")}, "invalid"),
        ({"archive": zip_of({})}, "invalid"),
        ({"declared_domains": "[" * 100_000}, "invalid"),
        ({"acknowledgment_reasons": '["why\\u0000not", ""]'}, "invalid"),
    ],
)
def test_odd_jobs_are_clear_400s(operator_api: APIClient, fields: dict[str, Any], code: str) -> None:
    form: dict[str, Any] = {"password": PASSWORD, "declared_domain": "none", **fields}
    if "archive" in form:
        form["archive"] = _named("a.zip", form["archive"])
    else:
        form["files"] = [_named(name, data) for name, data in photos(2)]
    response = operator_api.post("/api/v1/jobs", form, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.content
    assert not Job.objects.exists()


def test_more_files_than_a_request_may_carry_is_a_json_413(operator_api: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    form = {"password": PASSWORD, "declared_domain": "none", "files": [_named(*p) for p in photos(4)]}
    response = operator_api.post("/api/v1/jobs", form, format="multipart")
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_files"


def test_one_file_failing_unexpectedly_fails_alone(
    operator_api: APIClient, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cipher import services as cipher_services

    real = cipher_services.do_encrypt
    calls = []

    def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("no room")
        return real(**kwargs)

    monkeypatch.setattr(cipher_services, "do_encrypt", flaky)
    status = submit(operator_api, photos(3), django_capture_on_commit_callbacks, declared_domain="none").json()
    assert [f["state"] for f in status["files"]] == ["failed", "done", "done"]
    assert status["files"][0]["error"]["code"] == "server_error" and status["state"] == "finished"


def test_the_page_adds_only_to_its_own_batch(
    operator: Any, operator_api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.test_pages import browser_for, htmx

    api_job = submit(operator_api, photos(1), django_capture_on_commit_callbacks, declared_domain="none").json()
    form = {"password": PASSWORD, "password2": PASSWORD, "declared_domain": "none", "job": api_job["id"]}
    answer = htmx(
        browser_for(operator), "/encrypt/run", {**form, "image": SimpleUploadedFile("a.png", photos(1)[0][1])}
    )
    assert answer.status_code == 400 and "batch this page started" in answer.content.decode()
    assert Job.objects.get(pk=api_job["id"]).total == 1


def test_a_failed_audit_export_says_so_and_frees_its_place(
    auditor_api: APIClient, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(services, "_write_export", broken)
    with django_capture_on_commit_callbacks(execute=True):
        started = auditor_api.post("/api/v1/audit/exports")
    assert auditor_api.get(started["Location"]).json()["state"] == "failed"
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        again = auditor_api.post("/api/v1/audit/exports")
    assert again.status_code == 202 and auditor_api.get(again["Location"]).json()["state"] == "done"


def test_an_audit_export_whose_task_the_queue_lost_fails_and_frees_its_place(
    auditor_api: APIClient, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """A restart of Redis loses a queued export's task: the sweep fails it with
    `queue_lost`, which frees its owner's one place for the next export; one
    the queue cannot take at all fails at once, with the same code."""
    from jobs import tasks
    from jobs.models import AuditExport

    def start() -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            started = auditor_api.post("/api/v1/audit/exports")
        assert started.status_code == 202
        return started

    monkeypatch.setattr(tasks, "dispatch_export", lambda export_id: None)  # queued; its task never runs
    lost = start()
    assert auditor_api.post("/api/v1/audit/exports").json()["error"]["code"] == "too_many_jobs"
    AuditExport.objects.update(queue_run="run-before-the-restart")
    assert services.fail_lost_files("run-now", lambda: "a later run") == 0  # restarted again: the next sweep
    assert services.fail_lost_files("run-now", lambda: "run-now") == 1
    status = auditor_api.get(lost["Location"]).json()
    assert (status["state"], status["error"], status["available"]) == ("failed", "queue_lost", False)
    waiting = start()  # its place is free again
    AuditExport.objects.filter(pk=waiting.json()["id"]).update(queue_run="run-now")
    assert services.fail_lost_files("run-now", lambda: "run-now") == 0  # queued under the current run: left alone
    AuditExport.objects.filter(pk=waiting.json()["id"]).update(state=AuditExport.State.DONE)

    def broker_down(export_id: str) -> None:
        raise ConnectionError("the broker does not answer")

    monkeypatch.setattr(tasks, "dispatch_export", broker_down)
    settings.SECUREPIX_JOB_BROKER = "redis://127.0.0.1:1/1"  # a broker that does not answer
    unqueued = auditor_api.get(start()["Location"]).json()
    assert (unqueued["state"], unqueued["error"]) == ("failed", "queue_lost")
    settings.SECUREPIX_JOB_BROKER = ""  # no broker: the task ran in the request and failed outside the export
    assert auditor_api.get(start()["Location"]).json()["error"] == "server_error"


@pytest.mark.usefixtures("committed_audit")
@pytest.mark.parametrize("attempt", range(3))
def test_two_exports_asked_for_at_once_by_one_auditor_take_one_place(attempt: int) -> None:
    """Each user has one place for a running export: two requests at once, as
    from two tabs or two servers, cannot both see it free."""

    from audit.services import EventFilter
    from core.context import Context
    from core.errors import SecurePixError
    from jobs.models import AuditExport

    concurrent_writers_need_postgresql()
    auditor = make_user(f"compliance-{attempt}", "auditor", password=None)
    outcomes = twice_at_once(
        lambda: services.do_start_audit_export(
            context=Context(actor=auditor), where=EventFilter(), fmt="jsonl", dispatch=lambda export_id: None
        )
    )
    answers = [o.error_code.code if isinstance(o, SecurePixError) else type(o).__name__ for o in outcomes]
    assert sorted(answers) == ["AuditExport", "too_many_jobs"]
    assert AuditExport.objects.filter(owner=auditor).count() == 1
