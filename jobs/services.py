"""Jobs: many files in one request, each file a task that calls the same
service as the API (do_encrypt, do_classify) and records its own audit event;
the encrypted outputs kept in the results storage for their owner.

A file is processed exactly once, however often its task runs (a worker killed
mid-way, a message delivered twice): `run_file` holds the file's row lock for
the whole of its work and commits the file's state, its audit event and its
stored result together; a task that finds the file done, or locked by a live
worker, does nothing.  A worker that dies releases the lock with its
connection, and the message, acknowledged only after the work
(`task_acks_late`), is delivered again.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any, TypeVar

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.db import connection, transaction
from django.db.models import Count, Model, QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.services import lock_user
from audit import services as audit
from audit.models import Action, Outcome
from audit.services import record, require
from cipher import services as cipher
from cipher.contracts import EncryptRequest
from classification import services as classification
from classification.contracts import ClassifyRequest
from core import naming, permissions
from core.context import Context
from core.errors import ErrorCode, InvalidInput, SecurePixError
from core.forms import Upload

from . import sealing
from .contracts import JobLimits, JobRequest
from .models import AuditExport, Job, JobFile, StoredResult

log = logging.getLogger(__name__)

Dispatch = Callable[[int, str], None]  # (file id, sealed secrets): queue one file's task
Row = TypeVar("Row", bound=Model)


def limits() -> JobLimits:
    return JobLimits(max_files=settings.SECUREPIX_JOB_MAX_FILES, max_bytes=settings.SECUREPIX_MAX_UPLOAD_BYTES)


def results_storage() -> Storage:
    return storages["results"]


def _staged_name(job_file: JobFile) -> str:
    return f"staging/{job_file.job_id}/{job_file.index}"


def _result_name(job_file: JobFile) -> str:
    return f"results/{job_file.job_id}/{job_file.index}.securepix.png"


def _label(job_file: JobFile) -> str:
    return f"{job_file.job_id}/{job_file.index}"


@sensitive_variables("request", "secrets")
def do_submit_job(*, context: Context, request: JobRequest, dispatch: Dispatch) -> Job:
    """Check the whole job, stage its files (sealed), record the submission and
    queue one task per file once the job is committed."""
    permission = permissions.ENCRYPT if request.kind == Job.Kind.ENCRYPT else permissions.CLASSIFY
    require(context, permission, Action.JOB_SUBMIT)
    fields: dict[str, Any] = {
        "extra": {"kind": request.kind, "files": len(request.files)},
        "image_bytes": request.total_bytes,
    }
    try:
        request.check()
    except SecurePixError as error:
        audit.refuse(Action.JOB_SUBMIT, context, error, **fields)
        raise
    secrets = sealing.JobSecrets.new(request.password)
    sealed = sealing.seal_secrets(secrets, settings.SECRET_KEY)
    storage = results_storage()
    with transaction.atomic():
        lock_user(context.actor)  # two submissions at once cannot both take the last place
        active = Job.objects.filter(owner=context.actor, finished__isnull=True, cancelled=False).count()
        too_many = active >= settings.SECUREPIX_JOB_MAX_ACTIVE
        if not too_many:
            job = Job.objects.create(
                owner=context.actor,
                kind=request.kind,
                total=len(request.files),
                client_address=context.client_address,
                cipher=request.cipher,
            )
            job_files = JobFile.objects.bulk_create(
                JobFile(
                    job=job,
                    index=index,
                    name=item.upload.name[:255],
                    declared_domain=item.declared_domain,
                    acknowledgment_reason=item.acknowledgment_reason,
                    input_bytes=len(item.upload.data),
                )
                for index, item in enumerate(request.files)
            )
            staged: list[str] = []
            try:
                for job_file, item in zip(job_files, request.files, strict=True):
                    sealed_input = sealing.seal_input(secrets.key, _label(job_file), item.upload.data)
                    staged.append(storage.save(_staged_name(job_file), ContentFile(sealed_input)))
            except BaseException:
                for name in staged:  # the job is rolled back: so are its staged files
                    storage.delete(name)
                raise
            fields["extra"]["job"] = str(job.id)
            record(Action.JOB_SUBMIT, Outcome.SUCCESS, context, **fields)
            ids = [job_file.pk for job_file in job_files]

            def queue_every_file() -> None:
                JobFile.objects.filter(pk__in=ids).update(queue_run=broker_run())
                for file_id in ids:
                    try:
                        dispatch(file_id, sealed)
                    except Exception:  # one file that cannot be queued must not hold back the others
                        log.exception("file %s of job %s could not be queued", file_id, job.id)
                        # (without a broker, the task ran here and failed outside the file's work)
                        _fail_unqueued(
                            job, [file_id], _NOT_QUEUED if settings.SECUREPIX_JOB_BROKER else _PLATFORM_FAILED
                        )

            transaction.on_commit(queue_every_file)
    if too_many:
        refusal = SecurePixError(
            f"you have {active} jobs running, the most allowed: wait for one to finish, or cancel one",
            code=ErrorCode.TOO_MANY_JOBS,
        )
        raise audit.refuse(Action.JOB_SUBMIT, context, refusal, **fields)
    return job


# Shortages that pass (the model process restarting, every key derivation slot
# taken): a task that meets one leaves its file queued and is delivered again.
PASSING = (ErrorCode.MODELS_UNAVAILABLE, ErrorCode.BUSY)


class TryLater(Exception):
    """The file met a passing shortage; nothing of its work was kept."""


@sensitive_variables("sealed", "secrets")
def run_file(file_id: int, sealed: str, *, may_retry: bool = False) -> str:
    """One file of a job, exactly once (see the module's docstring).  Returns
    what happened: done, failed, cancelled, already (done before) or busy
    (another worker holds it).  With `may_retry`, a passing shortage (PASSING)
    raises TryLater, the file still queued and nothing recorded, instead of
    failing the file."""
    secrets = sealing.open_secrets(sealed, settings.SECRET_KEY)
    storage = results_storage()
    with transaction.atomic():
        job_file = _claim(JobFile.objects.select_related("job", "job__owner"), file_id)
        if isinstance(job_file, str):
            return job_file
        if job_file.state != JobFile.State.QUEUED:
            return "already"
        job = job_file.job
        if job.cancelled:
            _finish(job_file, JobFile.State.CANCELLED, {})
        else:
            # The file's bytes are held by `upload` alone: an encryption lets go of them once decoded.
            upload = Upload(
                job_file.name,
                sealing.open_input(secrets.key, _label(job_file), _read(storage, _staged_name(job_file))),
            )
            context = Context(actor=job.owner, client_address=job.client_address, request_id=str(job.id))
            try:
                with transaction.atomic():  # a savepoint: an unexpected failure takes back the file's work
                    try:
                        if job.kind == Job.Kind.ENCRYPT:
                            _encrypt(job_file, upload, secrets.password, job.cipher, context, storage)
                        else:
                            _classify(job_file, upload.data, context)
                    except SecurePixError as error:  # recorded by the service, kept with the file's state
                        if may_retry and error.error_code in PASSING:
                            raise TryLater(error.message) from error  # the whole transaction taken back
                        _finish(job_file, JobFile.State.FAILED, _failure(error.error_code, error.message))
            except TryLater:
                raise
            except Exception:
                log.exception("file %s of job %s failed", job_file.index, job.id)
                _finish(job_file, JobFile.State.FAILED, _PLATFORM_FAILED)
        _close_job_if_done(job)
        state = job_file.state
        staged = _staged_name(job_file)
        transaction.on_commit(lambda: storage.delete(staged))
    return str(state)


def _unless_held(rows: QuerySet[Row]) -> QuerySet[Row]:
    """`rows`, locked for this transaction as they are read, leaving out any
    that another worker holds (skipped, not waited for, where the database can)."""
    skip_locked = connection.features.has_select_for_update_skip_locked
    return rows.select_for_update(skip_locked=skip_locked, of=("self",))


def _claim(rows: QuerySet[Row], pk: Any) -> Row | str:
    """The row, locked for this transaction; "busy" when another worker holds
    it (_unless_held), "gone" when it is not there."""
    row = _unless_held(rows).filter(pk=pk).first()
    if row is None:
        return "busy" if rows.filter(pk=pk).exists() else "gone"
    return row


def _encrypt(
    job_file: JobFile, upload: Upload, password: str, cipher_name: str, context: Context, storage: Storage
) -> None:
    request = EncryptRequest(
        upload,
        password,
        job_file.declared_domain,
        cipher=cipher_name,
        acknowledge=bool(job_file.acknowledgment_reason),
        acknowledgment_reason=job_file.acknowledgment_reason,
    )
    done = cipher.do_encrypt(context=context, request=request, keep_image=False)
    _store(job_file, done.data, storage)
    job_file.audit_event = done.event
    outcome = {"classification": _summary(done.classification), "decision": done.decision.action}
    _finish(job_file, JobFile.State.DONE, outcome)


@dataclass(frozen=True)
class Kept:
    job: Job
    result: StoredResult


def do_keep_page_result(
    *,
    context: Context,
    job_id: str,
    upload: Upload,
    declared_domain: str,
    cipher_name: str,
    encrypted: cipher.Encrypted,
) -> Kept:
    """Keep what the encrypt page made (do_encrypt already recorded it) as a
    stored result of the page's batch: a job of its own for the first file
    (`job_id` empty), the same job for the next ones, so that the page links
    to each result and to one ZIP of them all instead of embedding them."""
    with transaction.atomic():
        if job_id:
            job = page_batch(context, job_id, lock=True)
        else:
            job = Job.objects.create(
                owner=context.actor,
                kind=Job.Kind.ENCRYPT,
                total=0,
                client_address=context.client_address,
                cipher=cipher_name,
                from_page=True,
                finished=timezone.now(),  # the page runs the files itself: nothing waits for a worker
            )
        job_file = JobFile.objects.create(
            job=job,
            index=job.total,
            name=upload.name[:255],
            declared_domain=declared_domain,
            input_bytes=upload.size,
            state=JobFile.State.DONE,
            finished=timezone.now(),
            audit_event=encrypted.event,
            outcome={"classification": _summary(encrypted.classification), "decision": encrypted.decision.action},
        )
        Job.objects.filter(pk=job.pk).update(total=job.total + 1)
        job.total += 1
        return Kept(job, _store(job_file, encrypted.data, results_storage()))


def page_batch(context: Context, job_id: Any, *, lock: bool = False) -> Job:
    """The encrypt page's own batch, still open to one more file: checked
    before the page encrypts, and again under the job's row lock to keep it."""
    job = _owned(Job.objects.select_for_update() if lock else Job.objects.all(), job_id, context, "job")
    if not job.from_page or job.cancelled:
        raise InvalidInput({"job": ["must be the batch this page started"]})
    if job.total >= settings.SECUREPIX_JOB_MAX_FILES:
        problem = f"a batch may have at most {settings.SECUREPIX_JOB_MAX_FILES} files: start another"
        raise SecurePixError(problem, code=ErrorCode.TOO_MANY_FILES)
    return job


def _store(job_file: JobFile, data: bytes, storage: Storage) -> StoredResult:
    name = _result_name(job_file)
    storage.delete(name)  # a run killed after writing it left it behind: replaced, never renamed
    storage.save(name, ContentFile(data))
    return StoredResult.objects.create(
        owner=job_file.job.owner,
        job_file=job_file,
        name=naming.encrypted_name(job_file.name),
        storage_name=name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        expires=timezone.now() + timedelta(hours=settings.SECUREPIX_RESULT_HOURS),
    )


def _classify(job_file: JobFile, data: bytes, context: Context) -> None:
    done = classification.do_classify(
        context=context, request=ClassifyRequest(Upload(job_file.name, data), job_file.declared_domain)
    )
    job_file.audit_event = done.event
    outcome: dict[str, Any] = {"classification": _summary(done.result)}
    if done.decision is not None:
        outcome["decision"] = done.decision.action
    _finish(job_file, JobFile.State.DONE, outcome)


def _summary(result: Any) -> dict[str, Any]:
    return {
        "domain": result.domain,
        "confidence": round(result.confidence, 4),
        "reasons": result.reasons,
        "model": result.model,
    }


def _finish(job_file: JobFile, state: str, outcome: dict[str, Any]) -> None:
    job_file.state = state
    job_file.outcome = outcome
    job_file.finished = timezone.now()
    job_file.save(update_fields=["state", "outcome", "finished", "audit_event"])


def _close_job_if_done(job: Job) -> None:
    """Under the job's row lock, so that of two workers finishing its last files
    at once, the second sees the first's file done and closes the job."""
    Job.objects.select_for_update().filter(pk=job.pk).first()
    if not JobFile.objects.filter(job=job, state=JobFile.State.QUEUED).exists():
        Job.objects.filter(pk=job.pk, finished__isnull=True).update(finished=timezone.now())


def broker_run() -> str:
    """The job queue's current run, when a restart of its broker empties it:
    Redis's run_id (new at each start of the server) if it keeps nothing on
    disk (no append-only file, no snapshots: scripts/local-redis), so that a
    file queued under an earlier run has lost its task.  "" without a broker
    (jobs run in the request), when the broker keeps its queue across
    restarts or does not say, or when it does not answer at once: then
    nothing is taken for lost."""
    url = settings.SECUREPIX_JOB_BROKER
    if not url:
        return ""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        with redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        ) as server:
            persistence = server.info("persistence")
            snapshots = server.config_get("save").get("save", "unknown")
            run = str(server.info("server").get("run_id", ""))
    except Exception as error:  # down, CONFIG refused (a managed server), a URL it does not take
        log.warning("the job queue's broker does not say whether it keeps its queue: %s", error)
        return ""
    return run if persistence.get("aof_enabled") == 0 and snapshots == "" else ""


def requeued(file_id: int) -> None:
    """A file's task is queued again (a retry): under the broker's current run."""
    JobFile.objects.filter(pk=file_id).update(queue_run=broker_run())


def _failure(code: ErrorCode, message: str) -> dict[str, Any]:
    """A failed file's outcome."""
    return {"error": {"code": code.code, "message": message}}


# What a file whose task will never run says: lost by the queue, or never taken.
_LOST = _failure(
    ErrorCode.QUEUE_LOST, "the job queue restarted before the file's task ran, and lost it: submit it again"
)
_NOT_QUEUED = _failure(ErrorCode.QUEUE_LOST, "the job queue could not take the file's task: submit it again")
_PLATFORM_FAILED = _failure(ErrorCode.SERVER_ERROR, "the platform failed (logged)")


def _fail_unqueued(job: Job, file_ids: list[int], failure: dict[str, Any]) -> int:
    """Files whose task will never run (not queued, or lost by the queue):
    failed with `failure`, or cancelled, for a cancelled job, unless a
    worker holds them or they are no longer queued; the job closes when
    nothing else is queued.  Returns how many."""
    with transaction.atomic():
        taken = list(_unless_held(JobFile.objects.filter(job=job, pk__in=file_ids, state=JobFile.State.QUEUED)))
        job.refresh_from_db(fields=["cancelled"])
        for job_file in taken:
            if job.cancelled:
                _finish(job_file, JobFile.State.CANCELLED, {})
            else:
                _finish(job_file, JobFile.State.FAILED, failure)
        _close_job_if_done(job)
    return len(taken)


def fail_lost_files(current_run: str, run_now: Callable[[], str] = broker_run) -> int:
    """The files and audit exports that the job queue lost (queued under an
    earlier run of the broker: broker_run), failed with `queue_lost` so that
    their jobs end and their owners see why, instead of waiting for ever (a
    lost export would also hold its owner's one place).  A file or export a
    worker holds (its row locked) is left to it, and a file queued again
    since (a retry) is under the current run.  Nothing without a current
    run, or when the broker restarted again meanwhile (`run_now`, asked
    after they are found): the next sweep sees it.  Returns how many files
    were failed or cancelled, and exports failed."""
    if not current_run:
        return 0
    queued = JobFile.objects.filter(state=JobFile.State.QUEUED, job__finished__isnull=True)
    stranded: dict[Any, list[int]] = {}
    for job_id, file_id in queued.exclude(queue_run="").exclude(queue_run=current_run).values_list("job", "pk"):
        stranded.setdefault(job_id, []).append(file_id)
    exports = AuditExport.objects.filter(state=AuditExport.State.QUEUED).exclude(queue_run="")
    stranded_exports = list(exports.exclude(queue_run=current_run).values_list("pk", flat=True))
    if not (stranded or stranded_exports) or run_now() != current_run:
        return 0
    lost = sum(_fail_unqueued(job, stranded[job.pk], _LOST) for job in Job.objects.filter(pk__in=stranded))
    lost_exports = _fail_exports(stranded_exports, ErrorCode.QUEUE_LOST) if stranded_exports else 0
    if lost or lost_exports:
        log.warning(
            "%s queued files and %s audit exports were lost by a restart of the job queue's broker", lost, lost_exports
        )
    return lost + lost_exports


def _read(storage: Storage, name: str) -> bytes:
    with storage.open(name, "rb") as handle:
        return bytes(handle.read())


def _owned(rows: QuerySet[Row], pk: Any, context: Context, noun: str) -> Row:
    """The actor's own row (another user's is as unknown as a missing one)."""
    row = rows.filter(pk=pk, owner=context.actor).first() if context.actor is not None else None
    if row is None:
        raise SecurePixError(f"no such {noun}", code=ErrorCode.NOT_FOUND)
    return row


def own_job(context: Context, job_id: Any) -> Job:
    return _owned(Job.objects.all(), job_id, context, "job")


def do_cancel_job(*, context: Context, job_id: Any) -> Job:
    """Files not yet taken by a worker are left out; those done stay done."""
    job = own_job(context, job_id)
    with transaction.atomic():
        # Conditional: a job that its last file closed meanwhile, or that another request cancelled, is left as it is.
        if Job.objects.filter(pk=job.pk, finished__isnull=True, cancelled=False).update(cancelled=True):
            record(Action.JOB_CANCEL, Outcome.SUCCESS, context, extra={"job": str(job.id)})
    job.refresh_from_db()
    return job


@dataclass(frozen=True)
class Download:
    handle: IO[bytes]
    name: str
    size: int


def do_download_result(*, context: Context, result_id: Any) -> Download:
    """One stored result, to its owner only; recorded."""
    result = _owned(StoredResult.objects.select_related("job_file"), result_id, context, "result")
    if result.deleted is not None or result.expires <= timezone.now():
        raise _expired(result)
    handle = _open_unless_purged(results_storage(), result)
    extra = {"job": str(result.job_file.job_id), "result": str(result.pk)}
    record(Action.DOWNLOAD, Outcome.SUCCESS, context, encrypted_sha256=result.sha256, extra=extra)
    return Download(handle, result.name, result.size)


def _expired(result: StoredResult) -> SecurePixError:
    return SecurePixError(f"the result expired at {result.expires:%Y-%m-%d %H:%M} UTC", code=ErrorCode.EXPIRED)


def _open_unless_purged(storage: Storage, result: StoredResult) -> IO[bytes]:
    """The result's file; EXPIRED when it expired and the purge deleted it since
    it was checked (a file missing before its time is the platform's failure)."""
    try:
        return storage.open(result.storage_name, "rb")
    except FileNotFoundError:
        if result.expires <= timezone.now():
            raise _expired(result) from None
        raise


def do_download_job(*, context: Context, job_id: Any) -> Download:
    """Every stored result of a job, in one ZIP; recorded."""
    job = own_job(context, job_id)
    now = timezone.now()
    results = list(
        StoredResult.objects.filter(job_file__job=job, deleted__isnull=True, expires__gt=now).select_related("job_file")
    )
    if not results:
        if StoredResult.objects.filter(job_file__job=job).exists():
            raise SecurePixError("the job's results expired and were deleted", code=ErrorCode.EXPIRED)
        raise SecurePixError("this job has no stored result to download", code=ErrorCode.NOT_FOUND)
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 (the response closes it)
    storage = results_storage()
    names: set[str] = set()
    try:
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:  # PNGs: compressing gains nothing
            for result in sorted(results, key=lambda r: r.job_file.index):
                name = result.name if result.name not in names else f"{result.job_file.index}-{result.name}"
                names.add(name)
                with _open_unless_purged(storage, result) as source, archive.open(name, "w") as target:
                    while chunk := source.read(1024 * 1024):
                        target.write(chunk)
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)
    record(Action.DOWNLOAD, Outcome.SUCCESS, context, extra={"job": str(job.id), "results": len(results)})
    return Download(spool, f"securepix-job-{str(job.id)[:8]}.zip", size)


# Audit exports as jobs ------------------------------------------------------

EXPORT_CHUNK = 1024 * 1024  # bytes written to the storage at a time


def do_start_audit_export(
    *, context: Context, where: audit.EventFilter, fmt: str, dispatch: Callable[[str], None]
) -> AuditExport:
    """Queue an export of the filtered events (recorded when it runs, like the
    streamed export); one running export per user."""
    require(context, permissions.EXPORT, Action.EXPORT)
    if fmt not in audit.EXPORT_FORMATS:
        raise InvalidInput({"format": [f"unknown format {fmt!r}; choose one of {', '.join(audit.EXPORT_FORMATS)}"]})
    with transaction.atomic():
        lock_user(context.actor)  # two requests at once cannot both take the one place
        running = AuditExport.objects.filter(owner=context.actor, state=AuditExport.State.QUEUED).exists()
        if not running:
            made = AuditExport.objects.create(
                owner=context.actor, format=fmt, filter=where.as_dict(), client_address=context.client_address
            )
            transaction.on_commit(lambda: _queue_export(made, dispatch))
    if running:
        error = SecurePixError("one of your audit exports is still running: wait for it", code=ErrorCode.TOO_MANY_JOBS)
        raise audit.refuse(Action.EXPORT, context, error)
    return made


def _queue_export(made: AuditExport, dispatch: Callable[[str], None]) -> None:
    AuditExport.objects.filter(pk=made.pk).update(queue_run=broker_run())
    try:
        dispatch(str(made.pk))
    except Exception:  # failed, not left queued: it would hold its owner's one place for ever
        log.exception("audit export %s could not be queued", made.pk)
        # (without a broker, the task ran here and failed outside the export's work)
        code = ErrorCode.QUEUE_LOST if settings.SECUREPIX_JOB_BROKER else ErrorCode.SERVER_ERROR
        _fail_exports([made.pk], code)


def _fail_exports(export_ids: list[Any], code: ErrorCode) -> int:
    """Exports whose task will never run (not queued, or lost by the queue),
    failed with `code`, unless a worker holds them or they are no longer
    queued.  Returns how many."""
    with transaction.atomic():
        taken = list(_unless_held(AuditExport.objects.filter(pk__in=export_ids, state=AuditExport.State.QUEUED)))
        for made in taken:
            _mark_failed(made, code.code)
    return len(taken)


def _mark_failed(made: AuditExport, error: str) -> None:
    made.state = AuditExport.State.FAILED
    made.error = error
    made.finished = timezone.now()
    made.save(update_fields=["state", "error", "finished"])


def run_audit_export(export_id: str) -> str:
    """Write one export to the results storage in chunks, at most once."""
    storage = results_storage()
    with transaction.atomic():
        made = _claim(AuditExport.objects.select_related("owner"), export_id)
        if isinstance(made, str):
            return made
        if made.state != AuditExport.State.QUEUED:
            return "already"
        try:
            with transaction.atomic():  # a savepoint: a failure leaves a failed export, not a stuck one
                _write_export(made, storage)
        except Exception as error:
            log.exception("audit export %s failed", made.pk)
            _mark_failed(made, type(error).__name__)
            return "failed"
    return "done"


def _write_export(made: AuditExport, storage: Storage) -> None:
    context = Context(actor=made.owner, client_address=made.client_address)
    where = audit.EventFilter.from_dict(made.filter)
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        buffered: list[bytes] = []
        pending = 0
        for line in audit.export(where, made.format, context):
            data = line.encode()
            buffered.append(data)
            pending += len(data)
            made.events += 1
            if pending >= EXPORT_CHUNK:
                _write(spool, digest, buffered)
                buffered, pending = [], 0
        _write(spool, digest, buffered)
        made.size = spool.tell()
        spool.seek(0)
        name = f"exports/{made.pk}.{made.format}"
        storage.delete(name)
        storage.save(name, File(spool))
    if made.format == "csv":
        made.events = max(made.events - 1, 0)  # the header line
    made.storage_name = name
    made.sha256 = digest.hexdigest()
    made.state = AuditExport.State.DONE
    made.finished = timezone.now()
    made.expires = made.finished + timedelta(hours=settings.SECUREPIX_RESULT_HOURS)
    made.save()


def _write(spool: IO[bytes], digest: Any, pieces: list[bytes]) -> None:
    chunk = b"".join(pieces)
    digest.update(chunk)
    spool.write(chunk)


def own_export(context: Context, export_id: Any) -> AuditExport:
    return _owned(AuditExport.objects.all(), export_id, context, "export")


def _export_kept(made: AuditExport) -> bool:
    """Neither deleted nor past its expiry."""
    return made.deleted is None and made.expires is not None and made.expires > timezone.now()


def export_status(made: AuditExport) -> dict[str, Any]:
    return {
        "id": str(made.pk),
        "state": made.state,
        "format": made.format,
        "filter": made.filter,
        "created": made.created.isoformat(),
        "finished": made.finished.isoformat() if made.finished else None,
        "events": made.events,
        "size": made.size,
        "sha256": made.sha256,
        "expires": made.expires.isoformat() if made.expires else None,
        "available": made.state == AuditExport.State.DONE and _export_kept(made),
        "error": made.error,
    }


def do_download_export(*, context: Context, export_id: Any) -> Download:
    made = own_export(context, export_id)
    if made.state != AuditExport.State.DONE:
        raise SecurePixError("the export is not written yet: check its state", code=ErrorCode.NOT_FOUND)
    if not _export_kept(made):
        raise SecurePixError("the export expired and was deleted", code=ErrorCode.EXPIRED)
    handle = results_storage().open(made.storage_name, "rb")
    record(Action.DOWNLOAD, Outcome.SUCCESS, context, extra={"export": str(made.pk), "sha256": made.sha256})
    return Download(handle, f"securepix-audit-{str(made.pk)[:8]}.{made.format}", made.size)


def purge_expired(now: Any = None) -> int:
    """Delete expired results and audit exports (the rows stay, marked
    deleted) and the staged inputs of finished jobs; returns how many results
    and exports were deleted."""
    now = now or timezone.now()
    storage = results_storage()
    deleted = 0
    kept: tuple[type[StoredResult] | type[AuditExport], ...] = (StoredResult, AuditExport)
    for model in kept:
        for name, pk in model.objects.filter(expires__lte=now, deleted__isnull=True).values_list("storage_name", "pk"):
            storage.delete(name)
            model.objects.filter(pk=pk).update(deleted=now)
            deleted += 1
    for job_file in (
        JobFile.objects.filter(job__finished__isnull=False, job__finished__lte=now, job__from_page=False)
        .exclude(state=JobFile.State.QUEUED)
        .only("job_id", "index")[:10_000]
    ):
        storage.delete(_staged_name(job_file))
    if deleted:
        log.info("deleted %d expired results", deleted)
    return deleted


def job_summaries(jobs: list[Job]) -> list[dict[str, Any]]:
    """Summaries of several jobs, their files counted in one query."""
    counts: dict[Any, dict[str, int]] = {job.pk: dict.fromkeys(JobFile.State.values, 0) for job in jobs}
    for row in JobFile.objects.filter(job__in=jobs).values("job_id", "state").annotate(n=Count("id")):
        counts[row["job_id"]][row["state"]] = row["n"]
    return [_summary_of(job, counts[job.pk]) for job in jobs]


def job_summary(job: Job, files: list[JobFile]) -> dict[str, Any]:
    """A job's state, progress and counts per file state, from its loaded files."""
    counts = dict.fromkeys(JobFile.State.values, 0)
    for job_file in files:
        counts[job_file.state] += 1
    return _summary_of(job, counts)


def _summary_of(job: Job, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "kind": job.kind,
        "state": "cancelled" if job.cancelled else ("finished" if job.finished else "running"),
        "created": job.created.isoformat(),
        "finished": job.finished.isoformat() if job.finished else None,
        "total": job.total,
        "counts": counts,
        "progress": round((job.total - counts["queued"]) / job.total, 4) if job.total else 1.0,
    }


def job_status(job: Job) -> dict[str, Any]:
    """The summary and every file's state and outcome."""
    files = list(job.files.select_related("result").order_by("index"))
    return {**job_summary(job, files), "files": [_file_status(job_file) for job_file in files]}


def _file_status(job_file: JobFile) -> dict[str, Any]:
    status: dict[str, Any] = {
        "index": job_file.index,
        "name": job_file.name,
        "declared_domain": job_file.declared_domain,
        "state": job_file.state,
        **job_file.outcome,
    }
    result = getattr(job_file, "result", None)
    if result is not None:
        status["result"] = {
            "id": str(result.id),
            "name": result.name,
            "size": result.size,
            "sha256": result.sha256,
            "expires": result.expires.isoformat(),
            "available": result.deleted is None and result.expires > timezone.now(),
        }
    return status
