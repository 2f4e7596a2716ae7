"""Recording who read whose personal data (UU PDP No. 27/2022: every processing activity is recorded).

Routes that return a NIP or a name take a ``ReadAudit`` (``app.api.dependencies.read_audit``) and call
``cases``/``records``/``entries``/``findings`` with what they return; the rows go into the request's own
transaction (or, for streamed exports and write flows, the transaction that read the data), so a read that cannot
be audited does not happen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.audit.models import ReadAuditEntry
from app.cases.models import AgencyRecord, Case
from app.core.actor import Principal
from app.core.db import utcnow
from app.ledger.schemas import LedgerEntryRead
from app.reconciliation.models import Finding


def subject_hash(secret: str, nip: str) -> str:
    """Keyed hash of a NIP: equal NIPs match, the log never holds the NIP itself."""
    return hmac.new(secret.encode(), nip.strip().encode(), hashlib.sha256).hexdigest()


@dataclass
class ReadAudit:
    session: Session
    principal: Principal
    secret: str
    request_id: str
    purpose: str | None
    operation: str
    _seen: set[tuple[uuid.UUID | None, uuid.UUID | None, str | None]] = field(default_factory=set)

    def _add(self, case_id: uuid.UUID | None, record_id: uuid.UUID | None, nip: str | None) -> None:
        key = (case_id, record_id, nip)
        if key in self._seen:
            return
        self._seen.add(key)
        self.session.add(
            ReadAuditEntry(
                recorded_at=utcnow(),
                request_id=self.request_id,
                client_id=self.principal.client_id,
                role=self.principal.role.value,
                agency=self.principal.agency.value if self.principal.agency else None,
                purpose=self.purpose,
                operation=self.operation,
                case_id=case_id,
                record_id=record_id,
                subject_nip_hash=subject_hash(self.secret, nip) if nip else None,
            )
        )

    def cases(self, cases: Iterable[Case]) -> None:
        for case in cases:
            self._add(case.id, None, case.nip)

    def records(self, records: Iterable[AgencyRecord]) -> None:
        for record in records:
            self._add(record.case_id, record.id, record.nip)

    def in_session(self, session: Session) -> ReadAudit:
        """The same audit writing into another transaction (a streamed batch, a write flow's own transaction)."""
        return dataclasses.replace(self, session=session)

    def for_batch(self, session: Session) -> ReadAudit:
        """The audit of one batch of a streamed export, in the batch's transaction. Batches are disjoint, so each
        de-duplicates on its own and an export of 100k cases holds no growing set of what it has sent."""
        return dataclasses.replace(self, session=session, _seen=set())

    def findings(self, findings: Iterable[Finding]) -> None:
        """Findings show the case's NIP and name and each source's observed values: audit every NIP they show."""
        for finding in findings:
            nips = {finding.nip} if finding.nip else set()
            nips |= set(_observed_nips(finding.observed))
            if not nips:
                self._add(finding.case_id, None, None)
            for nip in sorted(nips):
                self._add(finding.case_id, None, nip)

    def subject(self, nip: str) -> None:
        """A data subject looked up by NIP alone (e.g. their access trail)."""
        self._add(None, None, nip)

    def entries(self, entries: Iterable[LedgerEntryRead]) -> None:
        """Ledger entries carry the case and record states they recorded; audit every NIP inside."""
        for entry in entries:
            for record_id, nip in _personal_data(entry.payload):
                self._add(entry.case_id, record_id, nip)


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
