"""The models in each worker, or in one model process: memory and latency.

    python -m benchmarks.model_process [--runs R]

A worker is a fresh Python process that classifies the same files, first
with its own models (LocalVision: TensorFlow, the backbone and the face
detector in the worker), then through a model process started for the
purpose (RemoteVision over its Unix socket).  Reported per mode: the
worker's start to its first classification, the median classification time
per file after that, and the resident memory of the worker (and of the
model process): what N workers cost is N times the worker, plus the model
process once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from .load import status_kib

ROOT = Path(__file__).resolve().parent.parent
KEY = os.urandom(32).hex()

# The worker: classifies each file once to warm up, then `runs` times, and
# reports its times and its resident memory as one line of JSON.
_WORKER = """
import json, os, statistics, sys, time
from pathlib import Path
started = time.perf_counter()
from classification.engine.classifier import DomainClassifier
from classification.engine.model_process import RemoteVision
socket, key, runs, files = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
vision = RemoteVision(Path(socket), key) if socket else None
classifier = DomainClassifier("efficientnet-lite0", vision=vision)
uploads = [Path(f).read_bytes() for f in files]
classifier.classify(uploads[0])
first = time.perf_counter() - started
times = {}
for name, data in zip(files, uploads):
    classifier.classify(data)
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        result = classifier.classify(data)
        samples.append(time.perf_counter() - began)
    times[Path(name).stem] = {"median_ms": round(statistics.median(samples) * 1000, 1), "domain": result.domain}
from benchmarks.model_process import resident_mb
print(json.dumps({
    "first_classification_s": round(first, 2),
    "files": times,
    "worker_rss_mb": resident_mb(os.getpid()),
    "tensorflow_loaded": "tensorflow" in sys.modules,
}))
"""

_SERVER = """
import sys
from pathlib import Path
from classification.engine.model_process import replicas, serve
visions = replicas(int(sys.argv[3]), "efficientnet-lite0")
serve(Path(sys.argv[1]), bytes.fromhex(sys.argv[2]), visions, on_ready=lambda: print("ready", flush=True))
"""


def _files(folder: Path) -> list[Path]:
    """A 512x512 photo, the same photo at 4096x4096, and a page of text (OCR)."""
    from skimage import data

    from .large_images import photo

    files = []
    for name, picture in (
        ("photo-512", Image.fromarray(data.astronaut())),
        ("photo-4096", Image.fromarray(photo(4096))),
        ("text-page", Image.fromarray(data.page())),
    ):
        path = folder / f"{name}.png"
        picture.save(path)
        files.append(path)
    return files


def resident_mb(pid: int) -> int:
    """A process's resident memory now, in MB."""
    return round(status_kib(pid, "VmRSS") / 1024)


def _worker(socket: str, runs: int, files: list[Path]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, socket, KEY, str(runs), *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the worker failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="classifications per file, after one to warm up")
    parser.add_argument(
        "--replicas", type=int, default=min(os.cpu_count() or 1, 8), help="the model process's sets of models"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = _files(Path(folder))
        report: dict[str, Any] = {"in_worker": _worker("", arguments.runs, files)}
        socket = Path(folder) / "models.sock"
        began = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(socket), KEY, str(arguments.replicas)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise SystemExit("the model process did not start")
            ready = time.perf_counter() - began
            remote = _worker(str(socket), arguments.runs, files)
            remote["model_process_ready_s"] = round(ready, 2)
            remote["replicas"] = arguments.replicas
            remote["model_process_rss_mb"] = resident_mb(server.pid)
            report["model_process"] = remote
        finally:
            server.terminate()
            server.wait(30)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
