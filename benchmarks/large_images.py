"""A 4096x4096 RGB photo end to end, against the engine's own time.

    python -m benchmarks.large_images [--size N] [--runs R] [--input PNG] [--url URL]

The yardstick is the engine: the chaotic cipher with its container, in
memory, warm, without the key derivation (`securepix bench`).  The command
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


def _stack_processes() -> list[int]:
    """The gunicorn processes of a stack on this machine (make serve): its
    master and web workers."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # not a process, or gone
            continue
        if b"gunicorn" in command and b"securepix_site" in command:
            found.append(int(entry.name))
    return found


def _resident_kib(pid: int, field: str) -> int:
    """VmRSS or VmHWM (the peak) of a process, in KiB; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field + ":")), 0)


def api(url: str, source: Path, runs: int, image_bytes: int) -> dict[str, Any]:
    """The file through the API of a running stack (benchmarks.load's operator).
    Memory, when the stack runs on this machine: the largest rise of a web
    worker's peak resident size over its resident size before the first
    request, over the image's bytes (with one web worker, that of the first
    large encryption: later requests reuse what the allocator keeps)."""
    from .load import Client, multipart, operator_token

    client = Client(url, operator_token())
    body, content_type = multipart(
        {"password": PASSWORD, "declared_domain": "personal"}, {"image": ("large.png", source.read_bytes())}
    )
    workers = {pid: _resident_kib(pid, "VmRSS") for pid in _stack_processes()}
    encrypt_times, decrypt_times = [], []
    for _ in range(runs):
        started = time.perf_counter()
        status, encrypted = client.post("/api/v1/encrypt", body, content_type)
        encrypt_times.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"API encrypt answered {status}: {encrypted[:300]!r}")
        form, kind = multipart({"password": PASSWORD}, {"file": ("large.securepix.png", encrypted)})
        started = time.perf_counter()
        status, decrypted = client.post("/api/v1/decrypt", form, kind)
        decrypt_times.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"API decrypt answered {status}: {decrypted[:300]!r}")
    with Image.open(io.BytesIO(decrypted)) as back, Image.open(source) as original:
        exact = bool(np.array_equal(np.asarray(back), np.asarray(original)))
    report: dict[str, Any] = {
        "encrypt_s": round(statistics.median(encrypt_times), 3),
        "decrypt_s": round(statistics.median(decrypt_times), 3),
        "round_trip_exact": exact,
    }
    if workers:
        rise = max(_resident_kib(pid, "VmHWM") - before for pid, before in workers.items())
        report["worker_peak_over_start_x_image"] = round(max(0, rise) * 1024 / image_bytes, 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--input", type=Path, help="an RGB PNG to use instead of the enlarged astronaut")
    parser.add_argument("--url", help="also through the API of the stack at this URL (make serve)")
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
            step["per_file_x_engine"] = round(1000 * step["per_file_s"] / report["engine_ms"][name], 2)
            step["command_x_engine"] = round(1000 * step["command_s"] / report["engine_ms"][name], 2)
        if arguments.url:
            report["api"] = api(arguments.url, source, arguments.runs, image_bytes)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
