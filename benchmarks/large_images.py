"""A 4096x4096 RGB photo end to end, against the engine's own time.

    python -m benchmarks.large_images [--size N] [--runs R] [--input PNG] [--url URL]

The yardstick is the engine: the chaotic cipher with its container, in
memory, warm, without the key derivation (`securepix bench`); each ratio is
also given against the engine with its derivation (`_with_kdf`: what a
password costs the engine too, as it costs every end-to-end run).  The command
is timed as a user meets it, a new process each run: its start, Argon2id,
reading the PNG, the cipher and writing the file; and per file, as it reports
itself (`--json` seconds).  Memory: the command's peak resident size less that
of the same command on a 16x16 image (the process itself), over the image's
bytes.  With --url, the same file through the API of a running stack
(`make serve`): encrypt (classification and audit included) and decrypt, and,
when the stack runs on this machine, its web workers' peak memory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import cipher_bench
from .load import status_kib, workers

PASSWORD = "large image benchmark password 1"
SECUREPIX = [sys.executable, "-m", "securepix_site.cli"]


def photo(size: int) -> np.ndarray:
    """The astronaut (a real photograph) enlarged to size x size, with sensor
    noise, so that the PNG compresses like a camera's picture, not like a
    smooth upscale."""
    from .load import photo_png

    with Image.open(io.BytesIO(photo_png())) as astronaut:
        enlarged = astronaut.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(2026).normal(0, 2.0, (size, size, 3))
    return np.clip(np.asarray(enlarged, dtype=np.float64) + noise, 0, 255).astype(np.uint8)


# Starts the command in a process of its own and reports its peak resident
# size: Linux carries the starting process's peak over exec, so a child
# started straight from this (large) benchmark would report the benchmark's.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\npeak-kib {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(*args: str | Path) -> tuple[float, int, dict[str, Any]]:
    """Wall seconds, peak resident KiB and the JSON report of one `securepix` run."""
    env = {**os.environ, "SECUREPIX_PASSWORD": PASSWORD}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *SECUREPIX, *map(str, args), "--json", "--force"],
        capture_output=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"securepix {args[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    peak = int(done.stderr.decode().rsplit("peak-kib", 1)[1])
    return seconds, peak, json.loads(done.stdout.splitlines()[-1])


def command(source: Path, folder: Path, runs: int, image_bytes: int) -> dict[str, Any]:
    small = folder / "small.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(small)
    encrypted, decrypted = folder / "large.securepix.png", folder / "large.decrypted.png"
    result: dict[str, Any] = {}
    for name, argv, small_argv in (
        ("encrypt", ("encrypt", source, "-o", encrypted), ("encrypt", small, "-o", folder / "small.securepix.png")),
        ("decrypt", ("decrypt", encrypted, "-o", decrypted), ("decrypt", folder / "small.securepix.png")),
    ):
        baseline = run(*small_argv)[1]
        walls, files, peaks = [], [], []
        for _ in range(runs):
            wall, peak, report = run(*argv)
            walls.append(wall)
            files.append(report["seconds"])
            peaks.append(peak)
        result[name] = {
            "command_s": round(statistics.median(walls), 3),
            "per_file_s": round(statistics.median(files), 3),
            "command_start_peak_mb": round(baseline / 1024),
            "peak_over_start_x_image": round((max(peaks) - baseline) * 1024 / image_bytes, 2),
        }
    with Image.open(decrypted) as back, Image.open(source) as original:
        result["round_trip_exact"] = bool(np.array_equal(np.asarray(back), np.asarray(original)))
    result["sizes_mb"] = {
        name: round(path.stat().st_size / 1e6, 1)
        for name, path in (("input", source), ("encrypted", encrypted), ("decrypted", decrypted))
    }
    return result


class _Workers:
    """The memory of a stack's web workers on this machine, a phase at a time:
    each phase's peak resident size (VmHWM, reset through clear_refs) over the
    resident size it started from, for the worker that rose most."""

    def __init__(self) -> None:
        self.pids = [worker["pid"] for worker in workers() if worker["kind"] == "web"]
        self.start: dict[int, int] = {}

    def begin(self) -> None:
        for pid in self.pids:
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again from now
            except OSError:
                continue
        self.start = {pid: status_kib(pid, "VmRSS") for pid in self.pids}

    def rise_x(self, image_bytes: int) -> float:
        rise = max((status_kib(pid, "VmHWM") - start for pid, start in self.start.items()), default=0)
        return round(max(0, rise) * 1024 / image_bytes, 2)


def api(url: str, source: Path, encrypted_file: Path, runs: int, image_bytes: int, first: str) -> dict[str, Any]:
    """The file through the API of a running stack (benchmarks.load's operator):
    `runs` encryptions of it and `runs` decryptions of the command's encrypted
    file, one kind after the other (`first`).  Memory, when the stack runs on
    this machine, after a small encryption and decryption (a worker's first
    requests set up more than any image needs): for each kind, the largest rise of a web
    worker's peak resident size over its resident size before that kind's
    requests, over the image's bytes.  The kind that comes second reuses the
    memory the allocator kept from the first: run the stack afresh for each
    order to see both on their own."""
    from .load import Client, multipart, operator_token, photo_png

    client = Client(url, operator_token())
    workers = _Workers()
    small, small_type = multipart(
        {"password": PASSWORD, "declared_domain": "personal"}, {"image": ("s.png", photo_png())}
    )
    for _ in workers.pids[:4]:  # each worker's first requests, as far as the server spreads them
        status, sealed = client.post("/api/v1/encrypt", small, small_type)
        form, kind = multipart({"password": PASSWORD}, {"file": ("s.securepix.png", sealed)})
        if status != 200 or client.post("/api/v1/decrypt", form, kind)[0] != 200:
            raise SystemExit("the small image's encryption or decryption failed")
    requests = {
        "encrypt": multipart(
            {"password": PASSWORD, "declared_domain": "personal"}, {"image": ("large.png", source.read_bytes())}
        ),
        "decrypt": multipart({"password": PASSWORD}, {"file": ("large.securepix.png", encrypted_file.read_bytes())}),
    }
    report: dict[str, Any] = {}
    answers: dict[str, bytes] = {}
    for kind in (first, *(other for other in requests if other != first)):
        body, content_type = requests[kind]
        workers.begin()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            status, answers[kind] = client.post(f"/api/v1/{kind}", body, content_type)
            times.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"API {kind} answered {status}: {answers[kind][:300]!r}")
        report[f"{kind}_s"] = round(statistics.median(times), 3)
        if workers.pids:
            report[f"{kind}_worker_peak_over_start_x_image"] = workers.rise_x(image_bytes)
    from cipher.engine import envelope

    with Image.open(io.BytesIO(answers["decrypt"])) as back, Image.open(source) as original:
        pixels = np.asarray(original)
        opened = envelope.decrypt_file(answers["encrypt"], PASSWORD, max_pixels=pixels.size).samples
        report["round_trip_exact"] = bool(np.array_equal(np.asarray(back), pixels) and np.array_equal(opened, pixels))
    report["order"] = first
    return report


def _times(seconds: float, report: dict[str, Any], name: str, *, with_kdf: bool = False) -> float:
    """`seconds` over the engine's time for `name`: its cipher and container
    alone, or `with_kdf`, with the key derivation that a password costs it too."""
    engine_ms = float(report["engine_ms"][name]) + (float(report["kdf_ms"]) if with_kdf else 0.0)
    return round(1000 * seconds / engine_ms, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--input", type=Path, help="an RGB PNG to use instead of the enlarged astronaut")
    parser.add_argument("--url", help="also through the API of the stack at this URL (make serve)")
    parser.add_argument(
        "--api-first", choices=("encrypt", "decrypt"), default="encrypt", help="which kind of API request goes first"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        source = arguments.input or folder / "large.png"
        if arguments.input is None:
            Image.fromarray(photo(arguments.size)).save(source)
        with Image.open(source) as image:
            width, height = image.size
            image_bytes = width * height * len(image.getbands())
        engine = cipher_bench.measure(min(width, height), arguments.runs, paper=False, memory=False)
        report: dict[str, Any] = {
            "image": f"{width}x{height} {source.name}",
            "engine_ms": {"encrypt": engine["chaotic_encrypt_ms"], "decrypt": engine["chaotic_decrypt_ms"]},
            "kdf_ms": engine["kdf_ms"],
            "command": command(source, folder, arguments.runs, image_bytes),
        }
        for name in ("encrypt", "decrypt"):
            step = report["command"][name]
            step["per_file_x_engine"] = _times(step["per_file_s"], report, name)
            step["per_file_x_engine_with_kdf"] = _times(step["per_file_s"], report, name, with_kdf=True)
            step["command_x_engine"] = _times(step["command_s"], report, name)
        if arguments.url:
            report["api"] = api(
                arguments.url, source, folder / "large.securepix.png", arguments.runs, image_bytes, arguments.api_first
            )
            for name in ("encrypt", "decrypt"):
                report["api"][f"{name}_x_engine"] = _times(report["api"][f"{name}_s"], report, name)
                report["api"][f"{name}_x_engine_with_kdf"] = _times(
                    report["api"][f"{name}_s"], report, name, with_kdf=True
                )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
