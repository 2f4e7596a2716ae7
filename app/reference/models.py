"""Reference tables, seeded by migration from the JSON files in ``app/reference/data``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class AgencyRef(Base):
    __tablename__ = "agency"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    """First day the agency no longer exists (KASN: 2024-08-24)."""
    successor_code: Mapped[str | None] = mapped_column(ForeignKey("agency.code"))


class ViolationForm(Base):
    __tablename__ = "violation_form"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    category: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    default_sanction_level: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str] = mapped_column(Text)


class Sanction(Base):
    __tablename__ = "sanction"

    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    severity_rank: Mapped[int] = mapped_column(Integer)
    """Orders sanctions from lightest to heaviest, so lighter/heavier comparisons need no code."""
    legacy: Mapped[bool] = mapped_column(Boolean)
    employee_kind: Mapped[str | None] = mapped_column(ForeignKey("employee_kind.code"))
    """The employee kind the sanction is given to (PNS: PP 94/2021 and PP 53/2010; PPPK: PP 49/2018); null for
    both (moral sanctions)."""
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    """First day the sanction's legal basis is in force; null when it was in force before any case SBT holds."""
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    """First day it no longer is (PP 53/2010 codes: 2021-08-31, when PP 94/2021 replaced it)."""
    title: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)


class ViolationSanctionLevel(Base):
    """The SKB matrix: a sanction level allowed for a violation form (``data/sanction_matrix.json``)."""

    __tablename__ = "violation_sanction_level"

    violation_code: Mapped[str] = mapped_column(ForeignKey("violation_form.code"), primary_key=True)
    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    note: Mapped[str | None] = mapped_column(Text)
    """Where the public sources disagree or are unsure about this level."""


class EmployeeKind(Base):
    __tablename__ = "employee_kind"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(Text)


class PositionCategory(Base):
    __tablename__ = "position_category"

    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


class Province(Base):
    __tablename__ = "province"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
