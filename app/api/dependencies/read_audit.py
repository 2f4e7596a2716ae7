"""The read audit of a request that returns personal data (UU PDP), with the caller's stated purpose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from app.api.dependencies.auth import current_principal
from app.api.dependencies.context import SessionDep, SettingsDep, request_id
from app.audit.service import ReadAudit
from app.core.actor import Principal

PURPOSE_HEADER = "X-Purpose"


async def get_read_audit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(current_principal)],
    purpose: Annotated[
        str | None,
        Header(
            alias=PURPOSE_HEADER,
            max_length=200,
            description="Why you read this personal data (legal basis, case or letter reference); kept in the "
            "read audit (UU PDP).",
        ),
    ] = None,
) -> ReadAudit:
    route = request.scope.get("route")
    return ReadAudit(
        session=session,
        principal=principal,
        secret=settings.secret_key,
        request_id=request_id(request),
        purpose=purpose,
        operation=getattr(route, "name", request.url.path)[:100],
    )


ReadAuditDep = Annotated[ReadAudit, Depends(get_read_audit, scope="function")]
