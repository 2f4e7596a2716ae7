"""The public national monitoring figures: aggregates only (counts and rates), never a case, a NIP or a name.

Every count is grouped in SQL in three scans (``figures``), national counts summed from the per-province ones, read
for every view from the current rows (a few hundred milliseconds at 100k cases), so the page says what the API
says at the moment it names. The count bridge totals come from ``asof.bridge_at`` (a ledger replay, seconds on
100k cases): a ``MonitoringCache`` keeps them with the ledger size they are consistent with; the page shows what
it keeps and has them recomputed after the response when the ledger (which every write appends to) has grown.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, Integer, and_, case, func, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.audit import asof
from app.audit.bridge import Cause, Period, Unit
from app.audit.repository import Statistics
from app.cases.models import AgencyRecord, Case
from app.cases.workflow import Stage
from app.core.actor import Agency
from app.core.config import Settings
from app.core.db import READ_ONLY_OPTION, utcnow
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
    read_at: dt.datetime
    """When the figures were read, all in one snapshot of the database."""
    ledger_size: int
    """The ledger's size in that snapshot: every write it counts had committed by then (its entries may have been
    awaiting their positions, decision 0028)."""
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


def _follow_up(today: dt.date, follow_up_days: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(due, followed up in time) of a case, as SQL conditions (see ``Compliance``)."""
    imposed = Case.imposed_sanction_code.is_not(None)
    due = and_(
        Case.recommendation_date.is_not(None),
        or_(Case.recommendation_date < today - dt.timedelta(days=follow_up_days), imposed),
        not_(and_(Case.stage.in_(CLOSED_WITHOUT_SANCTION), Case.imposed_sanction_code.is_(None))),
    )
    in_time = and_(due, imposed, _DaysBetween(Case.recommendation_date, Case.sanction_date) <= follow_up_days)
    return due, in_time


def _weeks(per_day: Mapping[dt.date, int], today: dt.date) -> list[tuple[dt.date, int]]:
    """Cases reported per week (Monday to Sunday), for the ``TREND_WEEKS`` weeks up to the latest one with a report
    (not after today); from the counts per day, so no dialect's week function is needed."""
    per_week: dict[dt.date, int] = defaultdict(int)
    for day, count in per_day.items():
        if day <= today:
            per_week[day - dt.timedelta(days=day.weekday())] += count
    if not per_week:
        return []
    last = max(per_week)
    mondays = [last - dt.timedelta(weeks=n) for n in reversed(range(TREND_WEEKS))]
    return [(monday, per_week.get(monday, 0)) for monday in mondays]


def _pairs(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted((key, count) for key, count in counts.items() if count)


def _count_of(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def figures(session: Session, moment: dt.datetime, follow_up_days: int) -> Figures:
    """Every figure the monitoring page shows except the count bridge, from the current rows in three grouped scans
    (cases by every key the page breaks down by, agency records by province, cases by day). The national counts
    are the same as ``repository.statistics`` without filters gives (``tests/monitoring`` compares them).

    Each scan reads one covering index (``ix_case_monitoring``, ``ix_case_reported_date``, migration 0013) in the
    order of its GROUP BY, so none reads the wide case rows or sorts: grouped by the keys alone, the conditions
    (overdue, due, in time) are summed rather than grouped by, and the agencies are one sum each per province.
    The page reads them in one snapshot (``api/routers/monitoring.py``): they and ``ledger_size`` are one moment."""
    today = jakarta_day(moment)
    ledger_size = tree_size(session)
    category_of = dict(session.execute(select(ViolationForm.code, ViolationForm.category)).all())
    overdue = and_(Case.stage == Stage.REKOMENDASI.value, Case.deadline_date < today)
    due, in_time = _follow_up(today, follow_up_days)
    keys = (Case.province_code, Case.stage, Case.violation_code, Case.election_type, Case.election_year)
    by_province: dict[str, dict[str, Counter[str]]] = {
        name: defaultdict(Counter) for name in ("stage", "category", "election", "agency")
    }
    totals, late, due_by, timely_by = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    grouped = select(*keys, func.count(), _count_of(overdue), _count_of(due), _count_of(in_time)).group_by(*keys)
    for row in session.execute(grouped):
        province, stage, violation, election_type, election_year, count, is_late, is_due, timely = cast(
            tuple[str, str, str, str, int, int, int, int, int], tuple(row)
        )
        totals[province] += count
        by_province["stage"][province][stage] += count
        by_province["category"][province][category_of[violation]] += count
        by_province["election"][province][f"{election_type} {election_year}"] += count
        late[province] += is_late
        due_by[province] += is_due
        timely_by[province] += timely
    holders = [agency.value for agency in Agency]
    per_agency = (
        select(Case.province_code, *(_count_of(AgencyRecord.agency == holder) for holder in holders))
        .join(AgencyRecord, AgencyRecord.case_id == Case.id)
        .group_by(Case.province_code)
    )  # one record per case and agency (a unique constraint): counting rows counts the cases each agency holds
    for province, *counts in session.execute(per_agency):
        for holder, count in zip(holders, counts, strict=True):
            if count:
                by_province["agency"][province][holder] += count
    per_day = {day: int(count) for day, count in session.execute(
        select(Case.reported_date, func.count()).group_by(Case.reported_date)
    )}  # fmt: skip

    def national(dimension: str) -> list[tuple[str, int]]:
        return _pairs(sum(by_province[dimension].values(), Counter[str]()))

    months: Counter[str] = Counter()
    for day, count in per_day.items():
        months[f"{day.year:04d}-{day.month:02d}"] += count
    return Figures(
        read_at=moment,
        ledger_size=ledger_size,
        today=today,
        national=Statistics(
            total=sum(totals.values()),
            by_agency=national("agency"),
            by_stage=national("stage"),
            by_province=_pairs(totals),
            by_violation_category=national("category"),
            by_election=national("election"),
            by_month=_pairs(months),
            overdue_ppk_follow_ups=sum(late.values()),
        ),
        compliance=Compliance(sum(due_by.values()), sum(timely_by.values())),
        follow_up_days=follow_up_days,
        province_totals=dict(totals),
        by_province={
            name: {province: dict(counts) for province, counts in breakdown.items()}
            for name, breakdown in by_province.items()
        },
        overdue_by_province={province: count for province, count in late.items() if count},
        compliance_by_province={province: Compliance(due_by[province], timely_by[province]) for province in totals},
        weeks=_weeks(per_day, today),
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


T = TypeVar("T")


@dataclass
class _Kept(Generic[T]):
    """One kept answer, the key it was computed for (the ledger size and the day) and when; one refresh at a time."""

    value: T | None = None
    key: tuple[int, dt.date] | None = None
    computed_at: dt.datetime | None = None
    _refreshing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self, key: tuple[int, dt.date], now: dt.datetime, max_age: dt.timedelta) -> bool:
        if self.value is None or self.computed_at is None:
            return True
        return key != self.key and now - self.computed_at >= max_age

    def refresh(self, factory: sessionmaker[Session], compute: Callable[[Session], T]) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        try:
            # A read-only transaction: on SQLite a writing one would hold the write lock while this computes.
            with factory(execution_options={READ_ONLY_OPTION: True}) as session:
                now = utcnow()
                key = (tree_size(session), jakarta_day(now))  # read first: a write meanwhile is seen next time
                self.value, self.key, self.computed_at = compute(session), key, now
        finally:
            with self._lock:
                self._refreshing = False


@dataclass
class MonitoringCache:
    """The count bridge totals the monitoring page shows, kept per process: a ledger replay takes seconds at 100k
    cases, so a view shows the kept totals (with the ledger size they are consistent with) and has them
    recomputed after its response once the ledger has grown and they are ``BRIDGE_MAX_AGE`` old. Every other
    figure is read for each view (``figures``)."""

    bridge: _Kept[BridgeTotals] = field(default_factory=_Kept)

    def key(self, session: Session, now: dt.datetime) -> tuple[int, dt.date]:
        return tree_size(session), jakarta_day(now)
