"""Request-scoped dependencies shared by every route: settings, the database, the write context."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.api.dependencies.auth import current_principal
from app.core.actor import Principal, WriteContext
from app.core.config import Settings
from app.core.db import transaction


def get_settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with transaction(request.app.state.sessionmaker) as session:
        yield session


# scope="function": the commit runs when the handler returns, before the response is sent, so a failed commit
# is an error response rather than an acknowledged write that was never stored.
def get_session_factory(request: Request) -> sessionmaker[Session]:
    """For write flows, which open their own transactions (``app.core.db.transaction``)."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return factory


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]


async def get_write_context(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> WriteContext:
    body = await request.body()
    return WriteContext(
        principal=principal,
        body_sha256=hashlib.sha256(body).hexdigest(),
        request_id=request.headers.get("X-Request-ID") or str(uuid.uuid4()),
    )


WriteContextDep = Annotated[WriteContext, Depends(get_write_context)]
