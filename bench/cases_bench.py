"""Case-creation throughput over HTTP: uvicorn, N concurrent clients, SQLite vs PostgreSQL.

.venv/bin/python -m bench.cases_bench --requests 2000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from bench.common import describe_latencies, live_server, scratch_database
from tests.factories import case_payload


async def _drive(base_url: str, token: str, total: int, concurrency: int) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(index)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        headers = {"Authorization": f"Bearer {token}"}

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter()
                response = await client.post("/api/v1/cases", json=case_payload(), headers=headers)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 201

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(
        f"POST /api/v1/cases, {args.requests} requests, {args.concurrency} concurrent clients, {args.workers} workers"
    )
    for kind in args.databases:
        with scratch_database(kind) as url, live_server(url, workers=args.workers) as server:
            token = server.token("demo-bawaslu")
            asyncio.run(_drive(server.base_url, token, min(50, args.requests), args.concurrency))  # warm-up
            latencies, elapsed, failures = asyncio.run(_drive(server.base_url, token, args.requests, args.concurrency))
            print(describe_latencies(f"{kind:10s}", latencies, elapsed) + f"  failures={failures}")


if __name__ == "__main__":
    main()
