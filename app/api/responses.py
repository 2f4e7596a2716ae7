"""Sending what a write flow replied, and the response headers routes declare in the contract."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Response
from pydantic import BaseModel

from app.idempotency.service import Reply

Body = TypeVar("Body", bound=BaseModel)


def send(reply: Reply[Body], response: Response) -> Body:
    """The reply's body, with its headers (Location, ETag) on the response; the route declares the status."""
    response.headers.update(reply.headers)
    return reply.body


RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "The resource's version; send it back in `If-Match` to change the resource.",
        "schema": {"type": "string", "examples": ['"3"']},
    },
    "Location": {"description": "Where the created resource is.", "schema": {"type": "string"}},
}


def declared_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose ``status`` response carries these headers (see ``RESPONSE_HEADERS``)."""
    return {status: {"headers": {name: RESPONSE_HEADERS[name] for name in names}}}
