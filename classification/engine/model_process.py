"""The models in a process of their own, for the web and job workers of one machine.

By default every worker process loads TensorFlow, the backbone and the face
detector (LocalVision): about 0.8 GB each.  With a model process, one process
holds them (`securepix model-process`, `serve` here) and the workers send it
their renderings over a Unix socket (RemoteVision): the rest of classifying
(rendering, OCR, the head, the signals, the policy) stays in the worker,
which then never imports TensorFlow.  docs/DEPLOY.md compares the two.

The socket is the process's own file (mode 0600) and each connection proves it
knows the shared key (multiprocessing's HMAC challenge) before anything is
read.  Requests and replies are plain bytes, never pickles: a request is
b"N" (the model's name) or b"L" and an RGB rendering as a .npy array; a reply
is a line of JSON, then for a look the embedding and probabilities as .npy.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.errors import ErrorCode, SecurePixError

from . import backbones
from .classifier import LocalVision, Sight, warm_up_rendering
from .faces import Face, FaceDetector, model_path

log = logging.getLogger(__name__)

NAME, LOOK = b"N", b"L"
# A rendering is at most about 2 x classifier.MODEL_SIDE on its longer side (a
# 2047 x 2047 RGB array is 12.6 MB); anything larger is not one of ours.
MAX_SIDE = 4096
MAX_REQUEST = MAX_SIDE * MAX_SIDE * 3 + 4096
MAX_REPLY = 64 * 1024 * 1024


class ModelProcessUnavailable(SecurePixError):
    error_code = ErrorCode.MODELS_UNAVAILABLE


def replicas(count: int, model: str, resnet50_weights: Path | None = None) -> list[LocalVision]:
    """`count` sets of the models, loaded and warm: each takes one image at a
    time, so as many images are seen at once as there are sets (as many as
    workers with their own models would see; a set beyond the first adds
    little memory: the weights, not TensorFlow)."""
    visions = [LocalVision(backbones.build(model, resnet50_weights), FaceDetector(model_path())) for _ in range(count)]
    for vision in visions:
        vision.look(warm_up_rendering())
    return visions


def serve(
    address: Path, authkey: bytes, visions: list[LocalVision], *, on_ready: Callable[[], None] | None = None
) -> None:
    """Answer requests on the Unix socket `address` until the process ends, a
    thread per connection, each image on whichever set of models is free.
    Call only once the models are loaded and warm: a worker that can connect
    may send work."""
    clear(address, authkey)
    previous = os.umask(0o177)  # the socket file is born 0600: no window with wider rights
    try:
        listener = Listener(str(address), family="AF_UNIX", authkey=authkey)
    finally:
        os.umask(previous)
    free: queue.SimpleQueue[LocalVision] = queue.SimpleQueue()
    for vision in visions:
        free.put(vision)
    log.info("model process %s serving on %s with %d sets of models", visions[0].name, address, len(visions))
    if on_ready is not None:
        on_ready()
    try:
        while True:
            try:
                connection = listener.accept()
            except (AuthenticationError, EOFError, ConnectionError) as exc:
                log.warning("a connection to the model process was refused: %s", exc or type(exc).__name__)
                continue
            threading.Thread(target=_answer, args=(connection, free), name="model-process-client", daemon=True).start()
    finally:
        listener.close()


def clear(address: Path, authkey: bytes) -> None:
    """Remove the socket a model process that died left at `address`; refuse
    to take the place of a live one, or of anything that is not a socket."""
    try:
        mode = address.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SecurePixError(f"{address} exists and is not a socket", code=ErrorCode.USAGE)
    try:
        Client(str(address), family="AF_UNIX", authkey=authkey).close()
    except (ConnectionRefusedError, FileNotFoundError):
        address.unlink()  # nothing listens: left by a process that died
        return
    except (AuthenticationError, OSError, EOFError):
        pass  # something listens there
    raise SecurePixError(f"a model process is already serving on {address}", code=ErrorCode.USAGE)


def _answer(connection: Connection, free: queue.SimpleQueue[LocalVision]) -> None:
    with connection:
        while True:
            try:
                request = connection.recv_bytes(MAX_REQUEST)
            except (EOFError, OSError):  # the worker went away, or sent more than a rendering can be
                return
            vision = free.get()
            try:
                reply = _reply(request, vision)
            except SecurePixError as exc:
                reply = json.dumps({"error": exc.message}).encode() + b"\n"
            except Exception:
                log.exception("the model process failed on a request")
                reply = json.dumps({"error": "the model process failed on this image"}).encode() + b"\n"
            finally:
                free.put(vision)
            try:
                connection.send_bytes(reply)
            except OSError:
                return


def _reply(request: bytes, vision: LocalVision) -> bytes:
    kind, body = request[:1], request[1:]
    if kind == NAME and not body:
        return json.dumps({"model": vision.name}).encode() + b"\n"
    if kind != LOOK:
        raise SecurePixError("not a model process request")
    try:
        rgb = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SecurePixError(f"not an array: {exc}") from exc
    if (
        rgb.dtype != np.uint8
        or rgb.ndim != 3
        or rgb.shape[2] != 3
        or not 0 < min(rgb.shape[:2]) <= max(rgb.shape[:2]) <= MAX_SIDE
    ):
        raise SecurePixError(f"not an RGB rendering: {rgb.dtype} {rgb.shape}")
    sight = vision.look(np.ascontiguousarray(rgb))
    faces = [[face.score, *face.box] for face in sight.faces]
    out = io.BytesIO()
    out.write(json.dumps({"faces": faces}).encode() + b"\n")
    np.save(out, sight.embedding, allow_pickle=False)
    np.save(out, sight.probabilities, allow_pickle=False)
    return out.getvalue()


class RemoteVision:
    """The models of the model process at `address` (classifier.Vision).
    Each thread of each process has its own connection, made on first use
    (after a fork, the child makes its own); a broken connection (the model
    process restarted) is made again once before the request fails."""

    def __init__(self, address: Path, authkey: bytes, *, wait: float = 120.0, timeout: float = 60.0) -> None:
        self.address, self._authkey, self._timeout = address, authkey, timeout
        self._local = threading.local()
        self._name = self._header(self._ask(NAME, wait=wait))["model"]

    @property
    def name(self) -> str:
        return str(self._name)

    def look(self, rgb: NDArray[np.uint8]) -> Sight:
        request = io.BytesIO()
        np.save(request, np.ascontiguousarray(rgb, dtype=np.uint8), allow_pickle=False)
        reply = io.BytesIO(self._ask(LOOK + request.getvalue()))
        header = self._header(reply.readline())
        embedding = np.load(reply, allow_pickle=False)
        probabilities = np.load(reply, allow_pickle=False)
        faces = [
            Face(float(score), (float(x0), float(y0), float(x1), float(y1)))
            for score, x0, y0, x1, y1 in header["faces"]
        ]
        return Sight(embedding, probabilities, faces)

    def _header(self, line: bytes) -> dict[str, Any]:
        header: dict[str, Any] = json.loads(line.split(b"\n", 1)[0])
        if "error" in header:
            raise ModelProcessUnavailable(f"the model process could not classify: {header['error']}")
        return header

    def _ask(self, request: bytes, *, wait: float = 0.0) -> bytes:
        for attempt in (1, 2):
            connection = self._connection(wait)
            try:
                connection.send_bytes(request)
                if not connection.poll(self._timeout):
                    self._drop()
                    raise ModelProcessUnavailable(f"the model process did not answer in {self._timeout:.0f} s")
                return connection.recv_bytes(MAX_REPLY)
            except (EOFError, OSError) as exc:
                self._drop()
                if attempt == 2:
                    raise ModelProcessUnavailable(f"the model process at {self.address} went away: {exc}") from exc
        raise AssertionError("unreachable")

    def _connection(self, wait: float) -> Connection:
        local = self._local
        if getattr(local, "pid", None) == os.getpid() and local.connection is not None:
            return local.connection  # type: ignore[no-any-return]
        deadline = time.monotonic() + wait
        while True:
            try:
                local.connection, local.pid = (
                    Client(str(self.address), family="AF_UNIX", authkey=self._authkey),
                    os.getpid(),
                )
                return local.connection  # type: ignore[no-any-return]
            except AuthenticationError as exc:
                raise ModelProcessUnavailable(
                    f"the model process at {self.address} does not share this worker's secret key"
                ) from exc
            except (OSError, EOFError) as exc:  # not started yet (or still loading its models), or gone
                if time.monotonic() >= deadline:
                    raise ModelProcessUnavailable(f"no model process answers at {self.address}: {exc}") from exc
                time.sleep(0.2)

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None and getattr(self._local, "pid", None) == os.getpid():
            connection.close()
