"""Embedded issuer endpoints (token, JWKS, metadata) and the admin API of the client registry."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Header, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from app.api.auth_throttle import token_throttle
from app.api.dependencies.auth import BEARER, DPOP, TOKEN_URL, auth_runtime, request_uris, require
from app.api.dependencies.context import SessionDep, SettingsDep, WriteContextDep
from app.api.problems import problem_responses
from app.auth import service
from app.auth.assertion import ASSERTION_ALGORITHMS, JWT_BEARER_ASSERTION, InvalidAssertion, assertion_issuer
from app.auth.dpop import PROOF_ALGORITHMS, InvalidProof
from app.auth.models import PRIVATE_KEY_JWT, OAuthClient
from app.auth.runtime import AuthRuntime, token_endpoint_url
from app.auth.schemas import (
    AuthorizationServerMetadata,
    ClientCreate,
    ClientCredentialsRead,
    ClientRead,
    JSONWebKeySet,
    OAuthError,
    OAuthErrorCode,
    TokenRequest,
    TokenResponse,
)
from app.auth.verifier import GRANTABLE_SCOPES
from app.core.actor import Scope
from app.core.clock import today_in_jakarta
from app.core.config import Settings
from app.core.db import after_commit
from app.core.problems import NotFound

CLIENT_CREDENTIALS = "client_credentials"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
JWKS_PATH = "/.well-known/jwks.json"
JWKS_MAX_AGE_SECONDS = 300

logger = logging.getLogger("sbt.auth")

PROOF_HEADER_DESCRIPTION = (
    "A DPoP proof (RFC 9449 §4: `typ` `dpop+jwt`, the public `jwk` in its header, `htm` POST, `htu` this URL, "
    "fresh `iat`, unique `jti`): the token is then bound to that key and must be sent as `Authorization: DPoP`."
)

oauth_router = APIRouter(tags=["oauth"])
clients_router = APIRouter(prefix="/clients", tags=["clients"], dependencies=[require(Scope.ADMIN_CLIENTS)])
"""Administration of the client registry: the ``admin:clients`` scope only (admin clients)."""


class OAuthFailure(Exception):
    def __init__(
        self,
        error: OAuthErrorCode,
        description: str,
        *,
        client_id: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.client_id = client_id
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        headers = dict(NO_STORE)
        status_code = status.HTTP_400_BAD_REQUEST
        if self.retry_after is not None:
            status_code = status.HTTP_429_TOO_MANY_REQUESTS
            headers["Retry-After"] = str(self.retry_after)
        elif self.error == "invalid_client":
            status_code = status.HTTP_401_UNAUTHORIZED
            headers["WWW-Authenticate"] = 'Basic realm="sbt"'
        body = OAuthError(error=self.error, error_description=self.description)
        return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def _log_token(outcome: str, client_id: str | None, **fields: Any) -> None:
    record = {"event": "token", "outcome": outcome, "client_id": client_id[:64] if client_id else None, **fields}
    logger.info(json.dumps(record, separators=(",", ":")))


def _single(form: Any, name: str) -> str | None:
    values = form.getlist(name)
    if len(values) > 1:
        raise OAuthFailure("invalid_request", f"The {name} parameter was sent more than once.")
    if not values:
        return None
    value = values[0]
    if not isinstance(value, str):
        raise OAuthFailure("invalid_request", f"The {name} parameter must be text.")
    return value


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthFailure("invalid_client", "Authenticate with HTTP Basic or client_secret_post.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthFailure("invalid_client", "Malformed Basic credentials.") from exc
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise OAuthFailure("invalid_client", "Malformed Basic credentials.")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def _client_credentials(authorization: str | None, form_id: str | None, form_secret: str | None) -> tuple[str, str]:
    if authorization is not None:
        if form_secret is not None:
            raise OAuthFailure("invalid_request", "Use one client authentication method, not two.")
        client_id, secret = _basic_credentials(authorization)
        if form_id is not None and form_id != client_id:
            raise OAuthFailure("invalid_request", "client_id differs from the Basic credentials.")
        return client_id, secret
    if form_id is None or form_secret is None:
        raise OAuthFailure("invalid_client", "Client authentication is required.", client_id=form_id)
    return form_id, form_secret


def _requested_scopes(raw: str | None, allowed: frozenset[Scope]) -> frozenset[Scope]:
    if raw is None or not raw.strip():
        return allowed
    known = {scope.value: scope for scope in Scope}
    requested = raw.split()
    unknown = [value for value in requested if value not in known]
    if unknown:
        raise OAuthFailure("invalid_scope", f"Unknown scope(s): {' '.join(unknown)[:200]}.")
    chosen = frozenset(known[value] for value in requested)
    beyond = chosen - allowed
    if beyond:
        raise OAuthFailure("invalid_scope", f"Scope(s) not allowed for this client: {' '.join(sorted(beyond))}.")
    return chosen


@dataclass(frozen=True)
class ClientCredential:
    """What the client authenticated with: its secret, or a signed assertion (``private_key_jwt``)."""

    client_id: str
    secret: str | None = None
    assertion: str | None = None


def _authenticated_client(session: Session, runtime: AuthRuntime, credential: ClientCredential) -> OAuthClient:
    if credential.assertion is not None:
        assert runtime.client_assertions is not None
        try:
            return service.authenticate_client_by_assertion(session, credential.assertion, runtime.client_assertions)
        except InvalidAssertion as exc:
            raise OAuthFailure("invalid_client", f"{exc}.", client_id=credential.client_id) from exc
    client = service.authenticate_client(session, credential.client_id, credential.secret or "")
    if client is None:
        raise OAuthFailure(
            "invalid_client", "Unknown client, wrong secret or disabled client.", client_id=credential.client_id
        )
    return client


def _issue(
    session: Session,
    runtime: AuthRuntime,
    credential: ClientCredential,
    raw_scope: str | None,
    dpop_thumbprint: str | None,
) -> TokenResponse:
    assert runtime.issuer is not None
    client = _authenticated_client(session, runtime, credential)
    ended = service.ended_agency(session, client, today_in_jakarta())
    if ended is not None:
        successor = f" Use a client of {ended.successor}." if ended.successor else ""
        raise OAuthFailure(
            "unauthorized_client",
            f"{ended.describe()}; its clients get no tokens.{successor}",
            client_id=client.client_id,
        )
    scopes = _requested_scopes(raw_scope, client.scopes & GRANTABLE_SCOPES[client.role_enum])
    issued = runtime.issuer.mint(
        client_id=client.client_id,
        role=client.role_enum,
        agency=client.agency_enum,
        scopes=scopes,
        dpop_thumbprint=dpop_thumbprint,
    )
    _log_token(
        "issued",
        client.client_id,
        agency=client.agency,
        scopes=sorted(issued.scopes),
        auth_method=client.token_endpoint_auth_method,
        dpop_bound=issued.bound_to is not None,
    )
    return TokenResponse(
        access_token=issued.access_token,
        token_type=DPOP if issued.bound_to is not None else BEARER,
        expires_in=issued.expires_in,
        scope=" ".join(sorted(issued.scopes)),
    )


def _credential(
    authorization: str | None,
    form_id: str | None,
    form_secret: str | None,
    assertion_type: str | None,
    assertion: str | None,
) -> ClientCredential:
    """The one client authentication method the request used (RFC 6749 §2.3: never more than one)."""
    if assertion is None and assertion_type is None:
        client_id, secret = _client_credentials(authorization, form_id, form_secret)
        return ClientCredential(client_id=client_id, secret=secret)
    if authorization is not None or form_secret is not None:
        raise OAuthFailure("invalid_request", "Use one client authentication method, not two.")
    if assertion_type != JWT_BEARER_ASSERTION or assertion is None:
        raise OAuthFailure(
            "invalid_request",
            f"private_key_jwt needs client_assertion_type={JWT_BEARER_ASSERTION} and client_assertion.",
        )
    try:
        client_id = assertion_issuer(assertion)
    except InvalidAssertion as exc:
        raise OAuthFailure("invalid_client", f"{exc}.", client_id=form_id) from exc
    if form_id is not None and form_id != client_id:
        raise OAuthFailure("invalid_request", "client_id differs from the client assertion's iss.")
    return ClientCredential(client_id=client_id, assertion=assertion)


def _dpop_thumbprint(request: Request, runtime: AuthRuntime, settings: Settings) -> str | None:
    """With a ``DPoP`` proof (RFC 9449 §5), the thumbprint of its key, which the token will be bound to."""
    proofs = request.headers.getlist(DPOP)
    if not proofs:
        return None
    if len(proofs) > 1:
        raise OAuthFailure("invalid_dpop_proof", "Send one DPoP proof, not several.")
    uris = request_uris(request) | {token_endpoint_url(settings)}
    try:
        return runtime.dpop.verify(proofs[0], method="POST", uris=uris, access_token=None)
    except InvalidProof as exc:
        raise OAuthFailure("invalid_dpop_proof", f"{exc}.") from exc


def _embedded(request: Request) -> AuthRuntime:
    runtime = auth_runtime(request.app)
    if runtime.issuer is None:
        raise NotFound("This deployment uses an external token issuer.")
    return runtime


@oauth_router.post(
    TOKEN_URL,
    summary="Get an access token (OAuth2 client-credentials grant)",
    response_model=TokenResponse,
    # client_secret_basic, or client_secret_post / private_key_jwt (credentials in the form, hence the empty one)
    openapi_extra={"security": [{"ClientSecretBasic": []}, {}]},
    responses={
        400: {
            "model": OAuthError,
            "description": "RFC 6749 §5.2 error (`unauthorized_client`: the client's agency has ceased to exist)",
        },
        401: {"model": OAuthError, "description": "Client authentication failed (`invalid_client`)"},
        429: {
            "model": OAuthError,
            "description": "Too many failed authentications for this client id or source address (`slow_down`); "
            "wait for `Retry-After` seconds",
            "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        },
        **problem_responses(404),
    },
)
async def issue_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[TokenRequest, Form()],
    dpop: Annotated[str | None, Header(alias=DPOP, description=PROOF_HEADER_DESCRIPTION)] = None,
) -> Response:
    """Authenticate with HTTP Basic (`client_secret_basic`), `client_id`/`client_secret` in the form
    (`client_secret_post`), or, for a client registered with keys, a signed JWT (`private_key_jwt`, RFC 7523:
    `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_assertion`;
    `iss` = `sub` = client id, `aud` the token endpoint URL or the issuer, `exp` at most 300 s ahead, a `jti` used
    once). With a `DPoP` proof header (RFC 9449 §5) the token is bound to the proof's key (`token_type` `DPoP`).
    Errors follow RFC 6749 §5.2 (`application/json`), not problem+json, so that standard OAuth2 client libraries
    understand them."""
    del form, dpop  # declared for the OpenAPI description; read below with duplicate detection
    runtime = _embedded(request)
    throttle = token_throttle(request.app)
    address = request.client.host if request.client else "unknown"
    authorization = request.headers.get("authorization")
    provided_id: str | None = None
    try:
        fields = await request.form()
        grant_type = _single(fields, "grant_type")
        raw_scope = _single(fields, "scope")
        form_id, form_secret = _single(fields, "client_id"), _single(fields, "client_secret")
        assertion_type, assertion = _single(fields, "client_assertion_type"), _single(fields, "client_assertion")
        provided_id = form_id
        if grant_type is None:
            raise OAuthFailure("invalid_request", "The grant_type parameter is required.")
        if grant_type != CLIENT_CREDENTIALS:
            raise OAuthFailure("unsupported_grant_type", "Only the client_credentials grant is supported.")
        credential = _credential(authorization, form_id, form_secret, assertion_type, assertion)
        client_id = provided_id = credential.client_id
        wait = throttle.retry_after(client_id, address)  # before any scrypt or signature work
        if wait:
            raise OAuthFailure(
                "slow_down",
                f"Too many failed client authentications; retry after {wait} s.",
                client_id=client_id,
                retry_after=wait,
            )
        thumbprint = _dpop_thumbprint(request, runtime, settings)
        token = await run_in_threadpool(_issue, session, runtime, credential, raw_scope, thumbprint)
    except OAuthFailure as failure:
        _log_token(failure.error, failure.client_id or provided_id)
        if failure.error == "invalid_client":
            throttle.failed((failure.client_id or provided_id or "")[:64] or None, address)
        return failure.response()
    throttle.succeeded(client_id)
    return JSONResponse(token.model_dump(), headers=NO_STORE)


@oauth_router.get(JWKS_PATH, summary="Public keys of the embedded issuer (JWKS)", responses=problem_responses(404))
def jwks(request: Request, response: Response, settings: SettingsDep) -> JSONWebKeySet:
    runtime = _embedded(request)
    assert runtime.issuer is not None
    # Never cached longer than a rotated key is published before it signs: a cached set always has the signer.
    max_age = min(JWKS_MAX_AGE_SECONDS, settings.auth_key_prepublish_seconds)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return JSONWebKeySet.model_validate(runtime.issuer.keys.jwks())


@oauth_router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
    responses=problem_responses(404),
)
def authorization_server_metadata(request: Request, settings: SettingsDep) -> AuthorizationServerMetadata:
    _embedded(request)
    base = settings.auth_issuer.rstrip("/")
    return AuthorizationServerMetadata(
        issuer=settings.auth_issuer,
        token_endpoint=token_endpoint_url(settings),
        jwks_uri=base + JWKS_PATH,
        grant_types_supported=[CLIENT_CREDENTIALS],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT],
        token_endpoint_auth_signing_alg_values_supported=list(ASSERTION_ALGORITHMS),
        dpop_signing_alg_values_supported=list(PROOF_ALGORITHMS),
        scopes_supported=[scope.value for scope in Scope],
        response_types_supported=[],
    )


def _credentials_response(credentials: service.IssuedCredentials, status_code: int) -> JSONResponse:
    body = ClientCredentialsRead(
        **ClientRead.of(credentials.client).model_dump(), client_secret=credentials.client_secret
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=NO_STORE)


_ADMIN_ERRORS = problem_responses(401, 403)


@clients_router.get("", summary="List OAuth clients", responses=_ADMIN_ERRORS)
def list_clients(
    session: SessionDep,
) -> list[ClientRead]:
    return [ClientRead.of(client) for client in service.list_clients(session)]


@clients_router.post(
    "",
    summary="Register an OAuth client (a secret, returned once; or its public keys, for private_key_jwt)",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientCredentialsRead | ClientRead,
    responses=problem_responses(401, 403, 409, 422),
)
def create_client(
    body: ClientCreate,
    session: SessionDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
) -> JSONResponse:
    """With `jwks` the client authenticates with `private_key_jwt` and the answer carries no secret; without, it
    gets a secret (`client_secret`, shown only in this answer)."""
    if body.jwks is not None:
        client = service.create_key_client(
            session,
            settings,
            ctx,
            name=body.name,
            jwks=body.jwks.model_dump(exclude_none=True),
            role=body.role,
            agency=body.agency,
            scopes=body.scopes,
            client_id=body.client_id,
        )
        return JSONResponse(ClientRead.of(client).model_dump(mode="json"), status_code=status.HTTP_201_CREATED)
    credentials = service.create_client(
        session,
        settings,
        ctx,
        name=body.name,
        role=body.role,
        agency=body.agency,
        scopes=body.scopes,
        client_id=body.client_id,
    )
    return _credentials_response(credentials, status.HTTP_201_CREATED)


@clients_router.get("/{client_id}", summary="Read an OAuth client", responses=problem_responses(401, 403, 404))
def get_client(client_id: str, session: SessionDep) -> ClientRead:
    return ClientRead.of(service.get_client(session, client_id))


@clients_router.post(
    "/{client_id}/rotate",
    summary="Replace a client's secret (the new secret is returned once)",
    response_model=ClientCredentialsRead,
    responses=problem_responses(401, 403, 404, 409),
)
def rotate_client_secret(
    client_id: str,
    session: SessionDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
) -> JSONResponse:
    return _credentials_response(service.rotate_secret(session, settings, ctx, client_id), status.HTTP_200_OK)


@clients_router.post(
    "/{client_id}/disable",
    summary="Disable a client: no new tokens, and its tokens stop working",
    responses=problem_responses(401, 403, 404),
)
def disable_client(
    client_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
) -> ClientRead:
    client = service.disable_client(session, settings, ctx, client_id)
    runtime = auth_runtime(request.app)
    if runtime.client_status is not None:
        after_commit(session, runtime.client_status.changed)  # announced before the commit, others re-read it active
    return ClientRead.of(client)
