"""Request bodies larger than ``SBT_MAX_BODY_BYTES`` are refused with 413, before anything reads them.

The outermost middleware that looks at requests (outside the rate limiter, authentication and every parser): a
``Content-Length`` over the limit is answered at once without reading a byte of the body; a body without one
(chunked) is counted as its ``http.request`` messages arrive and refused as soon as it passes the limit, so at most
the limit plus one chunk is ever held, whoever asked for it.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.core import i18n
from app.core.config import Settings
from app.core.problems import ContentTooLarge


class _Exceeded(Exception):
    """Raised from ``receive`` to whoever reads past the limit; the middleware answers 413 instead."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limit = settings.max_body_bytes

    def _refuse(self) -> ContentTooLarge:
        return ContentTooLarge(
            i18n.Message("The request body is larger than the limit of {limit} bytes.", limit=self.limit)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.strip().isdigit() and int(value) > self.limit:
                await self._answer(scope, receive, send)
                return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _Exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _Exceeded
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app makes of the interrupted body, the reply is the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._answer(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = self._refuse()
        # The unread rest of the body is not drained: the server closes the connection after this reply.
        response = problem_response(scope, error, {"Connection": "close"})
        await response(scope, receive, send)


def install_body_limit(app: FastAPI, settings: Settings) -> None:
    """Install after the rate limiter and every other middleware that may read the body: it then runs before them."""
    app.add_middleware(BodyLimitMiddleware, settings=settings)
