"""The public monitoring page at scale: server time of ``GET /monitoring`` on N cases, beside the raw limits of the
same run.

Bulk-loads N cases with their agency records (the reconciliation bench's generator), starts `sbt serve` (one
worker) on that database and requests the page anonymously, as the public would. The page keeps no figures
between views (each reads the current rows in one snapshot), so every view costs the same work. Printed in one run:

* ``page_first_ms``: the first view of a freshly started server process (once it answers ``/ready``): nothing
  computed before, templates not yet compiled;
* ``page_ms`` and ``page_english_ms``: later views over HTTP, median and max;
* ``page_after_write_ms``: a view right after a write (``POST /api/v1/cases``, acknowledged), median and max; each
  such page is checked to count the new case and to equal ``GET /api/v1/audit/statistics``;
* ``figures_ms``: the aggregate queries alone (``app.audit.monitoring.figures``, in this process);
* raw limits: a bare ``SELECT count(*)`` of the cases, one bare ``SELECT province_code, stage, count(*) … GROUP
  BY`` over every case (the cheapest aggregate the page cannot do without; it runs a few of that kind) and
  ``GET /health`` over HTTP (what any answer of the server costs); and the load average.

The count bridge totals are read from ``monitoring_bridge``, stored by the background job after the ledger has grown
(``bench/bridge_bench.py`` measures that replay). The bulk load writes no ledger entries, so here the job replays
only the bench's own writes. The server runs without the FULL reconciliation sweep and the state audit (see
``main``).

    .venv/bin/python -m bench.monitoring_bench [--database sqlite|postgresql] [--cases 100000] [--samples 15]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from app.audit import monitoring
from app.cases.models import Case
from app.core.db import make_engine, make_sessionmaker, utcnow
from app.core.migrations import upgrade_to_head
from bench.cases_bench import unique_case
from bench.common import live_server, load_average, scratch_database
from bench.reconciliation_bench import load


def _timings_ms(run: Callable[[], object], samples: int) -> dict[str, float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return {"median": round(statistics.median(times), 1), "max": round(max(times), 1)}


def _total_cases(page: str) -> int:
    match = re.search(r'id="total-cases">([^<]*)<', page)
    assert match, "the page shows no total"
    return int(match.group(1).replace(".", ""))


def _view_after_write(client: httpx.Client, writer: dict[str, str], auditor: dict[str, str]) -> float:
    """One acknowledged write, then the page: its time in ms; the page must count the write and equal the API."""
    before = client.get("/api/v1/audit/statistics", headers=auditor).json()["total_cases"]
    client.post("/api/v1/cases", json=unique_case(), headers=writer).raise_for_status()
    started = time.perf_counter()
    page = client.get("/monitoring")
    page.raise_for_status()
    elapsed = (time.perf_counter() - started) * 1000
    after = client.get("/api/v1/audit/statistics", headers=auditor).json()["total_cases"]
    assert _total_cases(page.text) == after == before + 1, (before, _total_cases(page.text), after)
    return elapsed


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
        session = make_sessionmaker(engine, read_only=True)()
        bare = select(Case.province_code, Case.stage, func.count()).group_by(Case.province_code, Case.stage)
        report: dict[str, object] = {"database": args.database, **loaded}
        report["raw_bare_count_ms"] = _timings_ms(lambda: session.scalar(select(func.count(Case.id))), args.samples)
        report["raw_bare_group_by_ms"] = _timings_ms(lambda: session.execute(bare).all(), args.samples)
        report["figures_ms"] = _timings_ms(lambda: monitoring.figures(session, utcnow(), 10), args.samples)
        session.close()
        engine.dispose()
        # Without the two background jobs whose first round at start covers every loaded case: the scheduler's FULL
        # reconciliation sweep (minutes of the same interpreter and, on SQLite, the write lock batch by batch) and
        # the state audit (the bulk load wrote no ledger entries, so it compares every row): they would measure
        # themselves, not the page.
        quiet = {"SBT_RECONCILIATION_INTERVAL_SECONDS": "0", "SBT_STATE_AUDIT_INTERVAL_SECONDS": "0"}
        with (
            live_server(url, extra_env=quiet) as server,
            httpx.Client(base_url=server.base_url, timeout=60) as client,
        ):
            started = time.perf_counter()
            first = client.get("/monitoring")  # the process's first view; the count bridge follows its response
            first.raise_for_status()
            report["page_first_ms"] = round((time.perf_counter() - started) * 1000, 1)
            report["page_bytes"] = len(first.content)
            report["raw_health_over_http_ms"] = _timings_ms(lambda: client.get("/health"), args.samples)
            report["page_ms"] = _timings_ms(lambda: client.get("/monitoring").raise_for_status(), args.samples)
            report["page_english_ms"] = _timings_ms(
                lambda: client.get("/monitoring", params={"lang": "en"}).raise_for_status(), args.samples
            )
            writer = {"Authorization": f"Bearer {server.token('demo-bawaslu')}"}
            auditor = {"Authorization": f"Bearer {server.token('demo-auditor')}", "X-Purpose": "monitoring bench"}
            after_write = [_view_after_write(client, writer, auditor) for _ in range(args.samples)]
            report["page_after_write_ms"] = {
                "median": round(statistics.median(after_write), 1),
                "max": round(max(after_write), 1),
            }
            report["load_average"] = load_average()
            print(json.dumps(report, indent=2), flush=True)  # before the server stops: its stop may take long


if __name__ == "__main__":
    main()
