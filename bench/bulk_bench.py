"""Bulk import: case rows/s through the batch flow, beside raw batched inserts of the same rows, in one run.

.venv/bin/python -m bench.bulk_bench                          # SQLite and PostgreSQL, 5,000 cases in batches of 1,000
.venv/bin/python -m bench.bulk_bench --databases postgresql --cases 20000

The flow figure is everything `POST /api/v1/cases:batch` and `sbt import` do per batch (validation, the service's
checks and rows, the outbox note, the ledger's pending write, the commit, the wait for the entries' positions),
without HTTP; the second line adds the outbox's reconciliation of those cases after the batches, which `sbt import`
drains before it ends (issue 14's target counts it). Its raw limit is the same
cases and their creator's records written with multi-row inserts (SQLAlchemy Core executemany), one transaction per
batch, into a fresh database of the same kind: what the database does with the rows alone. Issue 14's target is
5,000 cases/s through the flow. The phase lines say where the flow's time goes (wall-clock time inside each step;
"of which inserts", the cases' and records' multi-row inserts, is part of "domain rows").

Then every case gets the records of two other agencies (BKN's and KEMENDAGRI's own, ``POST
/cases/-/records:batch``, batches of the same size), through the flow (locks, the service's checks and rows, the
stages reached, the outbox note, the ledger) beside raw batched inserts of the same records into the raw run's
cases; the records' drain is the outbox's reconciliation of the cases they touched.
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
from sqlalchemy.orm import Session, sessionmaker

from app.cases import repository as cases_repository
from app.cases import service as cases_service
from app.cases.models import AgencyRecord, Case
from app.core.actor import AGENCY_SCOPES, Agency, Principal, Role, WriteContext
from app.core.config import Environment, Settings
from app.core.db import make_engine, make_sessionmaker, utcnow
from app.core.heap import tune_collector
from app.flows import batch
from app.flows.bootstrap import prepare
from app.ledger import sequencer
from app.reconciliation import outbox
from app.reconciliation import service as reconciliation
from bench.common import scratch_database

Phases = dict[str, tuple[Any, str]]
_LEDGER_AND_VALIDATION: Phases = {
    "ledger record": (sequencer, "record_changes"),
    "ledger sequencing": (sequencer, "receipt"),
    "validation": (batch, "validate_items"),
}
CASE_PHASES: Phases = {
    "domain rows": (cases_service, "create_cases"),
    "  of which inserts": (cases_repository, "insert_cases"),
    **_LEDGER_AND_VALIDATION,
}
RECORD_PHASES: Phases = {
    "locks": (cases_service, "lock_case_numbers"),
    "domain rows": (cases_service, "submit_records"),
    "  of which inserts": (cases_repository, "insert_records"),
    "stages reached": (reconciliation, "note_stages_reached"),
    **_LEDGER_AND_VALIDATION,
}
"""Where the flow's time goes: the module attribute the flow calls through, wrapped with a timer."""

RECORD_AGENCIES = (Agency.BKN, Agency.KEMENDAGRI)
"""The other agencies whose records each case gets (the cases are BAWASLU's)."""


TARGET = 5000
"""Issue 14: a backfilled archive loads at 5,000 cases/s or more, with ledger entries and reconciliation."""


def case_items(count: int) -> list[dict[str, Any]]:
    """Distinct ASN (NIP from the index: no repeats, unlike a 3-digit serial) appointed at 20-29 years old, so that
    NIP_INVALID has nothing to say of them; dates within the deadlines."""
    today = dt.date.today()
    items = []
    for i in range(count):
        birth = dt.date(1965, 1, 1) + dt.timedelta(days=i % 9000)
        appointed = birth.year + 20 + i % 10
        nip = f"{birth:%Y%m%d}{appointed}{1 + i % 12:02d}{1 + i % 2}{1 + i // 9000 % 999:03d}"
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


def _context(agency: Agency = Agency.BAWASLU) -> WriteContext:
    principal = Principal(client_id="bench-bulk", role=Role.AGENCY, agency=agency, scopes=AGENCY_SCOPES)
    return WriteContext(principal=principal, body_sha256="0" * 64, request_id="bench-bulk")


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Phases:
    """Wall-clock time inside each phase of the flow (patched in this process only, like bench.without_ledger)."""

    def __init__(self, phases: Phases) -> None:
        self.phases = phases
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self._restore: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> _Phases:
        for name, (owner, attribute) in self.phases.items():
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


def record_item(case_id: uuid.UUID | str, item: dict[str, Any]) -> dict[str, Any]:
    """An agency's own record of a case: what it knows of the ASN and the report."""
    fields = ("nip", "name", "position_category", "instansi_code", "province_code", "violation_code", "reported_date")
    return {"case_id": str(case_id), "record": {**{name: item[name] for name in fields}, "stage": "DITERIMA"}}


@dataclass(frozen=True, slots=True)
class Drain:
    """The outbox's reconciliation after the batches: wall clock, this process's CPU time (a shared machine's waits
    for a core swing the wall clock), and the cases it re-checked."""

    seconds: float
    cpu_seconds: float
    cases: int


def _drain(factory: sessionmaker[Session], settings: Settings) -> Drain:
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = outbox.drain(factory, settings)
    return Drain(time.perf_counter() - started, time.process_time() - cpu_started, outcome.evaluated)


@dataclass
class Timed:
    """A flow's batches' time, the outbox's reconciliation after them, and the batches' phases."""

    seconds: float
    drain: Drain
    phases: _Phases


def through_flow(kind: str, items: list[dict[str, Any]], size: int) -> tuple[Timed, Timed]:
    """The cases' batches, then their records' (each case gets a record of every ``RECORD_AGENCIES``); each
    followed by the outbox's reconciliation of their cases (as ``sbt import`` drains it before it ends)."""
    with scratch_database(kind) as url, tempfile.TemporaryDirectory() as data_dir:
        settings = _settings(url, Path(data_dir))
        prepare(settings)
        engine = make_engine(settings.sqlalchemy_url)
        factory = make_sessionmaker(engine)
        ctx = _context()
        warm_up = case_items(50)
        warmed = batch.write_batch(factory, settings, ctx, batch.BatchKind.CASES, warm_up, None)
        for agency in RECORD_AGENCIES:
            warm_records = [record_item(r.case_id, i) for r, i in zip(warmed.body.items, warm_up, strict=True)]
            batch.write_batch(factory, settings, _context(agency), batch.BatchKind.RECORDS, warm_records, None)
        outbox.drain(factory, settings)
        case_ids: list[uuid.UUID] = []
        with _Phases(CASE_PHASES) as phases:
            started = time.perf_counter()
            for chunk in _chunks(items, size):
                reply = batch.write_batch(factory, settings, ctx, batch.BatchKind.CASES, chunk, None)
                case_ids.extend(result.case_id for result in reply.body.items)
            elapsed = time.perf_counter() - started
        cases = Timed(elapsed, _drain(factory, settings), phases)
        records = [record_item(case_id, item) for case_id, item in zip(case_ids, items, strict=True)]
        with _Phases(RECORD_PHASES) as phases:
            started = time.perf_counter()
            for agency in RECORD_AGENCIES:
                for chunk in _chunks(records, size):
                    batch.write_batch(factory, settings, _context(agency), batch.BatchKind.RECORDS, chunk, None)
            elapsed = time.perf_counter() - started
        records_timed = Timed(elapsed, _drain(factory, settings), phases)
        engine.dispose()
        return cases, records_timed


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


def _raw_records(cases: list[dict[str, Any]], agency: Agency) -> list[dict[str, Any]]:
    """The rows the records' batches write for these cases (the fields of ``record_item``)."""
    now = utcnow()
    fields = ("nip", "name", "position_category", "instansi_code", "province_code", "violation_code", "reported_date")
    return [
        {
            **{name: case[name] for name in fields},
            "id": uuid.uuid4(),
            "case_id": case["id"],
            "agency": agency.value,
            "stage": "DITERIMA",
            "submitted_by_client": "bench-bulk",
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for case in cases
    ]


def raw_inserts(kind: str, items: list[dict[str, Any]], size: int) -> tuple[float, float]:
    """The cases' and their creator's records' inserts, then the other agencies' records' (each timed)."""
    with scratch_database(kind) as url, tempfile.TemporaryDirectory() as data_dir:
        prepare(_settings(url, Path(data_dir)))
        engine = make_engine(url)
        prepared = [_raw_rows(chunk, start * size) for start, chunk in enumerate(_chunks(items, size))]
        started = time.perf_counter()
        for case_rows, record_rows in prepared:
            with engine.begin() as connection:
                connection.execute(insert(Case), case_rows)
                connection.execute(insert(AgencyRecord), record_rows)
        cases_elapsed = time.perf_counter() - started
        others = [_raw_records(case_rows, agency) for agency in RECORD_AGENCIES for case_rows, _ in prepared]
        started = time.perf_counter()
        for record_rows in others:
            with engine.begin() as connection:
                connection.execute(insert(AgencyRecord), record_rows)
        records_elapsed = time.perf_counter() - started
        engine.dispose()
        return cases_elapsed, records_elapsed


def _report(kind: str, what: str, count: int, flow: Timed, raw_seconds: float, target: int | None) -> None:
    flow_rate, raw_rate = count / flow.seconds, count / raw_seconds
    drain = flow.drain
    imported_rate = count / (flow.seconds + drain.seconds)
    verdict = ""
    if target is not None:
        verdict = f" | target {target:,} {what}/s: {'met' if imported_rate >= target else 'not met'}"
        if raw_rate < target:  # the flow writes these rows and more: it cannot outrun their bare inserts
            verdict += f", above the raw batched inserts' {raw_rate:,.0f}/s of this run"
    print(
        f"  {kind:10s} {what}: batch flow {flow_rate:8.0f}/s | raw batched inserts {raw_rate:8.0f}/s | "
        f"flow / raw = {flow_rate / raw_rate:.3f}\n"
        f"  {kind:10s} {what}: with the outbox's reconciliation after it {imported_rate:8.0f}/s "
        f"(drain {drain.seconds:.2f} s){verdict}\n"
        f"  {kind:10s}   drain: {drain.cases:,} cases re-checked, {drain.cpu_seconds:.2f} s CPU of this process "
        f"({drain.cpu_seconds / max(drain.cases, 1) * 1000:.3f} ms per case), wall {drain.seconds:.2f} s"
    )
    for name, seconds in sorted(flow.phases.seconds.items(), key=lambda item: -item[1]):
        print(f"  {kind:10s}   {name:18s} {seconds:6.2f} s  ({seconds / flow.seconds:4.0%} of the flow)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    tune_collector()  # as `sbt import` does
    items = case_items(args.cases)
    print(f"bulk import of {args.cases:,} cases in batches of {args.batch:,}; load average {os.getloadavg()}")
    for kind in args.databases:
        cases, records = through_flow(kind, items, args.batch)
        raw_cases, raw_records = raw_inserts(kind, items, args.batch)
        _report(kind, "cases", args.cases, cases, raw_cases, TARGET)
        _report(kind, "records", args.cases * len(RECORD_AGENCIES), records, raw_records, None)
        print(f"  load average: {os.getloadavg()}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
