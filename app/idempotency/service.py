"""Idempotency-Key handling (draft-ietf-httpapi-idempotency-key-header), framework-free.

The key is claimed in its own short transaction, so a concurrent retry sees it as in flight (409). The response
is stored in the write's own transaction, so it exists exactly when the write committed; if the write fails,
the claim is released and the client may retry with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import transaction, utcnow
from app.core.problems import IdempotencyInFlight, IdempotencyMismatch
from app.idempotency.models import IdempotencyRecord

Body = TypeVar("Body", bound=BaseModel)


class IdempotentReplay(Exception):
    """Raised when a completed request is retried; the web layer renders it as the stored response."""

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        super().__init__("idempotent replay")
        self.status = status
        self.body = body
        self.headers = headers


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key for one request, with the fingerprint (method, path, body) a retry must match."""

    client_id: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Reply(Generic[Body]):
    """The response of a write: stored under the key before the commit, and sent."""

    status: int
    body: Body
    headers: dict[str, str]


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


@contextmanager
def claimed(factory: sessionmaker[Session], settings: Settings, key: IdempotencyKey | None) -> Iterator[None]:
    """Claim the key for the block; release it if the block fails, so that the client may retry.

    A claim whose commit fails after the block is released by the abandonment timeout
    (``SBT_IDEMPOTENCY_LOCK_SECONDS``).
    """
    if key is None:
        yield
        return
    _claim(factory, settings, key)
    try:
        yield
    except BaseException:
        _release(factory, key)
        raise


def store(session: Session, key: IdempotencyKey | None, reply: Reply[Any]) -> None:
    """Keep the reply under the key, in the write's own transaction."""
    if key is None:
        return
    record = session.get(IdempotencyRecord, (key.client_id, key.key))
    if record is None:  # the claim was purged meanwhile; the write itself still stands
        return
    record.response_status = reply.status
    record.response_body = reply.body.model_dump(mode="json")
    record.response_headers = reply.headers


def _claim(factory: sessionmaker[Session], settings: Settings, key: IdempotencyKey) -> None:
    now = utcnow()
    try:
        with transaction(factory) as session:
            existing = session.get(IdempotencyRecord, (key.client_id, key.key))
            if existing is not None and _expired_or_abandoned(existing, settings, now):
                session.delete(existing)
                session.flush()
                existing = None
            if existing is not None:
                _judge(existing, key.fingerprint)
            session.add(
                IdempotencyRecord(
                    client_id=key.client_id,
                    key=key.key,
                    fingerprint=key.fingerprint,
                    created_at=now,
                    expires_at=now + dt.timedelta(hours=settings.idempotency_ttl_hours),
                )
            )
    except IntegrityError:
        raise IdempotencyInFlight("A request with this key is being processed.", headers={"Retry-After": "1"}) from None


def _expired_or_abandoned(record: IdempotencyRecord, settings: Settings, now: dt.datetime) -> bool:
    if record.expires_at <= now:
        return True
    lock_deadline = record.created_at + dt.timedelta(seconds=settings.idempotency_lock_seconds)
    return record.response_status is None and lock_deadline <= now


def _judge(existing: IdempotencyRecord, fingerprint: str) -> None:
    if existing.fingerprint != fingerprint:
        raise IdempotencyMismatch(
            "This Idempotency-Key was already used with a different request body or target. "
            "Use a new key for a new request."
        )
    if existing.response_status is None:
        raise IdempotencyInFlight(
            "The first request with this key has not finished; retry later.", headers={"Retry-After": "1"}
        )
    raise IdempotentReplay(existing.response_status, existing.response_body, existing.response_headers or {})


def _release(factory: sessionmaker[Session], key: IdempotencyKey) -> None:
    with transaction(factory) as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.client_id == key.client_id,
                IdempotencyRecord.key == key.key,
                IdempotencyRecord.response_status.is_(None),
            )
        )
