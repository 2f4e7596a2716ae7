"""All queries of the reconciliation domain, portable across SQLite and PostgreSQL.

The screen is one GROUP BY over stored fingerprints and flags (no FULL OUTER JOIN: SQLite plans it as a
nested scan), plus three small index-backed selections for deadlines, duplicates and open findings.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from dataclasses import field as dc_field
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Exists,
    Row,
    Select,
    Table,
    Update,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    inspect,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.cases.models import AgencyRecord, Case
from app.core.db import Base, insert_rows, update_rows, where_equal
from app.reconciliation.models import (
    ACTIVE_STATES,
    CaseState,
    Finding,
    FindingAgency,
    FindingEvent,
    FindingState,
    Run,
    RunMode,
    RunStatus,
)
from app.reconciliation.normalize import NORMALIZER_VERSION
from app.reconciliation.rules import AGENCY_BITS
from app.reference.models import AgencyRef, Instansi, Sanction, ViolationForm

WATCHED_STATES = (*ACTIVE_STATES, FindingState.SUPPRESSED.value)
"""States a run must revisit even when the screen no longer flags the case (to clear or reopen them)."""


class CheckedCase(NamedTuple):
    """The columns of a case a re-check reads (``facts.case_facts``), with their names in ``Case``."""

    id: uuid.UUID
    case_number: str
    nip: str
    name: str
    instansi_code: str | None
    province_code: str
    regency: str | None
    election_type: str
    election_year: int
    violation_code: str
    phase: str
    source: str
    incident_date: dt.date
    reported_date: dt.date
    known_date: dt.date | None
    stage: str
    stage_entered_on: dt.date
    deadline_date: dt.date | None
    recommended_by: str | None
    recommendation_date: dt.date | None
    recommended_sanction_code: str | None
    recommended_sanction_level: str | None
    imposed_sanction_code: str | None
    imposed_sanction_reason: str | None
    sanction_date: dt.date | None
    decision_number: str | None
    decision_date: dt.date | None
    blocked_on: dt.date | None
    block_lifted_on: dt.date | None
    created_by_agency: str


class CheckedRecord(NamedTuple):
    """The columns of an agency record a re-check reads (``facts.record_facts``, and the stored comparison forms
    ``facts.normalize_case`` compares), with their names in ``AgencyRecord``."""

    id: uuid.UUID
    case_id: uuid.UUID
    agency: str
    nip: str | None
    name: str | None
    instansi_code: str | None
    province_code: str | None
    regency: str | None
    election_type: str | None
    election_year: int | None
    phase: str | None
    violation_code: str | None
    stage: str | None
    recommended_sanction_code: str | None
    recommended_sanction_level: str | None
    imposed_sanction_code: str | None
    imposed_sanction_reason: str | None
    reported_date: dt.date | None
    recommendation_date: dt.date | None
    sanction_date: dt.date | None
    decision_number: str | None
    decision_date: dt.date | None
    blocked_on: dt.date | None
    block_lifted_on: dt.date | None
    recorded_on: dt.date | None
    created_at: dt.datetime
    nip_canonical: str | None
    name_key: str | None
    violation_canonical: str | None
    stage_canonical: str | None
    stage_high_water: int | None
    recommended_canonical: str | None
    imposed_canonical: str | None
    fingerprint: int | None
    local_issue: bool
    normalizer_version: int | None


@dataclass(slots=True)
class LoadedCase:
    """A case's row, its stored comparison state and its agency records, as plain values (attribute names, and the
    state's keys, are those of ``Case``, ``AgencyRecord`` and ``CaseState``): a re-check reads them, it never
    changes them as objects."""

    case: CheckedCase
    state: dict[str, Any] | None
    records: list[CheckedRecord]
    """In agency order."""


_CASES, _RECORDS, _STATES = (cast(Table, model.__table__) for model in (Case, AgencyRecord, CaseState))
_FINDINGS, _FINDING_AGENCIES, _FINDING_EVENTS = (
    cast(Table, model.__table__) for model in (Finding, FindingAgency, FindingEvent)
)
_FINDING_COLUMN = {prop.key: prop.columns[0].key for prop in inspect(Finding).column_attrs}
"""A finding's attribute name -> its column's (``message_indonesian`` is stored as ``message_id``)."""
STATE_COLUMNS = (
    "case_id",
    "nip_canonical",
    "name_key",
    "incident_date",
    "live",
    "deadline_date",
    "recommended_canonical",
    "imposed_canonical",
    "fingerprint",
    "expected_mask",
    "local_issue",
    "normalizer_version",
)
"""The case state a re-check computes and compares, in the order ``facts.normalize_case`` computes it (every
column but ``updated_at``, the database's)."""


def _among(column: ColumnElement[Any], name: str, postgresql: bool) -> ColumnElement[bool]:
    """``column IN`` the list bound as ``name``. On PostgreSQL ``= ANY(array)``: one parameter, so the statement's
    text is the same whatever the list's length, and psycopg keeps it prepared (an expanded IN is new text for
    every length, converted, parsed and planned anew; a sweep's batches and duplicates vary)."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


@dataclass(frozen=True, slots=True)
class _CheckReads:
    cases: Select[Any]
    records: Select[Any]
    live_of_nips: Select[uuid.UUID, str, str | None, dt.date, str]


@functools.cache
def _check_reads(dialect: str) -> _CheckReads:
    """A re-check's reads, built once per dialect (composing them cost a one-case round more than running them).
    On PostgreSQL the case rows are locked, in id order, to serialise re-checks of the same case (SQLite already
    has a single writer)."""
    postgresql = dialect == "postgresql"
    cases = (
        select(*(_CASES.c[name] for name in CheckedCase._fields), *(_STATES.c[name] for name in STATE_COLUMNS))
        .outerjoin(_STATES, _STATES.c.case_id == _CASES.c.id)
        .where(_among(_CASES.c.id, "case_ids", postgresql))
        .order_by(_CASES.c.id)
    )
    records = (
        select(*(_RECORDS.c[name] for name in CheckedRecord._fields))
        .where(_among(_RECORDS.c.case_id, "case_ids", postgresql))
        .order_by(_RECORDS.c.case_id, _RECORDS.c.agency)
    )
    live_of_nips = _duplicate_select().where(CaseState.live, _among(_STATES.c.nip_canonical, "nips", postgresql))
    return _CheckReads(cases.with_for_update(of=_CASES) if postgresql else cases, records, live_of_nips)


def load_cases_for_check(session: Session, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, LoadedCase]:
    """The cases with their stored comparison state, then their agency records: two statements of only the
    columns a re-check reads, as named tuples (a ``Row``'s attribute access costs more than the rules' work on
    it); the cases locked on PostgreSQL (``_check_reads``)."""
    wanted = {"case_ids": sorted(case_ids)}
    reads = _check_reads(session.get_bind().dialect.name)
    split = len(CheckedCase._fields)
    loaded: dict[uuid.UUID, LoadedCase] = {}
    for row in session.execute(reads.cases, wanted):
        case = CheckedCase._make(row[:split])
        stored = row[split:]
        state = None if stored[0] is None else dict(zip(STATE_COLUMNS, stored, strict=True))
        loaded[case.id] = LoadedCase(case, state, [])
    for record in map(CheckedRecord._make, session.execute(reads.records, wanted)):
        loaded[record.case_id].records.append(record)
    return loaded


_RECORD_STAGES = select(AgencyRecord.id, AgencyRecord.stage, AgencyRecord.stage_high_water).where(
    AgencyRecord.case_id.in_(bindparam("case_ids", expanding=True))
)


def record_stages(
    session: Session, case_ids: Collection[uuid.UUID]
) -> Sequence[Row[uuid.UUID, str | None, int | None]]:
    """``(id, stage, stage_high_water)`` of the cases' records, as plain rows (a batch's records are many)."""
    return session.execute(_RECORD_STAGES, {"case_ids": sorted(case_ids)}).all()


def cases_by_id(session: Session, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Case]:
    return {case.id: case for case in session.scalars(select(Case).where(Case.id.in_(list(case_ids))))}


def update_record_columns(session: Session, changes: Sequence[tuple[uuid.UUID, dict[str, object]]]) -> None:
    """Write derived columns of many records (by id) in one statement (``update_rows``), without touching the
    records' version or updated_at: those describe the agency's own data (its ETag and last change), not the
    comparison forms. Every change must carry the same columns. Records the session holds as objects are kept in
    step."""
    if not changes:
        return
    rows = [{"id": record_id, **values} for record_id, values in changes]
    update_rows(session, _RECORDS, "id", rows, unchanged=("updated_at",))
    if not session.identity_map:  # a round's own session holds no objects: nothing to look up per record
        return
    for record_id, values in changes:  # the rows now hold these values: keep loaded objects in step, unflagged
        record = session.identity_map.get(identity_key(AgencyRecord, record_id))
        if record is not None:
            for name, value in values.items():
                set_committed_value(record, name, value)


def write_case_states(session: Session, new: Sequence[dict[str, Any]], changed: Sequence[dict[str, Any]]) -> None:
    """Insert the new case states and update the changed ones (every change carries the same columns), one
    statement each; ``updated_at`` is set by the column's default. Loaded objects of changed states expire."""
    if new:
        insert_rows(session, _STATES, new)
    if changed:
        update_rows(session, _STATES, "case_id", changed)
        expire_loaded(session, CaseState, [values["case_id"] for values in changed])


def mark_seen(session: Session, finding_ids: Sequence[uuid.UUID], now: dt.datetime, run_id: uuid.UUID | None) -> None:
    """One UPDATE per thousand findings a re-check produced again (instead of one per finding), its statement built
    once per dialect (``_among``: on PostgreSQL one array, not a parameter per finding); the session's objects of
    those findings expire."""
    statement = _mark_seen_update(session.get_bind().dialect.name)
    for start in range(0, len(finding_ids), 1000):
        chunk = list(finding_ids[start : start + 1000])
        session.execute(statement, {"finding_ids": chunk, "now": now, "run_id": run_id})
    expire_loaded(session, Finding, finding_ids)


@functools.cache
def _mark_seen_update(dialect: str) -> Update:
    return (
        update(_FINDINGS)
        .where(_among(_FINDINGS.c.id, "finding_ids", dialect == "postgresql"))
        .values(last_seen_at=bindparam("now"), last_seen_run_id=bindparam("run_id"))
    )


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    case_id: uuid.UUID
    case_number: str
    nip_canonical: str
    incident_date: dt.date
    violation_code: str


def _duplicate_select() -> Select[uuid.UUID, str, str | None, dt.date, str]:
    return select(
        CaseState.case_id, Case.case_number, CaseState.nip_canonical, CaseState.incident_date, Case.violation_code
    ).join(Case, Case.id == CaseState.case_id)


def _duplicate_rows(
    session: Session,
    statement: Select[uuid.UUID, str, str | None, dt.date, str],
    parameters: Mapping[str, Any] | None = None,
) -> list[DuplicateRow]:
    return [
        DuplicateRow(case_id, number, nip, day, violation)
        for case_id, number, nip, day, violation in session.execute(statement, parameters)
        if nip is not None
    ]


def live_cases_of_nips(session: Session, nips: Iterable[str]) -> list[DuplicateRow]:
    """Live cases of any of these canonical NIPs: the candidates for their duplicate findings."""
    wanted = sorted(set(nips))
    if not wanted:
        return []
    return _duplicate_rows(session, _check_reads(session.get_bind().dialect.name).live_of_nips, {"nips": wanted})


def _findings_condition(case_ids: Collection[uuid.UUID], keys: Collection[str]) -> ColumnElement[bool]:
    """Watched findings of the cases, plus any finding (e.g. resolved) whose key is produced again."""
    condition = and_(Finding.case_id.in_(list(case_ids)), Finding.state.in_(WATCHED_STATES))
    return or_(condition, Finding.finding_key.in_(list(keys))) if keys else condition


def findings_for_cases(
    session: Session, case_ids: Collection[uuid.UUID], keys: Collection[str]
) -> dict[uuid.UUID, list[Finding]]:
    """Watched findings of the cases, plus any finding (e.g. resolved) whose key is produced again."""
    grouped: dict[uuid.UUID, list[Finding]] = {case_id: [] for case_id in case_ids}
    for finding in session.scalars(select(Finding).where(_findings_condition(case_ids, keys))):
        grouped.setdefault(finding.case_id, []).append(finding)
    return grouped


@dataclass(slots=True)
class StoredFinding:
    """The columns of a finding a re-check reads and may change, as plain values (no ORM object: a sweep reads
    and writes findings in multi-row statements). Attribute names are those of ``Finding``."""

    id: uuid.UUID
    finding_key: str
    case_id: uuid.UUID
    rule: str
    fields: str
    severity: str
    severity_rank: int
    state: str
    resolution: str | None
    suppressed_until: dt.date | None
    note: str | None
    evidence: dict[str, Any]
    message_en: str
    message_indonesian: str
    deadline_date: dt.date | None
    state_changed_at: dt.datetime
    state_changed_by: str
    version: int

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in STORED_FINDING_FIELDS}


STORED_FINDING_FIELDS = tuple(item.name for item in fields(StoredFinding))


def stored_findings(
    session: Session, case_ids: Collection[uuid.UUID], keys: Collection[str]
) -> dict[uuid.UUID, list[StoredFinding]]:
    """``findings_for_cases`` as plain values, in one statement built once per dialect (no ORM objects, no agency
    links)."""
    grouped: dict[uuid.UUID, list[StoredFinding]] = {case_id: [] for case_id in case_ids}
    statement = _stored_findings_select(session.get_bind().dialect.name)
    for row in session.execute(statement, {"case_ids": list(case_ids), "keys": list(keys)}):
        finding = StoredFinding(*row)
        grouped.setdefault(finding.case_id, []).append(finding)
    return grouped


@functools.cache
def _stored_findings_select(dialect: str) -> Select[Any]:
    postgresql = dialect == "postgresql"
    columns = [_FINDINGS.c[_FINDING_COLUMN[name]] for name in STORED_FINDING_FIELDS]
    watched = and_(_among(_FINDINGS.c.case_id, "case_ids", postgresql), _FINDINGS.c.state.in_(WATCHED_STATES))
    return select(*columns).where(or_(watched, _among(_FINDINGS.c.finding_key, "keys", postgresql)))


@dataclass(slots=True)
class FindingWrites:
    """What bringing a batch's findings in line writes, collected for a few multi-row statements."""

    new: list[dict[str, Any]] = dc_field(default_factory=list)
    """Finding rows to insert (``Finding`` attribute names)."""
    agencies: list[dict[str, Any]] = dc_field(default_factory=list)
    changed: list[StoredFinding] = dc_field(default_factory=list)
    """Existing findings whose details or state changed."""
    events: list[dict[str, Any]] = dc_field(default_factory=list)
    seen: list[uuid.UUID] = dc_field(default_factory=list)
    """Existing findings produced again."""


def write_findings(session: Session, writes: FindingWrites, now: dt.datetime, run_id: uuid.UUID | None) -> None:
    """Insert the new findings, their agencies and every event, update the changed findings by primary key, and
    mark the re-seen ones: one statement each (the inserts through ``insert_rows``: the ORM's bulk insert cost
    more per row than the statement, and on PostgreSQL an executemany is a statement per row). ORM objects of the
    changed findings loaded in the session are expired (their rows changed underneath)."""
    if writes.new:
        insert_rows(
            session, _FINDINGS, [{_FINDING_COLUMN[name]: value for name, value in row.items()} for row in writes.new]
        )
    if writes.agencies:
        insert_rows(session, _FINDING_AGENCIES, writes.agencies)
    if writes.changed:
        session.execute(update(Finding), [finding.values() for finding in writes.changed])
        expire_loaded(session, Finding, [finding.id for finding in writes.changed])
    insert_finding_events(session, writes.events)
    mark_seen(session, writes.seen, now, run_id)


def insert_finding_events(session: Session, events: Sequence[dict[str, Any]]) -> None:
    if events:
        insert_rows(session, _FINDING_EVENTS, events)


def expire_loaded(session: Session, model: type[Base], ids: Iterable[uuid.UUID]) -> None:
    """Expire the session's objects of these rows, if it holds any, after a statement wrote their rows."""
    for ident in ids:
        loaded = session.identity_map.get(identity_key(model, ident))
        if loaded is not None:
            session.expire(loaded)


# ---------------------------------------------------------------------------------------------------------
# Reference data


def violation_forms(session: Session) -> Sequence[ViolationForm]:
    return session.scalars(select(ViolationForm)).all()


def sanctions(session: Session) -> Sequence[Sanction]:
    return session.scalars(select(Sanction)).all()


def agencies(session: Session) -> Sequence[AgencyRef]:
    return session.scalars(select(AgencyRef)).all()


def instansi(session: Session) -> Sequence[Instansi]:
    return session.scalars(select(Instansi)).all()


# ---------------------------------------------------------------------------------------------------------
# Screening for runs


def _agency_bits() -> ColumnElement[int]:
    return case(*((AgencyRecord.agency == agency, bit) for agency, bit in AGENCY_BITS.items()), else_=0)


def screen_statement() -> Select[uuid.UUID]:
    """Cases whose stored fingerprints or flags say some rule may fire (never misses one that would)."""
    present: ColumnElement[int] = func.coalesce(func.sum(_agency_bits()), 0)
    record_issue = func.max(case((AgencyRecord.local_issue, 1), else_=0))
    stale_record = func.max(
        case((func.coalesce(AgencyRecord.normalizer_version, -1) != NORMALIZER_VERSION, 1), else_=0)
    )
    return (
        select(CaseState.case_id)
        .outerjoin(AgencyRecord, AgencyRecord.case_id == CaseState.case_id)
        .group_by(
            CaseState.case_id,
            CaseState.fingerprint,
            CaseState.recommended_canonical,
            CaseState.imposed_canonical,
            CaseState.expected_mask,
            CaseState.local_issue,
        )
        .having(
            or_(
                CaseState.local_issue,
                record_issue == 1,
                stale_record == 1,
                func.min(AgencyRecord.fingerprint) != CaseState.fingerprint,
                func.max(AgencyRecord.fingerprint) != CaseState.fingerprint,
                *(
                    condition
                    for record_form, case_form in (
                        (AgencyRecord.recommended_canonical, CaseState.recommended_canonical),
                        (AgencyRecord.imposed_canonical, CaseState.imposed_canonical),
                    )
                    for condition in (
                        func.min(record_form) != func.max(record_form),
                        func.min(record_form) != case_form,
                        func.max(record_form) != case_form,
                    )
                ),
                present.op("&")(CaseState.expected_mask) != CaseState.expected_mask,
            )
        )
    )


def allow_large_sorts(session: Session) -> None:
    """PostgreSQL: let the screen's GROUP BY hash in memory for this transaction (the default 4 MB spills)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '256MB'"))


def screened_case_ids(session: Session) -> set[uuid.UUID]:
    return set(session.scalars(screen_statement()))


def deadline_case_ids(session: Session, due_by: dt.date) -> set[uuid.UUID]:
    statement = select(CaseState.case_id).where(CaseState.deadline_date <= due_by)
    return set(session.scalars(statement))


def live_cases_sharing_a_nip(session: Session) -> list[DuplicateRow]:
    """Live cases whose canonical NIP another case has too: the only ones that can be duplicates; the full run's
    screen checks liveness of the pair and the window on these few. The NIPs of more than one case, live or not,
    come first, in a statement of their own; their live cases then come from the index on
    (nip_canonical, incident_date) through ``live_cases_of_nips`` (in one statement, PostgreSQL estimated a third of
    all NIPs shared and joined every case state and every case to the few found: half the statement's time). A
    live case whose only namesake is not live then has no other case among the rows returned."""
    shared = (
        select(CaseState.nip_canonical)
        .where(CaseState.nip_canonical.is_not(None))
        .group_by(CaseState.nip_canonical)
        .having(func.count() > 1)
    )
    return live_cases_of_nips(session, session.scalars(shared))


def unnormalized_case_ids(session: Session) -> set[uuid.UUID]:
    """Cases written before reconciliation existed (or by an older normaliser): no usable state row.

    A state row belongs to one case (its primary and foreign key): as many current states as cases means none is
    missing or stale, which two counts in one statement (one snapshot) tell without joining every case."""
    cases = select(func.count()).select_from(Case).scalar_subquery()
    current = (
        select(func.count())
        .select_from(CaseState)
        .where(CaseState.normalizer_version == NORMALIZER_VERSION)
        .scalar_subquery()
    )
    if session.execute(select(cases == current)).scalar_one():
        return set()
    statement = (
        select(Case.id)
        .outerjoin(CaseState, CaseState.case_id == Case.id)
        .where(or_(CaseState.case_id.is_(None), CaseState.normalizer_version != NORMALIZER_VERSION))
    )
    return set(session.scalars(statement))


def watched_finding_case_ids(session: Session, rules: Collection[str] | None = None) -> set[uuid.UUID]:
    statement = select(Finding.case_id).where(Finding.state.in_(WATCHED_STATES)).distinct()
    if rules is not None:
        statement = statement.where(Finding.rule.in_(list(rules)))
    return set(session.scalars(statement))


def all_case_ids(session: Session) -> set[uuid.UUID]:
    return set(session.scalars(select(Case.id)))


# ---------------------------------------------------------------------------------------------------------
# Findings for the API


@dataclass(frozen=True, slots=True)
class FindingFilters:
    severity: str | None = None
    min_severity_rank: int | None = None
    rule: str | None = None
    agency: str | None = None
    state: str | None = None
    case_id: uuid.UUID | None = None
    nip: str | None = None
    province_code: str | None = None
    overdue_before: dt.date | None = None
    """Only findings on cases whose stage deadline is before this day."""
    visible_to: str | None = None
    """Agency callers: only the findings ``finding_visible_to`` the agency."""

    def as_dict(self) -> dict[str, object]:
        return {key: str(value) for key, value in asdict(self).items() if value is not None}


def _involves(agency: str) -> Exists:
    return exists().where(FindingAgency.finding_id == Finding.id, FindingAgency.agency == agency)


def _holds_record(agency: str, case_id: InstrumentedAttribute[uuid.UUID]) -> Exists:
    """Its own record, or one it imported from a retired agency's archive (the successor holds those duties)."""
    return exists().where(
        AgencyRecord.case_id == case_id, or_(AgencyRecord.agency == agency, AgencyRecord.imported_by == agency)
    )


def finding_visible_to(agency: str) -> ColumnElement[bool]:
    """The findings an agency may see: about its data, or about a case it holds a record of. Auditors have no
    agency and see every finding (app.reconciliation.visibility)."""
    return or_(_involves(agency), _holds_record(agency, Finding.case_id))


def case_visible_to(agency: str) -> Exists:
    """The cases an agency may see findings of: those it holds a record of."""
    return _holds_record(agency, Case.id)


def filtered_findings(filters: FindingFilters) -> Select[Finding]:
    statement = select(Finding)
    equalities = {
        Finding.severity: filters.severity,
        Finding.rule: filters.rule,
        Finding.state: filters.state,
        Finding.case_id: filters.case_id,
        Finding.nip: filters.nip,
        Finding.province_code: filters.province_code,
    }
    statement = where_equal(statement, equalities)
    if filters.min_severity_rank is not None:
        statement = statement.where(Finding.severity_rank >= filters.min_severity_rank)
    if filters.overdue_before is not None:
        statement = statement.where(Finding.deadline_date < filters.overdue_before)
    if filters.agency is not None:
        statement = statement.where(_involves(filters.agency))
    if filters.visible_to is not None:
        statement = statement.where(finding_visible_to(filters.visible_to))
    return statement


def list_findings(
    session: Session, filters: FindingFilters, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> Sequence[Finding]:
    statement = filtered_findings(filters)
    if after is not None:
        statement = statement.where(tuple_(Finding.first_seen_at, Finding.id) > tuple_(*after))
    return session.scalars(statement.order_by(Finding.first_seen_at, Finding.id).limit(limit)).all()


def summary_counts(session: Session, filters: FindingFilters) -> dict[str, dict[str, int]]:
    base = filtered_findings(filters).subquery()
    counts: dict[str, dict[str, int]] = {}
    for name, column in (("rule", base.c.rule), ("severity", base.c.severity), ("state", base.c.state)):
        rows = session.execute(select(column, func.count()).group_by(column).order_by(column))
        counts[name] = {str(value): int(total) for value, total in rows}
    agency_rows = session.execute(
        select(FindingAgency.agency, func.count())
        .join(base, base.c.id == FindingAgency.finding_id)
        .group_by(FindingAgency.agency)
        .order_by(FindingAgency.agency)
    )
    counts["agency"] = {str(agency): int(total) for agency, total in agency_rows}
    return counts


def finding_agencies(session: Session, filters: FindingFilters) -> dict[str, list[str]]:
    """The filtered findings' ids (as strings), each with the agencies it involves."""
    base = filtered_findings(filters).with_only_columns(Finding.id).subquery()
    found: dict[str, list[str]] = {str(finding_id): [] for (finding_id,) in session.execute(select(base.c.id))}
    rows = session.execute(
        select(FindingAgency.finding_id, FindingAgency.agency).join(base, base.c.id == FindingAgency.finding_id)
    )
    for finding_id, agency in rows:
        found[str(finding_id)].append(agency)
    return found


def get_finding(
    session: Session, finding_id: uuid.UUID, *, for_update: bool = False, visible_to: str | None = None
) -> Finding | None:
    """The finding, if it exists and (for an agency) is ``finding_visible_to`` it."""
    statement = select(Finding).where(Finding.id == finding_id)
    if visible_to is not None:
        statement = statement.where(finding_visible_to(visible_to))
    if for_update and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(of=Finding)
    return session.scalars(statement).one_or_none()


def get_case(session: Session, case_id: uuid.UUID, *, visible_to: str | None = None) -> Case | None:
    """The case, if it exists and (for an agency) is ``case_visible_to`` it."""
    statement = select(Case).where(Case.id == case_id)
    if visible_to is not None:
        statement = statement.where(case_visible_to(visible_to))
    return session.scalars(statement).one_or_none()


def finding_events(session: Session, finding_id: uuid.UUID) -> Sequence[FindingEvent]:
    statement = select(FindingEvent).where(FindingEvent.finding_id == finding_id)
    return session.scalars(statement.order_by(FindingEvent.at, FindingEvent.id)).all()


def get_run(session: Session, run_id: uuid.UUID) -> Run | None:
    return session.get(Run, run_id)


FULL_RUN_LOCK_KEY = 0x5B7_F011
"""pg_advisory_xact_lock key serialising "is a FULL run active?" and the insert of a new one (PostgreSQL)."""


def lock_full_runs(session: Session) -> None:
    """Serialise the check-then-insert of FULL runs until the transaction ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: the writing transaction already holds the database's
    write lock (BEGIN IMMEDIATE), so two requests cannot both pass the check.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FULL_RUN_LOCK_KEY})


def active_full_run(session: Session, stale_before: dt.datetime) -> Run | None:
    """The oldest FULL run still queued or running, ignoring runs begun before ``stale_before`` (crashed)."""
    begun = func.coalesce(Run.started_at, Run.requested_at)
    statement = (
        select(Run)
        .where(
            Run.mode == RunMode.FULL.value,
            Run.status.in_([RunStatus.QUEUED.value, RunStatus.RUNNING.value]),
            begun >= stale_before,
        )
        .order_by(Run.requested_at, Run.id)
        .limit(1)
    )
    return session.scalars(statement).first()


def open_findings_by_severity(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Finding.severity, func.count())
        .where(Finding.state == FindingState.OPEN.value)
        .group_by(Finding.severity)
        .order_by(Finding.severity)
    )
    return {severity: int(count) for severity, count in rows}


def last_full_run_requested_at(session: Session) -> dt.datetime | None:
    """When the latest FULL run was asked for, whatever became of it (the scheduler's "is one due?")."""
    return session.scalar(select(func.max(Run.requested_at)).where(Run.mode == RunMode.FULL.value))
