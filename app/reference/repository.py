"""Queries over reference tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func, inspect, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.core.db import Base
from app.reference.models import (
    AgencyRef,
    EmployeeKind,
    Instansi,
    PositionCategory,
    Province,
    Sanction,
    ViolationForm,
    ViolationSanctionLevel,
)

M = TypeVar("M", bound=Base)


def list_all(session: Session, model: type[M], order_by: InstrumentedAttribute[str]) -> Sequence[M]:
    return session.scalars(select(model).order_by(order_by)).all()


CACHED_TABLES: tuple[type[Base], ...] = (
    AgencyRef,
    EmployeeKind,
    Instansi,
    PositionCategory,
    Province,
    Sanction,
    ViolationForm,
)
VERSION_RECHECK_SECONDS = 60.0
"""How often a process asks the database whether its reference data (seeded by migrations) has changed."""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    version: str | None
    checked_at: float
    rows: dict[type[Base], dict[str, Base]]


_snapshots: dict[str, _Snapshot] = {}
_snapshots_lock = threading.Lock()


def _schema_version(session: Session) -> str | None:
    version: str | None = session.scalar(text("SELECT version_num FROM alembic_version"))
    return version


def _load(session: Session, version: str | None) -> _Snapshot:
    """Every cached table's rows as transient instances (never attached to a session: many threads read them)."""
    rows: dict[type[Base], dict[str, Base]] = {}
    for model in CACHED_TABLES:
        mapper = inspect(model)
        keys = {column.key: mapper.get_property_by_column(column).key for column in model.__table__.columns}
        rows[model] = {
            row.code: model(**{keys[name]: value for name, value in row._mapping.items()})
            for row in session.execute(select(model.__table__))
        }
    return _Snapshot(version, time.monotonic(), rows)


def _snapshot(session: Session) -> _Snapshot:
    """This database's reference rows, kept in process: they change only with a migration, which changes the
    schema version; the version is re-read at most every ``VERSION_RECHECK_SECONDS``, the rows when it moved."""
    key = str(session.get_bind().engine.url)
    snapshot = _snapshots.get(key)
    if snapshot is not None and time.monotonic() - snapshot.checked_at < VERSION_RECHECK_SECONDS:
        return snapshot
    version = _schema_version(session)
    if snapshot is not None and snapshot.version == version:
        snapshot = dataclasses.replace(snapshot, checked_at=time.monotonic())
    else:
        snapshot = _load(session, version)
    with _snapshots_lock:
        _snapshots[key] = snapshot
    return snapshot


def get(session: Session, model: type[M], code: str) -> M | None:
    """A reference row by code, from the process's snapshot (no SELECT per lookup). Read its fields only: it is
    not attached to ``session``."""
    found = _snapshot(session).rows[model].get(code)
    assert found is None or isinstance(found, model)
    return found


@dataclass(frozen=True, slots=True)
class InstansiFilters:
    q: str | None = None
    """Every word must appear in the name (case-insensitive) or begin the code."""
    kind: str | None = None
    province_code: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"q": self.q, "kind": self.kind, "province_code": self.province_code}


def list_instansi(session: Session, filters: InstansiFilters, after: str | None, limit: int) -> Sequence[Instansi]:
    """Instansi in code order (regional ones grouped by province), from after the code ``after``."""
    query = select(Instansi).order_by(Instansi.code).limit(limit)
    for word in (filters.q or "").split():
        query = query.where(
            or_(
                func.lower(Instansi.name).contains(word.lower(), autoescape=True),
                Instansi.code.startswith(word.upper(), autoescape=True),
            )
        )
    if filters.kind is not None:
        query = query.where(Instansi.kind == filters.kind)
    if filters.province_code is not None:
        query = query.where(Instansi.province_code == filters.province_code)
    if after is not None:
        query = query.where(Instansi.code > after)
    return session.scalars(query).all()


def agency_acting_for(session: Session, agency_code: str, on: dt.date) -> str:
    """The agency that holds ``agency_code``'s duties on a date: itself, or its successor once it has ended."""
    agency = get(session, AgencyRef, agency_code)
    while agency is not None and agency.valid_to is not None and on >= agency.valid_to:
        if agency.successor_code is None:
            break
        agency = get(session, AgencyRef, agency.successor_code)
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
    agency = get(session, AgencyRef, agency_code)
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
