"""Query and header parameters shared by several routes, declared once so the contract states them alike."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Header, Query
from pydantic import BeforeValidator

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


DateParam = Annotated[dt.date | None, BeforeValidator(_iso_date_only), Query()]
"""An optional query date, ``YYYY-MM-DD`` only."""
