"""Rendering problems as ``application/problem+json`` responses, and documenting them in the contract."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from app.api.language import VARY, requested_language
from app.api.operations import allowed_methods
from app.core.i18n import Message
from app.core.problems import (
    ERROR_BY_STATUS,
    PROBLEM_MEDIA_TYPE,
    BadRequest,
    InvalidParam,
    ProblemError,
    ValidationProblem,
)

logger = logging.getLogger("sbt.problems")


def problem_response(
    scope: Scope, error: ProblemError, headers: Mapping[str, str] | None = None, *, status: int | None = None
) -> JSONResponse:
    """``error`` as problem+json, its title and detail in the language ``Accept-Language`` prefers (English by
    default); ``status`` overrides the error class's own (an HTTP error of a status SBT has no class for)."""
    language = requested_language(scope)
    problem = error.to_problem(scope["path"], language)
    if status is not None:
        problem.status = status
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**(headers or error.headers), "Content-Language": language.value, "Vary": VARY},
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json bodies for the given statuses."""
    return {
        status: {
            "description": ERROR_BY_STATUS[status].title,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request.scope, exc)


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        error: ProblemError = BadRequest(
            Message("The request body is not valid JSON."),
            invalid_params=[
                InvalidParam(name=_location(err["loc"]), reason=str(err.get("msg", "invalid JSON"))) for err in errors
            ],
        )
    else:
        error = ValidationProblem(
            Message("{count} invalid input(s).", count=len(errors)),
            invalid_params=[
                InvalidParam(name=_location(err["loc"]), reason=str(err.get("msg", "invalid"))) for err in errors
            ],
        )
    return problem_response(request.scope, error)


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_cls = ERROR_BY_STATUS.get(exc.status_code, ProblemError)
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail == HTTPStatus(exc.status_code).phrase:
        detail = None  # Starlette's default detail only repeats the status; the title says it in the client's language
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.scope))
    return problem_response(request.scope, error_cls(detail, headers=headers), status=exc.status_code)


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request.scope, ProblemError(Message("An unexpected error occurred.")))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_unexpected)
