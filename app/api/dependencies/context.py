"""Request-scoped dependencies shared by every route: settings, the database, the write context."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from app.api.dependencies.auth import current_principal
from app.audit.service import defer_read_audit, write_deferred_read_audit
from app.core.actor import Principal, WriteContext
from app.core.config import Settings
from app.core.db import transaction
from app.ledger import sequencer
from app.ledger.schemas import PROOF_PREFERENCE


async def get_settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


READ_METHODS = frozenset({"GET", "HEAD"})
_WRITES_WHEN_READING = "sbt_writes_when_reading"

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def writes_when_reading(endpoint: Endpoint) -> Endpoint:
    """Mark a GET route whose handler may write (signing a checkpoint on demand): it gets a writing session."""
    setattr(endpoint, _WRITES_WHEN_READING, True)
    return endpoint


def _reads_only(request: Request) -> bool:
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    return request.method in READ_METHODS and not getattr(endpoint, _WRITES_WHEN_READING, False)


def _refuse_writes(_session: Session, _context: object, _instances: object) -> None:
    raise RuntimeError("a GET route wrote in its read-only session: mark it with writes_when_reading")


def refuse_writes(read_sessionmaker: sessionmaker[Session]) -> None:
    """The read requests' sessions flush no object (a listener on their factory: nothing to do per request)."""
    event.listen(read_sessionmaker, "before_flush", _refuse_writes)


def get_session(request: Request) -> Iterator[Session]:
    """The request's session; after its commit, the ledger changes it recorded (the client registry's) are
    waited for, so that the answer follows their entries (decision 0028).

    On SQLite a read (GET) runs in a read-only transaction, which takes no write lock, so that readers of every
    process run side by side; the personal data it returned is audited just after it, in a short transaction of
    its own (``defer_read_audit``, decision 0038), and the answer is sent after both. PostgreSQL's readers take no
    write lock anyway: there a read and its audit stay one transaction (a second would cost round trips for
    nothing)."""
    state = request.app.state
    factory: sessionmaker[Session] = state.sessionmaker
    reader: sessionmaker[Session] | None = state.read_sessionmaker if _reads_only(request) else None
    with transaction(reader or factory) as session:
        if reader is not None:
            defer_read_audit(session)
        yield session
        recorded = sequencer.recorded_in(session)
    write_deferred_read_audit(factory, session)
    sequencer.wait_for_all(factory, state.settings, recorded)


# scope="function": the commit runs when the handler returns, before the response is sent, so a failed commit
# is an error response rather than an acknowledged write that was never stored.
async def get_session_factory(request: Request) -> sessionmaker[Session]:
    """For write flows, which open their own transactions (``app.core.db.transaction``)."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return factory


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]


REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
_REQUEST_ID_STATE = "sbt_request_id"


def request_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` when it is 1-128 visible ASCII characters, else a new UUID; one per request.

    It is stored with every ledger entry and read-audit row, so it is bounded the same way on both databases.
    """
    known: str | None = getattr(request.state, _REQUEST_ID_STATE, None)
    if known is None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        known = given if VALID_REQUEST_ID.fullmatch(given) else str(uuid.uuid4())
        setattr(request.state, _REQUEST_ID_STATE, known)
    return known


def prefers(request: Request, preference: str) -> bool:
    """Whether a ``Prefer`` header (RFC 7240 §2: comma-separated, each maybe with ``=value`` and ``;`` parameters,
    names case-insensitive, possibly in several headers) names ``preference``."""
    return any(
        item.split(";", 1)[0].split("=", 1)[0].strip().lower() == preference
        for header in request.headers.getlist("prefer")
        for item in header.split(",")
    )


async def get_write_context(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> WriteContext:
    body = await request.body()
    return WriteContext(
        principal=principal,
        body_sha256=hashlib.sha256(body).hexdigest(),
        request_id=request_id(request),
        ledger_proof=prefers(request, PROOF_PREFERENCE),
    )


WriteContextDep = Annotated[WriteContext, Depends(get_write_context)]
