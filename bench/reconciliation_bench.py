"""Reconciliation at scale: full run vs the bare SQL fingerprint screen, incremental re-check latency, memory.

Generates N cases with up to five agency records each (consistent data plus a small share of injected
disagreements), bulk-loads them (COPY and VACUUM ANALYZE on PostgreSQL, executemany on SQLite) with the normalised
columns the write hook would have stored, then measures in a fresh child process:

* the bare screen query (GROUP BY over stored fingerprints) and the complete case selection of a full run;
* a full run, twice: the screen and the shared-NIP selection on a connection of their own while the cases of the
  three small selections (deadlines, unnormalised cases, watched findings) are re-checked, then the cases only the
  first two added; per batch a few set reads (rows, not ORM objects), the rules in Python, the finding changes in
  multi-row statements and their ledger entries; the first run opens every finding, the second is the steady
  state (it re-sees them);
* the incremental per-case re-check (``on_case_written``) on random cases: p50 / p99;
* the child's peak resident memory.

    .venv/bin/python -m bench.reconciliation_bench --database postgresql --cases 1000000
    .venv/bin/python -m bench.reconciliation_bench --database sqlite --cases 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import psycopg
from sqlalchemy import text

from app.cases.models import AgencyRecord, Case
from app.core.actor import Agency, Principal, Role, WriteContext
from app.core.config import JAKARTA, Environment, Settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.core.heap import tune_collector
from app.core.migrations import upgrade_to_head
from app.reconciliation import repository
from app.reconciliation.models import RunMode
from app.reconciliation.normalize import NORMALIZER_VERSION, canonical_stage, stage_rank
from app.reconciliation.rules import (
    agency_mask,
    case_has_local_issue,
    expected_agencies,
    live_deadline,
    record_has_local_issue,
)
from app.reconciliation.runner import create_run, execute_run
from app.reconciliation.service import (
    case_facts,
    compared_fingerprint,
    on_case_written,
    record_facts,
    reference_data,
)
from bench.common import percentile, scratch_database

AS_OF = dt.datetime(2024, 12, 16, 3, 0, tzinfo=dt.UTC)
AS_OF_DAY = AS_OF.astimezone(JAKARTA).date()
KASN_END = dt.date(2024, 8, 24)
GIVEN = ("Budi", "Siti", "Agus", "Dewi", "Eko", "Sri", "Ahmad", "Nur", "Rina", "Hendra", "Wahyu", "Yuni")
FAMILY = ("Santoso", "Lestari", "Prasetyo", "Rahayu", "Hidayat", "Saputra", "Wibowo", "Kurniawan", "Setiawan")
TITLES_BEFORE = ("", "", "Drs. ", "H. ", "Ir. ", "Dra. Hj. ")
TITLES_AFTER = ("", "", ", S.Pd.", ", M.Si.", ", S.E., M.M.")
STAGES = (("SANKSI_DIJATUHKAN", 55), ("REKOMENDASI", 15), ("TIDAK_TERBUKTI", 10), ("DITERIMA", 5),
          ("DIBLOKIR", 5), ("BLOKIR_DIBUKA", 5), ("DITERUSKAN", 5))  # fmt: skip
SANCTIONS = ("SEDANG_TUKIN_25_6", "SEDANG_TUKIN_25_9", "BERAT_PENURUNAN_JABATAN", "BERAT_PEMBEBASAN_JABATAN")
DISCREPANCIES = ("name", "nip_typo", "sanction_lighter", "stage_lag", "missing_record", "violation", "overdue")
CASE_COLUMNS = (
    "id", "case_number", "nip", "name", "employee_kind", "instansi", "instansi_code", "position_category",
    "province_code",
    "regency", "election_type", "election_year", "violation_code", "phase", "source", "incident_date",
    "reported_date", "stage", "stage_entered_on", "deadline_date", "recommended_by", "recommendation_number",
    "recommendation_date", "recommended_sanction_code", "imposed_sanction_code", "sanction_date",
    "decision_number", "decision_date", "created_by_agency", "created_at", "updated_at", "version",
)  # fmt: skip
RECORD_COLUMNS = (
    "id", "case_id", "agency", "nip", "name", "position_category", "instansi_code", "province_code",
    "election_type", "election_year", "phase", "violation_code", "stage", "recommended_sanction_code",
    "imposed_sanction_code", "decision_number", "decision_date", "reported_date", "recommendation_date",
    "sanction_date", "submitted_by_client", "created_at", "updated_at", "version", "nip_canonical", "name_key",
    "violation_canonical", "stage_canonical", "stage_high_water", "recommended_canonical", "imposed_canonical",
    "fingerprint", "local_issue", "normalizer_version",
)  # fmt: skip
STATE_COLUMNS = (
    "case_id", "nip_canonical", "name_key", "incident_date", "live", "deadline_date", "recommended_canonical",
    "imposed_canonical",
    "fingerprint", "expected_mask", "local_issue", "normalizer_version", "updated_at",
)  # fmt: skip


class Generator:
    def __init__(self, seed: int, rate: float, reference: Any) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.reference = reference
        self.stages = [stage for stage, weight in STAGES for _ in range(weight)]
        self.forms = sorted(reference.violation_phase)
        self.provinces = [f"{code}" for code in (11, 12, 13, 31, 32, 33, 35, 52, 73, 74, 76)]
        self.injected: dict[str, int] = dict.fromkeys(DISCREPANCIES, 0)

    def nip(self) -> str:
        birth = dt.date(1965, 1, 1) + dt.timedelta(days=self.rng.randint(0, 11_000))
        year = birth.year + self.rng.randint(22, 28)
        return (
            f"{birth:%Y%m%d}{year}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 2)}{self.rng.randint(1, 999):03d}"
        )

    def name(self) -> tuple[str, str]:
        core = f"{self.rng.choice(GIVEN)} {self.rng.choice(FAMILY)}"
        return core, f"{self.rng.choice(TITLES_BEFORE)}{core}{self.rng.choice(TITLES_AFTER)}"

    def case(self, index: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rng = self.rng
        stage = rng.choice(self.stages)
        violation = rng.choice(self.forms)
        core, raw_name = self.name()
        open_stage = stage in {"DITERIMA", "REKOMENDASI", "DITERUSKAN"}
        entered = AS_OF_DAY - dt.timedelta(days=rng.randint(0, 2) if open_stage else rng.randint(20, 300))
        reported = entered - dt.timedelta(days=rng.randint(5, 60) if stage != "DITERIMA" else 0)
        recommended = stage not in {"DITERIMA", "DITERUSKAN", "TIDAK_TERBUKTI"}
        rec_date = (entered if stage == "REKOMENDASI" else reported + dt.timedelta(days=4)) if recommended else None
        recommender = ("KASN" if rec_date < KASN_END else "BKN") if rec_date else None
        imposed = stage in {"SANKSI_DIJATUHKAN", "BLOKIR_DIBUKA"}
        sanction = rng.choice(SANCTIONS) if recommended else None
        deadline = {"DITERIMA": entered + dt.timedelta(days=7), "REKOMENDASI": entered + dt.timedelta(days=10)}.get(
            stage
        )
        case: dict[str, Any] = {
            "id": uuid.uuid4(), "case_number": f"SBT-2024-{index:07d}", "nip": self.nip(), "name": raw_name,
            "employee_kind": "PNS", "instansi": "Dinas Pendidikan", "position_category": "FUNGSIONAL",
            "province_code": rng.choice(self.provinces), "regency": None, "election_type": "PILKADA",
            "election_year": 2024, "violation_code": violation, "phase": self.reference.violation_phase[violation],
            "source": "LAPORAN", "incident_date": reported - dt.timedelta(days=2), "known_date": None,
            "reported_date": reported,
            "stage": stage, "stage_entered_on": entered, "deadline_date": deadline, "recommended_by": recommender,
            "recommendation_number": f"R-{index}/{recommender}/2024" if recommender else None,
            "recommendation_date": rec_date, "recommended_sanction_code": sanction,
            "recommended_sanction_level": self.reference.sanction_level.get(sanction) if sanction else None,
            "imposed_sanction_code": sanction if imposed else None, "imposed_sanction_reason": None,
            "sanction_date": rec_date + dt.timedelta(days=5) if imposed and rec_date else None,
            "decision_number": f"800/{index}/BKPSDM/2024" if imposed else None,
            "decision_date": rec_date + dt.timedelta(days=5) if imposed and rec_date else None,
            "blocked_on": None, "block_lifted_on": None,
            "created_by_agency": "BAWASLU", "created_at": AS_OF, "updated_at": AS_OF, "version": 1,
        }  # fmt: skip
        case["instansi_code"] = case["province_code"]  # the province's government: Kemendagri supervises its PPK
        facts = case_facts(cast(Case, SimpleNamespace(**case)), self.reference)
        agencies = sorted(expected_agencies(facts, self.reference) | ({"KEMENDAGRI"} if rng.random() < 0.3 else set()))
        records = [self.record(case, agency, core) for agency in agencies]
        if rng.random() < self.rate:
            self.inject(case, records)
        return case, records

    def record(self, case: dict[str, Any], agency: str, core: str) -> dict[str, Any]:
        # the recommending agency holds the recommendation; BKN (I'DIS) the imposed sanction and its decision
        recommended = case["recommended_sanction_code"] if agency == case["recommended_by"] else None
        imposing = agency == "BKN" and case["imposed_sanction_code"] is not None
        created = case["recommendation_date"] if agency == "KASN" else case["reported_date"]
        moment = dt.datetime.combine(created, dt.time(10), tzinfo=JAKARTA).astimezone(dt.UTC)
        return {
            "id": uuid.uuid4(), "case_id": case["id"], "agency": agency, "nip": case["nip"],
            "name": core if agency != "BAWASLU" else case["name"], "position_category": "FUNGSIONAL",
            "instansi_code": case["instansi_code"],
            "province_code": case["province_code"], "regency": None, "election_type": case["election_type"],
            "election_year": case["election_year"], "phase": case["phase"],
            "violation_code": case["violation_code"], "stage": case["stage"],
            "recommended_sanction_code": recommended, "recommended_sanction_level": None,
            "imposed_sanction_code": case["imposed_sanction_code"] if imposing else None,
            "imposed_sanction_reason": None,
            "decision_number": case["decision_number"] if imposing else None,
            "decision_date": case["decision_date"] if imposing else None, "blocked_on": None, "block_lifted_on": None,
            "reported_date": case["reported_date"],
            "recommendation_date": case["recommendation_date"] if recommended or imposing else None,
            "sanction_date": case["sanction_date"] if imposing else None,
            "submitted_by_client": f"bench-{agency.lower()}", "created_at": moment, "updated_at": moment,
            "version": 1, "stage_high_water": None, "recorded_on": None, "imported_by": None,
        }  # fmt: skip

    def inject(self, case: dict[str, Any], records: list[dict[str, Any]]) -> None:
        kind = self.rng.choice(DISCREPANCIES)
        target = records[-1]
        if kind == "name":
            target["name"] = target["name"].replace("a", "u", 1) + "o"
        elif kind == "nip_typo":
            target["nip"] = target["nip"][:16] + target["nip"][17] + target["nip"][16]
        elif kind == "sanction_lighter" and target["imposed_sanction_code"]:
            target["imposed_sanction_code"] = "RINGAN_TEGURAN_LISAN"
        elif kind == "sanction_lighter" and target["recommended_sanction_code"]:
            target["recommended_sanction_code"] = "RINGAN_TEGURAN_LISAN"
        elif kind == "stage_lag" and case["stage"] == "SANKSI_DIJATUHKAN":
            target["stage"], target["stage_high_water"] = "DITERUSKAN", 9
        elif kind == "missing_record" and len(records) > 1:
            records.pop()
        elif kind == "violation":
            target["violation_code"] = "KE-1" if case["violation_code"] != "KE-1" else "D-1"
        elif kind == "overdue" and case["deadline_date"]:
            case["deadline_date"] = AS_OF_DAY - dt.timedelta(days=3)
        else:
            return
        self.injected[kind] += 1

    def derive(self, case: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
        """The columns ``on_case_written`` stores, computed with the same functions."""
        facts = case_facts(cast(Case, SimpleNamespace(**case)), self.reference)
        for record in records:
            high_water = _high_water(record["stage_high_water"], canonical_stage(record["stage"]))
            item = record_facts(cast(AgencyRecord, SimpleNamespace(**record)), self.reference, high_water)
            record.update(
                nip_canonical=item.nip, name_key=item.name.key, violation_canonical=item.violation_code,
                stage_canonical=item.stage, stage_high_water=high_water,
                recommended_canonical=item.recommended, imposed_canonical=item.imposed,
                fingerprint=compared_fingerprint(item.nip, item.name.key, item.violation_code, item.stage),
                local_issue=record_has_local_issue(item, facts, self.reference, AS_OF_DAY),
                normalizer_version=NORMALIZER_VERSION,
            )  # fmt: skip
        return {
            "case_id": case["id"], "nip_canonical": facts.nip, "name_key": facts.name.key,
            "incident_date": facts.incident_date, "live": facts.stage not in {"DIBATALKAN", "DITOLAK"},
            "deadline_date": live_deadline(facts),
            "recommended_canonical": facts.recommended_sanction, "imposed_canonical": facts.imposed_sanction,
            "fingerprint": compared_fingerprint(facts.nip, facts.name.key, facts.violation_code, facts.stage),
            "expected_mask": agency_mask(expected_agencies(facts, self.reference)),
            "local_issue": case_has_local_issue(facts, self.reference, AS_OF_DAY),
            "normalizer_version": NORMALIZER_VERSION, "updated_at": AS_OF,
        }  # fmt: skip

    def batches(self, total: int, size: int) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
        for start in range(0, total, size):
            cases, records, states = [], [], []
            for index in range(start, min(total, start + size)):
                case, recs = self.case(index)
                states.append(self.derive(case, recs))
                cases.append(case)
                records.extend(recs)
            yield cases, records, states


def _high_water(previous: int | None, stage: str | None) -> int | None:
    ranks = [rank for rank in (previous, stage_rank(stage)) if rank is not None]
    return max(ranks) if ranks else None


def load(url: str, total: int, seed: int, rate: float) -> dict[str, Any]:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as session:
        reference = reference_data(session)
    engine.dispose()
    generator = Generator(seed, rate, reference)
    started = time.perf_counter()
    rows = 0
    if url.startswith("postgresql"):
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn, conn.cursor() as cur:
            for cases, records, states in generator.batches(total, 20_000):
                for table, columns, data in (
                    ('"case"', CASE_COLUMNS, cases),
                    ("agency_record", RECORD_COLUMNS, records),
                    ("reconciliation_case_state", STATE_COLUMNS, states),
                ):
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in data:
                            copy.write_row([row[column] for column in columns])
                rows += len(records)
        # as autovacuum leaves a loaded table: its visibility map set (index-only scans for the shared-NIP selection,
        # 0.29 s instead of 0.59 s at 1M cases) and no autovacuum of 3.6M fresh rows running under the measurement
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
    else:
        lite = sqlite3.connect(url.removeprefix("sqlite:///"))
        lite.execute("PRAGMA journal_mode=WAL")
        for cases, records, states in generator.batches(total, 20_000):
            for table, columns, data in (
                ('"case"', CASE_COLUMNS, cases),
                ("agency_record", RECORD_COLUMNS, records),
                ("reconciliation_case_state", STATE_COLUMNS, states),
            ):
                marks = ", ".join("?" for _ in columns)
                lite.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 - fixed names
                    ([_sqlite_value(row[column]) for column in columns] for row in data),
                )
            lite.commit()
            rows += len(records)
        lite.execute("ANALYZE")
        lite.close()
    return {"cases": total, "agency_records": rows, "load_seconds": round(time.perf_counter() - started, 1),
            "injected": generator.injected}  # fmt: skip


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        # SQLAlchemy's SQLite DateTime text, microseconds included: keyset comparisons (exports) are on the text
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def measure(url: str, samples: int, data_dir: Path) -> dict[str, Any]:
    settings = Settings(
        _env_file=None,
        environment=Environment.TESTING,
        database_url=url,
        data_dir=data_dir,
        secret_key="bench-secret",  # noqa: S106 - throw-away bench database
        log_level="WARNING",
    )
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    result: dict[str, Any] = {}
    screen_times = []
    for _ in range(3):
        with transaction(factory) as session:
            repository.allow_large_sorts(session)
            started = time.perf_counter()
            flagged = len(session.execute(repository.screen_statement()).all())
            screen_times.append(time.perf_counter() - started)
    result["screen_sql_seconds"] = round(min(screen_times), 3)
    result["screen_flagged_cases"] = flagged
    for label in ("full_run_first", "full_run_steady"):
        with transaction(factory) as session:
            run_id = create_run(session, "bench", RunMode.FULL, AS_OF, None, True).id
        started = time.perf_counter()
        run = execute_run(factory, settings, run_id)
        result[label] = {"seconds": round(time.perf_counter() - started, 2), "status": run.status, **run.stats}
    result["ratio_full_steady_to_screen"] = round(
        result["full_run_steady"]["seconds"] / result["screen_sql_seconds"], 1
    )
    result["ratio_full_first_to_screen"] = round(result["full_run_first"]["seconds"] / result["screen_sql_seconds"], 1)
    with factory() as session:
        ids = list(session.scalars(text('SELECT id FROM "case" ORDER BY random() LIMIT :n'), {"n": samples}))
    ctx = WriteContext(Principal(client_id="bench-bkn", role=Role.AGENCY, agency=Agency.BKN), "0" * 64, "bench")
    latencies = []
    for case_id in ids:
        with transaction(factory) as session:
            started = time.perf_counter()
            on_case_written(session, settings, ctx, uuid.UUID(str(case_id)), as_of=AS_OF)
            latencies.append(time.perf_counter() - started)
    result["incremental_recheck_ms"] = {
        "p50": round(percentile(latencies, 0.5) * 1000, 2),
        "p99": round(percentile(latencies, 0.99) * 1000, 2),
        "n": len(latencies),
    }
    engine.dispose()
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=0.02, help="share of cases with an injected disagreement")
    parser.add_argument("--samples", type=int, default=500, help="incremental re-checks to time")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--measure-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_url:
        tune_collector()  # as `sbt reconciliation run` and the serving process do
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(measure(args.measure_url, args.samples, Path(folder))))
        return
    with scratch_database(args.database) as url:
        upgrade_to_head(url)
        loaded = load(url, args.cases, args.seed, args.rate)
        print(json.dumps({"database": args.database, **loaded}), flush=True)
        child = subprocess.run(
            [sys.executable, "-m", "bench.reconciliation_bench", "--measure-url", url, "--samples", str(args.samples)],
            check=True,
            capture_output=True,
            text=True,
        )
        print(json.dumps(json.loads(child.stdout.strip().splitlines()[-1]), indent=2))


if __name__ == "__main__":
    main()
