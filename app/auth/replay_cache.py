"""One-time use of ``jti`` values (DPoP proofs, client assertions) within their lifetime.

The interface is one call so that a shared store can stand in for the in-process default when several replicas
serve one deployment: Redis does it with ``SET key 1 NX PXAT until-in-ms``. The in-process store is exact for one
process; with several, a proof could be replayed once per other replica within its short window.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol


class ReplayCache(Protocol):
    def first_use(self, key: str, until: float) -> bool:
        """Remember ``key`` until ``until`` (Unix time); False if it is already remembered (a replay)."""
        ...


class InProcessReplayCache:
    """Keys with their expiry, forgotten once expired: memory is bounded by the use rate times the window."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []

    def first_use(self, key: str, until: float) -> bool:
        now = self._clock()
        with self._lock:
            while self._expiries and self._expiries[0][0] <= now:
                expiry, expired = heapq.heappop(self._expiries)
                if self._until.get(expired) == expiry:
                    del self._until[expired]
            if key in self._until:
                return False
            self._until[key] = until
            heapq.heappush(self._expiries, (until, key))
            return True
