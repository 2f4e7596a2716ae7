"""Bulk import: case rows/s through the batch flow, beside raw batched inserts of the same rows, in one run.

.venv/bin/python -m bench.bulk_bench                          # SQLite and PostgreSQL, 5,000 cases in batches of 1,000
.venv/bin/python -m bench.bulk_bench --databases postgresql --cases 20000

The flow figure is everything `POST /api/v1/cases:batch` and `sbt import` do per batch (validation, the service's
checks and rows, the outbox note, the ledger's pending write, the commit, the wait for the entries' positions),
without HTTP; the second line adds the outbox's reconciliation of those cases after the batches, which `sbt import`
drains before it ends (issue 14's target counts it), and the drain's own line gives its CPU time in this process
(wall clock on a shared machine swings with the waits for a core) per re-checked case. The flow's raw limit is the same
cases and their creator's records written with multi-row inserts (SQLAlchemy Core executemany), one transaction per
batch, into a fresh database of the same kind: what the database does with the rows alone. Issue 14's target is
5,000 cases/s through the flow. The phase lines say where the flow's time goes (wall-clock time inside each step;
"of which inserts", the cases' and records' multi-row inserts, is part of "domain rows").
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app.cases import repository as cases_repository
from app.cases import service as cases_service
from app.cases.models import AgencyRecord, Case
from app.core.actor import AGENCY_SCOPES, Agency, Principal, Role, WriteContext
from app.core.config import Environment, Settings
from app.core.db import make_engine, make_sessionmaker, utcnow
from app.core.heap import freeze_startup_heap
from app.flows import batch
from app.flows.bootstrap import prepare
from app.ledger import sequencer
from app.reconciliation import outbox
from bench.common import scratch_database

PHASES: dict[str, tuple[Any, str]] = {
    "domain rows": (cases_service, "create_cases"),
    "  of which inserts": (cases_repository, "insert_cases"),
    "ledger record": (sequencer, "record_changes"),
    "ledger sequencing": (sequencer, "receipt"),
    "validation": (batch, "validate_items"),
}
"""Where the flow's time goes: the module attribute the flow calls through, wrapped with a timer."""


TARGET = 5000
"""Issue 14: a backfilled archive loads at 5,000 cases/s or more, with ledger entries and reconciliation."""


def case_items(count: int) -> list[dict[str, Any]]:
    """Distinct ASN (NIP from the index: no repeats, unlike a 3-digit serial), dates within the deadlines."""
    today = dt.date.today()
    items = []
    for i in range(count):
        birth = dt.date(1965, 1, 1) + dt.timedelta(days=i % 9000)
        nip = f"{birth:%Y%m%d}{1990 + i % 30}{1 + i % 12:02d}{1 + i % 2}{1 + i // 9000 % 999:03d}"
        items.append(
            {
                "nip": nip,
                "name": f"Pegawai Contoh {i}",
                "instansi_code": "73.06",
                "instansi": "Dinas Pendidikan Kabupaten Gowa",
                "position_category": "PELAKSANA",
                "province_code": "73",
                "regency": "Kabupaten Gowa",
                "election_type": "PILKADA",
                "election_year": 2024,
                "violation_code": "D-6",
                "phase": "CALON",
                "source": "TEMUAN",
                "incident_date": (today - dt.timedelta(days=2)).isoformat(),
                "reported_date": today.isoformat(),
            }
        )
    return items


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        environment=Environment.DEVELOPMENT,
        database_url=url,
        data_dir=data_dir,
    )


def _context() -> WriteContext:
    principal = Principal(client_id="bench-bulk", role=Role.AGENCY, agency=Agency.BAWASLU, scopes=AGENCY_SCOPES)
    return WriteContext(principal=principal, body_sha256="0" * 64, request_id="bench-bulk")


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Phases:
    """Wall-clock time inside each phase of the flow (patched in this process only, like bench.without_ledger)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self._restore: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> _Phases:
        for name, (owner, attribute) in PHASES.items():
            original = getattr(owner, attribute)
            self._restore.append((owner, attribute, original))
            setattr(owner, attribute, self._timed(name, original))
        return self

    def _timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed

    def __exit__(self, *_exc: object) -> None:
        for owner, attribute, original in self._restore:
            setattr(owner, attribute, original)


@dataclass(frozen=True, slots=True)
class Drain:
    """The outbox's reconciliation after the batches: wall clock, this process's CPU time (a shared machine's waits
    for a core swing the wall clock), and the cases it re-checked."""

    seconds: float
    cpu_seconds: float
    cases: int


def through_flow(kind: str, items: list[dict[str, Any]], size: int) -> tuple[float, Drain, _Phases]:
    """The batches' time, then the outbox's reconciliation of their cases (as ``sbt import`` drains it before it
    ends), and the batches' phases."""
    with scratch_database(kind) as url, tempfile.TemporaryDirectory() as data_dir:
        settings = _settings(url, Path(data_dir))
        prepare(settings)
        engine = make_engine(settings.sqlalchemy_url)
        factory = make_sessionmaker(engine)
        ctx = _context()
        batch.write_batch(factory, settings, ctx, batch.BatchKind.CASES, case_items(50), None)  # warm-up
        with _Phases() as phases:
            started = time.perf_counter()
            for chunk in _chunks(items, size):
                batch.write_batch(factory, settings, ctx, batch.BatchKind.CASES, chunk, None)
            elapsed = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = outbox.drain(factory, settings)
        drain = Drain(time.perf_counter() - started, time.process_time() - cpu_started, outcome.evaluated)
        engine.dispose()
        return elapsed, drain, phases


def _raw_rows(items: list[dict[str, Any]], offset: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows the service writes for these cases (its derived columns computed the same simple way)."""
    now = utcnow()
    cases, records = [], []
    for number, item in enumerate(items, start=offset):
        case_id = uuid.uuid4()
        reported = dt.date.fromisoformat(item["reported_date"])
        fields = {**item, "incident_date": dt.date.fromisoformat(item["incident_date"]), "reported_date": reported}
        cases.append(
            {
                **fields,
                "id": case_id,
                "case_number": f"SBT-{now.year}-{number:06d}",
                "employee_kind": "PNS",
                "stage": "DITERIMA",
                "stage_entered_on": reported,
                "deadline_date": reported + dt.timedelta(days=7),
                "created_by_agency": "BAWASLU",
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
        records.append(
            {
                "id": uuid.uuid4(),
                "case_id": case_id,
                "agency": "BAWASLU",
                "nip": item["nip"],
                "name": item["name"],
                "position_category": item["position_category"],
                "violation_code": item["violation_code"],
                "reported_date": reported,
                "stage": "DITERIMA",
                "submitted_by_client": "bench-bulk",
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    return cases, records


def raw_inserts(kind: str, items: list[dict[str, Any]], size: int) -> float:
    with scratch_database(kind) as url, tempfile.TemporaryDirectory() as data_dir:
        prepare(_settings(url, Path(data_dir)))
        engine = make_engine(url)
        prepared = [_raw_rows(chunk, start * size) for start, chunk in enumerate(_chunks(items, size))]
        started = time.perf_counter()
        for case_rows, record_rows in prepared:
            with engine.begin() as connection:
                connection.execute(insert(Case), case_rows)
                connection.execute(insert(AgencyRecord), record_rows)
        elapsed = time.perf_counter() - started
        engine.dispose()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    freeze_startup_heap()  # as `sbt import` does
    items = case_items(args.cases)
    print(f"bulk import of {args.cases:,} cases in batches of {args.batch:,}; load average {os.getloadavg()}")
    for kind in args.databases:
        flow_seconds, drain, phases = through_flow(kind, items, args.batch)
        raw_seconds = raw_inserts(kind, items, args.batch)
        flow_rate, raw_rate = args.cases / flow_seconds, args.cases / raw_seconds
        imported_rate = args.cases / (flow_seconds + drain.seconds)
        verdict = "met" if imported_rate >= TARGET else "not met"
        print(
            f"  {kind:10s} batch flow {flow_rate:8.0f} cases/s | raw batched inserts {raw_rate:8.0f} cases/s | "
            f"flow / raw = {flow_rate / raw_rate:.3f}\n"
            f"  {kind:10s} with the outbox's reconciliation after it {imported_rate:8.0f} cases/s "
            f"(drain {drain.seconds:.2f} s) | target {TARGET:,} cases/s: {verdict}\n"
            f"  {kind:10s}   drain: {drain.cases:,} cases re-checked, {drain.cpu_seconds:.2f} s CPU of this process "
            f"({drain.cpu_seconds / max(drain.cases, 1) * 1000:.3f} ms per case), wall {drain.seconds:.2f} s"
        )
        for name, seconds in sorted(phases.seconds.items(), key=lambda item: -item[1]):
            print(f"  {kind:10s}   {name:18s} {seconds:6.2f} s  ({seconds / flow_seconds:4.0%} of the flow)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
