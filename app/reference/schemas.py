"""Reference data as served by the API."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from app.core.schemas import ReadSchema


class AgencyRead(ReadSchema):
    code: str
    name: str
    valid_from: dt.date
    valid_to: dt.date | None
    successor_code: str | None


class ViolationFormRead(ReadSchema):
    code: str
    category: str
    phase: str
    title: str
    default_sanction_level: str
    legal_basis: str


class SanctionRead(ReadSchema):
    code: str
    kind: str
    level: str
    severity_rank: int
    legacy: bool
    employee_kind: str | None = Field(description="PNS or PPPK; null when given to both (moral sanctions).")
    valid_from: dt.date | None = Field(description="First day its legal basis is in force (null: before any case).")
    valid_to: dt.date | None = Field(description="First day it no longer is (PP 53/2010 codes: 2021-08-31).")
    title: str
    legal_basis: str


class SanctionMatrixRow(ReadSchema):
    violation_code: str
    level: str = Field(description="A sanction level this violation form allows (MORAL, RINGAN, SEDANG, BERAT, PTDH).")
    note: str | None = Field(description="Where the public sources disagree or are unsure.")


class EmployeeKindRead(ReadSchema):
    code: str
    title: str
    legal_basis: str


class PositionCategoryRead(ReadSchema):
    code: str
    title: str


class ProvinceRead(ReadSchema):
    code: str
    name: str
