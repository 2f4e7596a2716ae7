"""As-of answers replay the ledger: the count bridge and the as-of statistics beside the floor of any replay
(reading and JSON-decoding the same ledger entries) and the current-rows statistics, measured in one run.

.venv/bin/python -m bench.bridge_bench --cases 300 --database sqlite   # loading 300 demo cases takes about a minute
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from app.audit import asof
from app.audit.bridge import Period, Unit
from app.audit.repository import statistics as current_statistics
from app.cases.repository import CaseFilters
from app.core.clock import today_in_jakarta
from app.core.config import Environment, Settings
from app.core.db import make_engine, make_sessionmaker, utcnow
from app.flows.bootstrap import prepare
from app.flows.demo import load_demo_data
from app.ledger.asof import leaves, position_at
from app.ledger.models import LedgerEntry
from app.ledger.replay import CASE_ENTRY_PREFIXES
from bench.common import scratch_database


def _median_ms(run: Callable[[], object], samples: int) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def measure(url: str, cases: int, samples: int, data_dir: Path) -> dict[str, object]:
    secret = "bench-only-secret"  # noqa: S105 - a throw-away database
    settings = Settings(
        _env_file=None, environment=Environment.TESTING, database_url=url, data_dir=data_dir, secret_key=secret
    )
    prepare(settings)
    started = time.perf_counter()
    load_demo_data(settings, cases=cases, seed=2024)
    loaded = time.perf_counter() - started
    engine = make_engine(settings.sqlalchemy_url)
    session = make_sessionmaker(engine)()
    moment = utcnow()
    size = position_at(session, moment).tree_size
    year = Period(
        start=today_in_jakarta().replace(year=2024, month=1, day=1),
        end=today_in_jakarta().replace(year=2024, month=12, day=31),
    )
    figures: dict[str, object] = {
        "cases": cases,
        "ledger_entries": size,
        "load_seconds": round(loaded, 1),
        "floor_read_leaves_ms": _median_ms(
            lambda: session.execute(select(LedgerEntry.leaf_data).where(LedgerEntry.seq < size)).all(), samples
        ),
        "floor_read_and_decode_case_entries_ms": _median_ms(
            lambda: list(leaves(session, size, CASE_ENTRY_PREFIXES)), samples
        ),
        "replay_ms": _median_ms(lambda: asof.case_data_at(session, moment), samples),
        "statistics_current_rows_ms": _median_ms(
            lambda: current_statistics(session, CaseFilters(), today_in_jakarta()), samples
        ),
        "statistics_as_of_ms": _median_ms(lambda: asof.statistics_at(session, CaseFilters(), moment), samples),
    }
    for unit in Unit:

        def bridge(unit: Unit = unit) -> object:
            return asof.bridge_at(session, settings, year, unit, moment)

        figures[f"bridge_{unit.value}_ms"] = _median_ms(bridge, samples)
    session.close()
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with scratch_database(args.database) as url, tempfile.TemporaryDirectory() as folder:
        figures = measure(url, args.cases, args.samples, Path(folder))
    print(json.dumps({"database": args.database, **figures}, indent=2))


if __name__ == "__main__":
    main()
