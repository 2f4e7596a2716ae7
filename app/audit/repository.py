"""Queries of the auditor surface: statistics over the filtered case list, the read audit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, extract, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.audit.models import ReadAuditEntry
from app.cases.models import AgencyRecord, Case
from app.cases.repository import CaseFilters, filtered_cases
from app.cases.workflow import Stage
from app.core.db import where_equal
from app.reference.models import ViolationForm


def _counts(session: Session, ids: Select[uuid.UUID], *keys: InstrumentedAttribute[Any]) -> list[tuple[str, int]]:
    """Number of filtered cases per key (keys joined with a space)."""
    statement = select(*keys, func.count()).where(Case.id.in_(ids)).group_by(*keys).order_by(*keys)
    return [(" ".join(str(part) for part in row[:-1]), int(row[-1])) for row in session.execute(statement)]


@dataclass(frozen=True, slots=True)
class Statistics:
    total: int
    by_agency: list[tuple[str, int]]
    by_stage: list[tuple[str, int]]
    by_province: list[tuple[str, int]]
    by_violation_category: list[tuple[str, int]]
    by_election: list[tuple[str, int]]
    by_month: list[tuple[str, int]]
    overdue_ppk_follow_ups: int


def overdue_cases(filters: CaseFilters, today: dt.date) -> Select[Case]:
    """Cases past their stage's deadline or ageing threshold (every open stage has one; terminal stages none)."""
    return filtered_cases(filters).where(Case.deadline_date < today)


def overdue_follow_ups(filters: CaseFilters, today: dt.date) -> Select[Case]:
    return overdue_cases(filters, today).where(Case.stage == Stage.REKOMENDASI.value)


def statistics(session: Session, filters: CaseFilters, today: dt.date) -> Statistics:
    ids = filtered_cases(filters).with_only_columns(Case.id)
    by_agency = session.execute(
        select(AgencyRecord.agency, func.count(func.distinct(AgencyRecord.case_id)))
        .where(AgencyRecord.case_id.in_(ids))
        .group_by(AgencyRecord.agency)
        .order_by(AgencyRecord.agency)
    )
    by_category = session.execute(
        select(ViolationForm.category, func.count())
        .join(Case, Case.violation_code == ViolationForm.code)
        .where(Case.id.in_(ids))
        .group_by(ViolationForm.category)
        .order_by(ViolationForm.category)
    )
    year, month = extract("year", Case.reported_date), extract("month", Case.reported_date)
    months = session.execute(
        select(year, month, func.count()).where(Case.id.in_(ids)).group_by(year, month).order_by(year, month)
    )
    overdue = overdue_follow_ups(filters, today).with_only_columns(func.count())
    return Statistics(
        total=session.scalar(select(func.count()).select_from(ids.subquery())) or 0,
        by_agency=[(agency, int(count)) for agency, count in by_agency],
        by_stage=_counts(session, ids, Case.stage),
        by_province=_counts(session, ids, Case.province_code),
        by_violation_category=[(category, int(count)) for category, count in by_category],
        by_election=_counts(session, ids, Case.election_type, Case.election_year),
        by_month=[(f"{int(y):04d}-{int(m):02d}", int(count)) for y, m, count in months],
        overdue_ppk_follow_ups=session.scalar(overdue) or 0,
    )


def case_ids(session: Session, filters: CaseFilters) -> Sequence[uuid.UUID]:
    return session.scalars(filtered_cases(filters).with_only_columns(Case.id)).all()


def cases_page(
    session: Session, query: Select[Case], after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> Sequence[Case]:
    """Keyset page of any case query, in the case list's order (created_at, id)."""
    if after is not None:
        query = query.where(tuple_(Case.created_at, Case.id) > tuple_(*after))
    return session.scalars(query.order_by(Case.created_at, Case.id).limit(limit)).all()


@dataclass(frozen=True, slots=True)
class ReadAuditFilters:
    client_id: str | None = None
    agency: str | None = None
    subject_nip_hash: str | None = None
    case_id: uuid.UUID | None = None
    recorded_from: dt.datetime | None = None
    recorded_to: dt.datetime | None = None


def read_audit_page(session: Session, filters: ReadAuditFilters, after_id: int, limit: int) -> Sequence[ReadAuditEntry]:
    statement = select(ReadAuditEntry).where(ReadAuditEntry.id > after_id)
    equalities = {
        ReadAuditEntry.client_id: filters.client_id,
        ReadAuditEntry.agency: filters.agency,
        ReadAuditEntry.subject_nip_hash: filters.subject_nip_hash,
        ReadAuditEntry.case_id: filters.case_id,
    }
    statement = where_equal(statement, equalities)
    if filters.recorded_from is not None:
        statement = statement.where(ReadAuditEntry.recorded_at >= filters.recorded_from)
    if filters.recorded_to is not None:
        statement = statement.where(ReadAuditEntry.recorded_at < filters.recorded_to)
    return session.scalars(statement.order_by(ReadAuditEntry.id).limit(limit)).all()
