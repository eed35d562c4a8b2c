"""The models in a process of their own, for the web and job workers of one machine.

By default every worker process loads TensorFlow, the backbone and the face
detector (LocalVision): about 0.8 GB each.  With a model process, one process
holds them (`securepix model-process`, `serve` here) and the workers send it
their renderings over a Unix socket (RemoteVision): the rest of classifying
(rendering, OCR, the head, the signals, the policy) stays in the worker,
which then never imports TensorFlow.  docs/DEPLOY.md compares the two.

The socket is the process's own file (mode 0600) and each connection proves,
within HANDSHAKE_SECONDS, that it knows the shared key (multiprocessing's HMAC
challenge, in the connection's own thread) before a request is read.
Requests and replies are plain bytes, never pickles: a request is b"N" (the
model's name) or b"L" and an RGB rendering as a .npy array, whose header is
checked before any memory is given to it; a reply is a line of JSON, then for
a look the embedding and probabilities as .npy.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, Listener, answer_challenge, deliver_challenge
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.errors import ErrorCode, SecurePixError

from . import backbones
from .classifier import MODEL_SIDE, LocalVision, Sight, warm_up_rendering
from .faces import Face, FaceDetector, model_path

log = logging.getLogger(__name__)

NAME, LOOK = b"N", b"L"
# A rendering is under twice classifier.MODEL_SIDE on its longer side (12.6 MB
# at most); anything larger is not one of ours.
MAX_SIDE = 2 * MODEL_SIDE - 1
MAX_REQUEST = 1 + 4096 + MAX_SIDE * MAX_SIDE * 3  # the kind, a .npy header, the samples
MAX_REPLY = 1 << 20
HANDSHAKE_SECONDS = 10.0
MAX_CONNECTIONS = 256  # each holds a thread and a descriptor; a worker process needs one per thread
BACKLOG = 128  # connections waiting to be accepted


class ModelProcessUnavailable(SecurePixError):
    error_code = ErrorCode.MODELS_UNAVAILABLE


class RefusedRendering(SecurePixError):
    """A request the model process does not take (our own bug if a worker sent it)."""

    error_code = ErrorCode.SERVER_ERROR


def replicas(count: int, model: str, resnet50_weights: Path | None = None) -> list[LocalVision]:
    """`count` sets of the models, loaded and warm: each takes one image at a
    time, so as many images are seen at once as there are sets (as many as
    workers with their own models would see; a set beyond the first adds
    little memory: the weights, not TensorFlow)."""
    visions = [LocalVision(backbones.build(model, resnet50_weights), FaceDetector(model_path())) for _ in range(count)]
    for vision in visions:
        vision.look(warm_up_rendering())
    return visions


@dataclass(frozen=True)
class Models:
    """What the connections of a model process share: the models' name, and
    the sets of models not seeing an image now."""

    name: str
    free: queue.SimpleQueue[LocalVision]


def serve(
    address: Path, authkey: bytes, visions: list[LocalVision], *, on_ready: Callable[[], None] | None = None
) -> None:
    """Answer requests on the Unix socket `address` until the process ends, a
    thread per connection (at most MAX_CONNECTIONS), each image on whichever
    set of models is free.  Call only once the models are loaded and warm: a
    worker that can connect may send work."""
    clear(address, authkey)
    previous = os.umask(0o177)  # the socket file is born 0600: no window with wider rights
    try:
        # The handshake is each connection's thread's; the backlog holds the
        # workers that connect at once (multiprocessing's default holds one).
        listener = Listener(str(address), family="AF_UNIX", backlog=BACKLOG)
    finally:
        os.umask(previous)
    models = Models(visions[0].name, queue.SimpleQueue())
    for vision in visions:
        models.free.put(vision)
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    log.info("model process %s serving on %s with %d sets of models", visions[0].name, address, len(visions))
    if on_ready is not None:
        on_ready()
    try:
        while True:
            try:
                connection = listener.accept()
            except OSError as exc:  # out of descriptors, or a client gone before it was accepted
                log.warning("the model process could not accept a connection: %s", exc)
                time.sleep(0.1)
                continue
            if not slots.acquire(blocking=False):
                log.warning("the model process refused a connection: %d are open", MAX_CONNECTIONS)
                connection.close()
                continue
            threading.Thread(
                target=_serve_connection,
                args=(connection, authkey, models, slots),
                name="model-process-client",
                daemon=True,
            ).start()
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
        _connect(address, authkey).close()
    except (ConnectionRefusedError, FileNotFoundError):
        address.unlink()  # nothing listens: left by a process that died
        return
    except (AuthenticationError, OSError, EOFError):
        pass  # something listens there
    raise SecurePixError(f"a model process is already serving on {address}", code=ErrorCode.USAGE)


def _timeouts(connection: Connection, seconds: float) -> None:
    """Let a read or write on the connection's socket fail after `seconds` (0: never)."""
    value = struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))
    with socket.socket(fileno=os.dup(connection.fileno())) as shared:  # the same socket, its own descriptor
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def _handshake(connection: Connection, authkey: bytes, *, serving: bool, seconds: float = HANDSHAKE_SECONDS) -> None:
    """Each side proves it knows the key (as multiprocessing's Listener and
    Client do), each read within `seconds`: a peer that says nothing is dropped."""
    _timeouts(connection, seconds)
    if serving:
        deliver_challenge(connection, authkey)
        answer_challenge(connection, authkey)
    else:
        answer_challenge(connection, authkey)
        deliver_challenge(connection, authkey)
    _timeouts(connection, 0)


def _connect(address: Path, authkey: bytes, seconds: float = HANDSHAKE_SECONDS) -> Connection:
    """A connection to the model process, connected and authenticated within
    about `seconds` (a stopped process's full backlog does not hold it)."""
    deadline = time.monotonic() + seconds
    while True:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            client.settimeout(max(0.001, deadline - time.monotonic()))
            client.connect(str(address))
            client.setblocking(True)  # the connection's reads block; their limits are the socket's own
            break
        except BlockingIOError:
            # A Unix socket with a time limit answers a full backlog at once
            # (EAGAIN) instead of waiting: try again until the limit.
            client.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
        except OSError:
            client.close()
            raise
    connection = Connection(client.detach())
    try:
        _handshake(connection, authkey, serving=False, seconds=max(0.001, deadline - time.monotonic()))
    except BaseException:
        connection.close()
        raise
    return connection


def _serve_connection(
    connection: Connection, authkey: bytes, models: Models, slots: threading.BoundedSemaphore
) -> None:
    try:
        with connection:
            try:
                _handshake(connection, authkey, serving=True)
            except (AuthenticationError, OSError, EOFError) as exc:
                log.warning("a connection to the model process was refused: %s", exc or type(exc).__name__)
                return
            _answer(connection, models)
    finally:
        slots.release()


def _answer(connection: Connection, models: Models) -> None:
    while True:
        try:
            request = connection.recv_bytes(MAX_REQUEST)
        except (EOFError, OSError):  # the worker went away, or sent more than a rendering can be
            return
        try:
            reply = _reply(request, models)
        except RefusedRendering as exc:
            reply = _line({"error": exc.message, "refused": True})
        except Exception:
            log.exception("the model process failed on a request")
            reply = _line({"error": "the models failed on this image"})
        try:
            connection.send_bytes(reply)
        except OSError:
            return


def _reply(request: bytes, models: Models) -> bytes:
    kind, body = request[:1], request[1:]
    if kind == NAME and not body:  # answered at once, however busy the models are
        return _line({"model": models.name})
    if kind != LOOK:
        raise RefusedRendering("not a model process request")
    rendering = _rendering(body)  # checked before a set of models is taken
    vision = models.free.get()
    try:
        sight = vision.look(rendering)
    finally:
        models.free.put(vision)
    faces = [[face.score, *face.box] for face in sight.faces]
    out = io.BytesIO()
    out.write(_line({"faces": faces}))
    np.save(out, sight.embedding, allow_pickle=False)
    np.save(out, sight.probabilities, allow_pickle=False)
    return out.getvalue()


def _line(header: dict[str, Any]) -> bytes:
    """A reply's first line: its JSON header."""
    return json.dumps(header).encode() + b"\n"


def _rendering(body: bytes) -> NDArray[np.uint8]:
    """The RGB rendering in a .npy array, its header checked before any array
    is made (the samples are read where they lie, in the request)."""
    stream = io.BytesIO(body)
    try:
        if np.lib.format.read_magic(stream) != (1, 0):
            raise ValueError("only .npy version 1.0")
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise RefusedRendering(f"not an array: {exc}") from exc
    if (
        dtype != np.uint8
        or fortran
        or len(shape) != 3
        or shape[2] != 3
        or not 0 < min(shape[:2]) <= max(shape[:2]) <= MAX_SIDE
        or len(body) - stream.tell() != shape[0] * shape[1] * 3
    ):
        raise RefusedRendering(f"not an RGB rendering: {dtype} {shape}{' (Fortran order)' if fortran else ''}")
    return np.frombuffer(body, dtype=np.uint8, offset=stream.tell()).reshape(shape)


class RemoteVision:
    """The models of the model process at `address` (classifier.Vision).
    Each thread of each process has its own connection, made on first use
    (after a fork, the child makes its own); a broken connection (the model
    process restarted) is made again once before the request fails.  `wait`:
    how long to wait for the model process to answer at first (it may still
    be loading its models)."""

    def __init__(self, address: Path, authkey: bytes, *, wait: float = 120.0, timeout: float = 60.0) -> None:
        self.address, self._authkey, self._timeout = address, authkey, timeout
        self._local = threading.local()
        self._name = self._header(self._ask(NAME, wait=wait))["model"]

    @property
    def name(self) -> str:
        return str(self._name)

    def answers(self, timeout: float = 2.0) -> bool:
        """Whether the model process answers now (for readiness checks)."""
        try:
            self._ask(NAME, timeout=timeout)
        except ModelProcessUnavailable:
            return False
        return True

    def look(self, rgb: NDArray[np.uint8]) -> Sight:
        if rgb.dtype != np.uint8:
            raise TypeError(f"a rendering is 8-bit, not {rgb.dtype}")
        request = io.BytesIO()
        np.save(request, np.ascontiguousarray(rgb), allow_pickle=False)
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
        if header.get("refused"):
            raise RefusedRendering(f"the model process refused the rendering: {header['error']}")
        if "error" in header:
            raise SecurePixError(f"the model process failed: {header['error']}", code=ErrorCode.SERVER_ERROR)
        return header

    def _ask(self, request: bytes, *, wait: float = 0.0, timeout: float | None = None) -> bytes:
        timeout = self._timeout if timeout is None else timeout
        for attempt in (1, 2):
            connection = self._connection(wait, min(timeout, HANDSHAKE_SECONDS))
            try:
                connection.send_bytes(request)
                if not connection.poll(timeout):
                    raise ModelProcessUnavailable(f"the model process did not answer in {timeout:.0f} s")
                return connection.recv_bytes(MAX_REPLY)
            except (EOFError, OSError) as exc:
                self._drop()
                if attempt == 2:
                    log.warning("the model process at %s went away: %s", self.address, exc)
                    raise ModelProcessUnavailable("the model process went away") from exc
            except BaseException:  # a reply left unread would answer the next request: never reuse the connection
                self._drop()
                raise
        raise AssertionError("unreachable")

    def _connection(self, wait: float, seconds: float) -> Connection:
        local = self._local
        if getattr(local, "pid", None) == os.getpid() and local.connection is not None:
            return local.connection  # type: ignore[no-any-return]
        deadline = time.monotonic() + wait
        while True:
            try:
                local.connection, local.pid = _connect(self.address, self._authkey, seconds), os.getpid()
                return local.connection  # type: ignore[no-any-return]
            except AuthenticationError as exc:
                log.warning("the model process at %s has another secret key", self.address)
                raise ModelProcessUnavailable("the model process does not share this worker's secret key") from exc
            except (OSError, EOFError) as exc:  # not started yet (or still loading its models), or gone
                if time.monotonic() >= deadline:
                    log.warning("no model process answers at %s: %s", self.address, exc)
                    raise ModelProcessUnavailable("no model process answers") from exc
                time.sleep(0.2)

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None and getattr(self._local, "pid", None) == os.getpid():
            connection.close()
