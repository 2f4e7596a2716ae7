"""Cost of one rate-limit decision (``app.api.ratelimit.FixedWindowLimiter.hit``) in process memory and in Redis.

Each figure is printed beside its raw limit measured in the same run: for memory, a bare ``dict`` increment under a
lock (what the hand-written counter it replaced did); for Redis, the same number of plain round trips (``GET``) that
one decision makes (``INCR``, ``GET``, ``TTL``), so the difference is the ``limits`` library's own cost.

    .venv/bin/python -m bench.shared_state_bench [--seconds 2] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time
import uuid
from collections.abc import Callable

import redis

from app.api.ratelimit import FixedWindowLimiter
from app.core.config import Environment, Settings
from app.core.shared_state import SharedState

ROUND_TRIPS_PER_DECISION = 3


def per_second(action: Callable[[int], object], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            action(count)
            count += 1
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"sbt-bench-{uuid.uuid4().hex[:8]}"
    base = Settings(_env_file=None, environment=Environment.TESTING, secret_key=secrets.token_hex(16))
    keys = [f"client:{index}" for index in range(50)]

    memory = FixedWindowLimiter(SharedState(base), limit=10**9, window_seconds=60)
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def bare_counter(index: int) -> None:
        with lock:
            key = keys[index % len(keys)]
            counts[key] = counts.get(key, 0) + 1

    memory_rate = per_second(lambda index: memory.hit(keys[index % len(keys)]), args.seconds)
    bare_rate = per_second(bare_counter, args.seconds)
    print(f"memory: {memory_rate:,.0f} decisions/s; raw limit (dict increment under a lock): {bare_rate:,.0f}/s")

    shared = SharedState(base.model_copy(update={"redis_url": args.redis, "redis_key_prefix": prefix}))
    in_redis = FixedWindowLimiter(shared, limit=10**9, window_seconds=60)
    client = redis.Redis.from_url(args.redis)
    try:
        redis_rate = per_second(lambda index: in_redis.hit(keys[index % len(keys)]), args.seconds)
        trips = per_second(lambda _: client.get(f"{prefix}:absent"), args.seconds) / ROUND_TRIPS_PER_DECISION
        print(
            f"redis:  {redis_rate:,.0f} decisions/s; raw limit ({ROUND_TRIPS_PER_DECISION} GET round trips each): "
            f"{trips:,.0f}/s ({redis_rate / trips:.0%} of it)"
        )
    finally:
        stale = list(client.scan_iter(f"{prefix}:*"))
        if stale:
            client.delete(*stale)
        client.close()


if __name__ == "__main__":
    main()
