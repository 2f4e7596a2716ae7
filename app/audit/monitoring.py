"""The public national monitoring figures: aggregates only (counts and rates), never a case, a NIP or a name.

Every count is grouped in SQL in three scans (``figures``), national counts summed from the per-province ones, read
for every view from the current rows (a few hundred milliseconds at 100k cases), so the page says what the API
says at the moment it names. The count bridge totals come from ``asof.bridge_at`` (a ledger replay, seconds on
100k cases): a background job (``refresh_bridge``) stores them in ``monitoring_bridge`` with the ledger prefix and
moment they are as of, again once the ledger (which every write appends to) has grown; the page shows the stored
ones and names that moment, at which the count bridge API answers the same (decision 0034).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, and_, case, func, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.audit import asof
from app.audit.bridge import Cause, Period, Unit
from app.audit.models import MonitoringBridge
from app.audit.repository import Statistics
from app.audit.state import use_snapshot
from app.cases.models import AgencyRecord, Case
from app.cases.workflow import Stage
from app.core.actor import Agency
from app.core.config import Settings
from app.core.db import transaction, try_round_lock, utcnow
from app.ledger.repository import tree_size
from app.reconciliation.facts import jakarta_day
from app.reference.models import ViolationForm

TREND_WEEKS = 52
CLOSED_WITHOUT_SANCTION = (Stage.TIDAK_TERBUKTI.value, Stage.DIBATALKAN.value, Stage.ASN_NONAKTIF.value)
"""A recommendation the case then left without a sanction (not proven, cancelled, the ASN left service) is no
longer the PPK's to follow up, so it is not counted for compliance."""


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

    Each scan reads one covering index (``ix_case_monitoring``, ``ix_case_reported_date``, migration 0013;
    ``ix_agency_record_case_province``, migration 0020) in the order of its GROUP BY, so none reads the wide rows,
    sorts or joins: grouped by the keys alone, the conditions (overdue, due, in time) are summed rather than grouped
    by, and the records carry their case's province.
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
    per_agency = select(AgencyRecord.case_province_code, AgencyRecord.agency, func.count()).group_by(
        AgencyRecord.case_province_code, AgencyRecord.agency
    )  # one record per case and agency (a unique constraint): counting rows counts the cases each agency holds
    for record_province, holder, count in session.execute(per_agency):
        by_province["agency"][cast(str, record_province)][holder] += count  # the triggers fill it on every record
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
    tree_size: int
    """The ledger prefix replayed (the entries recorded at or before ``as_of``)."""
    as_of: dt.datetime


def bridge_totals(session: Session, settings: Settings, moment: dt.datetime) -> BridgeTotals:
    """The count bridge in cases, from the first reported case to the day of ``moment``, as of ``moment``."""
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
        tree_size=bridge.consistent_with.tree_size,
        as_of=moment,
    )


BRIDGE_ROW = 1
BRIDGE_LOCK_KEY = int.from_bytes(b"SBTMONBR", "big") & 0x7FFF_FFFF_FFFF_FFFF


def stored_bridge(session: Session) -> BridgeTotals | None:
    """The latest totals ``refresh_bridge`` stored, or None before the first."""
    row = session.get(MonitoringBridge, BRIDGE_ROW)
    if row is None:
        return None
    agencies = [
        AgencyTotals(
            agency=Agency(item["agency"]),
            count=item["count"],
            delta=item["delta"],
            causes={Cause(cause): count for cause, count in item["causes"].items()},
        )
        for item in row.agencies
    ]
    return BridgeTotals(
        period=Period(row.period_start, row.period_end),
        unit=Unit.CASES,
        national=row.national,
        agencies=agencies,
        tree_size=row.tree_size,
        as_of=row.as_of,
    )


def refresh_bridge(reader: sessionmaker[Session], writer: sessionmaker[Session], settings: Settings) -> bool:
    """Recompute and store the totals when the ledger has grown past the stored ones or the day (the period's end)
    has changed; whether it did. The replay reads in a read-only transaction (SQLite: no write lock meanwhile),
    on PostgreSQL under an advisory lock so that one replica at a time computes; the store is a short write that
    never replaces newer totals with older ones."""
    now = utcnow()
    with transaction(reader) as session:
        use_snapshot(session)
        stored = stored_bridge(session)
        if (
            stored is not None
            and stored.tree_size >= tree_size(session)
            and jakarta_day(stored.as_of) == jakarta_day(now)
        ):
            return False
        if not try_round_lock(session, BRIDGE_LOCK_KEY):
            return False
        totals = bridge_totals(session, settings, now)
    with transaction(writer) as session:
        row = session.get(MonitoringBridge, BRIDGE_ROW, with_for_update=True)
        if row is not None and row.tree_size > totals.tree_size:
            return False
        session.merge(
            MonitoringBridge(
                id=BRIDGE_ROW,
                tree_size=totals.tree_size,
                as_of=totals.as_of,
                period_start=totals.period.start,
                period_end=totals.period.end,
                national=totals.national,
                agencies=[
                    {
                        "agency": item.agency.value,
                        "count": item.count,
                        "delta": item.delta,
                        "causes": {cause.value: count for cause, count in item.causes.items()},
                    }
                    for item in totals.agencies
                ],
            )
        )
    return True
