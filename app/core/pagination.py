"""Keyset pagination with opaque, signed cursors (AIP-158 style).

A cursor carries the sort key of the last item returned and a hash of the filters it was issued for, signed
with the service secret: a client can neither forge a position nor reuse a cursor with other filters.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from app.core.config import Settings
from app.core.problems import BadRequest

BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1
"""The largest values of 64-bit (``BIGINT``) and 32-bit (``INTEGER``) columns, the keys numbered listings use."""

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null means this is the last page."
    )


def _filter_digest(filters: Mapping[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(secret: str, scope: str, key: Sequence[Any], filters: Mapping[str, Any]) -> str:
    payload = json.dumps({"s": scope, "k": list(key), "f": _filter_digest(filters)}, separators=(",", ":"))
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac + payload.encode()).decode().rstrip("=")


def _invalid_cursor() -> BadRequest:
    return BadRequest("The cursor is not valid for this listing; start again without a cursor, using the same filters.")


def decode_cursor(secret: str, scope: str, cursor: str, filters: Mapping[str, Any]) -> list[Any]:
    """The sort key inside a cursor; 400 for anything this service did not issue for this listing and filters.

    The payload is checked after the signature as well: a signed cursor of another shape is refused, not trusted.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:
        raise _invalid_cursor() from None
    mac, payload = raw[:16], raw[16:]
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise _invalid_cursor()
    try:
        data = json.loads(payload)
    except ValueError:
        raise _invalid_cursor() from None
    if not isinstance(data, dict) or data.get("s") != scope or data.get("f") != _filter_digest(filters):
        raise _invalid_cursor()
    key = data.get("k")
    if not isinstance(key, list):
        raise _invalid_cursor()
    return key


@dataclass(frozen=True, slots=True)
class KeysetPager:
    """One listing request: its page size and the scope and filters its cursors are bound to."""

    secret: str
    scope: str
    filters: Mapping[str, Any]
    size: int

    @classmethod
    def for_request(cls, settings: Settings, scope: str, filters: Mapping[str, Any], limit: int | None) -> KeysetPager:
        return cls(
            settings.secret_key, scope, filters, min(limit or settings.page_size_default, settings.page_size_max)
        )

    @property
    def fetch(self) -> int:
        """Rows to read: one more than a page, to know whether another page follows."""
        return self.size + 1

    def after_time_id(self, cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
        """Where a listing ordered by (timestamp, id) resumes (keys from ``time_id_key``); None from the start."""
        if cursor is None:
            return None
        key = decode_cursor(self.secret, self.scope, cursor, self.filters)
        if len(key) != 2 or not all(isinstance(part, str) for part in key):
            raise _invalid_cursor()
        try:
            moment, row_id = dt.datetime.fromisoformat(key[0]), uuid.UUID(key[1])
        except ValueError:
            raise _invalid_cursor() from None
        if moment.tzinfo is None:
            raise _invalid_cursor()
        return moment, row_id

    def after_number(self, cursor: str | None, maximum: int = BIGINT_MAX) -> int:
        """Where a listing ordered by an integer (ledger seq, row id) resumes; -1 from the start.

        ``maximum`` is the largest value of the column it is compared with: a larger one is no key this service
        issued, and the database could not bind it (an out-of-range error, not an empty page)."""
        if cursor is None:
            return -1
        key = decode_cursor(self.secret, self.scope, cursor, self.filters)
        if len(key) != 1 or type(key[0]) is not int or not -1 <= key[0] <= maximum:
            raise _invalid_cursor()
        number: int = key[0]
        return number

    def after_text(self, cursor: str | None) -> str | None:
        """Where a listing ordered by a text key (a code) resumes; None from the start."""
        if cursor is None:
            return None
        key = decode_cursor(self.secret, self.scope, cursor, self.filters)
        if len(key) != 1 or not isinstance(key[0], str) or not key[0].isprintable():  # PostgreSQL refuses a NUL
            raise _invalid_cursor()
        text: str = key[0]
        return text

    def split(self, rows: Sequence[R], key: Callable[[R], list[Any]]) -> tuple[Sequence[R], str | None]:
        """This page's rows (of ``fetch`` read) and the cursor to the next page, if there is one."""
        if len(rows) <= self.size:
            return rows, None
        return rows[: self.size], encode_cursor(self.secret, self.scope, key(rows[self.size - 1]), self.filters)


def time_id_key(moment: dt.datetime, row_id: uuid.UUID) -> list[Any]:
    """A cursor key for listings ordered by (timestamp, id)."""
    return [moment.isoformat(), str(row_id)]
