"""Auditor surface responses."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.cases.schemas import AgencyRecordRead, CaseRead, TransitionRead
from app.core.actor import Agency
from app.core.schemas import ReadSchema
from app.ledger.asof import LedgerPositionRead


class RecordVersionRead(BaseModel):
    """One recorded state of an agency's record, as the ledger holds it."""

    seq: int = Field(description="Ledger position of the change; prove it with /api/v1/ledger/proofs/inclusion.")
    recorded_at: dt.datetime
    entry_type: str = Field(examples=["agency_record.updated"])
    agency: str | None
    client_id: str
    record: dict[str, Any] = Field(description="The record's fields after this change.")


class CaseHistoryRead(BaseModel):
    case: CaseRead
    transitions: list[TransitionRead] = Field(description="Workflow history, oldest first.")
    agency_records: list[AgencyRecordRead] = Field(description="Every agency's record as it stands now.")
    record_versions: list[RecordVersionRead] = Field(description="Every version of every agency record, in order.")
    ledger_entries: str = Field(description="Where this case's ledger entries (with proofs) are listed.")


class CountRead(BaseModel):
    key: str
    count: int


class StatisticsRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "as_of": "2024-11-01",
                "total_cases": 3,
                "by_agency": [{"key": "BAWASLU", "count": 3}, {"key": "BKN", "count": 1}],
                "by_stage": [{"key": "DITERIMA", "count": 2}, {"key": "REKOMENDASI", "count": 1}],
                "by_province": [{"key": "73", "count": 3}],
                "by_violation_category": [{"key": "DISIPLIN", "count": 3}],
                "by_election": [{"key": "PILKADA 2024", "count": 3}],
                "by_month": [{"key": "2024-10", "count": 3}],
                "overdue_ppk_follow_ups": 1,
            }
        }
    )

    as_of: dt.date = Field(
        description="The day (Asia/Jakarta) of the `as_of` moment asked for, else today; deadlines are counted there."
    )
    total_cases: int
    by_agency: list[CountRead] = Field(description="Cases each agency holds a record of.")
    by_stage: list[CountRead]
    by_province: list[CountRead] = Field(description="Province code (see /api/v1/reference/provinces).")
    by_violation_category: list[CountRead] = Field(description="KODE_ETIK or DISIPLIN.")
    by_election: list[CountRead] = Field(description="Election type and year, e.g. `PILKADA 2024`.")
    by_month: list[CountRead] = Field(description="Month the case was reported, `YYYY-MM`.")
    overdue_ppk_follow_ups: int = Field(
        description="Cases in REKOMENDASI whose PPK follow-up deadline has passed (listed by "
        "/audit/overdue?stage=REKOMENDASI)."
    )
    consistent_with: LedgerPositionRead | None = Field(
        default=None,
        description="With `as_of`: the ledger prefix the answer was replayed from and the signed checkpoint "
        "covering it. Without `as_of` the answer reads the current rows and this is null.",
    )


class ReadAuditRead(ReadSchema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": 17,
                "recorded_at": "2024-11-01T03:04:05Z",
                "request_id": "4f1c…",
                "client_id": "demo-bkn",
                "role": "agency",
                "agency": "BKN",
                "purpose": "R-2024/BKN/10/2024",
                "operation": "get_agency_record",
                "case_id": "2b0c5a52-5a7e-4d0c-9d4e-1f3a2c1e9b11",
                # a real value: the published contract leaves nulls out of examples
                "record_id": "8d3f6b1e-2c4a-4e5f-9a7b-0c1d2e3f4a5b",
            }
        },
    )

    id: int
    recorded_at: dt.datetime
    request_id: str
    client_id: str
    role: str
    agency: Agency | None
    purpose: str | None
    operation: str = Field(description="operationId that returned the data.")
    case_id: uuid.UUID | None
    record_id: uuid.UUID | None


class StateDifferenceKind(enum.StrEnum):
    FIELD = "field"
    MISSING = "missing"
    EXTRA = "extra"


class StateDifferenceRead(BaseModel):
    kind: StateDifferenceKind = Field(
        description="`field`: a column differs; `missing`: the ledger made the row, the table lacks it; `extra`: "
        "the table holds a row no ledger entry made."
    )
    table: str = Field(examples=["case"])
    row_id: str = Field(description="The row's id (a client's client_id).")
    field: str | None = Field(description="The column that differs (null for a missing or extra row).")
    seq: int | None = Field(
        description="The ledger entry that set the ledger's value or made the row (null for an extra row)."
    )
    scope: str = Field(description="The case the row belongs to, or `clients`.")


class StateAuditRead(BaseModel):
    """The background state audit's standing result. Values are left out (they may be names and NIPs): read them
    with `sbt ledger audit-state --case ID` or from the ledger entry `seq`."""

    checked_at: dt.datetime | None = Field(description="When a round last finished (null: none yet).")
    audited_tree_size: int = Field(description="Every ledger entry before this position has been audited.")
    rows_checked: int = Field(description="Rows compared in the latest round.")
    difference_count: int
    differences: list[StateDifferenceRead]
