"""Read audit of personal data (append-only: database triggers, migration 0005, reject UPDATE and DELETE), the
latest state audit against the ledger, and the monitoring page's count bridge totals."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import GUID, Base, TZDateTime


class ReadAuditEntry(Base):
    """One data subject (a case or an agency record) returned to one caller by one request."""

    __tablename__ = "read_audit"
    __table_args__ = (
        Index("ix_read_audit_subject_nip_hash", "subject_nip_hash"),
        Index("ix_read_audit_client_id_recorded_at", "client_id", "recorded_at"),
        Index("ix_read_audit_agency_recorded_at", "agency", "recorded_at"),
        Index("ix_read_audit_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    request_id: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(200))
    """The caller's ``X-Purpose`` header (legal basis, case reference, ticket), if sent."""
    operation: Mapped[str] = mapped_column(String(100))
    """operationId of the route that returned the data."""
    case_id: Mapped[uuid.UUID | None] = mapped_column(GUID())
    record_id: Mapped[uuid.UUID | None] = mapped_column(GUID())
    subject_nip_hash: Mapped[str | None] = mapped_column(String(64))
    """HMAC-SHA256 (key: SBT_SECRET_KEY) of the NIP returned: searchable by subject, no NIP stored in the log."""


class StateAudit(Base):
    """The service's latest state audit (one row): where it has audited to, and the differences still standing.

    Written by the background audit (``app.audit.state.audit_cycle``) of whichever worker ran it last; ``/ready``,
    ``GET /api/v1/ledger/state-audit`` and the metrics read it. Differences are kept without their values (those
    may be names and NIPs; ``sbt ledger audit-state`` prints them)."""

    __tablename__ = "ledger_state_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    audited_tree_size: Mapped[int] = mapped_column(BigInteger)
    """Every entry before this position has been audited (the rows it touched compared)."""
    scrub_after: Mapped[str | None] = mapped_column(String(36))
    """The last case of the previous round of the rolling comparison of untouched rows (None: start over)."""
    checked_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    rows_checked: Mapped[int] = mapped_column(Integer)
    """Rows compared in the latest cycle."""
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class MonitoringBridge(Base):
    """The count bridge totals the public monitoring page shows (one row, no case list): a ledger replay takes
    seconds at 100k cases, so the background job ``app.api.monitoring_worker`` computes them
    (``app.audit.monitoring.refresh_bridge``) and every process's page reads them from here, the first view after a
    start included."""

    __tablename__ = "monitoring_bridge"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    """The ledger prefix replayed: the entries recorded at or before ``as_of``."""
    as_of: Mapped[dt.datetime] = mapped_column(TZDateTime())
    """The moment the totals are as of: ``GET /api/v1/audit/count-bridge?as_of=`` this moment answers the same."""
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    national: Mapped[int] = mapped_column(Integer)
    agencies: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """Per agency: its own count, the delta and the signed count of each cause."""
