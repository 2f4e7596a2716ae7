"""Queries over reference tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.core.db import Base
from app.reference.models import (
    AgencyRef,
    EmployeeKind,
    PositionCategory,
    Province,
    Sanction,
    ViolationForm,
    ViolationSanctionLevel,
)

M = TypeVar("M", bound=Base)


def list_all(session: Session, model: type[M], order_by: InstrumentedAttribute[str]) -> Sequence[M]:
    return session.scalars(select(model).order_by(order_by)).all()


def get(session: Session, model: type[M], code: str) -> M | None:
    return session.get(model, code)


def load_into(session: Session) -> list[Base]:
    """Every reference row, loaded into the session. The session's identity map holds rows only while something
    else does: while the caller keeps this list, ``get`` of a code is answered from memory, without a SELECT (a
    batch checks thousands of codes in one session)."""
    tables: tuple[type[Base], ...] = (AgencyRef, EmployeeKind, PositionCategory, Province, Sanction, ViolationForm)
    return [row for table in tables for row in session.scalars(select(table))]


def agency_acting_for(session: Session, agency_code: str, on: dt.date) -> str:
    """The agency that holds ``agency_code``'s duties on a date: itself, or its successor once it has ended."""
    agency = session.get(AgencyRef, agency_code)
    while agency is not None and agency.valid_to is not None and on >= agency.valid_to:
        if agency.successor_code is None:
            break
        agency = session.get(AgencyRef, agency.successor_code)
    return agency.code if agency is not None else agency_code


@dataclass(frozen=True)
class Retirement:
    """An agency that no longer exists on a date: the day it ended (its ``valid_to``) and who took over."""

    code: str
    ended_on: dt.date
    successor: str | None

    def describe(self) -> str:
        taken_over = f"; its duties passed to {self.successor}" if self.successor else ""
        return f"{self.code} ceased to exist on {self.ended_on.isoformat()}{taken_over}"


def retirement(session: Session, agency_code: str, on: dt.date) -> Retirement | None:
    """How ``agency_code`` ended, when it no longer exists on ``on`` (``valid_to`` is its first day gone)."""
    agency = session.get(AgencyRef, agency_code)
    if agency is None or agency.valid_to is None or on < agency.valid_to:
        return None
    return Retirement(code=agency.code, ended_on=agency.valid_to, successor=agency.successor_code)


def retirements(session: Session) -> dict[str, Retirement]:
    """Every agency with an end date, by code (reference data: changes only with a migration)."""
    rows = session.scalars(select(AgencyRef).where(AgencyRef.valid_to.is_not(None))).all()
    return {
        row.code: Retirement(code=row.code, ended_on=row.valid_to, successor=row.successor_code)
        for row in rows
        if row.valid_to is not None
    }


def matrix_levels(session: Session, violation_code: str) -> list[str]:
    """The sanction levels the SKB matrix allows for a violation form."""
    query = select(ViolationSanctionLevel.level).where(ViolationSanctionLevel.violation_code == violation_code)
    return list(session.scalars(query))


def sanctions_in_force(session: Session, employee_kind: str, on: dt.date, levels: Collection[str]) -> list[Sanction]:
    """The sanctions of ``levels`` that may be given to an employee of ``employee_kind`` on a date, lightest first."""
    query = (
        select(Sanction)
        .where(
            Sanction.level.in_(list(levels)),
            or_(Sanction.employee_kind.is_(None), Sanction.employee_kind == employee_kind),
            or_(Sanction.valid_from.is_(None), Sanction.valid_from <= on),
            or_(Sanction.valid_to.is_(None), Sanction.valid_to > on),
        )
        .order_by(Sanction.severity_rank, Sanction.code)
    )
    return list(session.scalars(query))


def levels_of_same_kinds(session: Session, levels: Collection[str]) -> list[str]:
    """Every level of the sanction kinds ``levels`` belong to: moral for moral, the three disciplinary levels for
    any of them, PTDH for PTDH."""
    kinds = select(Sanction.kind).where(Sanction.level.in_(list(levels)))
    return sorted(set(session.scalars(select(Sanction.level).where(Sanction.kind.in_(kinds)))))
