"""API throttles, and the same counters for the decrypt page."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class DecryptUserThrottle(UserRateThrottle):
    scope = "decrypt_user"


class AddressThrottle(SimpleRateThrottle):
    """Per client address, whoever is logged in."""

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class DecryptAddressThrottle(AddressThrottle):
    scope = "decrypt_address"


class TokenAddressThrottle(AddressThrottle):
    scope = "token_address"


class CosignatureAddressThrottle(AddressThrottle):
    scope = "cosignature_address"


def decrypt_wait(request: Any) -> float | None:
    """For the decrypt page: the API's decryption throttles (same counters), as
    the seconds to wait, or None when the attempt may go ahead."""
    waits = []
    for throttle in (DecryptUserThrottle(), DecryptAddressThrottle()):
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]  # the views do not use it
            waits.append(throttle.wait() or 60.0)
    return max(waits) if waits else None
