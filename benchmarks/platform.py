"""The platform as programs meet it: REST API round trips and the audit chain.

    python -m benchmarks.platform [--runs N] [--events N]

Runs against a throw-away SQLite database (or DATABASE_URL when set) in a
fresh process.  Times are medians of whole API requests through Django's test
client (no network): encrypt (classification, Argon2id, cipher, audit event),
decrypt, classify; then appending audit events, verifying the chain and
exporting it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time

from .timing import median_ms


def measure(runs: int, events: int) -> dict[str, object]:
    import django

    workdir = tempfile.mkdtemp(prefix="securepix-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securepix_site.settings")
    os.environ["SECUREPIX_DATA_DIR"] = workdir
    os.environ["SECUREPIX_ALLOWED_HOSTS"] = "testserver"  # Django's test client
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    django.setup()
    from django.core.management import call_command
    from PIL import Image
    from rest_framework.test import APIClient
    from skimage import data

    from accounts.models import ApiToken
    from accounts.roles import ensure_groups
    from audit.log import wait_until_sequenced
    from audit.models import AuditEvent
    from audit.services import EventFilter, check_chain, export, record
    from core.context import Context

    call_command("migrate", verbosity=0)
    ensure_groups()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("bench-operator", password="bench-account-password")
    user.groups.add(Group.objects.get(name="operator"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user)[1]}")
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")
    photo = buffer.getvalue()

    def upload(payload: bytes, name: str) -> io.BytesIO:
        handle = io.BytesIO(payload)
        handle.name = name
        return handle

    def encrypt() -> bytes:
        form = {"image": upload(photo, "a.png"), "password": "bench password", "declared_domain": "personal"}
        response = client.post("/api/v1/encrypt", form, format="multipart")
        assert response.status_code == 200, response.content
        return bytes(response.content)

    encrypt()  # loads the classifier
    encrypted = encrypt()
    result: dict[str, object] = {"image": "scikit-image astronaut, 512x512 RGB PNG", "runs": runs}
    result["api_encrypt_ms"] = median_ms(encrypt, runs)
    result["api_decrypt_ms"] = median_ms(
        lambda: client.post(
            "/api/v1/decrypt", {"file": upload(encrypted, "a.png"), "password": "bench password"}, format="multipart"
        ),
        runs,
    )
    result["api_classify_ms"] = median_ms(
        lambda: client.post("/api/v1/classify", {"image": upload(photo, "a.png")}, format="multipart"), runs
    )
    started = time.perf_counter()
    for i in range(events):
        last = record("classify", "success", Context(actor=user, client_address="10.0.0.1"), extra={"i": i})
    result["audit_append_ms_each"] = round((time.perf_counter() - started) * 1000 / events, 2)
    wait_until_sequenced([last], timeout=120)  # numbered after commit, in batches: verify them all
    total = AuditEvent.objects.count()
    started = time.perf_counter()
    verified = check_chain()
    result["verify_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["verified_events"] = verified.events
    assert verified.intact and verified.events == total
    started = time.perf_counter()
    size = sum(len(line) for line in export(EventFilter(), "jsonl", Context(actor=user)))
    result["export_jsonl_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["export_jsonl_bytes"] = size
    result["database"] = django.db.connection.vendor
    result.update(page_weight(user))
    return result


def page_weight(user: object) -> dict[str, object]:
    """Bytes of the encrypt page's answer for a 4096x4096 RGB photo-like image
    (the result is linked, not embedded), and the time of the request."""
    import numpy as np
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from PIL import Image

    rng = np.random.default_rng(4096)
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).resize((4096, 4096)))
    pixels = np.clip(base.astype(np.int16) + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    password = "bench page password 2026"
    form = {"password": password, "password2": password, "declared_domain": "none"}
    started = time.perf_counter()
    answer = client.post(
        "/encrypt/run", {**form, "image": SimpleUploadedFile("big.png", buffer.getvalue())}, HTTP_HX_REQUEST="true"
    )
    took = time.perf_counter() - started
    assert answer.status_code == 200, answer.content[:300]
    return {
        "page_4096_input_bytes": len(buffer.getvalue()),
        "page_4096_fragment_bytes": len(answer.content),
        "page_4096_request_ms": round(took * 1000),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--events", type=int, default=10_000)
    arguments = parser.parse_args()
    print(json.dumps(measure(arguments.runs, arguments.events)))
