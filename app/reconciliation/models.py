"""Reconciliation tables: per-case comparison state, findings with their lifecycle, and runs."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import GUID, Base, TZDateTime, utcnow


class FindingState(enum.StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"
    SUPPRESSED = "SUPPRESSED"


ACTIVE_STATES = (FindingState.OPEN.value, FindingState.ACKNOWLEDGED.value)


class Resolution(enum.StrEnum):
    FIXED_AT_SOURCE = "FIXED_AT_SOURCE"
    """Someone said the data were corrected; accepted only when re-evaluation no longer produces the finding."""
    AUTO_CLEARED = "AUTO_CLEARED"
    """A run no longer produced the finding (the data changed or the condition ended)."""


class RunMode(enum.StrEnum):
    FULL = "FULL"
    """Every case: SQL fingerprint screen, then the rules on flagged cases."""
    DEADLINES = "DEADLINES"
    """Only cases whose deadline is passed or near, plus those with deadline findings still active."""
    CASES = "CASES"
    """The listed cases."""


class RunStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class CaseState(Base):
    """Canonical comparison state of a case, written with every case write; the screen reads only this and
    agency_record, never the raw columns."""

    __tablename__ = "reconciliation_case_state"
    __table_args__ = (
        Index("ix_reconciliation_case_state_nip_canonical_incident_date", "nip_canonical", "incident_date"),
        Index("ix_reconciliation_case_state_deadline_date", "deadline_date"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(GUID(), ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    nip_canonical: Mapped[str | None] = mapped_column(String(32))
    name_key: Mapped[str | None] = mapped_column(String(200))
    incident_date: Mapped[dt.date] = mapped_column(Date)
    live: Mapped[bool] = mapped_column(Boolean)
    """Not cancelled or rejected: only live cases count as duplicates of each other."""
    deadline_date: Mapped[dt.date | None] = mapped_column(Date)
    """Deadline of the current stage while it is open (None once the case is terminal)."""
    recommended_canonical: Mapped[str | None] = mapped_column(String(48))
    imposed_canonical: Mapped[str | None] = mapped_column(String(48))
    fingerprint: Mapped[int] = mapped_column(BigInteger)
    expected_mask: Mapped[int] = mapped_column(Integer)
    """Bit per agency (Agency enum order) that must hold a record at the current stage."""
    local_issue: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    normalizer_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)


class Finding(Base):
    __tablename__ = "reconciliation_finding"
    __table_args__ = (
        Index("ix_reconciliation_finding_case_id_state", "case_id", "state"),
        Index("ix_reconciliation_finding_state_severity_rank", "state", "severity_rank"),
        Index("ix_reconciliation_finding_rule", "rule"),
        Index("ix_reconciliation_finding_nip", "nip"),
        Index("ix_reconciliation_finding_province_code", "province_code"),
        Index("ix_reconciliation_finding_first_seen_at_id", "first_seen_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(GUID(), primary_key=True, default=uuid.uuid4)
    finding_key: Mapped[str] = mapped_column(String(64), unique=True)
    """sha256 over (case, rule, fields, every source's normalised values): new data, new finding."""
    case_id: Mapped[uuid.UUID] = mapped_column(GUID(), ForeignKey("case.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(40))
    fields: Mapped[str] = mapped_column(String(200))
    """Comma-separated field names the finding is about."""
    severity: Mapped[str] = mapped_column(String(8))
    severity_rank: Mapped[int] = mapped_column(Integer)
    hint: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(String(24))
    observed: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_indonesian: Mapped[str] = mapped_column("message_id", Text)
    message_en: Mapped[str] = mapped_column(Text)
    case_number: Mapped[str] = mapped_column(String(20))
    nip: Mapped[str | None] = mapped_column(String(32))
    province_code: Mapped[str] = mapped_column(String(2))
    deadline_date: Mapped[dt.date | None] = mapped_column(Date)
    first_seen_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    first_seen_run_id: Mapped[uuid.UUID | None] = mapped_column(GUID())
    last_seen_run_id: Mapped[uuid.UUID | None] = mapped_column(GUID())
    state_changed_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    state_changed_by: Mapped[str] = mapped_column(String(200))
    suppressed_until: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    """ETag: bumped on state or severity changes only, so a sweep that merely re-sees a finding does not
    invalidate a triager's If-Match."""

    agencies: Mapped[list[FindingAgency]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="FindingAgency.agency"
    )

    @property
    def agency_codes(self) -> list[str]:
        return [link.agency for link in self.agencies]


class FindingAgency(Base):
    """Agencies a finding is about: they see it and may triage it."""

    __tablename__ = "reconciliation_finding_agency"
    __table_args__ = (Index("ix_reconciliation_finding_agency_agency", "agency"),)

    finding_id: Mapped[uuid.UUID] = mapped_column(
        GUID(), ForeignKey("reconciliation_finding.id", ondelete="CASCADE"), primary_key=True
    )
    agency: Mapped[str] = mapped_column(ForeignKey("agency.code"), primary_key=True)


class FindingEvent(Base):
    """Append-only history of a finding's state (the ledger holds the tamper-evident copy)."""

    __tablename__ = "reconciliation_finding_event"
    __table_args__ = (Index("ix_reconciliation_finding_event_finding_id_at", "finding_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID(), primary_key=True, default=uuid.uuid4)
    finding_id: Mapped[uuid.UUID] = mapped_column(GUID(), ForeignKey("reconciliation_finding.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None] = mapped_column(GUID())


class Run(Base):
    __tablename__ = "reconciliation_run"
    __table_args__ = (Index("ix_reconciliation_run_requested_at", "requested_at"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID(), primary_key=True, default=uuid.uuid4)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[dt.datetime] = mapped_column(TZDateTime())
    use_screen: Mapped[bool] = mapped_column(Boolean)
    case_ids: Mapped[list[str] | None] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class TouchedCase(Base):
    """The reconciliation outbox: one row per write that touched a case, written in the write's transaction and
    deleted by the worker round that re-checked the case (``app.reconciliation.outbox``).

    A row per write, not per case (one INSERT, no conflict to resolve). A round deletes every row of the cases it
    re-checked: each write to an existing case locks the case row first (``cases.lock_cases``) and so does the
    round (``load_cases_for_check``), so a row the round's DELETE sees belongs to a write committed before the
    round read the case; a write still running holds its row back for the next round (SQLite: the round holds
    the only write lock). A case touched by several waiting writes (a bulk import's batches) is re-checked once.
    """

    __tablename__ = "reconciliation_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID(), ForeignKey("case.id", ondelete="CASCADE"), index=True)
    touched_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
