"""Sending what a write flow replied."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Response
from pydantic import BaseModel

from app.idempotency.service import Reply

Body = TypeVar("Body", bound=BaseModel)


def send(reply: Reply[Body], response: Response) -> Body:
    """The reply's body, with its headers (Location, ETag) on the response; the route declares the status."""
    response.headers.update(reply.headers)
    return reply.body
