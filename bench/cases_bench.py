"""Case writes and reads over HTTP: uvicorn, N concurrent clients, SQLite vs PostgreSQL, in one run.

Per database: ``POST /api/v1/cases`` (creates), then authenticated ``GET /api/v1/cases/{id}`` (get-one, read-audited)
and ``GET /api/v1/cases?limit=50`` (a list of 50, 50 read-audit rows) at the same concurrency, each ratio printed
beside the get-one rate measured in the same run (targets, issue 14: creates >= 0.5x, list of 50 >= 0.3x), and the
creates' p99 beside the rate below which their mean latency alone is over 100 ms. With N clients each waiting for
its answer before it sends again, the mean latency is N / rate (Little's law): below N / 0.1 s creates a second
the mean is over 100 ms, and a p99 under it would need the slowest 1 % to carry the whole excess (here the p99
runs at about twice the mean). The get-one figure of the same run says whether this machine serves that rate.

.venv/bin/python -m bench.cases_bench --seconds 30 --concurrency 16
.venv/bin/python -m bench.cases_bench --load-generator httpx --requests 2000   # where wrk is not installed

The load comes from wrk (``apt-get install wrk``: a compiled client, which leaves the cores to the server) when it
is installed, else from Python's httpx in this process, which competes with the server for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from bench import wrk
from bench.common import Server, describe_latencies, live_server, load_average, percentile, scratch_database
from tests.factories import case_payload

Sender = Callable[[httpx.AsyncClient, dict[str, str], int], Awaitable[httpx.Response]]


async def _run(
    base_url: str, token: str, total: int, concurrency: int, send: Sender, expected: int
) -> tuple[list[float], float, int]:
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
                index = queue.get_nowait()
                started = time.perf_counter()
                response = await send(client, headers, index)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != expected

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, failures


def _creating(created: list[str]) -> Sender:
    async def create(client: httpx.AsyncClient, headers: dict[str, str], _index: int) -> httpx.Response:
        response = await client.post("/api/v1/cases", json=unique_case(), headers=headers)
        if response.status_code == 201:
            created.append(response.json()["id"])
        return response

    return create


def _getting(created: list[str]) -> Sender:
    async def get_one(client: httpx.AsyncClient, headers: dict[str, str], index: int) -> httpx.Response:
        return await client.get(f"/api/v1/cases/{created[index % len(created)]}", headers=headers)

    return get_one


async def _list_50(client: httpx.AsyncClient, headers: dict[str, str], _index: int) -> httpx.Response:
    return await client.get("/api/v1/cases", params={"limit": 50}, headers=headers)


async def _drive(base_url: str, token: str, total: int, concurrency: int) -> tuple[list[float], float, int]:
    """Creates only (``bench.ledger_bench`` drives them with and without the ledger)."""
    return await _run(base_url, token, total, concurrency, _creating([]), 201)


_nips = itertools.count(1)


def unique_case() -> dict[str, object]:
    """A case of its own ASN (the factory's NIPs repeat after 999) reported today: no duplicate or overdue
    finding, so the bench measures a plain create."""
    serial = next(_nips)
    sequence, rest = serial % 999 + 1, serial // 999  # a NIP's sequence number runs 001-999
    nip = f"19800517{2005 + rest % 15:04d}03{1 + rest // 15 % 2}{sequence:03d}"
    today = time.strftime("%Y-%m-%d")
    return case_payload(nip=nip, incident_date=today, reported_date=today)


P99_TARGET_SECONDS = 0.1
"""Issue 14: creates' p99 at most 100 ms at 16 clients."""


@dataclass(frozen=True, slots=True)
class Measured:
    rate: float
    p99_ms: float


def mean_under_target_rate(concurrency: int) -> float:
    """The throughput below which the mean latency is over 100 ms: N clients in a closed loop wait N / rate on
    average (Little's law)."""
    return concurrency / P99_TARGET_SECONDS


def _with_httpx(
    kind: str, server: Server, token: str, created: list[str], requests: int, concurrency: int
) -> dict[str, Measured]:
    rates: dict[str, Measured] = {}
    senders = (("create", _creating(created), 201), ("get-one", _getting(created), 200), ("list-50", _list_50, 200))
    for label, send, expected in senders:
        latencies, elapsed, failures = asyncio.run(_run(server.base_url, token, requests, concurrency, send, expected))
        rates[label] = Measured(len(latencies) / elapsed, percentile(latencies, 0.99) * 1000)
        print(describe_latencies(f"{kind:10s} {label:8s}", latencies, elapsed) + f"  failures={failures}")
    return rates


def _with_wrk(
    kind: str, server: Server, token: str, created: list[str], seconds: float, concurrency: int
) -> dict[str, Measured]:
    loads = {
        "create": wrk.creates(server.base_url, token, unique_case(), concurrency, seconds),
        "get-one": wrk.gets(server.base_url, token, [f"/api/v1/cases/{id_}" for id_ in created], concurrency, seconds),
        "list-50": wrk.gets(server.base_url, token, ["/api/v1/cases?limit=50"], concurrency, seconds),
    }
    for label, load in loads.items():
        print(load.describe(f"{kind:10s} {label:8s}"))
    return {label: Measured(load.rate, load.p99_ms) for label, load in loads.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="per operation, with the httpx load generator")
    parser.add_argument("--seconds", type=float, default=20, help="per operation, with wrk")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--load-generator", choices=["wrk", "httpx"], default="wrk" if wrk.available() else "httpx")
    args = parser.parse_args()
    size = f"{args.seconds:.0f} s" if args.load_generator == "wrk" else f"{args.requests} requests"
    print(f"{size} per operation, {args.concurrency} concurrent clients, {args.workers} workers, {args.load_generator}")
    for kind in args.databases:
        # One client sends every request: above the default limit (6,000 a minute) the answers would be 429s.
        unlimited = {"SBT_RATE_LIMIT_REQUESTS": "1000000000"}
        with scratch_database(kind) as url, live_server(url, workers=args.workers, extra_env=unlimited) as server:
            token = server.token("demo-bawaslu")
            created: list[str] = []  # the warm-up's cases: what get-one reads
            asyncio.run(_run(server.base_url, token, 50, args.concurrency, _creating(created), 201))
            if args.load_generator == "wrk":
                rates = _with_wrk(kind, server, token, created, args.seconds, args.concurrency)
            else:
                rates = _with_httpx(kind, server, token, created, args.requests, args.concurrency)
            raw, create = rates["get-one"].rate, rates["create"]
            floor = mean_under_target_rate(args.concurrency)
            print(
                f"{kind:10s} ratios to get-one ({raw:.1f}/s, same run): create {create.rate / raw:.2f}x "
                f"(target >= 0.5), list of 50 {rates['list-50'].rate / raw:.2f}x (target >= 0.3); "
                f"load average {load_average()}\n"
                f"{kind:10s} create p99 {create.p99_ms:.0f} ms (target <= {P99_TARGET_SECONDS * 1000:.0f} ms): "
                f"at {args.concurrency} clients the mean is under it only above {floor:.0f} creates/s (Little's law); "
                f"creates reached {create.rate:.1f}/s and get-one {raw:.1f}/s in this run"
            )


if __name__ == "__main__":
    main()
