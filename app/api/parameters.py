"""Query and header parameters shared by several routes, declared once so the contract states them alike."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Header, Query
from pydantic import AwareDatetime, BeforeValidator

from app.core.db import utcnow
from app.core.problems import InvalidParam, ValidationProblem

PageSizeParam = Annotated[int | None, Query(ge=1, description="Page size (capped by the server maximum)")]
CursorParam = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Opaque: the `next_cursor` of the previous page, for the same filters (400 otherwise).",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]+$"},  # base64url without padding; checked on decoding (400)
    ),
]

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag from your last read of the resource; required (428 when missing, 412 if stale).",
    ),
]
"""Declare as ``if_match: IfMatchHeader = None``; the service enforces it with ``check_if_match``."""


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_only(value: Any) -> Any:
    """A calendar date as ``YYYY-MM-DD``: pydantic alone would read ``0`` as 1970-01-01 (a Unix timestamp)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("a date as YYYY-MM-DD (Asia/Jakarta calendar day)")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_only)]
"""A date as ``YYYY-MM-DD`` only; add your own ``Query(...)`` for a required date."""
DateParam = Annotated[dt.date | None, BeforeValidator(_iso_date_only), Query()]
"""An optional query date, ``YYYY-MM-DD`` only."""


def checked_moment(as_of: dt.datetime | None) -> dt.datetime:
    """The moment an as-of answer is for: now by default, never in the future (later writes would change it)."""
    now = utcnow()
    if as_of is None:
        return now
    if as_of > now:
        reason = "as_of cannot be in the future"
        raise ValidationProblem(reason, invalid_params=[InvalidParam(name="query.as_of", reason=reason)])
    return as_of


AsOfParam = Annotated[
    AwareDatetime | None,
    Query(
        description="Answer as the ledger stood at this moment (with its UTC offset, e.g. "
        "`2024-10-20T00:00:00+07:00`); default now. Not in the future.",
    ),
]
