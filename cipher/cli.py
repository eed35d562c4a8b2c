"""`securepix encrypt`, `decrypt` and `analyze`: the cipher engine on files."""

from __future__ import annotations

import argparse
import errno
import getpass
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm

from core import naming
from core.errors import EXIT_OK, ErrorCode, SecurePixError, UsageError
from imaging import imagefile
from imaging.limits import DEFAULT_MAX_PIXELS

from .engine import analysis, envelope
from .engine.kdf import check_password
from .passwords import check_file_password

PASSWORD_ENV = "SECUREPIX_PASSWORD"


def register(commands: Any) -> None:
    for name, handler, helptext in (
        ("encrypt", run_encrypt, f"encrypt images into SecurePix PNGs (NAME{naming.ENCRYPTED_SUFFIX})"),
        (
            "decrypt",
            run_decrypt,
            "decrypt SecurePix PNGs back to the original (NAME.png, NAME.dcm for DICOM, NAME.tiff for signed samples)",
        ),
    ):
        sub = commands.add_parser(name, help=helptext, description=helptext)
        sub.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
        sub.add_argument(
            "-o",
            "--output",
            help="the output file for one INPUT; a folder (created if missing) for several, or when it is a folder "
            "or ends with /; default: beside each INPUT",
        )
        sub.add_argument(
            "--password-file", type=Path, help=f"read the password from this file (else ${PASSWORD_ENV}, else a prompt)"
        )
        sub.add_argument("--force", action="store_true", help="overwrite existing output files")
        sub.add_argument("--json", action="store_true", help="print one JSON object per file instead of a progress bar")
        sub.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=argparse.SUPPRESS)
        if name == "encrypt":
            sub.add_argument("--cipher", choices=envelope.CIPHERS, default="chaotic")
            sub.add_argument(
                "--allow-weak-password",
                action="store_true",
                help="encrypt even with a password the file-password policy calls weak (batch scripts of old files)",
            )
        sub.set_defaults(handler=handler, uses_apps=False)

    analyze = commands.add_parser(
        "analyze", help="statistics of an image and its encryption (entropy, correlation, NPCR, UACI)"
    )
    analyze.add_argument("image", type=Path, metavar="IMAGE")
    analyze.add_argument("--json", action="store_true", help="print the statistics as one JSON object")
    analyze.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=argparse.SUPPRESS)
    analyze.set_defaults(handler=run_analyze, uses_apps=False)


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
    check_password(password)
    return password


def _output_path(args: argparse.Namespace, source: Path, name: str) -> Path:
    """`name` is the output's file name (core.naming).  -o names a folder for
    several inputs, or when it is one or is written as one (ending with /)."""
    if args.output is None:
        return source.parent / name
    output = Path(args.output)
    if len(args.inputs) > 1 or output.is_dir() or args.output.endswith(("/", os.sep)):
        return output / name
    return output


# Writing failed for want of room or of a working disk: the platform's failure, not the user's.
_DISK_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)


def write_atomically(path: Path, write: Callable[[BinaryIO], object], overwrite: bool) -> None:
    """`write` into a temporary file beside `path`, then rename: never a partial
    file.  A folder that cannot be made or written, or a full disk, is a
    one-line error."""
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; use --force to overwrite it")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: {path.parent} is not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, path)
    except BaseException as exc:
        os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise


def _write_error(path: Path, error: OSError) -> SecurePixError:
    message = f"cannot write {path}: {error.strerror or error}"
    if error.errno in _DISK_FAILURES:
        return SecurePixError(message, code=ErrorCode.SERVER_ERROR)
    return UsageError(message)


def _read_input(path: Path) -> bytes:
    with _opened_input(path) as handle:
        return handle.read()


@contextmanager
def _opened_input(path: Path) -> Iterator[BinaryIO]:
    """A regular file, open for reading as the container is parsed (it is never
    held whole in memory); anything else (a pipe, /dev/stdin) read first."""
    try:
        with path.open("rb") as handle:
            yield handle if stat.S_ISREG(os.fstat(handle.fileno()).st_mode) else io.BytesIO(handle.read())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


# An input file -> what writes the output, details for the report, the output's file name
Converter = Callable[[Path], tuple[Callable[[BinaryIO], object], dict[str, Any], str]]


def _check_outputs(args: argparse.Namespace) -> None:
    if args.output is not None and Path(args.output).is_file() and len(args.inputs) > 1:
        raise UsageError(f"{args.output} is a file: -o names a folder for several inputs")


def _run_batch(args: argparse.Namespace, convert: Converter) -> int:
    worst = EXIT_OK
    show_bar = len(args.inputs) > 1 and not args.json and sys.stderr.isatty()
    for source in _progress(args.inputs, show_bar):
        started = time.perf_counter()
        report: dict[str, Any] = {"input": str(source)}
        try:
            write, details, name = convert(source)
            target = _output_path(args, source, name)
            write_atomically(target, write, overwrite=args.force)
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
    _check_outputs(args)
    password = read_password(args, confirm=True)
    if not args.allow_weak_password:
        check_file_password(password)

    def convert(source: Path) -> tuple[Callable[[BinaryIO], object], dict[str, Any], str]:
        # The file's bytes go once decoded (while the key is derived), and the
        # image is encrypted in its own memory: one copy of the image is all that is held.
        def decode() -> imagefile.DecodedImage:
            return imagefile.decode(_read_input(source), args.max_pixels)

        result = envelope.encrypt_decoding(decode, password, cipher=args.cipher, consume=True)
        details = {"cipher": args.cipher, **_describe(result.source)}
        return result.write_to, details, naming.encrypted_name(source.name)

    return _run_batch(args, convert)


def run_decrypt(args: argparse.Namespace) -> int:
    _check_outputs(args)
    password = read_password(args, confirm=False)

    def convert(source: Path) -> tuple[Callable[[BinaryIO], object], dict[str, Any], str]:
        with _opened_input(source) as encrypted:
            image = envelope.decrypt_file(encrypted, password, max_pixels=args.max_pixels, overlap=True)
        suffix = imagefile.suffix(image)
        return partial(imagefile.write, image=image), _describe(image), naming.decrypted_name(source.name, suffix)

    return _run_batch(args, convert)


def run_analyze(args: argparse.Namespace) -> int:
    image = imagefile.decode(_read_input(args.image), args.max_pixels)
    report = {"input": str(args.image), **_describe(image), **analysis.analyze(image)}
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:20} {value}")
    return EXIT_OK
