"""The `securepix` command line, run as a user runs it: a real subprocess."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import PASSWORD
from tests.images import decoded_pixels, encode, image_in_mode

SECUREPIX = [sys.executable, "-m", "securepix_site.cli"]


def run(*args: str | Path, password: str | None = PASSWORD, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SECUREPIX_PASSWORD"}
    if password is not None:
        env["SECUREPIX_PASSWORD"] = password
    return subprocess.run(
        [*SECUREPIX, *map(str, args)], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300
    )


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    paths = []
    for name, mode, fmt in [("xray", "L", "PNG"), ("scan", "RGB", "JPEG"), ("badge", "RGBA", "WEBP")]:
        path = tmp_path / "in" / f"{name}.{fmt.lower()}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(
            encode(image_in_mode(mode, seed=len(name)), fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        )
        paths.append(path)
    return paths


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_it_encrypts_and_decrypts_a_folder_back_to_the_same_pixels(photos: list[Path], tmp_path: Path) -> None:
    encrypted, plain = tmp_path / "enc", tmp_path / "plain"
    assert run("encrypt", *photos, "-o", encrypted).returncode == 0
    assert _leftovers(encrypted) == ["badge.securepix.png", "scan.securepix.png", "xray.securepix.png"]
    result = run("decrypt", *sorted(encrypted.iterdir()), "-o", plain)
    assert result.returncode == 0, result.stderr
    for photo in photos:
        assert np.array_equal(
            decoded_pixels((plain / f"{photo.stem}.png").read_bytes()), decoded_pixels(photo.read_bytes())
        )


def test_json_mode_prints_one_object_per_file(photos: list[Path], tmp_path: Path) -> None:
    result = run("encrypt", *photos, "-o", tmp_path / "enc", "--json", "--cipher", "aes-gcm")
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in reports] == ["ok", "ok", "ok"]
    assert reports[1] | {"seconds": 0} == {
        "input": str(photos[1]),
        "output": str(tmp_path / "enc" / "scan.securepix.png"),
        "status": "ok",
        "cipher": "aes-gcm",
        "width": 53,
        "height": 37,
        "mode": "RGB",
        "format": "JPEG",
        "seconds": 0,
    }


def test_a_bad_file_fails_alone_and_leaves_nothing_behind(photos: list[Path], tmp_path: Path) -> None:
    bogus = tmp_path / "in" / "notes.png"
    bogus.write_text("this is not an image")
    result = run("encrypt", photos[0], bogus, photos[1], "-o", tmp_path / "enc", "--json")
    assert result.returncode == 2
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in reports] == ["ok", "error", "ok"]
    assert reports[1]["error"]["code"] == "not_an_image"
    assert _leftovers(tmp_path / "enc") == ["scan.securepix.png", "xray.securepix.png"]


def test_a_wrong_password_exits_3_with_one_line_and_no_output(photos: list[Path], tmp_path: Path) -> None:
    run("encrypt", photos[0], "--output", tmp_path / "x.securepix.png")
    result = run("decrypt", tmp_path / "x.securepix.png", "-o", tmp_path / "out", password="not the password")
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0 and "wrong password" in result.stderr
    assert _leftovers(tmp_path / "out") == []


def test_a_tampered_file_exits_3(photos: list[Path], tmp_path: Path) -> None:
    target = tmp_path / "x.securepix.png"
    run("encrypt", photos[0], "--output", target)
    data = bytearray(target.read_bytes())
    data[-100] ^= 0x10
    target.write_bytes(bytes(data))
    result = run("decrypt", target, "--output", tmp_path / "x.png")
    assert result.returncode == 3
    assert not (tmp_path / "x.png").exists()


def test_the_password_can_come_from_a_file(photos: list[Path], tmp_path: Path) -> None:
    secret = tmp_path / "password.txt"
    secret.write_text("from a file, long enough\n")
    assert (
        run(
            "encrypt", photos[0], "--output", tmp_path / "a.securepix.png", "--password-file", secret, password=None
        ).returncode
        == 0
    )
    assert (
        run(
            "decrypt", tmp_path / "a.securepix.png", "--output", tmp_path / "a.png", password="from a file, long enough"
        ).returncode
        == 0
    )


def test_without_any_password_source_it_says_how_to_give_one(photos: list[Path], tmp_path: Path) -> None:
    result = run("encrypt", photos[0], "-o", tmp_path, password=None)
    assert result.returncode == 2
    assert "SECUREPIX_PASSWORD" in result.stderr


def test_a_password_is_never_accepted_as_an_argument(photos: list[Path], tmp_path: Path) -> None:
    result = run("encrypt", photos[0], "-o", tmp_path, "--password", "hunter2")
    assert result.returncode == 2


def test_usage_errors_exit_2(photos: list[Path], tmp_path: Path) -> None:
    existing = tmp_path / "one.securepix.png"
    existing.write_bytes(b"a file, not a folder")
    result = run("encrypt", *photos, "--output", existing)
    assert result.returncode == 2 and "folder" in result.stderr and result.stderr.count("\n") == 1
    assert run("frobnicate").returncode == 2
    assert run("encrypt", tmp_path / "missing.png", "-o", tmp_path).returncode == 2


def test_output_goes_beside_the_input_by_default_and_decrypts_to_the_original_name(photos: list[Path]) -> None:
    scan = photos[1]  # scan.jpg
    assert run("encrypt", scan).returncode == 0
    encrypted = scan.parent / "scan.securepix.png"
    assert encrypted.exists()
    scan.unlink()
    result = run("decrypt", encrypted, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == str(scan.parent / "scan.png")


def test_o_names_a_file_for_one_input_and_a_folder_for_several(photos: list[Path], tmp_path: Path) -> None:
    assert run("encrypt", photos[0], "-o", tmp_path / "single.png").returncode == 0
    assert (tmp_path / "single.png").is_file()
    assert run("encrypt", photos[0], "-o", f"{tmp_path / 'folder'}/").returncode == 0
    assert _leftovers(tmp_path / "folder") == [f"{photos[0].stem}.securepix.png"]
    assert run("encrypt", *photos[:2], "-o", tmp_path / "several").returncode == 0
    assert _leftovers(tmp_path / "several") == sorted(f"{photo.stem}.securepix.png" for photo in photos[:2])


def test_an_unknown_classifier_is_one_line_not_a_traceback(photos: list[Path]) -> None:
    result = run("classify", photos[0], "--model", "bogus")
    assert result.returncode == 2
    assert result.stderr.strip() == "securepix: unknown classifier 'bogus'; choose auto, resnet50, efficientnet-lite0"


def test_an_existing_output_is_kept_unless_forced(photos: list[Path], tmp_path: Path) -> None:
    target = tmp_path / "x.securepix.png"
    target.write_bytes(b"precious")
    result = run("encrypt", photos[0], "--output", target)
    assert result.returncode == 2 and "--force" in result.stderr
    assert target.read_bytes() == b"precious"
    assert run("encrypt", photos[0], "--output", target, "--force").returncode == 0
    assert target.read_bytes() != b"precious"


def test_unsupported_and_oversized_images_exit_2(tmp_path: Path) -> None:
    cmyk = tmp_path / "print.jpg"
    Image.new("CMYK", (8, 8)).save(cmyk)
    result = run("encrypt", cmyk, "-o", tmp_path / "out")
    assert result.returncode == 2 and "CMYK" in result.stderr
    big = tmp_path / "big.png"
    big.write_bytes(encode(image_in_mode("RGB", height=100, width=100)))
    result = run("encrypt", big, "-o", tmp_path / "out", "--max-pixels", "9999")
    assert result.returncode == 2 and "limit" in result.stderr
    assert _leftovers(tmp_path / "out") == []


def test_several_files_show_a_progress_bar_on_a_terminal(photos: list[Path], tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = dict(os.environ, SECUREPIX_PASSWORD=PASSWORD)
    process = subprocess.Popen(
        [*SECUREPIX, "encrypt", *map(str, photos), "-o", str(tmp_path / "enc")],
        stdin=terminal, stdout=terminal, stderr=terminal, env=env,
    )  # fmt: skip
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=120) == 0
    assert b"3/3" in output and b"100%" in output


def test_analyze_reports_the_papers_statistics(tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    image.write_bytes(encode(image_in_mode("RGB", height=128, width=128)))
    result = run("analyze", image, "--json", password=None)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("entropy_plain", "entropy_cipher", "correlation_plain", "correlation_cipher"):
        assert key in report
    assert min(report["entropy_cipher"]) > 7.98
    assert max(abs(v) for v in report["correlation_cipher"].values()) < 0.05
    assert report["npcr_pixel"] > 99.4 and report["npcr_password"] > 99.4
    assert 32.9 < report["uaci_pixel"] < 34.0 and 32.9 < report["uaci_password"] < 34.0


def test_bench_prints_every_measurement(tmp_path: Path) -> None:
    result = run("bench", "--json", "--size", "48", "--runs", "1", password=None)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("chaotic_encrypt_ms", "chaotic_decrypt_ms", "kdf_ms", "paper_ms", "aes_gcm_ms",
                "speedup_vs_paper", "slowdown_vs_aes_gcm"):  # fmt: skip
        assert report[key] > 0, key


def test_decrypt_reads_a_pipe(photos: list[Path], tmp_path: Path) -> None:
    """`cat file | securepix decrypt /dev/stdin`: a pipe has no size to map, it is read."""
    assert run("encrypt", photos[0], "-o", tmp_path / "x.securepix.png").returncode == 0
    env = {**os.environ, "SECUREPIX_PASSWORD": PASSWORD}
    done = subprocess.run(
        [*SECUREPIX, "decrypt", "/dev/stdin", "-o", str(tmp_path / "back.png")],
        input=(tmp_path / "x.securepix.png").read_bytes(),
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert (decoded_pixels((tmp_path / "back.png").read_bytes()) == decoded_pixels(photos[0].read_bytes())).all()


def test_an_output_that_cannot_be_written_is_one_line_and_nothing_is_left(photos: list[Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run("encrypt", photos[0], "-o", blocker / "out.securepix.png")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith(f"cannot write {blocker / 'out.securepix.png'}: {blocker} is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "in"]


def test_a_full_disk_is_the_platforms_failure_and_leaves_no_partial_file(tmp_path: Path) -> None:
    """The disk filling up mid-write (the writer's OSError stands in for the
    disk): exit 1 with one line, the temporary file gone."""
    from cipher.cli import write_atomically
    from core.errors import SecurePixError

    def fills_the_disk(out: Any) -> None:
        out.write(b"some of the file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(SecurePixError) as caught:
        write_atomically(tmp_path / "out.png", fills_the_disk, overwrite=False)
    assert caught.value.exit_code == 1 and str(caught.value).endswith("No space left on device")
    assert list(tmp_path.iterdir()) == []
