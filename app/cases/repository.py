"""All queries of the cases domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Integer, Select, Table, bindparam, func, select, tuple_
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from app.cases.models import AgencyRecord, Case, CaseNumberCounter, CaseTransition
from app.core.db import insert_rows, where_equal
from app.reference.models import ViolationForm


@dataclass(frozen=True, slots=True)
class CaseFilters:
    agency: str | None = None
    stage: str | None = None
    province_code: str | None = None
    regency: str | None = None
    instansi_code: str | None = None
    position_category: str | None = None
    violation_code: str | None = None
    category: str | None = None
    nip: str | None = None
    election_type: str | None = None
    election_year: int | None = None
    reported_from: dt.date | None = None
    reported_to: dt.date | None = None
    register_number: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {key: value for key, value in asdict(self).items() if value is not None}


CASE_NUMBER_SEQUENCE = "case_number_seq"


# Built once (a statement built per call computes its cache key each time).
_NEXT_CASE_NUMBERS = select(func.nextval(CASE_NUMBER_SEQUENCE)).select_from(
    func.generate_series(1, bindparam("count", type_=Integer))
)
_COUNT_CASE_NUMBERS = (
    sqlite.insert(CaseNumberCounter)
    .values(year=bindparam("year"), last_value=bindparam("count"))
    .on_conflict_do_update(
        index_elements=[CaseNumberCounter.year],
        set_={"last_value": CaseNumberCounter.last_value + bindparam("count")},
    )
    .returning(CaseNumberCounter.last_value)
)


def next_case_numbers(session: Session, year: int, count: int) -> list[str]:
    """The next ``count`` case numbers in order, e.g. SBT-2024-000123, taken in one statement.

    PostgreSQL: from a sequence, which never blocks concurrent writers (a rolled-back request leaves a gap in the
    numbering, never a duplicate; concurrent batches may interleave their numbers). SQLite has one writer at a
    time anyway and keeps a per-year counter row, so its numbers restart at 1 each year and have no gaps.
    """
    if session.get_bind().dialect.name == "postgresql":
        values: Sequence[int] = sorted(session.scalars(_NEXT_CASE_NUMBERS, {"count": count}))
    else:
        last = session.execute(_COUNT_CASE_NUMBERS, {"year": year, "count": count}).scalar_one()
        values = range(last - count + 1, last + 1)
    return [f"SBT-{year}-{value:06d}" for value in values]


_CASES = cast(Table, Case.__table__)
_RECORDS = cast(Table, AgencyRecord.__table__)


def insert_cases(session: Session, cases: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]]) -> None:
    """New cases and their records, one multi-row INSERT per table (``insert_rows``: no ORM unit of work, on
    PostgreSQL one ``INSERT ... SELECT unnest(arrays)``). The cases go first: a record's insert trigger copies its
    case's province (migration 0020)."""
    insert_rows(session, _CASES, cases)
    insert_records(session, records)


def insert_records(session: Session, records: Sequence[dict[str, Any]]) -> None:
    """New agency records (every row with the same columns), one multi-row INSERT (``insert_rows``); their insert
    trigger copies their case's province (migration 0020)."""
    insert_rows(session, _RECORDS, records)


def agencies_with_records(session: Session, case_ids: Collection[uuid.UUID]) -> set[tuple[uuid.UUID, str]]:
    """(case id, agency) of every record these cases have: one record per agency and case."""
    rows = session.execute(
        select(AgencyRecord.case_id, AgencyRecord.agency).where(AgencyRecord.case_id.in_(sorted(case_ids)))
    )
    return {(case_id, agency) for case_id, agency in rows}


def overdue_by_stage(session: Session, today: dt.date) -> dict[str, int]:
    """Open cases whose stage deadline has passed, per stage (terminal stages have no deadline)."""
    rows = session.execute(
        select(Case.stage, func.count()).where(Case.deadline_date < today).group_by(Case.stage).order_by(Case.stage)
    )
    return {stage: int(count) for stage, count in rows}


def get_case(session: Session, case_id: uuid.UUID) -> Case | None:
    return session.get(Case, case_id)


def lock_cases(session: Session, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Case]:
    """Lock the cases' rows in id order before writing to them or their records, as a reconciliation round does
    (``load_cases_for_check``): a write that changed a record first and then met a round holding the case,
    while the round waited for that record, would deadlock. Returns the cases found, by id: while they are held,
    ``get_case`` costs no statement. SQLite has a single writer and no FOR UPDATE."""
    return {case.id: case for case in session.scalars(_locked(select(Case), case_ids))}


def lock_case_numbers(session: Session, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``lock_cases`` for a write that adds records: the same locks, and only the cases' numbers (no ORM object:
    loading a batch's thousand cases as objects was a tenth of a records batch)."""
    rows = session.execute(_locked(select(Case.id, Case.case_number), case_ids))
    return {case_id: number for case_id, number in rows}  # noqa: C416 (a Row is not typed as a pair)


_Locked = TypeVar("_Locked", bound=Select[*tuple[Any, ...]])


def _locked(statement: _Locked, case_ids: Collection[uuid.UUID]) -> _Locked:
    """The cases' rows locked in id order (``lock_cases``)."""
    return statement.where(Case.id.in_(sorted(case_ids))).order_by(Case.id).with_for_update()


def list_cases(
    session: Session, filters: CaseFilters, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> Sequence[Case]:
    statement = _filtered(select(Case), filters)
    if after is not None:
        statement = statement.where(tuple_(Case.created_at, Case.id) > tuple_(*after))
    statement = statement.order_by(Case.created_at, Case.id).limit(limit)
    return session.scalars(statement).all()


def report_cases(session: Session, register_number: str) -> Sequence[Case]:
    """The cases of one report (index ix_case_register_number); an incident has a handful of ASN."""
    statement = select(Case).where(Case.register_number == register_number).order_by(Case.case_number)
    return session.scalars(statement).all()


def filtered_cases(filters: CaseFilters) -> Select[Case]:
    """The case list's query for these filters, unordered (auditor statistics and exports build on it)."""
    return _filtered(select(Case), filters)


def _filtered(statement: Select[Case], filters: CaseFilters) -> Select[Case]:
    equalities = {
        Case.stage: filters.stage,
        Case.province_code: filters.province_code,
        Case.regency: filters.regency,
        Case.instansi_code: filters.instansi_code,
        Case.position_category: filters.position_category,
        Case.violation_code: filters.violation_code,
        Case.nip: filters.nip,
        Case.election_type: filters.election_type,
        Case.election_year: filters.election_year,
        Case.register_number: filters.register_number,
    }
    statement = where_equal(statement, equalities)
    if filters.category is not None:
        statement = statement.where(
            Case.violation_code.in_(select(ViolationForm.code).where(ViolationForm.category == filters.category))
        )
    if filters.agency is not None:
        statement = statement.where(
            Case.id.in_(select(AgencyRecord.case_id).where(AgencyRecord.agency == filters.agency))
        )
    if filters.reported_from is not None:
        statement = statement.where(Case.reported_date >= filters.reported_from)
    if filters.reported_to is not None:
        statement = statement.where(Case.reported_date <= filters.reported_to)
    return statement


def list_records(session: Session, case_id: uuid.UUID) -> Sequence[AgencyRecord]:
    return session.scalars(
        select(AgencyRecord).where(AgencyRecord.case_id == case_id).order_by(AgencyRecord.agency)
    ).all()


def records_of_cases(session: Session, case_ids: Sequence[uuid.UUID]) -> Sequence[AgencyRecord]:
    """Every agency record of these cases, by case then agency (one query for a batch of an export)."""
    if not case_ids:
        return []
    return session.scalars(
        select(AgencyRecord)
        .where(AgencyRecord.case_id.in_(case_ids))
        .order_by(AgencyRecord.case_id, AgencyRecord.agency)
    ).all()


def get_record(session: Session, case_id: uuid.UUID, record_id: uuid.UUID) -> AgencyRecord | None:
    return session.scalars(
        select(AgencyRecord).where(AgencyRecord.case_id == case_id, AgencyRecord.id == record_id)
    ).one_or_none()


def get_record_of_agency(session: Session, case_id: uuid.UUID, agency: str) -> AgencyRecord | None:
    return session.scalars(
        select(AgencyRecord).where(AgencyRecord.case_id == case_id, AgencyRecord.agency == agency)
    ).one_or_none()


def list_transitions(session: Session, case_id: uuid.UUID) -> Sequence[CaseTransition]:
    return session.scalars(
        select(CaseTransition)
        .where(CaseTransition.case_id == case_id)
        .order_by(CaseTransition.created_at, CaseTransition.id)
    ).all()
