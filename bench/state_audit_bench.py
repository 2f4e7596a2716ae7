"""The state audit (tables against the ledger) beside the ledger verification on the same data, in one run, with
the floor of any audit: reading the same rows and ledger leaves without replaying or comparing them.

.venv/bin/python -m bench.state_audit_bench --cases 300 --database sqlite   # loading 300 demo cases takes a minute
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from app.audit import state
from app.core.config import Environment, Settings
from app.core.db import make_engine, make_sessionmaker
from app.flows.bootstrap import prepare
from app.flows.demo import load_demo_data
from app.ledger.export import export_records
from app.ledger.models import LedgerEntry
from app.ledger.verify import binary_chunks, verify_export
from bench.common import scratch_database


def _best_seconds(run: Callable[[], object], samples: int) -> float:
    """Fastest of ``samples`` runs (the least disturbed by the other work on a shared machine)."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(url: str, cases: int, samples: int, folder: Path) -> dict[str, object]:
    secret = "bench-only-secret"  # noqa: S105 - a throw-away database
    settings = Settings(
        _env_file=None, environment=Environment.TESTING, database_url=url, data_dir=folder, secret_key=secret
    )
    prepare(settings)
    load_demo_data(settings, cases=cases, seed=2024)
    engine = make_engine(settings.sqlalchemy_url)
    factory = make_sessionmaker(engine, read_only=True)
    export = folder / "ledger.bin"  # the format an auditor verifies fastest (decision 0020)
    with export.open("wb") as handle:
        handle.writelines(binary_chunks(export_records(make_sessionmaker(engine), settings)))
    with factory() as session:
        outcome = state.audit_everything(session)
        entries = session.query(LedgerEntry).count()
    assert not outcome.differences, [difference.line() for difference in outcome.differences[:5]]

    def audit() -> None:
        with factory() as session:
            state.use_snapshot(session)
            state.audit_everything(session)

    def floor() -> None:
        with factory() as session:
            for table in state.TABLES.values():
                session.execute(select(table)).all()
            session.execute(select(LedgerEntry.leaf_data)).all()

    def background_round() -> None:
        state.audit_cycle(factory, make_sessionmaker(engine), scrub_cases=cases)

    audit_seconds = _best_seconds(audit, samples)
    round_seconds = _best_seconds(background_round, samples)
    floor_seconds = _best_seconds(floor, samples)
    verify_seconds = _best_seconds(lambda: verify_export(export), samples)
    engine.dispose()
    return {
        "cases": cases,
        "rows_audited": outcome.rows,
        "ledger_entries": entries,
        "state_audit_rows_per_s": round(outcome.rows / audit_seconds),
        "background_round_rows_per_s": round(outcome.rows / round_seconds),
        "floor_read_rows_and_leaves_rows_per_s": round(outcome.rows / floor_seconds),
        "ledger_verify_entries_per_s": round(entries / verify_seconds),
        "state_audit_seconds": round(audit_seconds, 3),
        "ledger_verify_seconds": round(verify_seconds, 3),
        "floor_seconds": round(floor_seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with scratch_database(args.database) as url, tempfile.TemporaryDirectory() as folder:
        figures = measure(url, args.cases, args.samples, Path(folder))
    print(json.dumps({"database": args.database, **figures}, indent=2))


if __name__ == "__main__":
    main()
