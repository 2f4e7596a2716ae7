"""The witness's HTTP interface (tlog-witness): ``POST /add-checkpoint``, ``GET /<origin hash>/checkpoint``, and
``GET /ready`` for orchestrators. Plain Starlette: the protocol is text, not JSON, and has no OpenAPI contract."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.witness.service import Answer, Witness

MAX_BODY_BYTES = 16 * 1024
"""A checkpoint and 63 proof lines fit many times over (transparency-dev's witness uses the same limit)."""


def _response(answer: Answer) -> Response:
    # The content type exactly as given: Starlette would add a charset to ``text/x.tlog.size``.
    return Response(answer.body, status_code=answer.status, headers={"Content-Type": answer.content_type})


def create_witness_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return PlainTextResponse(f"request body over {MAX_BODY_BYTES} bytes\n", status_code=400)
        return _response(await run_in_threadpool(witness.add_checkpoint, body))

    async def checkpoint(request: Request) -> Response:
        return _response(await run_in_threadpool(witness.checkpoint_of, request.path_params["origin_hash"]))

    async def ready(_: Request) -> Response:
        return PlainTextResponse("ready\n")

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/{origin_hash}/checkpoint", checkpoint, methods=["GET"]),
        ]
    )
