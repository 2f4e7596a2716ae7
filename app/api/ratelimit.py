"""Per-client rate limiting of ``/api/v1`` and ``Cache-Control: no-store`` on its responses.

A fixed window per client (``SBT_RATE_LIMIT_REQUESTS`` per ``SBT_RATE_LIMIT_WINDOW_SECONDS``), counted by the
``limits`` library in the shared state (``app.core.shared_state``): in Redis across every replica when
``SBT_REDIS_URL`` is set, else in this process's memory (each worker then enforces its own share). The client is the
verified token's ``client_id``; requests without a valid token count against their
source address and are answered 401 here, with the auth dependency's challenge, before FastAPI reads their body
(an anonymous malformed body is a 401, not a 400); a token without the operation's scopes is answered 403 here,
before its body is parsed or its ``Idempotency-Key`` looked at. Refusals come in the order authentication (401),
scope (403), rate limit (429); every request is counted. Over the limit: 429 problem+json with ``Retry-After``; every
response carries the IETF draft ``RateLimit-Policy`` and ``RateLimit`` fields.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from anyio import to_thread
from fastapi import FastAPI
from fastapi.routing import APIRoute
from limits import RateLimitItemPerSecond
from limits.strategies import FixedWindowRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.dependencies.auth import authenticate, check_scopes, route_scopes
from app.api.operations import matched_operation
from app.api.problems import problem_response
from app.core import i18n
from app.core.config import Settings
from app.core.problems import Forbidden, ProblemError, ServiceUnavailable, TooManyRequests, Unauthorized
from app.core.shared_state import SharedState

LIMITED_PREFIX = "/api/v1"
POLICY_NAME = "default"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    reset_seconds: int


class FixedWindowLimiter:
    """``limit`` requests per client per ``window_seconds``, on the shared state's storage."""

    def __init__(self, shared: SharedState, limit: int, window_seconds: int) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._item = RateLimitItemPerSecond(limit, window_seconds)
        self._limiter = shared.limiter(FixedWindowRateLimiter)

    def _hit(self, limiter: FixedWindowRateLimiter, key: str) -> Decision:
        allowed = limiter.hit(self._item, key)
        stats = limiter.get_window_stats(self._item, key)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed=allowed, remaining=max(0, stats.remaining), reset_seconds=reset)

    def hit(self, key: str) -> Decision:
        return self._limiter.run(lambda limiter: self._hit(limiter, key))


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, shared: SharedState) -> None:
        self.app = app
        self.shared = shared
        self.limiter = FixedWindowLimiter(shared, settings.rate_limit_requests, settings.rate_limit_window_seconds)

    def _policy(self) -> str:
        return f'"{POLICY_NAME}";q={self.limiter.limit};w={self.limiter.window_seconds}'

    async def _identify(self, scope: Scope) -> tuple[str, ProblemError | None]:
        """The client's key, and the error to answer when the request carries no valid token or lacks a scope.

        Only a request that reaches an operation is authenticated here; for any other the router answers 404 or 405
        as before (no body is parsed), counted against the source address. The scopes checked are every scope the
        operation's dependants declare, so a token without them is refused (403) before its body is read."""
        scope.setdefault("state", {})  # shared with the app's own Request objects: the principal is handed on
        address = f"address:{scope['client'][0] if scope.get('client') else 'unknown'}"
        operation = matched_operation(scope)
        if operation is None:
            return address, None
        request = Request(scope)
        try:
            # Verified once: ``authenticate`` hands the principal to the auth dependency (request.state).
            principal = await to_thread.run_sync(authenticate, request, request.headers.get("authorization"), [])
        except (Unauthorized, ServiceUnavailable) as exc:
            return address, exc
        client = f"client:{principal.client_id}"
        if isinstance(operation, APIRoute):
            try:
                check_scopes(request, principal, route_scopes(operation.dependant))
            except Forbidden as exc:
                return client, exc
        return client, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIX):
            await self.app(scope, receive, send)
            return
        key, refusal = await self._identify(scope)
        if self.shared.is_shared:  # round trips to Redis, off the event loop
            decision = await to_thread.run_sync(self.limiter.hit, key)
        else:
            decision = self.limiter.hit(key)
        rate_headers = {
            "RateLimit-Policy": self._policy(),
            "RateLimit": f'"{POLICY_NAME}";r={decision.remaining};t={decision.reset_seconds}',
            "Cache-Control": "no-store",
        }

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in rate_headers.items():
                    headers[name] = value
            await send(message)

        if refusal is not None:
            response = problem_response(scope, refusal)
            await response(scope, receive, send_with_headers)
            return
        if not decision.allowed:
            error = TooManyRequests(
                i18n.Message(
                    "More than {limit} requests in {window} s from this client; retry after {wait} s.",
                    limit=self.limiter.limit,
                    window=self.limiter.window_seconds,
                    wait=decision.reset_seconds,
                ),
                headers=rate_headers | {"Retry-After": str(decision.reset_seconds)},
            )
            response = problem_response(scope, error)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send_with_headers)


def install_rate_limit(app: FastAPI, settings: Settings, shared: SharedState) -> None:
    app.add_middleware(RateLimitMiddleware, settings=settings, shared=shared)
