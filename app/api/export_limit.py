"""At most ``SBT_EXPORT_CONCURRENCY_PER_CLIENT`` streaming exports per client at once (bounded expensive work).

The exports (audit cases CSV/NDJSON, findings CSV, the ledger) read the whole table in batches; one client running
many at once would hold the process's database connections. The count is kept in process memory, unlike the rate
limit (``app.api.ratelimit``, shared through Redis when configured): what it protects, the connection pool, is the
process's own (decision 0026). A slot is taken when the
handler returns its response and released when the stream ends, fails, or is dropped unread. Over the limit:
429 problem+json with ``Retry-After``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from app.api.dependencies.auth import current_principal
from app.core.actor import Principal
from app.core.problems import TooManyRequests

RETRY_AFTER_SECONDS = 5
_STATE = "sbt_export_limiter"
_create_lock = threading.Lock()
Chunk = TypeVar("Chunk", str, bytes)


class ExportLimiter:
    """Thread-safe count of the streams each client has open (sync endpoints and streams run in a pool)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def try_acquire(self, client_id: str) -> bool:
        with self._lock:
            count = self._open.get(client_id, 0)
            if count >= self.limit:
                return False
            self._open[client_id] = count + 1
            return True

    def release(self, client_id: str) -> None:
        with self._lock:
            count = self._open.get(client_id, 0) - 1
            if count > 0:
                self._open[client_id] = count
            else:
                self._open.pop(client_id, None)

    def open_streams(self, client_id: str) -> int:
        with self._lock:
            return self._open.get(client_id, 0)


class _Slot:
    """One taken slot; releasing it twice (stream end and garbage collection) releases once."""

    def __init__(self, limiter: ExportLimiter, client_id: str) -> None:
        self._limiter, self._client_id = limiter, client_id
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._limiter.release(self._client_id)


def _guarded(slot: _Slot, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    try:
        yield from chunks
    finally:
        slot.release()


class ExportGate:
    def __init__(self, limiter: ExportLimiter, client_id: str) -> None:
        self.limiter, self.client_id = limiter, client_id

    def stream(self, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        """Take a slot for this client (429 when none is free) and hold it until ``chunks`` is done with."""
        if not self.limiter.try_acquire(self.client_id):
            raise TooManyRequests(
                f"This client already runs {self.limiter.limit} exports at once (per process); retry after "
                f"{RETRY_AFTER_SECONDS} s or when one of them finishes.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        slot = _Slot(self.limiter, self.client_id)
        guarded = _guarded(slot, chunks)
        weakref.finalize(guarded, slot.release)  # a stream that is never iterated (client gone) frees its slot
        return guarded


def export_limiter(request: Request) -> ExportLimiter:
    limiter: ExportLimiter | None = getattr(request.app.state, _STATE, None)
    if limiter is None:
        with _create_lock:
            limiter = getattr(request.app.state, _STATE, None)
            if limiter is None:
                limiter = ExportLimiter(request.app.state.settings.export_concurrency_per_client)
                setattr(request.app.state, _STATE, limiter)
    return limiter


async def get_export_gate(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> ExportGate:
    return ExportGate(export_limiter(request), principal.client_id)


ExportGateDep = Annotated[ExportGate, Depends(get_export_gate)]
