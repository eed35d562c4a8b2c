"""Every error a user can meet, once: its code, its HTTP status and its CLI
exit code (`ErrorCode`), and one exception type (`SecurePixError`) that
carries a code.  The DRF handler, the pages and the command line each map it
in one place (web/errors.py, web/pages.py, securepix_site/cli.py); the README's
error table is tested against this enum."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

EXIT_OK = 0


class ErrorCode(Enum):
    """(code, HTTP status, CLI exit code, meaning).  Exit codes: 1 the
    platform failed, 2 bad input or usage, 3 wrong password or altered file,
    4 refused (who you are, or the policy)."""

    # Input
    INVALID = ("invalid", 400, 2, "a field is missing or wrong (`fields` names each)")
    USAGE = ("usage", 400, 2, "the command line was called wrongly")
    BAD_INPUT = ("bad_input", 400, 2, "the input cannot be used")
    PARSE_ERROR = ("parse_error", 400, 2, "the request body cannot be parsed")
    NOT_AN_IMAGE = ("not_an_image", 415, 2, "the file is not an image SecurePix reads")
    DAMAGED_IMAGE = ("damaged_image", 400, 2, "an image file of a known kind is truncated or corrupt")
    UNSUPPORTED_IMAGE = ("unsupported_image", 415, 2, "an image kind, mode or encoding SecurePix does not support")
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415, 2, "the request's content type is not accepted")
    IMAGE_TOO_LARGE = ("image_too_large", 413, 2, "the image has more pixels than the limit")
    UPLOAD_TOO_LARGE = ("upload_too_large", 413, 2, "the upload has more bytes than the limit")
    TOO_MANY_FILES = ("too_many_files", 413, 2, "a job has more files than the limit")
    NOT_SECUREPIX_FILE = ("not_securepix_file", 400, 2, "the file is not a SecurePix file")
    KDF_PARAMETERS_REFUSED = ("kdf_parameters_refused", 400, 2, "the file asks for too much key-derivation work")
    BAD_MODEL = ("bad_model", 400, 2, "no such classifier, or its weights are not here")
    NO_ACKNOWLEDGMENT_NEEDED = ("no_acknowledgment_needed", 400, 2, "an acknowledgment where the policy asks for none")
    # Decryption
    WEAK_PASSWORD = ("weak_password", 400, 2, "the password is too weak to protect a file (`reasons` say why)")
    # Decryption
    AUTHENTICATION_FAILED = ("authentication_failed", 400, 3, "wrong password, or the file was altered")
    # Who you are
    NOT_AUTHENTICATED = ("not_authenticated", 401, 4, "no credentials were given")
    BAD_CREDENTIALS = ("bad_credentials", 401, 4, "wrong username or password")
    BAD_TOKEN = ("bad_token", 401, 4, "an unknown or malformed API token")
    TOKEN_REVOKED = ("token_revoked", 401, 4, "the API token was revoked")
    TOKEN_EXPIRED = ("token_expired", 401, 4, "the API token has expired")
    ACCOUNT_DISABLED = ("account_disabled", 401, 4, "the account is disabled")
    OTP_REQUIRED = ("otp_required", 401, 4, "a one-time password is needed")
    OTP_INVALID = ("otp_invalid", 401, 4, "the one-time password is wrong or was used")
    SECOND_FACTOR_REQUIRED = ("second_factor_required", 403, 4, "this account must use its second factor first")
    FORBIDDEN = ("forbidden", 403, 4, "your role does not allow this")
    PERMISSION_DENIED = ("permission_denied", 403, 4, "not allowed")
    CSRF_FAILED = ("csrf_failed", 403, 4, "the form's CSRF token is missing or wrong")
    LOCKED_OUT = ("locked_out", 429, 4, "too many failed logins: wait for the lockout to end")
    THROTTLED = ("throttled", 429, 4, "too many attempts: wait (`retry_after_seconds`)")
    TOO_MANY_JOBS = ("too_many_jobs", 429, 4, "as many of your jobs are running as allowed: wait, or cancel one")
    # The mismatch policy
    ACKNOWLEDGMENT_REQUIRED = ("acknowledgment_required", 409, 4, "the image looks like another domain: acknowledge it")
    BLOCKED_BY_POLICY = ("blocked_by_policy", 403, 4, "the policy blocks this declared domain for this image")
    # The request itself
    NOT_FOUND = ("not_found", 404, 2, "no such object or endpoint")
    EXPIRED = ("expired", 410, 2, "the stored result has expired and was deleted")
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, 2, "the endpoint does not take this HTTP method")
    NOT_ACCEPTABLE = ("not_acceptable", 406, 2, "the requested response type is not offered")
    SERVER_ERROR = ("server_error", 500, 1, "the platform failed (logged)")
    BUSY = ("busy", 503, 1, "the server is at its limit of key derivations: try again shortly")
    MODELS_UNAVAILABLE = ("models_unavailable", 503, 1, "the model process does not answer: try again shortly")
    QUEUE_LOST = (
        "queue_lost",
        503,
        1,
        "the job queue lost the task of a job's file or an audit export, or could not take it: submit it again",
    )

    def __init__(self, code: str, status: int, exit_code: int, meaning: str) -> None:
        self.code = code
        self.status = status
        self.exit_code = exit_code
        self.meaning = meaning

    @classmethod
    def from_code(cls, code: str) -> ErrorCode | None:
        return _BY_CODE.get(code)


_BY_CODE = {member.code: member for member in ErrorCode}


class SecurePixError(Exception):
    """An error the user can act on.  `reason` is finer than the code where the
    audit trail should tell cases apart (a wrong password from an altered file)."""

    error_code: ErrorCode = ErrorCode.BAD_INPUT
    reason: str = ""

    def __init__(self, message: str, *, code: ErrorCode | None = None, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.error_code = code
        self.details: dict[str, Any] = dict(details or {})

    @property
    def code(self) -> str:
        return self.error_code.code

    @property
    def status(self) -> int:
        return self.error_code.status

    @property
    def exit_code(self) -> int:
        return self.error_code.exit_code

    @property
    def audit_reason(self) -> str:
        return self.reason or self.code


class InvalidInput(SecurePixError):
    """A request's fields are wrong: `fields` names each field's problems."""

    error_code = ErrorCode.INVALID

    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        name, problems = next(iter(fields.items()))
        super().__init__(f"{name}: {problems[0]}", details={"fields": dict(fields)})
        self.fields = dict(fields)
        self.reason = f"invalid_{name}"[:60]


class UsageError(SecurePixError):
    error_code = ErrorCode.USAGE


class NotAnImage(SecurePixError):
    error_code = ErrorCode.NOT_AN_IMAGE


class DamagedImage(NotAnImage):
    """An image file of a known kind that is truncated or corrupt."""

    error_code = ErrorCode.DAMAGED_IMAGE


class UnsupportedImage(SecurePixError):
    error_code = ErrorCode.UNSUPPORTED_IMAGE


class ImageTooLarge(SecurePixError):
    error_code = ErrorCode.IMAGE_TOO_LARGE


class UploadTooLarge(SecurePixError):
    error_code = ErrorCode.UPLOAD_TOO_LARGE


class NotSecurePixFile(SecurePixError):
    error_code = ErrorCode.NOT_SECUREPIX_FILE


class KdfParametersRefused(SecurePixError):
    """A header asks for key-derivation work outside the accepted bounds."""

    error_code = ErrorCode.KDF_PARAMETERS_REFUSED


class AuthenticationFailed(SecurePixError):
    """Wrong password or altered file: never a garbage image."""

    error_code = ErrorCode.AUTHENTICATION_FAILED


class WrongPassword(AuthenticationFailed):
    reason = "wrong_password"


class TamperedFile(AuthenticationFailed):
    reason = "tampered_file"


class Forbidden(SecurePixError):
    error_code = ErrorCode.FORBIDDEN

    def __init__(self, message: str = "your role does not allow this") -> None:
        super().__init__(message)
