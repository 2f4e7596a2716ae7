"""Request bodies to ``/api/v1`` are JSON (RFC 8259): ``application/json``, UTF-8 without a BOM, bounded nesting.

FastAPI alone would also parse ``application/<anything>+json`` and detect UTF-16 or UTF-32 bodies; every
``/api/v1`` operation declares ``application/json``, so anything else is refused before the body is parsed: another
media type or charset, a BOM, or bytes that are not UTF-8 → 415; nesting deeper than ``MAX_DEPTH`` → 400. The body
is already bounded by the body limit (outside), and the caller already authenticated (the rate limiter, outside),
so it is read here in full and handed on unchanged. Requests without a body are not concerned.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.operations import matched_operation
from app.api.problems import problem_response
from app.core import i18n
from app.core.problems import BadRequest, ProblemError, UnsupportedMediaType

CHECKED_PREFIX = "/api/v1"
MAX_DEPTH = 32
JSON_MEDIA_TYPE = "application/json"

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_BOMS = (b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe")


def nesting_depth(body: bytes, limit: int) -> int:
    """Deepest array/object nesting of a JSON text, counted up to ``limit + 1`` (brackets inside strings skipped)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        else:
            depth -= 1
    return deepest


def _media_type_problem(content_type: str | None) -> ProblemError | None:
    expected = f"Request bodies must be '{JSON_MEDIA_TYPE}' (UTF-8)"
    if content_type is None:
        return UnsupportedMediaType(f"{expected}; no Content-Type was sent.")
    media_type, *params = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != JSON_MEDIA_TYPE:
        return UnsupportedMediaType(f"{expected}, not '{media_type}'.")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in {"utf-8", "utf8"}:
            return UnsupportedMediaType(f"{expected}, not charset '{value.strip()}'.")
    return None


def body_problem(content_type: str | None, body: bytes) -> ProblemError | None:
    """Why this request body is refused, or ``None`` when it is UTF-8 ``application/json`` of bounded depth."""
    problem = _media_type_problem(content_type)
    if problem is not None:
        return problem
    if body.startswith(_BOMS):
        return UnsupportedMediaType(
            i18n.Message("The request body starts with a byte order mark; send UTF-8 without a BOM.")
        )
    if b"\x00" in body[:4]:  # JSON text starts with two ASCII characters: NULs among them are UTF-16 or UTF-32
        return UnsupportedMediaType(i18n.Message("The request body is not UTF-8 (it looks like UTF-16 or UTF-32)."))
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return UnsupportedMediaType(i18n.Message("The request body is not valid UTF-8."))
    if nesting_depth(body, MAX_DEPTH) > MAX_DEPTH:
        return BadRequest(
            i18n.Message("The request body nests arrays/objects deeper than {depth} levels.", depth=MAX_DEPTH)
        )
    return None


class JsonBodyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith(CHECKED_PREFIX)
            or matched_operation(scope) is None  # no operation: the router answers 404/405, reads no body
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # disconnected before the end of the body
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            content_type = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"content-type"), None)
            problem = body_problem(content_type, body)
            if problem is not None:
                response = problem_response(scope, problem)
                await response(scope, receive, send)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def install_json_body(app: FastAPI) -> None:
    """Install before the rate limiter: it then runs after authentication, on authenticated requests only."""
    app.add_middleware(JsonBodyMiddleware)
