"""Idempotency-Key handling (draft-ietf-httpapi-idempotency-key-header).

The key is claimed in its own short transaction, so a concurrent retry sees it as in flight (409). The response
is stored in the request's own transaction, so it exists exactly when the write committed; if the request fails,
the claim is released and the client may retry with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import current_principal
from app.core.actor import Principal
from app.core.config import Settings
from app.core.db import utcnow
from app.core.deps import SessionDep
from app.core.problems import BadRequest, IdempotencyInFlight, IdempotencyMismatch
from app.idempotency.models import IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class IdempotentReplay(Exception):
    """Raised before the handler runs when a completed request is retried; rendered as the stored response."""

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        super().__init__("idempotent replay")
        self.status = status
        self.body = body
        self.headers = headers


@dataclass(frozen=True)
class IdempotencyClaim:
    """The claim a handler completes by calling :meth:`store` inside its own transaction."""

    client_id: str
    key: str | None

    def store(self, session: Session, status: int, body: BaseModel, headers: dict[str, str]) -> None:
        if self.key is None:
            return
        record = session.get(IdempotencyRecord, (self.client_id, self.key))
        if record is None:  # the claim was purged meanwhile; the write itself still stands
            return
        record.response_status = status
        record.response_body = body.model_dump(mode="json")
        record.response_headers = headers


def _fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


def _claim(factory: sessionmaker[Session], settings: Settings, client_id: str, key: str, fingerprint: str) -> None:
    now = utcnow()
    with factory() as session:
        existing = session.get(IdempotencyRecord, (client_id, key))
        if existing is not None and _expired_or_abandoned(existing, settings, now):
            session.delete(existing)
            session.flush()
            existing = None
        if existing is not None:
            _judge(existing, fingerprint)
        session.add(
            IdempotencyRecord(
                client_id=client_id,
                key=key,
                fingerprint=fingerprint,
                created_at=now,
                expires_at=now + dt.timedelta(hours=settings.idempotency_ttl_hours),
            )
        )
        try:
            session.commit()
        except IntegrityError:
            raise IdempotencyInFlight(
                "A request with this key is being processed.", headers={"Retry-After": "1"}
            ) from None


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


def _release(session: Session, client_id: str, key: str) -> None:
    """Free the key after a failed request, in the request's own session once its work is rolled back."""
    session.rollback()
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.client_id == client_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.response_status.is_(None),
        )
    )
    session.commit()


async def idempotency_claim(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(current_principal)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Optional. Retrying with the same key and body returns the first response "
            "(header `Idempotent-Replayed: true`); the same key with another body is a 422; "
            "while the first request runs, 409. Keys expire after 24 hours.",
            max_length=MAX_KEY_LENGTH,
        ),
    ] = None,
) -> AsyncIterator[IdempotencyClaim]:
    if idempotency_key is None:
        yield IdempotencyClaim(principal.client_id, None)
        return
    key = idempotency_key.strip().strip('"')
    if not key or not key.isprintable():
        raise BadRequest("Idempotency-Key must be a non-empty printable string (a UUID is recommended).")
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    fingerprint = _fingerprint(request.method, request.url.path, await request.body())
    await run_in_threadpool(_claim, factory, request.app.state.settings, principal.client_id, key, fingerprint)
    try:
        yield IdempotencyClaim(principal.client_id, key)
    except BaseException:
        # The handler failed, so nothing was written: free the key for a retry. (A claim whose commit fails
        # later is released by the abandonment timeout, SBT_IDEMPOTENCY_LOCK_SECONDS.)
        await run_in_threadpool(_release, session, principal.client_id, key)
        raise


IdempotencyDep = Annotated[IdempotencyClaim, Depends(idempotency_claim, scope="function")]


async def _replay(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IdempotentReplay)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers | {REPLAY_HEADER: "true"})


def install_replay_handler(app: FastAPI) -> None:
    app.add_exception_handler(IdempotentReplay, _replay)
