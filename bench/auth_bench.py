"""Cost of bearer-token verification per request: requests/s on the same routes with and without auth.

"Without" hands every request a fixed principal, as the rate limiter does after verifying a token (no header
parsing, no signature check, no client-status lookup); "with" sends a real ES256 token from the embedded issuer.
Runs in-process (httpx ASGI transport, sequential requests) on a temporary SQLite database, so the numbers isolate
the service's own cost.

    .venv/bin/python -m bench.auth_bench [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import secrets
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as ASGIScope

from app.api.dependencies.auth import PRINCIPAL_STATE, auth_runtime, require
from app.auth import service
from app.auth.registry import registry_session
from app.core.actor import Agency, Principal, Role, Scope
from app.core.config import Environment, Settings
from app.flows.bootstrap import prepare
from app.main import create_app

ROUTES = ("/bench/whoami", "/api/v1/reference/agencies")


def build(data_dir: Path) -> tuple[FastAPI, str, Principal]:
    settings = Settings(
        _env_file=None,
        environment=Environment.TESTING,
        data_dir=data_dir,
        secret_key=secrets.token_hex(16),
        log_level="WARNING",
    )
    prepare(settings)
    with registry_session(settings) as session:
        service.create_client(
            session,
            settings,
            service.operator_context("bench", {}),
            name="bench",
            role=Role.AGENCY,
            agency=Agency.BKN,
            client_id="bench-bkn",
        )
    app = create_app(settings)

    @app.get("/bench/whoami", include_in_schema=False)
    def whoami(principal: Annotated[Principal, require(Scope.CASES_READ)]) -> str:
        return principal.client_id

    runtime = auth_runtime(app)
    assert runtime.issuer is not None
    scopes = frozenset({Scope.CASES_READ})
    token = runtime.issuer.mint(client_id="bench-bkn", role=Role.AGENCY, agency=Agency.BKN, scopes=scopes)
    principal = Principal(client_id="bench-bkn", role=Role.AGENCY, scopes=scopes, agency=Agency.BKN)
    return app, token.access_token, principal


def preauthenticated(app: FastAPI, principal: Principal) -> ASGIApp:
    """The app with every request already authenticated as ``principal`` (what verification would have stored)."""

    async def wrapped(scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        await app(scope, receive, send)

    return wrapped


async def requests_per_second(app: ASGIApp, route: str, headers: dict[str, str], seconds: float) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(50):  # warm-up: JWKS, client-status cache, connection pool
            assert (await client.get(route, headers=headers)).status_code == 200
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            response = await client.get(route, headers=headers)
            assert response.status_code == 200
            count += 1
        return count / (time.perf_counter() - started)


def verification_microseconds(app: FastAPI, token: str, rounds: int = 2000) -> float:
    verifier = auth_runtime(app).verifier
    started = time.perf_counter()
    for _ in range(rounds):
        verifier.verify(token)
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per route and mode")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)  # httpx logs every request at INFO
    logging.disable(logging.INFO)  # the per-request auth log line is measured separately below
    with tempfile.TemporaryDirectory() as directory:
        app, token, principal = build(Path(directory))
        print(f"token verification alone: {verification_microseconds(app, token):.0f} µs per token")
        for route in ROUTES:
            without = asyncio.run(requests_per_second(preauthenticated(app, principal), route, {}, args.seconds))
            with_auth = asyncio.run(requests_per_second(app, route, {"Authorization": f"Bearer {token}"}, args.seconds))
            print(
                f"{route:<32} without auth {without:7.0f} req/s   with auth {with_auth:7.0f} req/s   "
                f"ratio {with_auth / without:.2f}"
            )
        logging.disable(logging.NOTSET)
        auth_log = logging.getLogger("sbt.auth")
        auth_log.setLevel(logging.INFO)
        auth_log.handlers = [logging.StreamHandler(io.StringIO())]
        auth_log.propagate = False
        logged = asyncio.run(requests_per_second(app, ROUTES[0], {"Authorization": f"Bearer {token}"}, args.seconds))
        print(f"{ROUTES[0]:<32} with auth, JSON auth log line written:   {logged:7.0f} req/s")
        app.state.engine.dispose()


if __name__ == "__main__":
    main()
