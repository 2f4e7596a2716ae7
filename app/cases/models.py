"""Cases, each agency's own record of a case, and the workflow history."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import GUID, Base, TZDateTime, utcnow


class Case(Base):
    """One ASN in one incident: the shared, workflow-driven view of a case."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_created_at_id", "created_at", "id"),
        Index("ix_case_nip", "nip"),
        Index("ix_case_stage", "stage"),
        # The monitoring page's aggregates read these alone (migration 0014); the first also serves province filters.
        Index(
            "ix_case_monitoring",
            "province_code",
            "stage",
            "violation_code",
            "election_type",
            "election_year",
            "recommendation_date",
            "deadline_date",
            "imposed_sanction_code",
            "sanction_date",
            "id",
        ),
        Index("ix_case_reported_date", "reported_date"),
        Index("ix_case_instansi_code", "instansi_code"),
        Index("ix_case_register_number", "register_number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(GUID(), primary_key=True, default=uuid.uuid4)
    case_number: Mapped[str] = mapped_column(String(20), unique=True)
    """Taken before the insert, a batch's in one statement (``repository.next_case_numbers``)."""
    nip: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(200))
    employee_kind: Mapped[str] = mapped_column(ForeignKey("employee_kind.code"))
    instansi: Mapped[str] = mapped_column(String(200))
    """The instansi or its unit as reported ("Dinas Pendidikan Kota Makassar"); ``instansi_code`` is the instansi."""
    instansi_code: Mapped[str | None] = mapped_column(ForeignKey("instansi.code"))
    """Null only for a case from before migration 0009 whose free-text instansi matched no reference instansi."""
    position_category: Mapped[str] = mapped_column(ForeignKey("position_category.code"))
    province_code: Mapped[str] = mapped_column(ForeignKey("province.code"))
    regency: Mapped[str | None] = mapped_column(String(100))
    election_type: Mapped[str] = mapped_column(String(8))
    election_year: Mapped[int] = mapped_column(Integer)
    violation_code: Mapped[str] = mapped_column(ForeignKey("violation_form.code"))
    phase: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(8))
    incident_date: Mapped[dt.date] = mapped_column(Date)
    reported_date: Mapped[dt.date] = mapped_column(Date)
    known_date: Mapped[dt.date | None] = mapped_column(Date)
    """Day the incident became known to the reporter: the laporan filing period runs from it (migration 0008)."""
    summary: Mapped[str | None] = mapped_column(Text)
    register_number: Mapped[str | None] = mapped_column(String(100))
    """Bawaslu's nomor register (or the channel's nomor aduan): the cases sharing it are one report, the ASN of one
    incident (migration 0011; no table of its own, decision in ARCHITECTURE.md)."""

    stage: Mapped[str] = mapped_column(String(24))
    stage_entered_on: Mapped[dt.date] = mapped_column(Date)
    deadline_date: Mapped[dt.date | None] = mapped_column(Date)
    """Last day (Asia/Jakarta) for the current stage's step, if that stage runs against a deadline."""

    recommended_by: Mapped[str | None] = mapped_column(ForeignKey("agency.code"))
    """Issuing authority of the recommendation (KASN before 2024-08-24, BKN after)."""
    recommendation_number: Mapped[str | None] = mapped_column(String(100))
    recommendation_date: Mapped[dt.date | None] = mapped_column(Date)
    recommended_sanction_code: Mapped[str | None] = mapped_column(ForeignKey("sanction.code"))
    recommended_sanction_level: Mapped[str | None] = mapped_column(String(16))
    """The level the recommendation names (KASN letters often name only a level, "Disiplin Sedang")."""
    imposed_sanction_code: Mapped[str | None] = mapped_column(ForeignKey("sanction.code"))
    imposed_sanction_reason: Mapped[str | None] = mapped_column(String(16))
    """Why the imposed sanction is what it is when it departs from the recommendation's level (keberatan, banding,
    a PPK decision), or why it was corrected."""
    sanction_date: Mapped[dt.date | None] = mapped_column(Date)
    decision_number: Mapped[str | None] = mapped_column(String(100))
    """Number of the PPK's decision (SK) imposing the sanction, from the step that recorded it (migration 0014)."""
    decision_date: Mapped[dt.date | None] = mapped_column(Date)
    blocked_on: Mapped[dt.date | None] = mapped_column(Date)
    """Day BKN blocked the ASN's personnel data in SIASN."""
    block_lifted_on: Mapped[dt.date | None] = mapped_column(Date)

    created_by_agency: Mapped[str] = mapped_column(ForeignKey("agency.code"))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - declarative convention


class AgencyRecord(Base):
    """What one agency itself recorded about a case; reconciliation compares these views."""

    __tablename__ = "agency_record"
    __table_args__ = (
        UniqueConstraint("case_id", "agency"),
        Index("ix_agency_record_agency_created_at", "agency", "created_at"),
        Index("ix_agency_record_case_id_fingerprint", "case_id", "fingerprint"),
        Index("ix_agency_record_case_province", "case_province_code", "agency"),
    )

    id: Mapped[uuid.UUID] = mapped_column(GUID(), primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"))
    agency: Mapped[str] = mapped_column(ForeignKey("agency.code"))
    case_province_code: Mapped[str | None] = mapped_column(
        String(2), server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    """The case's province (not the agency's own ``province_code``), copied by database triggers in the writing
    transaction (migration 0020): the monitoring page counts each agency's records per province without a join."""
    nip: Mapped[str | None] = mapped_column(String(32))
    """As the agency recorded it; may be wrong, which is exactly what reconciliation looks for."""
    name: Mapped[str | None] = mapped_column(String(200))
    position_category: Mapped[str | None] = mapped_column(ForeignKey("position_category.code"))
    instansi_code: Mapped[str | None] = mapped_column(ForeignKey("instansi.code"))
    province_code: Mapped[str | None] = mapped_column(ForeignKey("province.code"))
    """The region as the agency recorded it: the province and (``regency``) the kabupaten/kota (migration 0014)."""
    regency: Mapped[str | None] = mapped_column(String(100))
    election_type: Mapped[str | None] = mapped_column(String(8))
    election_year: Mapped[int | None] = mapped_column(Integer)
    phase: Mapped[str | None] = mapped_column(String(16))
    violation_code: Mapped[str | None] = mapped_column(ForeignKey("violation_form.code"))
    stage: Mapped[str | None] = mapped_column(String(24))
    recommended_sanction_code: Mapped[str | None] = mapped_column(ForeignKey("sanction.code"))
    """The sanction the recommendation names, as this agency recorded it; the imposed one is kept beside it, so an
    agency holds both (migration 0014 split the single sanction column by its status)."""
    recommended_sanction_level: Mapped[str | None] = mapped_column(String(16))
    imposed_sanction_code: Mapped[str | None] = mapped_column(ForeignKey("sanction.code"))
    imposed_sanction_reason: Mapped[str | None] = mapped_column(String(16))
    reported_date: Mapped[dt.date | None] = mapped_column(Date)
    recommendation_date: Mapped[dt.date | None] = mapped_column(Date)
    sanction_date: Mapped[dt.date | None] = mapped_column(Date)
    decision_number: Mapped[str | None] = mapped_column(String(100))
    """The PPK's decision (SK) imposing the sanction: its number and date."""
    decision_date: Mapped[dt.date | None] = mapped_column(Date)
    idis_reference: Mapped[str | None] = mapped_column(String(100))
    """The sanction's entry in BKN's I'DIS."""
    blocked_on: Mapped[dt.date | None] = mapped_column(Date)
    block_lifted_on: Mapped[dt.date | None] = mapped_column(Date)
    reference_number: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_on: Mapped[dt.date | None] = mapped_column(Date)
    """The day the agency made the record, when SBT received it later: imported from a retired agency's archive,
    or made by a workflow step (its effective date)."""
    imported_by: Mapped[str | None] = mapped_column(ForeignKey("agency.code"))
    """The successor agency that imported the record (``agency`` is the retired one it is attributed to)."""
    submitted_by_client: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)

    # Reconciliation (migration 0004): comparison forms computed on every write by
    # app.reconciliation.service.on_case_written; the raw columns above are never altered.
    nip_canonical: Mapped[str | None] = mapped_column(String(32))
    name_key: Mapped[str | None] = mapped_column(String(200))
    violation_canonical: Mapped[str | None] = mapped_column(String(16))
    stage_canonical: Mapped[str | None] = mapped_column(String(24))
    stage_high_water: Mapped[int | None] = mapped_column(Integer)
    """Highest workflow rank this record has reached (a lower current rank is a regression)."""
    recommended_canonical: Mapped[str | None] = mapped_column(String(48))
    imposed_canonical: Mapped[str | None] = mapped_column(String(48))
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)
    """Hash of the compared canonical fields; equal to the case's when the record agrees with it."""
    local_issue: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A rule that needs only this row (invalid NIP, impossible dates, ...) fires; read by the SQL screen."""
    normalizer_version: Mapped[int | None] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CaseTransition(Base):
    """Append-only workflow history of a case."""

    __tablename__ = "case_transition"
    __table_args__ = (Index("ix_case_transition_case_id_created_at", "case_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID(), primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(24))
    from_stage: Mapped[str] = mapped_column(String(24))
    to_stage: Mapped[str] = mapped_column(String(24))
    agency: Mapped[str] = mapped_column(ForeignKey("agency.code"))
    client_id: Mapped[str] = mapped_column(String(100))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    reference_number: Mapped[str | None] = mapped_column(String(100))
    sanction_code: Mapped[str | None] = mapped_column(ForeignKey("sanction.code"))
    sanction_level: Mapped[str | None] = mapped_column(String(16))
    sanction_reason: Mapped[str | None] = mapped_column(String(16))
    reopen_reason: Mapped[str | None] = mapped_column(String(32))
    """Why a case that ended was reopened (``workflow.ReopenReason``); only on ``reopen`` steps (migration 0008)."""
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)


class CaseNumberCounter(Base):
    """Per-year counter behind case numbers on SQLite (PostgreSQL uses the case_number_seq sequence)."""

    __tablename__ = "case_number_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)
