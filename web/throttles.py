"""API throttles, and the same counters for the decrypt page.

DRF's own throttles keep a list of times per client and write it back (get,
then set): two server processes that read the list at once both let a request
through, so with N processes a limit lets up to N times as many through.  These
count in fixed windows with the cache's atomic increment instead (Redis INCR
when SECUREPIX_CACHE=redis; a lock in the per-process memory cache), so every
process sharing the cache counts each request once and the limit is exact: at
most N requests per client in each window of the rate's period.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class WindowThrottle(SimpleRateThrottle):
    """At most `num_requests` per client in each fixed window of `duration` seconds."""

    num_requests: int  # both set by SimpleRateThrottle.__init__ from the rate
    duration: int
    window_end: float = 0.0

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        return bool(self.count(f"{self.key}:{window}") <= self.num_requests)

    def count(self, key: str) -> int:
        """This request's number in the window: one atomic increment."""
        for _ in range(3):
            self.cache.add(key, 0, timeout=self.duration + 1)
            try:
                return int(self.cache.incr(key))
            except ValueError:  # the window's count expired between add and incr
                continue
        raise RuntimeError(f"the throttle count {key} keeps expiring")

    def wait(self) -> float | None:
        return max(self.window_end - self.timer(), 0.0) or None


class DecryptUserThrottle(WindowThrottle, UserRateThrottle):
    scope = "decrypt_user"


class AddressThrottle(WindowThrottle):
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
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 60.0)
    return max(waits) if waits else None
