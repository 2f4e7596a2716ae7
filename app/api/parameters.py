"""Query and header parameters shared by several routes, declared once so the contract states them alike."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query

from app.core.schemas import IsoDate

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
