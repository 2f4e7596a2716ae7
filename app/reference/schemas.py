"""Reference data as served by the API."""

from __future__ import annotations

import datetime as dt

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
    title: str
    legal_basis: str


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
