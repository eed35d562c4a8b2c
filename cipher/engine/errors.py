"""One exception type per failure a user can act on.

Each carries the CLI exit code and the short machine-readable code used by the
API, so that both front ends map errors in one place.
"""

from __future__ import annotations


class SecurePixError(Exception):
    """Base class: bad input, exit code 2."""

    code = "bad_input"
    exit_code = 2
    reason = ""  # finer than `code` where the audit trail should tell cases apart


class NotAnImage(SecurePixError):
    code = "not_an_image"


class DamagedImage(NotAnImage):
    """An image file of a known kind that is truncated or corrupt."""

    code = "damaged_image"


class UnsupportedImage(SecurePixError):
    code = "unsupported_image"


class ImageTooLarge(SecurePixError):
    code = "image_too_large"


class NotSecurePixFile(SecurePixError):
    code = "not_securepix_file"


class KdfParametersRefused(SecurePixError):
    """A header asks for key-derivation work outside the accepted bounds."""

    code = "kdf_parameters_refused"


class AuthenticationFailed(SecurePixError):
    """Wrong password or altered file: exit code 3, never a garbage image."""

    code = "authentication_failed"
    exit_code = 3


class WrongPassword(AuthenticationFailed):
    reason = "wrong_password"


class TamperedFile(AuthenticationFailed):
    reason = "tampered_file"
