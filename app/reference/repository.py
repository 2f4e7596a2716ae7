"""Queries over reference tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.core.db import Base
from app.reference.models import AgencyRef

M = TypeVar("M", bound=Base)


def list_all(session: Session, model: type[M], order_by: InstrumentedAttribute[str]) -> Sequence[M]:
    return session.scalars(select(model).order_by(order_by)).all()


def get(session: Session, model: type[M], code: str) -> M | None:
    return session.get(model, code)


def agency_acting_for(session: Session, agency_code: str, on: dt.date) -> str:
    """The agency that holds ``agency_code``'s duties on a date: itself, or its successor once it has ended."""
    agency = session.get(AgencyRef, agency_code)
    while agency is not None and agency.valid_to is not None and on >= agency.valid_to:
        if agency.successor_code is None:
            break
        agency = session.get(AgencyRef, agency.successor_code)
    return agency.code if agency is not None else agency_code
