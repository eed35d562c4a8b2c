"""The model process (`securepix model-process`): a real process holding the
models, workers that classify through it without TensorFlow, the same
results as in-process, and what it does with strangers, garbage and restarts."""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Client, Connection
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings
from PIL import Image

from classification import services
from classification.config import model_process_key
from classification.engine import model_process
from classification.engine.classifier import DomainClassifier
from classification.engine.model_process import ModelProcessUnavailable, RemoteVision
from core.errors import ErrorCode, SecurePixError
from imaging import imagefile
from tests.images import encode

ROOT = Path(__file__).resolve().parent.parent


def _start(socket: Path) -> subprocess.Popen[str]:
    # The same secret key as this (test) process's workers, as on one machine.
    env = {**os.environ, "SECUREPIX_SECRET_KEY": settings.SECRET_KEY, "SECUREPIX_CLASSIFIER": "efficientnet-lite0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "securepix_site.cli", "model-process", "--socket", str(socket)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # printed once the models are warm and the socket listens
    assert line.startswith("model process efficientnet-lite0 ready"), line
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    assert process.wait(30) == 0  # TERM ends it cleanly


@pytest.fixture(scope="module")
def socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("models") / "models.sock"
    process = _start(path)
    yield path
    _stop(process)
    assert not path.exists()  # the socket file goes with the process


@pytest.fixture(scope="module")
def key() -> bytes:
    return model_process_key()


@pytest.fixture(scope="module")
def local() -> DomainClassifier:
    return DomainClassifier("efficientnet-lite0")


def _pictures() -> list[np.ndarray]:
    from skimage import data

    return [data.chelsea(), data.astronaut(), data.page(), data.coffee()]


def test_the_socket_is_the_owners_alone(socket: Path) -> None:
    assert socket.stat().st_mode & 0o777 == 0o600


def test_a_worker_classifies_through_it_as_it_would_itself(socket: Path, key: bytes, local: DomainClassifier) -> None:
    remote = DomainClassifier("efficientnet-lite0", vision=RemoteVision(socket, key))
    assert remote.model == "efficientnet-lite0"
    for picture in _pictures():
        upload = imagefile.parse(encode(Image.fromarray(picture)), 10**8)
        here, there = local.classify(upload), remote.classify(upload)
        assert there.domain == here.domain and there.reasons == here.reasons and there.top5 == here.top5
        for domain, score in here.scores.items():
            assert there.scores[domain] == pytest.approx(score, abs=1e-6)


def test_the_worker_process_never_loads_tensorflow(socket: Path) -> None:
    script = (
        "import django, sys; django.setup()\n"
        "from classification import services\n"
        "from skimage import data\n"
        "import io; from PIL import Image\n"
        "out = io.BytesIO(); Image.fromarray(data.astronaut()).save(out, 'PNG')\n"
        "result = services.classifier().classify(services.parse(out.getvalue()))\n"
        "print(result.domain, '1 face' in result.reasons, 'tensorflow' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "securepix_site.settings",
        "SECUREPIX_SECRET_KEY": settings.SECRET_KEY,
        "SECUREPIX_MODEL_PROCESS": str(socket),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["personal", "True", "False"]


def test_threads_share_it(socket: Path, key: bytes) -> None:
    vision = RemoteVision(socket, key)
    picture = _pictures()[0]
    expected = vision.look(picture).probabilities
    results: list[np.ndarray] = []

    def look() -> None:
        results.append(vision.look(picture).probabilities)

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4 and all(np.allclose(found, expected, atol=1e-6) for found in results)


def test_a_process_without_the_key_is_refused_and_the_rest_carry_on(socket: Path, key: bytes) -> None:
    with pytest.raises(ModelProcessUnavailable, match="does not share this worker's secret key"):
        RemoteVision(socket, b"another key")
    assert RemoteVision(socket, key).name == "efficientnet-lite0"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"",
        b"X",
        b"Nextra",
        b"L",
        b"Lnot an array",
        b"L" + b"\x93NUMPY\x01\x00" + b"\xff" * 40,
    ],
)
def test_garbage_gets_an_error_and_the_connection_stays_up(socket: Path, key: bytes, request_bytes: bytes) -> None:
    with Client(str(socket), family="AF_UNIX", authkey=key) as connection:
        connection.send_bytes(request_bytes)
        assert "error" in json.loads(connection.recv_bytes())
        connection.send_bytes(model_process.NAME)
        assert json.loads(connection.recv_bytes()) == {"model": "efficientnet-lite0"}


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((8, 8), np.uint8),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((8, 8, 3), np.float32),
        np.zeros((0, 8, 3), np.uint8),
        np.zeros((model_process.MAX_SIDE + 1, 1, 3), np.uint8),
        np.array([{"a": 1}], dtype=object),
    ],
)
def test_what_is_not_a_rendering_is_refused(socket: Path, key: bytes, array: np.ndarray) -> None:
    body = io.BytesIO()
    np.save(body, array, allow_pickle=True)
    with Client(str(socket), family="AF_UNIX", authkey=key) as connection:
        connection.send_bytes(model_process.LOOK + body.getvalue())
        assert "error" in json.loads(connection.recv_bytes())


def test_a_request_larger_than_any_rendering_closes_that_connection_only(socket: Path, key: bytes) -> None:
    # refused on its length, before its bytes are read
    with Client(str(socket), family="AF_UNIX", authkey=key) as connection, pytest.raises((EOFError, OSError)):
        connection.send_bytes(model_process.LOOK + bytes(model_process.MAX_REQUEST))
        connection.recv_bytes()
    assert RemoteVision(socket, key).name == "efficientnet-lite0"


def test_a_peer_that_says_nothing_holds_up_no_one(socket: Path, key: bytes) -> None:
    import socket as sockets
    import time

    silent = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    silent.connect(str(socket))  # connected, and never answers the challenge
    try:
        started = time.monotonic()
        assert RemoteVision(socket, key, wait=0).name == "efficientnet-lite0"
        assert time.monotonic() - started < model_process.HANDSHAKE_SECONDS / 2
    finally:
        silent.close()


def test_a_model_process_that_accepts_nothing_is_reported_within_the_limit(tmp_path: Path, key: bytes) -> None:
    """As a stopped (SIGSTOP) or frozen model process: its socket listens, nobody answers."""
    import socket as sockets
    import time

    path = tmp_path / "frozen.sock"
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as frozen:
        frozen.bind(str(path))
        frozen.listen(1)
        vision = object.__new__(RemoteVision)  # as a worker that was connected before it froze
        vision.address, vision._authkey, vision._timeout = path, key, 60.0
        vision._local = threading.local()
        started = time.monotonic()
        assert not vision.answers(timeout=1.0)
        assert time.monotonic() - started < 10.0  # not the connection's own 60 s


def test_workers_connecting_at_once_wait_for_a_full_backlog_within_the_limit(tmp_path: Path, key: bytes) -> None:
    """A Unix socket with a time limit answers a full backlog with EAGAIN at
    once; the workers that connect together (threads of one worker, or many
    workers) try again until the process accepts them."""
    import socket as sockets
    import time

    path = tmp_path / "busy.sock"
    accepted: list[Connection] = []
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as busy:
        busy.bind(str(path))
        busy.listen(1)

        def accept_late() -> None:
            time.sleep(0.5)  # busy: the backlog fills meanwhile
            for _ in range(6):
                raw, _ = busy.accept()
                connection = Connection(raw.detach())
                model_process._handshake(connection, key, serving=True)
                accepted.append(connection)

        server = threading.Thread(target=accept_late)
        server.start()
        connected: list[Connection] = []
        failures: list[BaseException] = []

        def connect() -> None:
            try:
                connected.append(model_process._connect(path, key, seconds=10))
            except BaseException as exc:
                failures.append(exc)

        clients = [threading.Thread(target=connect) for _ in range(6)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(30)
        server.join(30)
    for connection in connected + accepted:
        connection.close()
    assert not failures and len(connected) == 6


def test_a_connection_made_late_has_only_the_rest_of_the_limit_for_its_handshake(tmp_path: Path, key: bytes) -> None:
    import socket as sockets
    import time

    path = tmp_path / "late.sock"
    queued: list[sockets.socket] = []
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as late:
        late.bind(str(path))
        late.listen(0)
        while True:  # fill the backlog, as other workers would
            waiting = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
            waiting.setblocking(False)
            try:
                waiting.connect(str(path))
            except BlockingIOError:
                waiting.close()
                break
            queued.append(waiting)
        accepted: list[sockets.socket] = []
        server = threading.Timer(1.6, lambda: accepted.append(late.accept()[0]))  # room at last; no answer
        server.start()
        started = time.monotonic()
        with pytest.raises(OSError):
            model_process._connect(path, key, seconds=2.0)
        took = time.monotonic() - started
        server.join()
    for opened in queued + accepted:
        opened.close()
    assert took < 3.0  # a handshake given the whole limit again would end at 3.6 s


def test_a_malformed_handshake_leaves_the_process_serving(socket: Path, key: bytes) -> None:
    import socket as sockets

    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as raw:
        raw.connect(str(socket))
        raw.recv(64)  # the challenge
        raw.sendall(struct.pack("!i", 1000) + bytes(1000))  # an answer longer than any digest
        with contextlib.suppress(ConnectionResetError):  # dropped, with the answer unread
            assert raw.recv(64) == b""  # dropped
    assert RemoteVision(socket, key, wait=0).name == "efficientnet-lite0"


def test_a_header_claiming_a_huge_array_is_refused_before_any_allocation(socket: Path, key: bytes) -> None:
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3000000000, 3, 3), }"
    header += " " * (63 - len(header) % 64) + "\n"
    body = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(64)
    with Client(str(socket), family="AF_UNIX", authkey=key) as connection:
        connection.send_bytes(model_process.LOOK + body)
        reply = json.loads(connection.recv_bytes())
    assert reply["refused"] and "not an RGB rendering" in reply["error"]


def test_a_thin_strip_is_seen_like_any_picture(socket: Path, key: bytes, local: DomainClassifier) -> None:
    strip = np.random.default_rng(5).integers(0, 256, (1, 2047, 3), dtype=np.uint8)
    assert np.allclose(RemoteVision(socket, key).look(strip).probabilities, local.look(strip).probabilities, atol=1e-6)


def test_a_second_model_process_on_the_same_socket_is_refused(socket: Path) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "securepix_site.cli", "model-process", "--socket", str(socket), "--replicas", "1"],
        cwd=ROOT,
        env={**os.environ, "SECUREPIX_SECRET_KEY": settings.SECRET_KEY},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2 and "already serving" in second.stderr
    assert socket.exists()  # the first keeps its socket


def test_it_never_replaces_a_file_that_is_not_a_socket(tmp_path: Path, key: bytes) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    with pytest.raises(SecurePixError, match="not a socket"):
        model_process.serve(precious, key, [])
    assert precious.read_text() == "keep me"


def test_no_model_process_is_a_clear_503_error(tmp_path: Path, key: bytes) -> None:
    with pytest.raises(ModelProcessUnavailable, match="no model process answers") as raised:
        RemoteVision(tmp_path / "nothing.sock", key, wait=0.5)
    assert raised.value.error_code is ErrorCode.MODELS_UNAVAILABLE
    assert ErrorCode.MODELS_UNAVAILABLE.status == 503


def test_a_restarted_model_process_is_found_again(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "models.sock"
    process = _start(path)
    vision = RemoteVision(path, key)
    picture = _pictures()[0]
    before = vision.look(picture).probabilities
    _stop(process)
    with pytest.raises(ModelProcessUnavailable, match="no model process answers"):
        vision.look(picture)  # while it is away: an error, not a hang
    process = _start(path)
    try:
        assert np.allclose(vision.look(picture).probabilities, before, atol=1e-6)  # the same object reconnects
    finally:
        _stop(process)


@pytest.mark.django_db
def test_the_api_classifies_through_it(socket: Path, operator_api: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from rest_framework.test import APIClient

    from audit.models import AuditEvent
    from tests.dicom_files import packaged

    assert isinstance(operator_api, APIClient)
    monkeypatch.setattr(services, "_classifier", None)  # as in a worker started with the setting
    with override_settings(SECUREPIX_MODEL_PROCESS=str(socket)):
        upload = io.BytesIO(packaged("ct_signed"))
        upload.name = "ct.dcm"
        response = operator_api.post(
            "/api/v1/classify", {"image": upload, "declared_domain": "finance"}, format="multipart"
        )
        assert isinstance(services._classifier, DomainClassifier)
        assert isinstance(services._classifier.vision, RemoteVision)
    body = response.json()
    assert response.status_code == 200 and body["domain"] == "medical" and body["decision"] == "acknowledge"
    assert AuditEvent.objects.get(action="classify").model_name == "efficientnet-lite0"


@pytest.mark.django_db
def test_readyz_follows_the_model_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm worker is ready while its model process answers, not after it went away."""
    from django.test import Client as WebClient

    for name, value in (("_classifier", None), ("_warm", threading.Event()), ("_warming", None)):
        monkeypatch.setattr(services, name, value)
    path = tmp_path / "models.sock"
    process = _start(path)
    try:
        with override_settings(SECUREPIX_MODEL_PROCESS=str(path)):
            services.warm_up()
            web = WebClient()
            assert web.get("/readyz").status_code == 200
            _stop(process)
            gone = web.get("/readyz")
            assert gone.status_code == 503 and gone.json() == {"status": "failed"}
            process = _start(path)
            assert web.get("/readyz").status_code == 200
    finally:
        _stop(process)
