"""The count bridge: from the reconciled national number to the number each agency would publish from its own
records, with every unit of the difference named and traced to a case.

Both sides are read from the same replay of the ledger (``app.ledger.replay``) at one moment, so the answer is
consistent with one ledger position.

**National number** (the shared record): the cases SBT holds, de-duplicated by identity (same canonical NIP and
incident date: the earliest case stands for the others; ``DUPLICATE_CASE`` also flags incidents of one violation
form a few days apart, which stay separate cases here until an agency cancels one), counted in the chosen unit:

============== ================================== ============================================================
unit           counted when                       one unit is
============== ================================== ============================================================
reports        reported in the period             one report: the case's register number (cases sharing it
                                                  are one report with several ASN); without one, the creating
                                                  agency's reference number; else the case
cases          reported in the period, not        one case (one ASN in one incident)
               rejected at verification
asn            as ``cases``                       one civil servant (canonical NIP)
recommendations recommendation dated in the period one recommended case
sanctions      sanction imposed, dated in period  one sanctioned case
============== ================================== ============================================================

**Agency number**: an agency's register holds one row per case it knows (its ``agency_record``), and it counts the
rows whose *own* dates and stage meet the same criteria (for recommendations: its record is at or past
REKOMENDASI or holds a recommended or imposed sanction; for sanctions: an imposed sanction or a sanctioned stage).

**Causes.** Each counted agency row is matched to the national unit of its case. Then every national unit and
every agency row contributes ``agency − national`` for its part, classified into exactly one cause:

* a national unit matched by no row counts −1, as the first of: the agency holds a record of it but dates it
  outside the period (``other_period``) or at a stage that does not count (``other_stage``); it never received it
  and has ceased to exist (``retired_archive``); the stage requires its record and the grace period of
  ``CASE_MISSING_AT_AGENCY`` is over (``missing_required``, also a reconciliation finding); else
  ``not_yet_received`` (normal for the stage);
* a national unit matched by several rows counts +1 for each row after the first: ``duplicate_at_agency`` when the
  row's case is a duplicate of a case already counted for that unit, else ``other_unit`` (one report or one
  person, several cases);
* a counted row whose case the national number does not count counts +1: ``duplicate_at_agency`` when its case
  is a duplicate of another, else ``other_period`` (SBT dates it outside the period) or ``other_stage``.

Each contribution names one case, so the causes add up to the delta by construction (checked once more before
answering) and ``|count| == len(case_ids)`` for every cause.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Date

from app.cases.models import Case
from app.cases.workflow import Stage
from app.core.actor import Agency
from app.core.db import TZDateTime
from app.ledger.asof import LedgerPositionRead
from app.ledger.replay import LedgerReplay
from app.reconciliation.facts import case_facts
from app.reconciliation.normalize import MAIN_PATH_LAST_RANK, canonical_nip, stage_rank
from app.reconciliation.rules import (
    RECOMMENDATION_RANK,
    SANCTIONED_STAGES,
    CaseFacts,
    ReferenceData,
    expected_agencies,
)


class Unit(enum.StrEnum):
    REPORTS = "reports"
    CASES = "cases"
    ASN = "asn"
    RECOMMENDATIONS = "recommendations"
    SANCTIONS = "sanctions"


class Cause(enum.StrEnum):
    NOT_YET_RECEIVED = "not_yet_received"
    MISSING_REQUIRED = "missing_required"
    OTHER_PERIOD = "other_period"
    OTHER_UNIT = "other_unit"
    OTHER_STAGE = "other_stage"
    DUPLICATE_AT_AGENCY = "duplicate_at_agency"
    RETIRED_ARCHIVE = "retired_archive"


CAUSE_DESCRIPTIONS: Mapping[Cause, str] = {
    Cause.NOT_YET_RECEIVED: "Not yet received by the agency; normal at the case's stage.",
    Cause.MISSING_REQUIRED: "Missing at the agency although the stage requires its record (a finding).",
    Cause.OTHER_PERIOD: "Counted under another period: the dates differ (or the agency has none).",
    Cause.OTHER_UNIT: "Counted as another unit: one report or one person, several cases.",
    Cause.OTHER_STAGE: "Counted at another stage: the agency's stage and SBT's differ on whether it counts.",
    Cause.DUPLICATE_AT_AGENCY: "Duplicate at the agency: a duplicate case (same NIP and incident date) counted again.",
    Cause.RETIRED_ARCHIVE: "The agency has ceased to exist (KASN on 2024-08-24): its archive never received it.",
}


class CauseRead(BaseModel):
    cause: Cause
    effect: int = Field(description="-1: the agency counts one fewer per case; +1: one more.")
    count: int = Field(description="`effect` × the number of cases; the counts of an agency add up to its delta.")
    description: str
    case_ids: list[uuid.UUID] = Field(description="One case per counted unit (for a report or person, its first case).")


class AgencyBridgeRead(BaseModel):
    agency: Agency
    count: int = Field(description="The number this agency would publish from its own records.")
    delta: int = Field(description="`count` − the national number.")
    causes: list[CauseRead]


class CountBridgeRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "unit": "cases",
                "period_from": "2024-01-01",
                "period_to": "2024-12-31",
                "consistent_with": {
                    "as_of": "2024-12-31T17:00:00Z",
                    "tree_size": 4837,
                    "checkpoint_tree_size": 5000,
                    "checkpoint_root_hash": "d+srCwqtulpwoYnHkBKxh3Ylz1Qv3ov4GXBGSWc3YqY=",
                },
                "national": 2,
                "agencies": [
                    {
                        "agency": "BKN",
                        "count": 1,
                        "delta": -1,
                        "causes": [
                            {
                                "cause": "missing_required",
                                "effect": -1,
                                "count": -1,
                                "description": CAUSE_DESCRIPTIONS[Cause.MISSING_REQUIRED],
                                "case_ids": ["2b0c5a52-5a7e-4d0c-9d4e-1f3a2c1e9b11"],
                            }
                        ],
                    }
                ],
            }
        }
    )

    unit: Unit
    period_from: dt.date
    period_to: dt.date
    consistent_with: LedgerPositionRead
    national: int = Field(description="The reconciled national number, from the shared record.")
    agencies: list[AgencyBridgeRead]


@dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    end: dt.date

    def holds(self, value: Any) -> bool:
        return value is not None and self.start <= dt.date.fromisoformat(value) <= self.end


Row = Mapping[str, Any]


def _rank_between(stage: str | None, low: int, high: int) -> bool:
    rank = stage_rank(stage)
    return rank is not None and low <= rank <= high


@dataclass(frozen=True, slots=True)
class UnitRule:
    case_date: str
    record_date: str
    case_counts: Callable[[Row], bool]
    record_counts: Callable[[Row], bool]


def _not_rejected(row: Row) -> bool:
    return row.get("stage") != Stage.DITOLAK.value


def _any(_row: Row) -> bool:
    return True


def _recommended_record(row: Row) -> bool:
    holds = ("recommended_sanction_code", "recommended_sanction_level", "imposed_sanction_code")
    return any(row.get(name) is not None for name in holds) or _rank_between(
        row.get("stage"), RECOMMENDATION_RANK, MAIN_PATH_LAST_RANK
    )


RULES: Mapping[Unit, UnitRule] = {
    Unit.REPORTS: UnitRule("reported_date", "reported_date", _any, _any),
    Unit.CASES: UnitRule("reported_date", "reported_date", _not_rejected, _not_rejected),
    Unit.ASN: UnitRule("reported_date", "reported_date", _not_rejected, _not_rejected),
    Unit.RECOMMENDATIONS: UnitRule(
        "recommendation_date",
        "recommendation_date",
        lambda case: case.get("recommended_by") is not None,
        _recommended_record,
    ),
    Unit.SANCTIONS: UnitRule(
        "sanction_date",
        "sanction_date",
        lambda case: case.get("imposed_sanction_code") is not None,
        lambda record: record.get("imposed_sanction_code") is not None or record.get("stage") in SANCTIONED_STAGES,
    ),
}


@dataclass(frozen=True, slots=True)
class BridgeInput:
    replay: LedgerReplay
    period: Period
    unit: Unit
    today: dt.date
    """The as-of moment's day in Asia/Jakarta (grace periods and agency end dates are days there)."""
    reference: ReferenceData
    grace_days: int
    """``CASE_MISSING_AT_AGENCY``'s grace period, so ``missing_required`` is exactly when that finding opens."""


def _case_row(payload: Row) -> Case:
    """A detached ``Case`` holding a replayed state, for the reconciliation rules' presence matrix. Only the
    columns the entry holds are set (an entry written before a column existed simply lacks it)."""
    values: dict[str, Any] = {}
    for column in Case.__table__.columns:
        if column.key in payload and not isinstance(column.type, TZDateTime):
            value = payload[column.key]
            values[column.key] = dt.date.fromisoformat(value) if value and isinstance(column.type, Date) else value
    return Case(**values)


class _Bridge:
    def __init__(self, data: BridgeInput) -> None:
        self.data = data
        self.rule = RULES[data.unit]
        self.records = data.replay.records_by_case()
        ordered = sorted(data.replay.cases.values(), key=lambda case: (case["created_at"], case["id"]))
        self.order = {case["id"]: index for index, case in enumerate(ordered)}
        first_of: dict[tuple[str | None, str], str] = {}
        self.canonical: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}
        """Canonical case -> itself and its duplicates."""
        for case in ordered:
            identity = (canonical_nip(case["nip"]), case["incident_date"])
            canonical = first_of.setdefault(identity, case["id"])
            self.canonical[case["id"]] = canonical
            self.members.setdefault(canonical, []).append(case["id"])
        self.national_cases = {
            case["id"] for case in ordered if self.canonical[case["id"]] == case["id"] and self._case_counts(case)
        }
        self.facts: dict[str, CaseFacts] = {}
        """The rules' view of a case, built once for all agencies."""
        self.units: dict[str, list[str]] = {}
        for case in ordered:
            if case["id"] in self.national_cases:
                self.units.setdefault(self._unit_key(case), []).append(case["id"])

    def _facts(self, case_id: str) -> CaseFacts:
        facts = self.facts.get(case_id)
        if facts is None:
            facts = case_facts(_case_row(self.data.replay.cases[case_id]), self.data.reference)
            self.facts[case_id] = facts
        return facts

    def _case_counts(self, case: Row) -> bool:
        return self.data.period.holds(case.get(self.rule.case_date)) and self.rule.case_counts(case)

    def _record_counts(self, record: Row) -> bool:
        return self.data.period.holds(record.get(self.rule.record_date)) and self.rule.record_counts(record)

    def _unit_key(self, case: Row) -> str:
        if self.data.unit is Unit.ASN:
            return f"nip:{canonical_nip(case['nip'])}"
        if self.data.unit is Unit.REPORTS:
            if case.get("register_number"):  # the report, whoever created the case (GET /reports/{number})
                return f"report:{case['register_number']}"
            creator = case["created_by_agency"]
            register = next(
                (r.get("reference_number") for r in self.records[case["id"]] if r["agency"] == creator), None
            )
            if register:
                return f"report:{creator}:{register}"
        return f"case:{case['id']}"

    def agency(self, agency: Agency) -> AgencyBridgeRead:
        rows = sorted(
            (
                record["case_id"]
                for records in self.records.values()
                for record in records
                if record["agency"] == agency.value and self._record_counts(record)
            ),
            key=self.order.__getitem__,
        )
        causes: dict[tuple[Cause, int], list[str]] = {}

        def add(cause: Cause, effect: int, case_id: str) -> None:
            causes.setdefault((cause, effect), []).append(case_id)

        cases = self.data.replay.cases
        matched: dict[str, list[str]] = {}
        for case_id in rows:
            canonical = self.canonical[case_id]
            if canonical in self.national_cases:
                matched.setdefault(self._unit_key(cases[canonical]), []).append(case_id)
            elif canonical != case_id:
                add(Cause.DUPLICATE_AT_AGENCY, +1, case_id)
            elif not self.data.period.holds(cases[case_id].get(self.rule.case_date)):
                add(Cause.OTHER_PERIOD, +1, case_id)
            else:
                add(Cause.OTHER_STAGE, +1, case_id)
        for key, unit_cases in self.units.items():
            got = matched.get(key)
            if not got:
                add(self._missing(agency, unit_cases), -1, unit_cases[0])
                continue
            seen = {self.canonical[got[0]]}
            for case_id in got[1:]:
                canonical = self.canonical[case_id]
                add(Cause.DUPLICATE_AT_AGENCY if canonical in seen else Cause.OTHER_UNIT, +1, case_id)
                seen.add(canonical)
        national = len(self.units)
        listed = [
            CauseRead(
                cause=cause,
                effect=effect,
                count=effect * len(ids),
                description=CAUSE_DESCRIPTIONS[cause],
                case_ids=[uuid.UUID(case_id) for case_id in sorted(ids)],
            )
            for (cause, effect), ids in sorted(causes.items())
        ]
        delta = len(rows) - national
        if sum(cause.count for cause in listed) != delta:  # impossible by construction; never answer otherwise
            raise AssertionError(f"count bridge causes do not add up for {agency}")
        return AgencyBridgeRead(agency=agency, count=len(rows), delta=delta, causes=listed)

    def _missing(self, agency: Agency, unit_cases: list[str]) -> Cause:
        held = [
            record
            for canonical in unit_cases
            for case_id in self.members[canonical]
            for record in self.records[case_id]
            if record["agency"] == agency.value
        ]
        if held:
            if any(self.data.period.holds(record.get(self.rule.record_date)) for record in held):
                return Cause.OTHER_STAGE
            return Cause.OTHER_PERIOD
        ended = self.data.reference.agency_valid_to.get(agency.value)
        if ended is not None and self.data.today >= ended:
            return Cause.RETIRED_ARCHIVE
        facts = self._facts(unit_cases[0])
        grace_end = facts.stage_entered_on + dt.timedelta(days=self.data.grace_days)
        if agency.value in expected_agencies(facts, self.data.reference) and self.data.today > grace_end:
            return Cause.MISSING_REQUIRED
        return Cause.NOT_YET_RECEIVED


def count_bridge(data: BridgeInput, position: LedgerPositionRead) -> CountBridgeRead:
    bridge = _Bridge(data)
    return CountBridgeRead(
        unit=data.unit,
        period_from=data.period.start,
        period_to=data.period.end,
        consistent_with=position,
        national=len(bridge.units),
        agencies=[bridge.agency(agency) for agency in Agency],
    )
