"""State the replicas share: rate-limit counters and the client-status signal, in Redis when ``SBT_REDIS_URL`` is set.

Without it (the embedded default) the same code keeps them in this process's memory: the ``limits`` library's
``MemoryStorage`` and a plain counter. While Redis cannot be reached, each call falls back to this process's memory
for ``OUTAGE_RETRY_SECONDS`` before Redis is tried again, and the outage is logged once when it starts and once when
it ends (decision 0026 says why the service degrades to per-process limits rather than refusing requests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import redis
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import RateLimiter

from app.core.config import Settings

log = logging.getLogger(__name__)

OUTAGE_RETRY_SECONDS = 5.0
"""After a failed call, how long this process uses its own memory before it tries Redis again."""
REDIS_TIMEOUT_SECONDS = 0.5
"""Connect and socket timeout: a Redis that hangs must not hold every request for long."""
SIGNAL_POLL_SECONDS = 0.25
"""How long a replica trusts the shared signal's value it last read (bounds how late it sees a change)."""

Strategy = TypeVar("Strategy", bound=RateLimiter)
Result = TypeVar("Result")


class SharedState:
    """The process's handle on the shared store: Redis, or this process's memory."""

    def __init__(self, settings: Settings) -> None:
        self.key_prefix = settings.redis_key_prefix
        self.local_storage = MemoryStorage()
        self.redis: redis.Redis | None = None
        self.shared_storage: RedisStorage | None = None
        if settings.redis_url:
            self.redis = redis.Redis.from_url(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self.shared_storage = RedisStorage(
                settings.redis_url,
                connection_pool=self.redis.connection_pool,
                key_prefix=f"{self.key_prefix}:limits",
                wrap_exceptions=True,
            )
        self._lock = threading.Lock()
        self._down_until = 0.0

    @property
    def is_shared(self) -> bool:
        return self.redis is not None

    def available(self) -> bool:
        """Whether Redis is configured and not in a recent outage."""
        return self.redis is not None and time.monotonic() >= self._down_until

    def unreachable(self) -> bool:
        """Whether Redis is configured and does not answer a ping now (for ``/ready``)."""
        if self.redis is None:
            return False
        try:
            self.redis.ping()
        except redis.RedisError as error:
            self.mark_down(error)
            return True
        self.mark_up()
        return False

    def mark_down(self, error: Exception) -> None:
        with self._lock:
            first = self._down_until == 0.0
            self._down_until = time.monotonic() + OUTAGE_RETRY_SECONDS
        if first:
            log.error(
                "Redis (SBT_REDIS_URL) is unreachable: %s; rate limits and the token-endpoint throttle count per "
                "process, and client status is read from the database on every request, until it answers again",
                error,
            )

    def mark_up(self) -> None:
        if self._down_until == 0.0:
            return
        with self._lock:
            self._down_until = 0.0
        log.warning("Redis (SBT_REDIS_URL) answers again; rate limits and client status are shared again")

    def limiter(self, strategy: Callable[[MemoryStorage | RedisStorage], Strategy]) -> SharedLimiter[Strategy]:
        return SharedLimiter(self, strategy)

    def signal(self, name: str) -> ChangeSignal:
        return ChangeSignal(self, name)


class SharedLimiter(Generic[Strategy]):
    """One ``limits`` strategy on the shared storage, and the same strategy on this process's memory for outages."""

    def __init__(self, state: SharedState, strategy: Callable[[MemoryStorage | RedisStorage], Strategy]) -> None:
        self._state = state
        self._local = strategy(state.local_storage)
        self._shared = strategy(state.shared_storage) if state.shared_storage is not None else None

    def run(self, action: Callable[[Strategy], Result]) -> Result:
        """``action`` on the shared limiter; on this process's own while Redis is unreachable."""
        if self._shared is None or not self._state.available():
            return action(self._local)
        try:
            result = action(self._shared)
        except StorageError as error:
            self._state.mark_down(error.storage_error)
            return action(self._local)
        self._state.mark_up()
        return result


class ChangeSignal:
    """A number a writer bumps to tell every replica to drop what it cached (Redis ``INCR`` of one key).

    Without Redis it is this process's own counter: the process that made the change sees it at once, others only
    through their cache's time limit. ``version`` is None while Redis is unreachable: the reader then trusts
    nothing it cached."""

    def __init__(self, state: SharedState, name: str) -> None:
        self._state = state
        self._key = f"{state.key_prefix}:signal:{name}"
        self._lock = threading.Lock()
        self._local_version = 0
        self._read: tuple[int, float] | None = None  # (version, monotonic time it was read)

    def bump(self) -> None:
        with self._lock:
            self._local_version += 1
            self._read = None
        if self._state.redis is None:
            return
        try:
            self._state.redis.incr(self._key)
        except redis.RedisError as error:
            self._state.mark_down(error)
            log.error("could not tell the other replicas through Redis that %s changed: %s", self._key, error)

    def version(self) -> int | None:
        if self._state.redis is None:
            return self._local_version
        now = time.monotonic()
        read = self._read
        if read is not None and now - read[1] < SIGNAL_POLL_SECONDS:
            return read[0]
        if not self._state.available():
            return None
        try:
            raw = self._state.redis.get(self._key)
        except redis.RedisError as error:
            self._state.mark_down(error)
            return None
        self._state.mark_up()
        version = int(raw or 0)  # type: ignore[arg-type]  # redis-py types a sync GET's answer loosely
        self._read = (version, now)
        return version
