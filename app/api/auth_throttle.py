"""Throttle of failed client authentication at ``POST /oauth/token``, checked before any scrypt work.

Failures are counted per client id (``SBT_AUTH_FAILURES_PER_CLIENT``) and per source address
(``SBT_AUTH_FAILURES_PER_ADDRESS``) over a sliding window of ``SBT_AUTH_FAILURE_WINDOW_SECONDS``. Past either
limit the endpoint answers 429 ``slow_down`` with ``Retry-After`` without looking at the secret. A success clears
the client's count (its owner has the secret) but not the address's, so one good client cannot launder guesses
for others from the same address. Like ``app/api/ratelimit.py`` the counts live in process memory: each worker or
replica enforces its own, so with several processes the effective limit is multiplied by their number.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import FastAPI
from starlette.types import ASGIApp

from app.core.config import Settings

MAX_KEYS = 100_000
STATE_ATTRIBUTE = "token_throttle"


class FailureThrottle:
    def __init__(
        self,
        *,
        per_client: int,
        per_address: int,
        window_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self.per_address = per_address
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def _wait(self, key: str, limit: int, now: float) -> int:
        times = self._recent(key, now)
        if times is None or len(times) < limit:
            return 0
        # Blocked until enough of the oldest failures leave the window to drop below the limit.
        return max(1, math.ceil(times[len(times) - limit] + self.window_seconds - now))

    def retry_after(self, client_id: str | None, address: str) -> int:
        """Seconds to wait before this client id or address may try again (0: go ahead)."""
        now = self._clock()
        with self._lock:
            waits = [self._wait(f"address:{address}", self.per_address, now)]
            if client_id is not None:
                waits.append(self._wait(f"client:{client_id}", self.per_client, now))
            return max(waits)

    def failed(self, client_id: str | None, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > MAX_KEYS:  # addresses and guessed ids must not grow the map forever
                for key in list(self._failures):
                    self._recent(key, now)
            keys = [f"address:{address}"] + ([f"client:{client_id}"] if client_id is not None else [])
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, client_id: str) -> None:
        with self._lock:
            self._failures.pop(f"client:{client_id}", None)


def token_throttle(app: ASGIApp) -> FailureThrottle:
    throttle: FailureThrottle = getattr(app.state, STATE_ATTRIBUTE)  # type: ignore[attr-defined]
    return throttle


def install_token_throttle(app: FastAPI, settings: Settings) -> None:
    setattr(
        app.state,
        STATE_ATTRIBUTE,
        FailureThrottle(
            per_client=settings.auth_failures_per_client,
            per_address=settings.auth_failures_per_address,
            window_seconds=settings.auth_failure_window_seconds,
        ),
    )
