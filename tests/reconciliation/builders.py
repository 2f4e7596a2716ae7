"""Builders for reconciliation tests: one consistent baseline case, changed only where a test says so.

Baseline: a Pilkada 2024 case at stage REKOMENDASI (recommended by BKN, KASN's successor, on 2024-10-01,
PPK deadline 2024-10-11), recorded identically by Bawaslu and BKN. Evaluated on 2024-10-05 it has no finding.
The same defaults build transient ORM rows (pure tests) or persisted rows (database tests).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from app.cases.models import AgencyRecord, Case
from app.core.actor import Agency, Principal, Role, WriteContext
from app.core.config import JAKARTA
from app.reconciliation.normalize import canonical_stage
from app.reconciliation.rules import CaseContext, FindingDraft, ReferenceData, Ruleset, SiblingCase, evaluate
from app.reconciliation.service import build_reference, case_facts, record_facts
from app.reference.seed import load_rows

AS_OF_DAY = dt.date(2024, 10, 5)
AS_OF = dt.datetime.combine(AS_OF_DAY, dt.time(12), tzinfo=JAKARTA)
NIP = "198005172005031002"
BASE_CASE: dict[str, Any] = {
    "nip": NIP,
    "name": "Budi Santoso",
    "employee_kind": "PNS",
    "instansi": "Pemerintah Kabupaten Gowa",
    "instansi_code": "73.06",
    "position_category": "KEPALA_WILAYAH",
    "province_code": "73",
    "regency": "Kabupaten Gowa",
    "election_type": "PILKADA",
    "election_year": 2024,
    "violation_code": "D-6",
    "phase": "CALON",
    "source": "TEMUAN",
    "incident_date": dt.date(2024, 9, 2),
    "reported_date": dt.date(2024, 9, 4),
    "stage": "REKOMENDASI",
    "stage_entered_on": dt.date(2024, 10, 1),
    "deadline_date": dt.date(2024, 10, 11),
    "recommended_by": "BKN",
    "recommendation_number": "R-77/BKN/10/2024",
    "recommendation_date": dt.date(2024, 10, 1),
    "recommended_sanction_code": "SEDANG_TUKIN_25_6",
    "imposed_sanction_code": None,
    "sanction_date": None,
    "created_by_agency": "BAWASLU",
}
DATE_FIELDS = {
    "incident_date",
    "reported_date",
    "stage_entered_on",
    "deadline_date",
    "recommendation_date",
    "sanction_date",
    "decision_date",
    "blocked_on",
    "block_lifted_on",
}
BASE_RECORDS = ("BAWASLU", "BKN")

_reference: ReferenceData | None = None


def reference() -> ReferenceData:
    """The seeded reference data, read from the same JSON files the migration loads."""
    global _reference
    if _reference is None:
        _reference = build_reference(
            [SimpleNamespace(**row) for row in load_rows("violation_form")],  # type: ignore[misc]
            [SimpleNamespace(**row) for row in load_rows("sanction")],  # type: ignore[misc]
            [SimpleNamespace(**row) for row in load_rows("agency")],  # type: ignore[misc]
            [SimpleNamespace(**row) for row in load_rows("instansi")],  # type: ignore[misc]
        )
    return _reference


def _dates(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: dt.date.fromisoformat(value) if key in DATE_FIELDS and isinstance(value, str) else value
        for key, value in values.items()
    }


def case_values(**overrides: Any) -> dict[str, Any]:
    return {**BASE_CASE, **_dates(overrides)}


def record_values(case: Mapping[str, Any], agency: str, **overrides: Any) -> dict[str, Any]:
    """What an agency that agrees with the case would record; sanctions only at the agency that holds them."""
    recommended, imposed, sanction_date = None, None, None
    if agency == Agency.BKN and case.get("imposed_sanction_code"):
        imposed, sanction_date = case["imposed_sanction_code"], case.get("sanction_date")
    if agency == case.get("recommended_by") and case.get("recommended_sanction_code"):
        recommended = case["recommended_sanction_code"]
    values: dict[str, Any] = {
        "agency": agency,
        "nip": case["nip"],
        "name": case["name"],
        "position_category": case["position_category"],
        "violation_code": case["violation_code"],
        "stage": case["stage"],
        "recommended_sanction_code": recommended,
        "imposed_sanction_code": imposed,
        "reported_date": case["reported_date"],
        "recommendation_date": case.get("recommendation_date") if recommended else None,
        "sanction_date": sanction_date,
        "created_at": dt.datetime.combine(case["reported_date"], dt.time(9), tzinfo=JAKARTA),
    }
    values.update(_dates(overrides))
    if isinstance(values["created_at"], str):
        values["created_at"] = dt.datetime.fromisoformat(values["created_at"])
    return values


def context(
    case: Mapping[str, Any] | None = None,
    records: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    as_of: dt.date = AS_OF_DAY,
    high_water: Mapping[str, int] | None = None,
    duplicates: Iterable[SiblingCase] = (),
) -> CaseContext:
    """A pure evaluation context; ``records`` maps agency -> overrides (default: Bawaslu and BKN agree)."""
    values = case_values(**(case or {}))
    chosen = records if records is not None else {agency: {} for agency in BASE_RECORDS}
    case_row = Case(id=uuid.UUID(int=1), case_number="SBT-2024-000001", **values)
    facts = case_facts(case_row, reference())
    record_list = []
    for agency, overrides in sorted(chosen.items()):
        record = AgencyRecord(**record_values(values, agency, **overrides))
        stage_rank_seen = (high_water or {}).get(agency)
        record_list.append(record_facts(record, reference(), _high_water(stage_rank_seen, record.stage)))
    return CaseContext(facts, tuple(record_list), tuple(duplicates), reference(), as_of)


def _high_water(previous: int | None, stage: str | None) -> int | None:
    from app.reconciliation.normalize import stage_rank

    ranks = [rank for rank in (previous, stage_rank(canonical_stage(stage))) if rank is not None]
    return max(ranks) if ranks else None


def findings(ctx: CaseContext, ruleset: Ruleset | None = None) -> list[FindingDraft]:
    return evaluate(ctx, ruleset or Ruleset.with_overrides({}))


def by_rule(ctx: CaseContext, rule: str, ruleset: Ruleset | None = None) -> list[FindingDraft]:
    return [finding for finding in findings(ctx, ruleset) if finding.rule == rule]


# ---------------------------------------------------------------------------------------------------------
# Persisted rows (database tests)

_counter = iter(range(1, 10**9))


def system_ctx(agency: Agency | None = Agency.BAWASLU) -> WriteContext:
    principal = Principal(
        client_id=f"test-{agency.value.lower() if agency else 'system'}", role=Role.AGENCY, agency=agency
    )
    return WriteContext(principal=principal, body_sha256="0" * 64, request_id=f"test-{uuid.uuid4()}")


def insert_case(session: Session, **overrides: Any) -> Case:
    number = next(_counter)
    case = Case(
        id=uuid.uuid4(),
        case_number=f"SBT-2024-{number:06d}",
        version=1,
        **case_values(**overrides),
    )
    session.add(case)
    session.flush()
    return case


def insert_record(session: Session, case: Case, agency: str, **overrides: Any) -> AgencyRecord:
    values = {column: getattr(case, column) for column in BASE_CASE}
    record = AgencyRecord(
        case_id=case.id,
        submitted_by_client=f"test-{agency.lower()}",
        version=1,
        **record_values(values, agency, **overrides),
    )
    session.add(record)
    session.flush()
    return record
