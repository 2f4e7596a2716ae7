"""Rendering problems as ``application/problem+json`` responses, and documenting them in the contract."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.operations import allowed_methods
from app.core.problems import (
    ERROR_BY_STATUS,
    PROBLEM_MEDIA_TYPE,
    BadRequest,
    InvalidParam,
    Problem,
    ProblemError,
    ValidationProblem,
)

logger = logging.getLogger("sbt.problems")


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
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
    return problem_response(exc.to_problem(request.url.path), exc.headers)


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        error: ProblemError = BadRequest(
            "The request body is not valid JSON.",
            invalid_params=[
                InvalidParam(name=_location(err["loc"]), reason=str(err.get("msg", "invalid JSON"))) for err in errors
            ],
        )
    else:
        error = ValidationProblem(
            f"{len(errors)} invalid input(s).",
            invalid_params=[
                InvalidParam(name=_location(err["loc"]), reason=str(err.get("msg", "invalid"))) for err in errors
            ],
        )
    return problem_response(error.to_problem(request.url.path))


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_cls = ERROR_BY_STATUS.get(exc.status_code, ProblemError)
    detail = exc.detail if isinstance(exc.detail, str) else None
    problem = Problem(
        type=error_cls.type_uri(),
        title=error_cls.title,
        status=exc.status_code,
        detail=detail,
        instance=request.url.path,
    )
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.scope))}
    return problem_response(problem, headers)


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(ProblemError("An unexpected error occurred.").to_problem(request.url.path))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_unexpected)
