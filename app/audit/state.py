"""State audit: the tables compared with the rows the ledger implies (``app.ledger.replay``).

The ledger proves itself (``sbt ledger verify``); this proves the tables the service serves and acts on. For a set
of cases it reads their entries (``ledger_entry.case_id``), replays them, reads the same cases' rows (case, agency
records, transitions, findings with their agencies and history) and reports every field whose value differs, every
row the ledger made that the table lacks (missing) and every row the table holds that no entry made (extra).
Clients are few and audited whole. Reads run in one snapshot (PostgreSQL REPEATABLE READ; SQLite's deferred read
transaction under WAL), so a write committing meanwhile is either wholly in both sides or in neither.

Columns the ledger does not record are listed in ``NOT_RECORDED`` with the reason; a test checks that every other
column of these tables is replayed, so a column added without putting it in the entry fails there.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session, sessionmaker

from app.audit.models import StateAudit
from app.auth.models import OAuthClient
from app.cases.models import AgencyRecord, Case, CaseTransition
from app.core.db import transaction, utcnow
from app.ledger.models import LedgerEntry
from app.ledger.replay import (
    CASE,
    CLIENT,
    FINDING,
    FINDING_EVENT,
    RECORD,
    TRANSITION,
    LedgerReplay,
    Row,
    legacy_key,
    replay,
    secret_fingerprint,
)
from app.ledger.repository import tree_size
from app.ledger.service import pending_subjects
from app.reconciliation.facts import RECORD_FORMS
from app.reconciliation.models import Finding, FindingAgency, FindingEvent

AUDIT_BATCH = 500
"""Cases replayed and compared at a time (bounds memory, whatever the size of the log)."""

DERIVED_BY_RECONCILIATION = RECORD_FORMS
"""A record's columns reconciliation derives (its stored comparison forms), not the agency."""
NOT_RECORDED: dict[str, dict[str, str]] = {
    CASE: {"updated_at": "bookkeeping time of the row's last flush"},
    RECORD: {
        "updated_at": "bookkeeping time of the row's last flush",
        "case_province_code": "a copy of the case's province, kept by database triggers (migration 0020)",
    }
    | dict.fromkeys(DERIVED_BY_RECONCILIATION, "comparison form computed from the recorded columns"),
    TRANSITION: {},
    FINDING: dict.fromkeys(
        (
            "severity",
            "severity_rank",
            "evidence",
            "message_id",
            "message_en",
            "deadline_date",
            "last_seen_at",
            "last_seen_run_id",
            "version",
        ),
        "refreshed by re-checks without a ledger entry (days overdue grow, deadlines escalate)",
    ),
    FINDING_EVENT: {},
    CLIENT: {"secret_hash": "recorded as its SHA-256 (secret_sha256), never itself"},
}
"""Per table, the columns the audit does not compare, and why."""

TABLES: dict[str, Table] = {
    CASE: Case.__table__,  # type: ignore[dict-item]
    RECORD: AgencyRecord.__table__,  # type: ignore[dict-item]
    TRANSITION: CaseTransition.__table__,  # type: ignore[dict-item]
    FINDING: Finding.__table__,  # type: ignore[dict-item]
    FINDING_EVENT: FindingEvent.__table__,  # type: ignore[dict-item]
    CLIENT: OAuthClient.__table__,  # type: ignore[dict-item]
}
KEYS = {CASE: "id", RECORD: "id", TRANSITION: "id", FINDING: "id", FINDING_EVENT: "id", CLIENT: "client_id"}
CASE_TABLES = (CASE, RECORD, TRANSITION, FINDING, FINDING_EVENT)
HISTORIES = {TRANSITION: "case_id", FINDING_EVENT: "finding_id"}
"""Append-only histories, whose rows older entries name by their place (parent, order) rather than by id."""
CLIENTS_SCOPE = "clients"


@dataclass(frozen=True, slots=True)
class Difference:
    """One way a table disagrees with the ledger. ``kind``: ``field``, ``missing`` (the ledger made the row, the
    table lacks it) or ``extra`` (no entry made the row). Values are JSON values; ``seq`` names the entry that
    set the ledger's value (or made the row)."""

    kind: str
    table: str
    row_id: str
    field: str | None
    ledger: Any
    actual: Any
    seq: int | None
    scope: str
    """The case the row belongs to, or ``clients``: what a later audit of the same scope replaces."""

    def line(self, *, values: bool = True) -> str:
        """One line naming the difference; without ``values`` (what the service keeps), only where it is."""
        where = f"{self.table} {self.row_id}"
        if self.kind == "missing":
            return f"{where}: missing from the table; made by ledger entry {self.seq}"
        if self.kind == "extra":
            return f"{where}: extra row in the table; no ledger entry made it"
        if not values:
            return f"{where} {self.field}: differs from ledger entry {self.seq}"
        ledger, actual = json.dumps(self.ledger, ensure_ascii=False), json.dumps(self.actual, ensure_ascii=False)
        return f"{where} {self.field}: ledger {ledger} (entry {self.seq}), table {actual}"

    def without_values(self) -> dict[str, Any]:
        """What the service keeps and serves of a difference: where it is, never the values (names, NIPs)."""
        kept = asdict(self)
        del kept["ledger"], kept["actual"]
        return kept


@dataclass(slots=True)
class AuditOutcome:
    differences: list[Difference]
    rows: int
    """Rows compared (table rows and ledger rows, each counted once)."""
    scopes: set[str]
    """The cases (and ``clients``) this audit covered."""


def plain(value: Any) -> Any:
    """A column value as the ledger writes it (JSON)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _same(ledger: Any, actual: Any) -> bool:
    if isinstance(actual, dt.datetime) and isinstance(ledger, str):
        try:
            return dt.datetime.fromisoformat(ledger) == actual
        except ValueError:
            return False
    return bool(plain(actual) == ledger)


def compared_columns(table: str) -> set[str]:
    columns = {column.name for column in TABLES[table].columns} - NOT_RECORDED[table].keys()
    if table == FINDING:
        columns.add("agencies")
    if table == CLIENT:
        columns.add("secret_sha256")
    return columns


def use_snapshot(session: Session) -> None:
    """PostgreSQL: every statement of this transaction sees the same committed state (a test's shared
    connection, already in a transaction, keeps its own)."""
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _leaves(session: Session, statement: Any) -> Iterator[dict[str, Any]]:
    for leaf in session.scalars(statement):
        yield json.loads(leaf)


def _case_rows(
    session: Session, case_ids: Sequence[uuid.UUID], replayed: LedgerReplay
) -> dict[str, list[dict[str, Any]]]:
    """The table rows of these cases, by table, as mappings of column name to value (a finding's agencies and an
    event's case added)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in (CASE, RECORD, TRANSITION, FINDING):
        sql = TABLES[table]
        column = sql.c.id if table == CASE else sql.c.case_id
        statement = select(sql).where(column.in_(case_ids))
        if table == TRANSITION:
            statement = statement.order_by(sql.c.case_id, sql.c.created_at, sql.c.id)
        rows[table] = [dict(row) for row in session.execute(statement).mappings()]
    case_of = {row.values["id"]: str(row.case_id) for row in replayed.tables[FINDING].values()}
    case_of |= {str(row["id"]): str(row["case_id"]) for row in rows[FINDING]}
    finding_ids = [uuid.UUID(finding_id) for finding_id in case_of]
    agencies: dict[uuid.UUID, list[str]] = {}
    links = select(FindingAgency.finding_id, FindingAgency.agency).where(FindingAgency.finding_id.in_(finding_ids))
    for finding_id, agency in session.execute(links.order_by(FindingAgency.agency)):
        agencies.setdefault(finding_id, []).append(agency)
    for row in rows[FINDING]:
        row["agencies"] = agencies.get(row["id"], [])
    events = TABLES[FINDING_EVENT]
    statement = select(events).where(events.c.finding_id.in_(finding_ids))
    rows[FINDING_EVENT] = [
        dict(row) | {"case_id": case_of[str(row["finding_id"])]}
        for row in session.execute(statement.order_by(events.c.finding_id, events.c.at, events.c.id)).mappings()
    ]
    return rows


def _compare(
    table: str, expected: dict[str, Row], actual: dict[str, dict[str, Any]], scope_of: dict[str, str]
) -> Iterator[Difference]:
    columns = compared_columns(table)
    for key in sorted(expected.keys() | actual.keys()):
        row, stored = expected.get(key), actual.get(key)
        scope = scope_of.get(key) or (row.case_id if row is not None else None) or CLIENTS_SCOPE
        if stored is None:
            assert row is not None
            yield Difference("missing", table, key, None, None, None, row.created_by, scope)
            continue
        if row is None:
            yield Difference("extra", table, key, None, None, None, None, scope)
            continue
        for name in sorted(columns & row.values.keys() & stored.keys()):
            if not _same(row.values[name], stored[name]):
                yield Difference(
                    "field", table, key, name, row.values[name], plain(stored[name]), row.set_by[name], scope
                )


def _keyed(table: str, rows: Iterable[dict[str, Any]], replayed: LedgerReplay) -> dict[str, dict[str, Any]]:
    keyed: dict[str, dict[str, Any]] = {}
    ordinals: dict[str, int] = {}
    for row in rows:  # histories come in their order (_case_rows)
        key = str(row[KEYS[table]])
        if table in HISTORIES:
            # a row whose entry did not carry its id is matched by its place in its parent's history
            parent = str(row[HISTORIES[table]])
            ordinal = ordinals.get(parent, 0)
            ordinals[parent] = ordinal + 1
            legacy = legacy_key(parent, ordinal)
            if key not in replayed.tables[table] and legacy in replayed.tables[table]:
                key = legacy
        keyed[key] = row
    return keyed


def audit_cases(session: Session, case_ids: Iterable[uuid.UUID]) -> AuditOutcome:
    """Compare the rows of these cases with their entries, a batch at a time."""
    outcome = AuditOutcome([], 0, set())
    ordered = sorted(set(case_ids), key=str)
    for start in range(0, len(ordered), AUDIT_BATCH):
        batch = ordered[start : start + AUDIT_BATCH]
        entries = select(LedgerEntry.leaf_data).where(LedgerEntry.case_id.in_(batch)).order_by(LedgerEntry.seq)
        replayed = replay(_leaves(session, entries))
        outcome = combined(outcome, compare_cases(replayed, _case_rows(session, batch, replayed), batch))
    return outcome


def compare_cases(
    replayed: LedgerReplay,
    served: dict[str, list[dict[str, Any]]],
    case_ids: Iterable[uuid.UUID | str],
    tables: Sequence[str] = CASE_TABLES,
) -> AuditOutcome:
    """Compare the served rows of these cases (by table; read from the database or from a live service's API)
    with the replay of their entries. A column the rows leave out (an API does not serve it) is not compared;
    histories must come in their order (creation time, then id)."""
    scopes = {str(case_id) for case_id in case_ids}
    outcome = AuditOutcome([], 0, scopes)
    scope_of = {case_id: case_id for case_id in scopes}
    for table in tables:
        actual = _keyed(table, served[table], replayed)
        for key, row in actual.items():
            scope_of.setdefault(key, str(row["id"] if table == CASE else row["case_id"]))
        expected = {key: row for key, row in replayed.tables[table].items() if row.case_id in scopes}
        outcome.differences.extend(_compare(table, expected, actual, scope_of))
        outcome.rows += len(expected.keys() | actual.keys())
    return outcome


def audit_clients(session: Session) -> AuditOutcome:
    entries = (
        select(LedgerEntry.leaf_data).where(LedgerEntry.entry_type.startswith("client.")).order_by(LedgerEntry.seq)
    )
    replayed = replay(_leaves(session, entries))
    actual: dict[str, dict[str, Any]] = {}
    for row in session.execute(select(TABLES[CLIENT])).mappings():
        actual[row["client_id"]] = dict(row) | {"secret_sha256": secret_fingerprint(row["secret_hash"])}
    differences = list(_compare(CLIENT, replayed.tables[CLIENT], actual, {}))
    return AuditOutcome(differences, len(replayed.tables[CLIENT].keys() | actual.keys()), {CLIENTS_SCOPE})


def known_case_ids(session: Session) -> set[uuid.UUID]:
    """Every case the ledger or the table knows of (an audit of everything covers both)."""
    recorded = session.scalars(select(LedgerEntry.case_id).where(LedgerEntry.case_id.is_not(None)).distinct())
    return {case_id for case_id in recorded if case_id is not None} | set(session.scalars(select(Case.id)))


def unmatched_case_ids(session: Session) -> set[uuid.UUID]:
    """Cases in the table no ``case.created`` entry made, and cases such an entry made that the table lacks."""
    made = session.scalars(select(LedgerEntry.case_id).where(LedgerEntry.entry_type == "case.created"))
    return {case_id for case_id in made if case_id is not None} ^ set(session.scalars(select(Case.id)))


def cases_in_range(session: Session, first_seq: int, last_seq: int | None) -> tuple[set[uuid.UUID], bool]:
    """The cases entries ``first_seq..last_seq`` are about, and whether any of those entries changed a client."""
    statement = select(LedgerEntry.case_id, LedgerEntry.entry_type).where(LedgerEntry.seq >= first_seq)
    if last_seq is not None:
        statement = statement.where(LedgerEntry.seq <= last_seq)
    cases: set[uuid.UUID] = set()
    clients = False
    for case_id, entry_type in session.execute(statement):
        if case_id is not None:
            cases.add(case_id)
        clients = clients or entry_type.startswith("client.")
    return cases, clients


def combined(first: AuditOutcome, second: AuditOutcome) -> AuditOutcome:
    return AuditOutcome(first.differences + second.differences, first.rows + second.rows, first.scopes | second.scopes)


def audit_settled(session: Session, case_ids: set[uuid.UUID]) -> AuditOutcome:
    """Audit these cases (and the clients), leaving out what committed writes not yet in the log touch: their rows
    are ahead of the ledger for the milliseconds the sequencer takes (decision 0028), the next audit sees them."""
    in_flight, clients_in_flight = pending_subjects(session)
    outcome = audit_cases(session, case_ids - in_flight)
    if not clients_in_flight:
        outcome = combined(outcome, audit_clients(session))
    return outcome


def audit_everything(session: Session) -> AuditOutcome:
    return audit_settled(session, known_case_ids(session))


STATE_ROW_ID = 1


@dataclass(frozen=True, slots=True)
class StateAuditSummary:
    """The standing result of the background audit, as ``/ready``, the auditor endpoint and the metrics read it."""

    checked_at: dt.datetime | None
    audited_tree_size: int
    rows_checked: int
    differences: list[dict[str, Any]]


def latest(session: Session) -> StateAuditSummary:
    row = session.get(StateAudit, STATE_ROW_ID)
    if row is None:
        return StateAuditSummary(None, 0, 0, [])
    return StateAuditSummary(row.checked_at, row.audited_tree_size, row.rows_checked, list(row.differences))


def _scrub_slice(case_ids: set[uuid.UUID], after: str | None, size: int) -> tuple[list[uuid.UUID], str | None]:
    """The next ``size`` cases after ``after`` (in id order), and where the next slice starts (None: over)."""
    ordered = sorted(case_ids, key=str)
    chosen = [case_id for case_id in ordered if after is None or str(case_id) > after][:size]
    finished = not chosen or chosen[-1] == ordered[-1]
    return chosen, None if finished else str(chosen[-1])


def audit_cycle(reader: sessionmaker[Session], writer: sessionmaker[Session], scrub_cases: int) -> StateAuditSummary:
    """One round of the background audit, incremental:

    * the cases touched by every entry since the last audited position (the ledger moved: did the tables follow?);
    * every case the table and the ``case.created`` entries disagree on (a row deleted, or inserted with no entry);
    * the next ``scrub_cases`` cases in id order, round robin: a row edited in the database leaves no trace the
      service could follow, so only comparing every row, in turn, finds it;
    * all clients.

    Differences found earlier for scopes not audited now stand; the result row is written in a short
    transaction of its own (reads never hold SQLite's write lock)."""
    with reader() as session:
        use_snapshot(session)
        previous = session.get(StateAudit, STATE_ROW_ID)
        start = previous.audited_tree_size if previous else 0
        upto = tree_size(session)
        touched, _ = cases_in_range(session, start, upto - 1)
        scrub, scrub_after = _scrub_slice(
            known_case_ids(session), previous.scrub_after if previous else None, scrub_cases
        )
        outcome = audit_settled(session, touched | unmatched_case_ids(session) | set(scrub))
    with transaction(writer) as session:
        row = session.get(StateAudit, STATE_ROW_ID, with_for_update=True)
        standing = [kept for kept in (row.differences if row else []) if kept["scope"] not in outcome.scopes]
        differences = standing + [difference.without_values() for difference in outcome.differences]
        if row is None:
            row = StateAudit(id=STATE_ROW_ID)
            session.add(row)
        row.audited_tree_size = upto
        row.scrub_after = scrub_after
        row.checked_at = utcnow()
        row.rows_checked = outcome.rows
        row.differences = differences
    return StateAuditSummary(row.checked_at, row.audited_tree_size, row.rows_checked, differences)
