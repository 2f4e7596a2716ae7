"""Query and header parameters shared by several routes, declared once so the contract states them alike."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query

PageSizeParam = Annotated[int | None, Query(ge=1, description="Page size (capped by the server maximum)")]
CursorParam = Annotated[str | None, Query(max_length=512)]

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag from your last read of the resource; required (428 when missing, 412 if stale).",
    ),
]
"""Declare as ``if_match: IfMatchHeader = None``; the service enforces it with ``check_if_match``."""
