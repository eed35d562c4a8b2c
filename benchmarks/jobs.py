"""A job of many DICOM files on the production stack (`make serve`).

    python -m benchmarks.jobs [--url URL] [--files N] [--kill-halfway]

Submits one encryption job of N copies of a CT slice (pydicom's CT_small,
128x128, 16-bit) as a ZIP archive through the API, polls it until it is
finished and reports files per second.  With --kill-halfway it kills the
Celery pool process working on the job (SIGKILL) when half of the files are
done, and checks that the job still completes with every file encrypted
exactly once (one encryption event and one stored result per file).

Then, in this process, where a file's time goes: the mean of each stage on
the same slice (classification, Argon2id key derivation, the cipher, writing
the result to storage, appending the audit event), as shares of their sum.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from .load import Client, multipart, operator_token, workers


def ct_slice() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()


def archive_of(data: bytes, count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(count):
            archive.writestr(f"series/IM{index:05d}.dcm", data)
    return buffer.getvalue()


def get_json(url: str, token: str, path: str) -> dict[str, object]:
    import urllib.request

    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def run_job(url: str, token: str, files: int, kill_halfway: bool) -> dict[str, object]:
    body, content_type = multipart(
        {"password": "job benchmark password 1", "declared_domain": "medical"},
        {"archive": ("series.zip", archive_of(ct_slice(), files))},
    )
    began = time.perf_counter()
    status, answer = Client(url, token).post("/api/v1/jobs", body, content_type)
    if status != 202:
        raise SystemExit(f"the job was refused: {status} {answer[:300]!r}")
    job = json.loads(answer)["id"]
    submitted = time.perf_counter() - began
    killed: list[int] = []
    while True:
        state = get_json(url, token, f"/api/v1/jobs/{job}")
        counts = dict(state["counts"])  # type: ignore[call-overload]
        if kill_halfway and not killed and counts["done"] >= files // 2:
            killed = [worker["pid"] for worker in workers() if worker["kind"] == "job"]
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
        if state["state"] != "running":
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - began
    files_done = [f for f in state["files"] if f["state"] == "done"]  # type: ignore[attr-defined]
    return {
        "job": job,
        "files": files,
        "submit_seconds": round(submitted, 1),
        "seconds": round(elapsed, 1),
        "files_per_second": round(len(files_done) / elapsed, 2),
        "counts": counts,
        "killed_pool_processes": killed,
        **exactly_once(job),
    }


def exactly_once(job: str) -> dict[str, object]:
    from audit.models import AuditEvent
    from jobs.models import StoredResult

    events = AuditEvent.objects.filter(action="encrypt", outcome="success", request_id=job)
    return {
        "encrypt_events": events.count(),
        "distinct_outputs": events.values("encrypted_sha256").distinct().count(),
        "stored_results": StoredResult.objects.filter(job_file__job_id=job).count(),
    }


def stage_profile(runs: int) -> dict[str, object]:
    """Mean milliseconds per stage on one CT slice, in this process."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import FileSystemStorage
    from django.db import transaction

    from audit.services import record
    from cipher.engine import kdf
    from cipher.engine.envelope import encrypt_decoded
    from classification import services as classification
    from core.context import Context

    data = ct_slice()
    upload = classification.parse(data)
    classification.classifier().classify(upload)  # warm
    params = kdf.KdfParams()
    storage = FileSystemStorage(location=tempfile.mkdtemp(prefix="securepix-bench-results-"))
    encrypted = encrypt_decoded(upload.decoded, "job benchmark password 1")
    times: dict[str, list[float]] = {"classification": [], "kdf": [], "cipher": [], "storage": [], "audit": []}
    for index in range(runs):
        began = time.perf_counter()
        classification.classifier().classify(classification.parse(data))
        times["classification"].append(time.perf_counter() - began)
        began = time.perf_counter()
        kdf.derive_keys("job benchmark password 1", kdf.new_salt(), params)
        times["kdf"].append(time.perf_counter() - began)
        began = time.perf_counter()
        encrypt_decoded(upload.decoded, "job benchmark password 1")
        times["cipher"].append(time.perf_counter() - began - times["kdf"][-1])  # the whole encryption less its KDF
        began = time.perf_counter()
        storage.save(f"{index}.png", ContentFile(encrypted.data))
        times["storage"].append(time.perf_counter() - began)
        with transaction.atomic():  # the event's insert, rolled back: nothing lands in the real log
            began = time.perf_counter()
            record("encrypt", "success", Context(), username="benchmark")
            times["audit"].append(time.perf_counter() - began)
            transaction.set_rollback(True)
    means = {stage: statistics.mean(values) * 1000 for stage, values in times.items()}
    total = sum(means.values())
    return {
        "runs": runs,
        "mean_ms": {stage: round(ms, 1) for stage, ms in means.items()},
        "share": {stage: round(ms / total, 3) for stage, ms in means.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--kill-halfway", action="store_true")
    parser.add_argument("--profile-runs", type=int, default=20)
    arguments = parser.parse_args()
    token = operator_token()  # sets up Django on the stack's database
    report = {"job": run_job(arguments.url, token, arguments.files, arguments.kill_halfway)}
    report["stages"] = stage_profile(arguments.profile_runs)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
