"""What a job request is, for the API (and the pages): the fields are read and
the rules checked here, once, before any file is staged."""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cipher.contracts import EncryptRequest
from classification.contracts import check_acknowledgment_reason, check_domain
from core.errors import ErrorCode, InvalidInput, SecurePixError, UploadTooLarge
from core.forms import Upload, text

KINDS = ("encrypt", "classify")
# A job's state as the API reports it (computed: services._summary_of; named in
# the OpenAPI schema, settings.SPECTACULAR_SETTINGS, as are the models' states).
JOB_STATES = ("running", "finished", "cancelled")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks are fine in a reason


def file_name(name: str) -> str:
    """The last part of a file's name (either slash), without control characters."""
    return _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1])[:255]


@dataclass(frozen=True)
class JobLimits:
    max_files: int
    max_bytes: int  # all the files of a job, after unpacking an archive


@dataclass(frozen=True)
class JobFileRequest:
    upload: Upload
    declared_domain: str = ""
    acknowledgment_reason: str = ""


@dataclass(frozen=True)
class JobRequest:
    kind: str
    files: list[JobFileRequest]
    password: str = field(repr=False, default="")
    cipher: str = "chaotic"

    @classmethod
    def from_form(
        cls,
        fields: Mapping[str, Any],
        files: Sequence[tuple[str, bytes]],
        archives: Sequence[tuple[str, bytes]],
        limits: JobLimits,
    ) -> JobRequest:
        kind = text(fields, "kind", "encrypt", max_length=16) or "encrypt"
        if kind not in KINDS:
            raise InvalidInput({"kind": [f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}"]})
        if len(archives) > 1:
            raise InvalidInput({"archive": ["send at most one ZIP archive"]})
        uploads = [(file_name(name), data) for name, data in files]
        if archives:
            unpacked = unpack_zip(archives[0][1], limits)
            if not unpacked:
                raise InvalidInput({"archive": ["the archive holds no files"]})
            uploads += unpacked
        if not uploads:
            raise InvalidInput({"files": ["choose the files of the job (or one ZIP archive)"]})
        check_size(uploads, limits)
        count = len(uploads)
        domains = (
            _per_file(fields, "declared_domains", count) or [text(fields, "declared_domain", max_length=32)] * count
        )
        reasons = _per_file(fields, "acknowledgment_reasons", count) or [""] * count
        return cls(
            kind=kind,
            files=[
                JobFileRequest(Upload(name, data, "files", "" if data else "the file is empty"), domain, reason.strip())
                for (name, data), domain, reason in zip(uploads, domains, reasons, strict=True)
            ],
            password=text(fields, "password", max_length=1024),
            cipher=text(fields, "cipher", "chaotic", max_length=32) or "chaotic",
        )

    def check(self) -> None:
        for number, item in enumerate(self.files, 1):
            try:
                item.upload.check()
                if self.kind == "encrypt" or item.declared_domain:
                    check_domain(item.declared_domain)
                if item.acknowledgment_reason:
                    check_acknowledgment_reason(item.acknowledgment_reason)
            except InvalidInput as error:
                name, problems = next(iter(error.fields.items()))
                raise InvalidInput({name: [f"file {number} ({item.upload.name}): {problems[0]}"]}) from None
        if self.kind == "encrypt":
            # the password and cipher rules of a single encryption, once for the job
            first = self.files[0]
            EncryptRequest(first.upload, self.password, first.declared_domain, self.cipher).check()

    @property
    def total_bytes(self) -> int:
        return sum(len(item.upload.data) for item in self.files)


def _per_file(fields: Mapping[str, Any], name: str, count: int) -> list[str] | None:
    """A JSON list of strings, one per file in order (None when absent)."""
    raw = text(fields, name, max_length=200_000)
    if not raw:
        return None
    try:
        values = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput({name: ["must be a JSON list of strings, one per file"]}) from None
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise InvalidInput({name: ["must be a JSON list of strings, one per file"]})
    if any(_CONTROL.search(value) for value in values):
        raise InvalidInput({name: ["must not hold control characters"]})
    if len(values) != count:
        raise InvalidInput({name: [f"has {len(values)} entries for {count} files"]})
    return values


def check_size(uploads: Sequence[tuple[str, bytes]], limits: JobLimits) -> None:
    if len(uploads) > limits.max_files:
        raise SecurePixError(
            f"a job may have at most {limits.max_files} files; this one has {len(uploads)}",
            code=ErrorCode.TOO_MANY_FILES,
        )
    if sum(len(data) for _, data in uploads) > limits.max_bytes:
        raise UploadTooLarge(f"the files of a job may add up to at most {limits.max_bytes} bytes")


def unpack_zip(data: bytes, limits: JobLimits) -> list[tuple[str, bytes]]:
    """The files of a ZIP archive (folders flattened, directories and hidden
    files left out), with the counts and sizes checked from its directory
    before anything is inflated, and again while inflating."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [
            info
            for info in archive.infolist()
            if file_name(info.filename)  # not a folder, nor a name Python's zipfile cut to nothing
            and not file_name(info.filename).startswith(".")  # hidden files, macOS resource forks
            and "__MACOSX" not in info.filename
        ]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, IndexError) as error:
        problem = f"the archive is not a ZIP file SecurePix reads: {error}"
        raise SecurePixError(problem, code=ErrorCode.BAD_INPUT) from None
    check_size([(member.filename, b"") for member in members], limits)
    if sum(info.file_size for info in members) > limits.max_bytes:
        raise UploadTooLarge(f"the archive unpacks to more than {limits.max_bytes} bytes")
    files = []
    left = limits.max_bytes
    for info in members:
        try:
            with archive.open(info) as member:
                content = member.read(left + 1)  # never more than the limit, whatever the header says
        except RuntimeError:  # zipfile's word for an encrypted entry
            problem = f"{file_name(info.filename)} in the archive is encrypted: send it without a ZIP password"
            raise SecurePixError(problem, code=ErrorCode.BAD_INPUT) from None
        except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError, zlib.error):
            problem = f"{file_name(info.filename)} in the archive is damaged or packed in a way SecurePix does not read"
            raise SecurePixError(problem, code=ErrorCode.BAD_INPUT) from None
        left -= len(content)
        if left < 0:
            raise UploadTooLarge(f"the archive unpacks to more than {limits.max_bytes} bytes")
        files.append((file_name(info.filename), content))
    return files
