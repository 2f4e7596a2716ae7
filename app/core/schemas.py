"""Schema bases: inputs forbid unknown fields; outputs read from ORM objects."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    field_validator,
)

UNSAFE_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
"""A regular-expression character class (Python, JSON Schema/ECMA and Rust syntax alike): NUL, the C0 and C1
controls except TAB, LF and CR, DEL, and the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
U+2066–U+2069: "Trojan Source"). Zero-width characters stay: reconciliation normalises them."""
_UNSAFE_IN_TEXT = re.compile(f"[{UNSAFE_CHARACTERS}]")
_LINE_BREAKS = re.compile("[\t\n\r]")
TEXT_PATTERN = f"^[^{UNSAFE_CHARACTERS}]*$"
"""What the contract states for free text (the validator below gives the clearer message)."""
LINE_PATTERN = f"^[^\\t\\n\\r{UNSAFE_CHARACTERS}]*$"
"""The same for one line of text: names, references."""


def _describe(character: str) -> str:
    return f"U+{ord(character):04X}"


class InputSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it at the edge on every database alike.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        # No text input may hide control characters or reorder what a reader sees.
        if isinstance(value, str) and (unsafe := _UNSAFE_IN_TEXT.search(value)):
            raise ValueError(
                f"must not contain control characters or bidirectional controls ({_describe(unsafe.group())})"
            )
        return value


def _single_line(value: str) -> str:
    if found := _LINE_BREAKS.search(value):
        raise ValueError(f"must be a single line (contains {_describe(found.group())})")
    return value


SingleLine = AfterValidator(_single_line)
"""Names, references, codes: no TAB, LF or CR inside (free text such as notes may have them)."""


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=LINE_PATTERN), SingleLine]
Code = Annotated[str, StringConstraints(min_length=1, max_length=48, pattern=r"^[A-Z0-9_-]+$")]


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_only(value: Any) -> Any:
    """A calendar date as ``YYYY-MM-DD``: pydantic alone would read ``0`` as 1970-01-01 (a Unix timestamp)."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD text (Asia/Jakarta calendar day)")
    return value


def _iso_text_only(value: Any) -> Any:
    """A date-time as ISO 8601 text, never a number or numeric text (pydantic alone reads both as Unix timestamps)."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):  # "0.5" would be a timestamp too
        raise ValueError("must be an ISO 8601 date-time text with its UTC offset, e.g. 2024-02-14T08:00:00+07:00")
    return value


def _within_utc_range(value: dt.datetime) -> dt.datetime:
    """An instant the database can store: ``0001-01-01T00:00:00+14:00`` is in year 0 in UTC, where Python and the
    databases' timestamp columns (compared in UTC) cannot follow."""
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("must be an instant between years 1 and 9999 in UTC") from None
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_only)]
"""A date in requests: ``YYYY-MM-DD`` text only."""
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text_only), AfterValidator(_within_utc_range)]
"""An instant in requests: ISO 8601 text with its offset only (naive date-times are refused too), in years 1-9999
once in UTC."""
