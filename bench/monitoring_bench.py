"""The public monitoring page at scale: server time of ``GET /monitoring`` on N cases, beside the raw limits of the
same run.

Bulk-loads N cases with their agency records (the reconciliation bench's generator), starts `sbt serve` (one
worker) on that database and requests the page anonymously, as the public would. Printed in one run:

* ``page_first_ms``: the first view of the server process, once it answers ``/health``: the process computes the
  figures as it starts, so this view waits for at most the rest of that computation (nothing is written meanwhile);
* ``page_ms``: later views over HTTP, median and max: the kept figures, the template, the SVG charts and the
  ledger-size check (a view after a write answers the same way and has the figures recomputed after its response);
* ``figures_ms``: the aggregate queries alone (``app.audit.monitoring.figures``, in this process, uncached): what
  that recomputation costs;
* raw limits: one bare ``SELECT province_code, stage, count(*) … GROUP BY`` over every case (the cheapest
  aggregate the page cannot do without; it runs about a dozen of that kind) and ``GET /health`` over HTTP (what
  any answer of the server costs).

The count bridge totals are not part of the page's time: they are recomputed after a response, when the ledger
has grown (``bench/bridge_bench.py`` measures that replay). The bulk load writes no ledger entries.

    .venv/bin/python -m bench.monitoring_bench [--database sqlite|postgresql] [--cases 100000] [--samples 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from app.audit import monitoring
from app.cases.models import Case
from app.core.clock import today_in_jakarta
from app.core.db import make_engine, make_sessionmaker
from app.core.migrations import upgrade_to_head
from bench.common import live_server, load_average, scratch_database
from bench.reconciliation_bench import load


def _timings_ms(run: Callable[[], object], samples: int) -> dict[str, float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return {"median": round(statistics.median(times), 1), "max": round(max(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    with scratch_database(args.database) as url:
        upgrade_to_head(url)
        loaded = load(url, args.cases, seed=2024, rate=0.02)
        engine = make_engine(url)
        session = make_sessionmaker(engine)()
        today = today_in_jakarta()
        bare = select(Case.province_code, Case.stage, func.count()).group_by(Case.province_code, Case.stage)
        report: dict[str, object] = {"database": args.database, **loaded}
        report["raw_bare_group_by_ms"] = _timings_ms(lambda: session.execute(bare).all(), args.samples)
        report["figures_ms"] = _timings_ms(lambda: monitoring.figures(session, today, 10), args.samples)
        session.close()
        engine.dispose()
        with live_server(url) as server, httpx.Client(base_url=server.base_url, timeout=60) as client:
            started = time.perf_counter()
            first = client.get("/monitoring")  # computes the figures; starts the count bridge's, after the response
            first.raise_for_status()
            report["page_first_ms"] = round((time.perf_counter() - started) * 1000, 1)
            report["page_bytes"] = len(first.content)
            report["raw_health_over_http_ms"] = _timings_ms(lambda: client.get("/health"), args.samples)
            report["page_ms"] = _timings_ms(lambda: client.get("/monitoring").raise_for_status(), args.samples)
            report["page_english_ms"] = _timings_ms(
                lambda: client.get("/monitoring", params={"lang": "en"}).raise_for_status(), args.samples
            )
            report["load_average"] = load_average()
            print(json.dumps(report, indent=2), flush=True)  # before the server stops: its stop may take long


if __name__ == "__main__":
    main()
