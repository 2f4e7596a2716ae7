"""Query and header parameters shared by several routes, declared once so the contract states them alike."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Header, Query

from app.core.db import utcnow
from app.core.problems import InvalidParam, ValidationProblem
from app.core.schemas import IsoDate, IsoDateTime

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


DateParam = Annotated[IsoDate | None, Query()]
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
    IsoDateTime | None,
    Query(
        description="Answer as the ledger stood at this moment (with its UTC offset, e.g. "
        "`2024-10-20T00:00:00+07:00`); default now. Not in the future.",
    ),
]
