"""Keyset pagination with opaque, signed cursors (AIP-158 style).

A cursor carries the sort key of the last item returned and a hash of the filters it was issued for, signed
with the service secret: a client can neither forge a position nor reuse a cursor with other filters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from app.core.problems import BadRequest

T = TypeVar("T")


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


def decode_cursor(secret: str, scope: str, cursor: str, filters: Mapping[str, Any]) -> list[Any]:
    invalid = BadRequest(
        "The cursor is not valid for this listing; start again without a cursor, using the same filters."
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:
        raise invalid from None
    mac, payload = raw[:16], raw[16:]
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise invalid
    data = json.loads(payload)
    if data.get("s") != scope or data.get("f") != _filter_digest(filters):
        raise invalid
    key: list[Any] = data["k"]
    return key
