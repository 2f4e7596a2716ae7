"""Throttle of failed client authentication at ``POST /oauth/token``, checked before any scrypt work.

Failures are counted per client id (``SBT_AUTH_FAILURES_PER_CLIENT``) and per source address
(``SBT_AUTH_FAILURES_PER_ADDRESS``) over a sliding window of ``SBT_AUTH_FAILURE_WINDOW_SECONDS`` (the ``limits``
library's moving window). Past either limit the endpoint answers 429 ``slow_down`` with ``Retry-After`` without
looking at the secret. A success clears the client's count (its owner has the secret) but not the address's, so one
good client cannot launder guesses for others from the same address. Like ``app/api/ratelimit.py`` the counts live
in the shared state (``app.core.shared_state``): in Redis, one count across the replicas, when ``SBT_REDIS_URL`` is
set; else in process memory, where each worker enforces its own.
"""

from __future__ import annotations

import math
import time

from fastapi import FastAPI
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp

from app.core.config import Settings
from app.core.shared_state import SharedState

STATE_ATTRIBUTE = "token_throttle"
NAMESPACE = "token-failures"


class FailureThrottle:
    def __init__(self, shared: SharedState, *, per_client: int, per_address: int, window_seconds: int) -> None:
        self.window_seconds = window_seconds
        self._per_client = RateLimitItemPerSecond(per_client, window_seconds, namespace=NAMESPACE)
        self._per_address = RateLimitItemPerSecond(per_address, window_seconds, namespace=NAMESPACE)
        self._limiter = shared.limiter(MovingWindowRateLimiter)

    def _counted(self, client_id: str | None, address: str) -> list[tuple[RateLimitItem, str]]:
        counted: list[tuple[RateLimitItem, str]] = [(self._per_address, f"address:{address}")]
        if client_id is not None:
            counted.append((self._per_client, f"client:{client_id}"))
        return counted

    def retry_after(self, client_id: str | None, address: str) -> int:
        """Seconds to wait before this client id or address may try again (0: go ahead)."""

        def wait(limiter: MovingWindowRateLimiter) -> int:
            waits = [0]
            for item, key in self._counted(client_id, address):
                if not limiter.test(item, key):
                    # Blocked until the oldest failure still counted leaves the window.
                    reset = limiter.get_window_stats(item, key).reset_time
                    waits.append(max(1, math.ceil(reset - time.time())))
            return max(waits)

        return self._limiter.run(wait)

    def failed(self, client_id: str | None, address: str) -> None:
        def count(limiter: MovingWindowRateLimiter) -> None:
            for item, key in self._counted(client_id, address):
                limiter.hit(item, key)  # never refused here: a blocked id or address is refused before

        self._limiter.run(count)

    def succeeded(self, client_id: str) -> None:
        self._limiter.run(lambda limiter: limiter.clear(self._per_client, f"client:{client_id}"))


def token_throttle(app: ASGIApp) -> FailureThrottle:
    throttle: FailureThrottle = getattr(app.state, STATE_ATTRIBUTE)  # type: ignore[attr-defined]
    return throttle


def install_token_throttle(app: FastAPI, settings: Settings, shared: SharedState) -> None:
    setattr(
        app.state,
        STATE_ATTRIBUTE,
        FailureThrottle(
            shared,
            per_client=settings.auth_failures_per_client,
            per_address=settings.auth_failures_per_address,
            window_seconds=settings.auth_failure_window_seconds,
        ),
    )
