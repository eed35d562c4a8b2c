"""`securepix encrypt`, `decrypt` and `analyze`: the cipher engine on files."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .engine import analysis, envelope, imagefile
from .engine.errors import SecurePixError
from .engine.limits import DEFAULT_MAX_PIXELS

PASSWORD_ENV = "SECUREPIX_PASSWORD"
EXIT_OK = 0
EXIT_BAD_INPUT = 2


class UsageError(SecurePixError):
    pass


def register(commands: Any) -> None:
    for name, handler, helptext in (
        ("encrypt", run_encrypt, "encrypt images into SecurePix PNGs (NAME.spx.png)"),
        (
            "decrypt",
            run_decrypt,
            "decrypt SecurePix PNGs back to the original (NAME.png, NAME.dcm for DICOM, NAME.tiff for signed samples)",
        ),
    ):
        sub = commands.add_parser(name, help=helptext, description=helptext)
        sub.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
        where = sub.add_mutually_exclusive_group(required=True)
        where.add_argument("-o", "--outdir", type=Path, help="folder for the output files (created if missing)")
        where.add_argument("--output", type=Path, help="output file, for a single INPUT")
        sub.add_argument(
            "--password-file", type=Path, help=f"read the password from this file (else ${PASSWORD_ENV}, else a prompt)"
        )
        sub.add_argument("--force", action="store_true", help="overwrite existing output files")
        sub.add_argument("--json", action="store_true", help="print one JSON object per file instead of a progress bar")
        sub.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=argparse.SUPPRESS)
        if name == "encrypt":
            sub.add_argument("--cipher", choices=envelope.CIPHERS, default="chaotic")
        sub.set_defaults(handler=handler)

    analyze = commands.add_parser(
        "analyze", help="statistics of an image and its encryption (entropy, correlation, NPCR, UACI)"
    )
    analyze.add_argument("image", type=Path, metavar="IMAGE")
    analyze.add_argument("--json", action="store_true", help="print the statistics as one JSON object")
    analyze.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=argparse.SUPPRESS)
    analyze.set_defaults(handler=run_analyze)


def read_password(args: argparse.Namespace, confirm: bool) -> str:
    """--password-file, else $SECUREPIX_PASSWORD, else a prompt; never argv."""
    if args.password_file is not None:
        try:
            lines = args.password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the password file {args.password_file}: {exc}") from exc
        password = lines[0] if lines else ""
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Repeat password: ") != password:
            raise UsageError("the passwords do not match")
    else:
        raise UsageError(f"no password: use --password-file, set {PASSWORD_ENV}, or run on a terminal")
    if not password:
        raise UsageError("the password must not be empty")
    return password


def _output_path(args: argparse.Namespace, source: Path, suffix: str) -> Path:
    if args.output is not None:
        return Path(args.output)
    stem = source.name
    for known in (".spx.png", ".png", ".jpeg", ".jpg", ".bmp", ".tiff", ".tif", ".webp", ".dcm", ".dicom"):
        if stem.lower().endswith(known):
            stem = stem[: -len(known)]
            break
    return Path(args.outdir) / f"{stem}{suffix}"


def write_atomically(path: Path, data: bytes, overwrite: bool) -> None:
    """Write to a temporary file beside `path`, then rename: never a partial file."""
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


# bytes of the input -> bytes of the output, details for the report, output suffix
Converter = Callable[[bytes], tuple[bytes, dict[str, Any], str]]


def _run_batch(args: argparse.Namespace, convert: Converter) -> int:
    if args.output is not None and len(args.inputs) > 1:
        print("securepix: --output takes a single INPUT; use -o OUTDIR for several", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        args.password = read_password(args, confirm=args.command == "encrypt")
    except SecurePixError as exc:
        print(f"securepix: {exc}", file=sys.stderr)
        return exc.exit_code
    worst = EXIT_OK
    show_bar = len(args.inputs) > 1 and not args.json and sys.stderr.isatty()
    for source in _progress(args.inputs, show_bar):
        started = time.perf_counter()
        report: dict[str, Any] = {"input": str(source)}
        try:
            data, details, suffix = convert(_read_input(source))
            target = _output_path(args, source, suffix)
            write_atomically(target, data, overwrite=args.force)
        except SecurePixError as exc:
            worst = max(worst, exc.exit_code)
            report.update(status="error", output=None, error={"code": exc.code, "message": str(exc)})
            if not args.json:
                tqdm.write(f"securepix: {source}: {exc}", file=sys.stderr)
        else:
            report.update(output=str(target), status="ok", **details)
            report["seconds"] = round(time.perf_counter() - started, 3)
        if args.json:
            print(json.dumps(report), flush=True)
    return worst


def _progress(items: list[Path], show: bool) -> Iterator[Path]:
    # A terminal that reports no size (some pseudo-terminals) would get no bar at all.
    size = shutil.get_terminal_size((80, 24))
    yield from tqdm(items, unit="file", disable=not show, file=sys.stderr, ncols=size.columns, nrows=size.lines)


def _describe(image: imagefile.DecodedImage) -> dict[str, Any]:
    return {"width": image.width, "height": image.height, "mode": image.mode, "format": image.source_format}


def run_encrypt(args: argparse.Namespace) -> int:
    def convert(data: bytes) -> tuple[bytes, dict[str, Any], str]:
        result = envelope.encrypt_file(data, args.password, cipher=args.cipher, max_pixels=args.max_pixels)
        return result.data, {"cipher": args.cipher, **_describe(result.source)}, ".spx.png"

    return _run_batch(args, convert)


def run_decrypt(args: argparse.Namespace) -> int:
    def convert(data: bytes) -> tuple[bytes, dict[str, Any], str]:
        image = envelope.decrypt_file(data, args.password, max_pixels=args.max_pixels)
        output, suffix = imagefile.encode(image)
        return output, _describe(image), suffix

    return _run_batch(args, convert)


def run_analyze(args: argparse.Namespace) -> int:
    try:
        image = imagefile.decode(_read_input(args.image), args.max_pixels)
        report = {"input": str(args.image), **_describe(image), **analysis.analyze(image)}
    except SecurePixError as exc:
        print(f"securepix: {args.image}: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:20} {value}")
    return EXIT_OK
