"""The ``Idempotency-Key`` request header, read into the key a write flow claims, and the replayed response."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse

from app.api.dependencies.auth import current_principal
from app.core.actor import Principal
from app.core.i18n import Message
from app.core.problems import BadRequest
from app.idempotency.service import IdempotencyKey, IdempotentReplay, request_fingerprint

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_PATTERN = re.compile(r"^[ -~]*[!#-~][ -~]*$")
"""Printable ASCII with at least one character that is neither a space nor a quote (a UUID is recommended)."""


async def idempotency_key(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Optional. Retrying with the same key and body returns the first response "
            "(header `Idempotent-Replayed: true`); the same key with another body is a 422; "
            "while the first request runs, 409. Keys expire after 24 hours.",
            max_length=MAX_KEY_LENGTH,
            json_schema_extra={"pattern": KEY_PATTERN.pattern},  # checked below (400), stated here
        ),
    ] = None,
) -> IdempotencyKey | None:
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise BadRequest(Message("Idempotency-Key must be a non-empty printable ASCII string (a UUID is recommended)."))
    cleaned = key.strip().strip('"')
    fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
    return IdempotencyKey(principal.client_id, cleaned, fingerprint)


IdempotencyKeyDep = Annotated[IdempotencyKey | None, Depends(idempotency_key)]


async def _replay(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IdempotentReplay)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers | {REPLAY_HEADER: "true"})


def install_replay_handler(app: FastAPI) -> None:
    app.add_exception_handler(IdempotentReplay, _replay)
