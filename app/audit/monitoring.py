"""The public national monitoring figures: aggregates only (counts and rates), never a case, a NIP or a name.

National counts are ``repository.statistics`` itself, so the page and ``GET /api/v1/audit/statistics`` cannot
disagree; the per-province breakdowns, the PPK compliance rate and the weekly trend are grouped in SQL here. The
count bridge totals come from ``asof.bridge_at`` (a ledger replay, seconds on 100k cases), so the page shows the
latest totals a ``BridgeTotalsCache`` holds and has them recomputed after the response when the ledger has grown.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, func, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.audit import asof
from app.audit.bridge import Cause, Period, Unit
from app.audit.repository import Statistics, statistics
from app.cases.models import AgencyRecord, Case
from app.cases.repository import CaseFilters
from app.cases.workflow import Stage
from app.core.actor import Agency
from app.core.config import Settings
from app.core.db import transaction, utcnow
from app.ledger.asof import LedgerPositionRead
from app.ledger.repository import tree_size
from app.reconciliation.facts import jakarta_day
from app.reference.models import ViolationForm

TREND_WEEKS = 52
CLOSED_WITHOUT_SANCTION = (Stage.TIDAK_TERBUKTI.value, Stage.DIBATALKAN.value, Stage.ASN_NONAKTIF.value)
"""A recommendation the case then left without a sanction (not proven, cancelled, the ASN left service) is no
longer the PPK's to follow up, so it is not counted for compliance."""
BRIDGE_MAX_AGE = dt.timedelta(minutes=5)
"""The bridge totals are recomputed at most this often while the ledger keeps growing."""


class _DaysBetween(FunctionElement[int]):
    """Whole days from the first date to the second (SQLite stores dates as ISO text, PostgreSQL as dates)."""

    type = Integer()
    inherit_cache = True


@compiles(_DaysBetween, "sqlite")
def _days_between_sqlite(element: _DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"CAST(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}) AS INTEGER)"


@compiles(_DaysBetween, "postgresql")
def _days_between_postgresql(element: _DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"({compiler.process(end, **kw)} - {compiler.process(start, **kw)})"


@dataclass(frozen=True, slots=True)
class Compliance:
    """Recommendations whose PPK follow-up fell due (the deadline passed, or the PPK already imposed the
    sanction), and those of them whose sanction was imposed by the deadline."""

    due: int = 0
    in_time: int = 0

    @property
    def rate(self) -> float | None:
        return self.in_time / self.due if self.due else None


Breakdown = Mapping[str, Mapping[str, int]]
"""Province code -> key -> number of cases."""


@dataclass(frozen=True, slots=True)
class Figures:
    today: dt.date
    national: Statistics
    compliance: Compliance
    follow_up_days: int
    province_totals: Mapping[str, int]
    by_province: Mapping[str, Breakdown]
    """``stage``, ``category``, ``election``, ``agency`` -> the breakdown."""
    overdue_by_province: Mapping[str, int]
    compliance_by_province: Mapping[str, Compliance]
    weeks: list[tuple[dt.date, int]]
    """Monday of each week and the cases reported that week, oldest first."""


def _breakdown(session: Session, statement: Select[*tuple[Any, ...]]) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for province, *key, count in session.execute(statement):
        result[province][" ".join(str(part) for part in key)] = int(count)
    return dict(result)


def _compliance(session: Session, today: dt.date, follow_up_days: int) -> dict[str | None, Compliance]:
    """Per province, and under ``None`` the national total."""
    imposed = Case.imposed_sanction_code.is_not(None)
    due: ColumnElement[bool] = and_(
        Case.recommendation_date.is_not(None),
        or_(Case.recommendation_date < today - dt.timedelta(days=follow_up_days), imposed),
        not_(and_(Case.stage.in_(CLOSED_WITHOUT_SANCTION), Case.imposed_sanction_code.is_(None))),
    )
    in_time = and_(imposed, _DaysBetween(Case.recommendation_date, Case.sanction_date) <= follow_up_days)
    statement = (
        select(Case.province_code, func.count(), func.count().filter(in_time)).where(due).group_by(Case.province_code)
    )
    result: dict[str | None, Compliance] = {
        province: Compliance(int(count), int(timely)) for province, count, timely in session.execute(statement)
    }
    result[None] = Compliance(sum(c.due for c in result.values()), sum(c.in_time for c in result.values()))
    return result


def _weeks(session: Session, today: dt.date) -> list[tuple[dt.date, int]]:
    """Cases reported per week (Monday to Sunday), for the ``TREND_WEEKS`` weeks up to the latest one with a report
    (not after today); grouped by day in SQL, so no dialect's week function is needed."""
    per_week: dict[dt.date, int] = defaultdict(int)
    days = select(Case.reported_date, func.count()).where(Case.reported_date <= today).group_by(Case.reported_date)
    for day, count in session.execute(days):
        per_week[day - dt.timedelta(days=day.weekday())] += int(count)
    if not per_week:
        return []
    last = max(per_week)
    mondays = [last - dt.timedelta(weeks=n) for n in reversed(range(TREND_WEEKS))]
    return [(monday, per_week.get(monday, 0)) for monday in mondays]


def figures(session: Session, today: dt.date, follow_up_days: int) -> Figures:
    """Every figure the monitoring page shows except the count bridge, from the current rows."""
    province = Case.province_code
    category = (
        select(province, ViolationForm.category, func.count())
        .join(ViolationForm, Case.violation_code == ViolationForm.code)
        .group_by(province, ViolationForm.category)
    )
    agency = (
        select(province, AgencyRecord.agency, func.count(func.distinct(AgencyRecord.case_id)))
        .join(Case, Case.id == AgencyRecord.case_id)
        .group_by(province, AgencyRecord.agency)
    )
    overdue = select(province, func.count()).where(Case.stage == Stage.REKOMENDASI.value, Case.deadline_date < today)
    compliance = _compliance(session, today, follow_up_days)
    return Figures(
        today=today,
        national=statistics(session, CaseFilters(), today),
        compliance=compliance.pop(None),
        follow_up_days=follow_up_days,
        province_totals={
            code: int(n) for code, n in session.execute(select(province, func.count()).group_by(province))
        },
        by_province={
            "stage": _breakdown(session, select(province, Case.stage, func.count()).group_by(province, Case.stage)),
            "category": _breakdown(session, category),
            "election": _breakdown(
                session,
                select(province, Case.election_type, Case.election_year, func.count()).group_by(
                    province, Case.election_type, Case.election_year
                ),
            ),
            "agency": _breakdown(session, agency),
        },
        overdue_by_province={code: int(n) for code, n in session.execute(overdue.group_by(province))},
        compliance_by_province={code: value for code, value in compliance.items() if code is not None},
        weeks=_weeks(session, today),
    )


@dataclass(frozen=True, slots=True)
class AgencyTotals:
    agency: Agency
    count: int
    delta: int
    causes: Mapping[Cause, int]
    """Signed count of each cause (``-`` the agency counts fewer); they add up to ``delta``."""


@dataclass(frozen=True, slots=True)
class BridgeTotals:
    """The count bridge without its case lists: what a public page may show."""

    period: Period
    unit: Unit
    national: int
    agencies: list[AgencyTotals]
    consistent_with: LedgerPositionRead
    computed_at: dt.datetime


def bridge_totals(session: Session, settings: Settings, moment: dt.datetime) -> BridgeTotals:
    """The count bridge in cases, from the first reported case to the day of ``moment``."""
    today = jakarta_day(moment)
    first = session.scalar(select(func.min(Case.reported_date)))
    period = Period(min(first or today, today), today)
    bridge = asof.bridge_at(session, settings, period, Unit.CASES, moment)
    agencies = []
    for row in bridge.agencies:
        causes: dict[Cause, int] = defaultdict(int)
        for cause in row.causes:
            causes[cause.cause] += cause.count
        agencies.append(AgencyTotals(agency=row.agency, count=row.count, delta=row.delta, causes=dict(causes)))
    return BridgeTotals(
        period=period,
        unit=Unit.CASES,
        national=bridge.national,
        agencies=agencies,
        consistent_with=bridge.consistent_with,
        computed_at=moment,
    )


@dataclass
class BridgeTotalsCache:
    """The latest ``BridgeTotals`` of one process. ``due`` says whether to recompute: none yet, or the ledger has
    grown and the totals are older than ``BRIDGE_MAX_AGE``; one recomputation runs at a time."""

    current: BridgeTotals | None = None
    _running: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self, session: Session, now: dt.datetime) -> bool:
        current = self.current
        if current is None:
            return True
        grown = tree_size(session) != current.consistent_with.tree_size
        return grown and now - current.computed_at >= BRIDGE_MAX_AGE

    def refresh(self, factory: sessionmaker[Session], settings: Settings) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        try:
            with transaction(factory) as session:
                self.current = bridge_totals(session, settings, utcnow())
        finally:
            self._running = False
