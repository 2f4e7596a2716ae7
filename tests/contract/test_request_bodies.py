"""Request bodies: size limit before anything reads them, authentication before parsing, UTF-8 JSON only."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from app.core.actor import Scope
from app.core.config import Settings
from app.core.problems import UnsupportedMediaType
from app.main import create_app
from tests.auth.forge import BARE_CHALLENGE
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload
from tests.problems import assert_problem

pytestmark = pytest.mark.slow  # a hardening suite: run by ./test and CI; ./test --fast leaves it out

CASES = "/api/v1/cases"
LIMIT = 1_048_576
TOO_LARGE = "https://sbt.example.go.id/problems/content-too-large"  # a stable slug: clients match on it


# --- 1. body limit -------------------------------------------------------------------------------------------------


def test_the_limit_defaults_to_one_mebibyte() -> None:
    assert Settings(_env_file=None).max_body_bytes == LIMIT


def test_an_anonymous_malformed_body_over_the_limit_is_413_not_400_or_401(client: TestClient) -> None:
    response = client.post(CASES, content=b"{" * (LIMIT + 1), headers={"Content-Type": "application/json"})
    body = assert_problem(response, 413)
    assert body["type"] == TOO_LARGE
    assert str(LIMIT) in body["detail"]


def test_a_body_at_the_limit_is_read(client: TestClient) -> None:
    # Exactly the limit passes the body limit (then authentication answers the anonymous caller).
    response = client.post(CASES, content=b" " * LIMIT, headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_the_token_endpoint_is_limited_too(client: TestClient) -> None:
    response = client.post("/oauth/token", content=b"grant_type=" + b"x" * LIMIT)
    assert_problem(response, 413)


def test_the_limit_comes_from_the_settings(settings: Settings, auth_headers: AuthHeaders) -> None:
    small = create_app(settings.model_copy(update={"max_body_bytes": 64}))
    try:
        with TestClient(small) as small_client:
            response = small_client.post(CASES, json=case_payload())
            assert_problem(response, 413)
    finally:
        small.state.engine.dispose()


def _call(app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: Iterator[bytes]) -> tuple[list[Message], int]:
    """Drive the app directly (ASGI) with a streamed body; returns what it sent and how many chunks it pulled."""
    sent: list[Message] = []
    pulled = 0
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": CASES,
        "raw_path": CASES.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "app": app,
    }

    async def receive() -> Message:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    return sent, pulled


def test_a_chunked_body_is_counted_as_it_arrives_and_refused_past_the_limit(
    app: FastAPI, auth_headers: AuthHeaders
) -> None:
    token = auth_headers("BAWASLU")["Authorization"].encode()
    chunk = b" " * 65_536
    sent, pulled = _call(
        app,
        [(b"authorization", token), (b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        iter([chunk] * 64),  # 4 MiB, without Content-Length
    )
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert body["type"] == TOO_LARGE
    assert pulled == LIMIT // len(chunk) + 1  # stopped at the first chunk past the limit


def test_an_anonymous_chunked_body_is_401_before_a_byte_of_it_is_read(app: FastAPI) -> None:
    sent, pulled = _call(
        app, [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")], iter([b"{"] * 64)
    )
    assert next(m for m in sent if m["type"] == "http.response.start")["status"] == 401
    assert pulled == 0


def test_the_contract_documents_413_on_operations_with_a_body(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "413" in paths[CASES]["post"]["responses"]
    assert "415" in paths[CASES]["post"]["responses"]
    assert "413" in paths["/oauth/token"]["post"]["responses"]
    assert "413" not in paths[CASES]["get"]["responses"]


# --- 2. authentication before the body is parsed ------------------------------------------------------------------


def test_an_anonymous_malformed_body_is_401_with_the_challenge(client: TestClient) -> None:
    response = client.post(CASES, content=b"{not json", headers={"Content-Type": "application/json"})
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == BARE_CHALLENGE
    assert body["type"].endswith("/unauthorized")
    assert "ratelimit" in response.headers


def test_the_refusal_is_logged_once(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sbt.auth")
    path = f"{CASES}/{uuid.uuid4()}/transitions"
    client.post(path, content=b"{", headers={"Content-Type": "application/json"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sbt.auth"]
    assert [(line["outcome"], line["route"]) for line in lines] == [
        ("missing_token", f"{CASES}/{{case_id}}/transitions")
    ]


def test_unknown_routes_stay_404_for_anonymous_callers(client: TestClient) -> None:
    assert_problem(client.post("/api/v1/nothing-here", content=b"{"), 404)


def test_an_invalid_token_with_a_malformed_body_is_401_invalid_token(client: TestClient) -> None:
    response = client.post(
        CASES,
        content=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": "Bearer not-a-token"},
    )
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_malformed_authorization_header_is_401_invalid_request(client: TestClient) -> None:
    response = client.post(
        CASES, content=b"[", headers={"Content-Type": "application/json", "Authorization": "Basic x"}
    )
    assert_problem(response, 401)
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_an_authenticated_malformed_body_is_still_400(client: TestClient, auth_headers: AuthHeaders) -> None:
    headers = auth_headers("BAWASLU") | {"Content-Type": "application/json"}
    assert_problem(client.post(CASES, content=b"{not json", headers=headers), 400)


def test_a_token_without_the_scope_is_403_before_its_body_is_parsed(
    client: TestClient, auth_headers: AuthHeaders, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sbt.auth")
    headers = auth_headers("BAWASLU", scopes=[Scope.CASES_READ]) | {"Content-Type": "application/json"}
    for body in (b"{not json", b"\x00", json.dumps({"unexpected": 1}).encode()):
        response = client.post(CASES, content=body, headers=headers)
        problem = assert_problem(response, 403)
        assert problem["required_scopes"] == ["cases:write"]
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sbt.auth"]
    assert {(line["outcome"], line["route"]) for line in lines} == {("insufficient_scope", CASES)}


def test_a_nul_body_to_client_admin_is_403_for_an_agency(client: TestClient, auth_headers: AuthHeaders) -> None:
    headers = auth_headers("BKN") | {"Content-Type": "application/json"}
    assert_problem(client.post("/api/v1/clients", content=b"\x00", headers=headers), 403)


def test_a_token_without_the_scope_cannot_replay_a_stored_reply(client: TestClient, auth_headers: AuthHeaders) -> None:
    payload = case_payload()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(CASES, json=payload, headers=auth_headers("BAWASLU") | key)
    assert first.status_code == 201
    narrowed = auth_headers("BAWASLU", scopes=[Scope.CASES_READ]) | key
    replay = client.post(CASES, json=payload, headers=narrowed)
    assert_problem(replay, 403)
    assert "idempotent-replayed" not in replay.headers
    assert_problem(client.post(CASES, json=case_payload(), headers=narrowed), 403)  # another body: 403, not 422


def test_the_path_template_names_a_scope_refusal(
    client: TestClient, auth_headers: AuthHeaders, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sbt.auth")
    headers = auth_headers("BAWASLU", scopes=[Scope.CASES_READ]) | {"Content-Type": "application/json"}
    client.post(f"{CASES}/{uuid.uuid4()}/transitions", content=b"{", headers=headers)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sbt.auth"]
    assert [(line["outcome"], line["route"]) for line in lines] == [
        ("insufficient_scope", f"{CASES}/{{case_id}}/transitions")
    ]


# --- 3. media type, encoding, depth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        ("application/vnd.evil+json", lambda text: text.encode()),
        ("text/plain", lambda text: text.encode()),
        ("application/json; charset=utf-16", lambda text: text.encode("utf-16")),
        ("application/json", lambda text: text.encode("utf-16")),
        ("application/json", lambda text: text.encode("utf-16-le")),
        ("application/json", lambda text: text.encode("utf-32")),
        ("application/json", lambda text: b"\xef\xbb\xbf" + text.encode()),
        ("application/json", lambda text: text.encode("latin-1")),
    ],
    ids=["vnd+json", "text-plain", "charset-utf16", "utf16-bom", "utf16le", "utf32", "utf8-bom", "latin1"],
)
def test_only_utf8_application_json_is_accepted(
    client: TestClient, auth_headers: AuthHeaders, content_type: str, encode: Any
) -> None:
    text = json.dumps(case_payload(name="Drs. Amir Santoso, M.Si. é"), ensure_ascii=False)
    response = client.post(
        CASES, content=encode(text), headers=auth_headers("BAWASLU") | {"Content-Type": content_type}
    )
    body = assert_problem(response, 415)
    assert body["type"] == UnsupportedMediaType.type_uri()


def test_a_body_without_content_type_is_415(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.post(CASES, content=json.dumps(case_payload()).encode(), headers=auth_headers("BAWASLU"))
    assert_problem(response, 415)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_utf8_json_is_accepted(client: TestClient, auth_headers: AuthHeaders, content_type: str) -> None:
    text = json.dumps(case_payload(name="Drs. Amir Santoso, M.Si. é"), ensure_ascii=False)
    headers = auth_headers("BAWASLU") | {"Content-Type": content_type}
    assert client.post(CASES, content=text.encode(), headers=headers).status_code == 201


def test_deep_nesting_is_a_400(client: TestClient, auth_headers: AuthHeaders) -> None:
    headers = auth_headers("BAWASLU") | {"Content-Type": "application/json"}
    deep = case_payload(summary=None) | {"summary": json.loads("[" * 33 + "]" * 33)}
    body = assert_problem(client.post(CASES, content=json.dumps(deep).encode(), headers=headers), 400)
    assert "32" in body["detail"]
    # 32 levels are parsed (and then refused by the schema: summary is a string), brackets in strings do not count.
    shallow = case_payload() | {"summary": json.loads("[" * 31 + "]" * 31)}
    assert_problem(client.post(CASES, content=json.dumps(shallow).encode(), headers=headers), 422)
    brackets = case_payload(summary="[" * 100 + '"\\"{')
    assert client.post(CASES, content=json.dumps(brackets).encode(), headers=headers).status_code == 201


def test_the_token_endpoint_still_takes_its_form(client: TestClient, auth_headers: AuthHeaders) -> None:
    auth_headers("BKN")  # registers the client; the form post below is what an agency system sends
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("test-bkn", "wrong"))
    assert response.status_code == 401  # OAuth's invalid_client, not 415: the form is read as before
    assert response.json()["error"] == "invalid_client"
