"""Recording who read whose personal data (UU PDP No. 27/2022: every processing activity is recorded).

Routes that return a NIP or a name take a ``ReadAudit`` (``app.api.dependencies.read_audit``) and call
``cases``/``records``/``entries``/``findings`` with what they return. The rows go into the transaction that read
the data (write flows, the batches of streamed exports, a write request's own), except in a read request's
session (``defer_read_audit``): it reads in a read-only transaction, and its rows are written just after it, in a
short transaction of their own (``write_deferred_read_audit``), before the answer is sent. Either way a read
whose audit cannot be stored is answered with an error, never with the data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session, sessionmaker

from app.audit.models import ReadAuditEntry
from app.cases.models import AgencyRecord, Case
from app.core.actor import Principal
from app.core.db import transaction, utcnow
from app.ledger.schemas import LedgerEntryRead
from app.reconciliation.models import Finding


def subject_hash(secret: str, nip: str) -> str:
    """Keyed hash of a NIP: equal NIPs match, the log never holds the NIP itself."""
    return hmac.new(secret.encode(), nip.strip().encode(), hashlib.sha256).hexdigest()


_INSERT_READ_AUDIT = insert(cast(Table, ReadAuditEntry.__table__))
_DEFERRED_ROWS = "sbt_deferred_read_audit"
"""The key in a read session's ``info`` of the audit rows its reads produced, waiting for their own transaction."""


def defer_read_audit(session: Session) -> None:
    """Audit rows of reads in this (read-only) session wait for ``write_deferred_read_audit``. On SQLite a read
    transaction takes no write lock, and an INSERT inside it would have to take one late (failing when another
    writer committed since the read began): so the read never writes, and readers of both processes run side by
    side instead of queueing on the one write lock for the whole request."""
    session.info[_DEFERRED_ROWS] = []


def write_deferred_read_audit(factory: sessionmaker[Session], read_session: Session) -> None:
    """Write the audit rows ``read_session`` deferred (one INSERT, one short transaction) once it has ended."""
    rows: list[dict[str, Any]] = read_session.info.pop(_DEFERRED_ROWS, None) or []
    if rows:
        with transaction(factory) as session:
            session.execute(_INSERT_READ_AUDIT, rows)


@dataclass
class ReadAudit:
    session: Session
    principal: Principal
    secret: str
    request_id: str
    purpose: str | None
    operation: str
    _seen: set[tuple[uuid.UUID | None, uuid.UUID | None, str | None]] = field(default_factory=set)

    def _row(
        self, case_id: uuid.UUID | None, record_id: uuid.UUID | None, nip: str | None, now: dt.datetime
    ) -> dict[str, Any] | None:
        key = (case_id, record_id, nip)
        if key in self._seen:
            return None
        self._seen.add(key)
        return {
            "recorded_at": now,
            "request_id": self.request_id,
            "client_id": self.principal.client_id,
            "role": self.principal.role.value,
            "agency": self.principal.agency.value if self.principal.agency else None,
            "purpose": self.purpose,
            "operation": self.operation,
            "case_id": case_id,
            "record_id": record_id,
            "subject_nip_hash": subject_hash(self.secret, nip) if nip else None,
        }

    def _record(self, subjects: Iterable[tuple[uuid.UUID | None, uuid.UUID | None, str | None]]) -> None:
        """One INSERT for everything a call returns (a page of 50 is one statement): the single-row INSERT run as
        an executemany, one short statement, with no ORM object per row."""
        now = utcnow()
        rows = [row for subject in subjects if (row := self._row(*subject, now)) is not None]
        if not rows:
            return
        deferred: list[dict[str, Any]] | None = self.session.info.get(_DEFERRED_ROWS)
        if deferred is None:
            self.session.execute(_INSERT_READ_AUDIT, rows)
        else:
            deferred.extend(rows)

    def cases(self, cases: Iterable[Case]) -> None:
        self._record((case.id, None, case.nip) for case in cases)

    def records(self, records: Iterable[AgencyRecord]) -> None:
        self._record((record.case_id, record.id, record.nip) for record in records)

    def in_session(self, session: Session) -> ReadAudit:
        """The same audit writing into another transaction (a streamed batch, a write flow's own transaction)."""
        return dataclasses.replace(self, session=session)

    def for_batch(self, session: Session) -> ReadAudit:
        """The audit of one batch of a streamed export, in the batch's transaction. Batches are disjoint, so each
        de-duplicates on its own and an export of 100k cases holds no growing set of what it has sent."""
        return dataclasses.replace(self, session=session, _seen=set())

    def findings(self, findings: Iterable[Finding]) -> None:
        """Findings show the case's NIP and name and each source's observed values: audit every NIP they show."""
        self._record(subject for finding in findings for subject in _finding_subjects(finding))

    def subject(self, nip: str) -> None:
        """A data subject looked up by NIP alone (e.g. their access trail)."""
        self._record([(None, None, nip)])

    def entries(self, entries: Iterable[LedgerEntryRead]) -> None:
        """Ledger entries carry the case and record states they recorded; audit every NIP inside."""
        self._record(
            (entry.case_id, record_id, nip) for entry in entries for record_id, nip in _personal_data(entry.payload)
        )


def _finding_subjects(finding: Finding) -> Iterable[tuple[uuid.UUID | None, uuid.UUID | None, str | None]]:
    nips = {finding.nip} if finding.nip else set()
    nips |= set(_observed_nips(finding.observed))
    if not nips:
        yield finding.case_id, None, None
    for nip in sorted(nips):
        yield finding.case_id, None, nip


def _personal_data(payload: Mapping[str, Any]) -> Iterable[tuple[uuid.UUID | None, str | None]]:
    """(record id, NIP) of every person in a ledger payload (cases, agency records, record changes)."""
    for value in (payload, payload.get("case"), payload.get("agency_record"), payload.get("changes")):
        if isinstance(value, Mapping) and ("nip" in value or "name" in value):
            record_id = value.get("id") if "agency" in value and "case_id" in value else None
            yield (uuid.UUID(record_id) if record_id else None), value.get("nip")


def _observed_nips(observed: Mapping[str, Any]) -> Iterable[str]:
    """The NIP each source holds, as a finding's ``observed`` shows it (source -> field -> {raw, normalized})."""
    for fields in observed.values():
        value = fields.get("nip") if isinstance(fields, Mapping) else None
        if isinstance(value, Mapping):
            nip = value.get("normalized") or value.get("raw")
            if isinstance(nip, str) and nip.strip():
                yield nip.strip()
