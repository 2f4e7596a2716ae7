"""The one place that identifies the caller. Routes declare scopes with ``require(...)``.

Access tokens are read from the ``Authorization`` header only (never the query string or body, FAPI 2.0): ``Bearer``,
or ``DPoP`` with the request's ``DPoP`` proof for a token bound to the client's key (RFC 9449). They are verified
by ``TokenVerifier`` and checked against the scopes every dependant of the operation declared (``SecurityScopes``).
Every decision is logged as one JSON line on the ``sbt.auth`` logger.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from app.api.operations import dependants
from app.auth.dpop import PROOF_ALGORITHMS
from app.auth.runtime import TOKEN_PATH, AuthRuntime, build_runtime
from app.auth.verifier import InvalidDPoPProof, InvalidToken, IssuerUnavailable, PresentedProof
from app.core.actor import SCOPE_DESCRIPTIONS, Principal, Scope
from app.core.i18n import Message
from app.core.problems import Forbidden, ServiceUnavailable, Unauthorized

TOKEN_URL = TOKEN_PATH
REALM = "sbt"

logger = logging.getLogger("sbt.auth")

oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl=TOKEN_URL, scopes={scope.value: text for scope, text in SCOPE_DESCRIPTIONS.items()}
        )
    ),
    scheme_name="OAuth2",
    description="Client-credentials grant (RFC 6749 §4.4); send the access token as `Authorization: Bearer`, or, "
    "when it is DPoP-bound (`token_type` `DPoP`), as `Authorization: DPoP` with a `DPoP` proof (see the DPoP scheme).",
    auto_error=False,
)

PRINCIPAL_STATE = "sbt_principal"
"""``request.state`` attribute holding the verified principal: the token is verified once per request."""
_LOGGED_STATE = "sbt_auth_logged"
_SCHEME_STATE = "sbt_auth_scheme"
"""Which scheme the request used (``Bearer`` or ``DPoP``): errors are stated in that scheme's challenge."""
BEARER = "Bearer"
DPOP = "DPoP"


_build_lock = threading.Lock()


def auth_runtime(app: Starlette) -> AuthRuntime:
    """The app's ``AuthRuntime``, created on first use (``app.state.auth`` may be preset, e.g. by tests)."""
    state = app.state
    runtime: AuthRuntime | None = getattr(state, "auth", None)
    if runtime is None:
        with _build_lock:
            runtime = getattr(state, "auth", None)
            if runtime is None:
                runtime = build_runtime(state.settings, state.sessionmaker, state.shared_state)
                state.auth = runtime
    return runtime


def _route_template(request: Request) -> str:
    """``/api/v1/cases/{case_id}`` rather than the concrete path: path parameter values put back as names."""
    values = {str(value): name for name, value in request.path_params.items()}
    segments = request.url.path.split("/")
    return "/".join(f"{{{values[segment]}}}" if segment in values else segment for segment in segments)


def _log(request: Request, outcome: str, principal: Principal | None, required: list[str], reason: str = "") -> None:
    record: dict[str, Any] = {
        "event": "auth",
        "outcome": outcome,
        "client_id": principal.client_id if principal else None,
        "role": principal.role.value if principal else None,
        "agency": principal.agency.value if principal and principal.agency else None,
        "method": request.method,
        "route": _route_template(request),
        "required_scopes": required,
    }
    if reason:
        record["reason"] = reason
    logger.info(json.dumps(record, separators=(",", ":")))


def _challenge(used: str = BEARER, **params: str) -> dict[str, str]:
    """Both challenges (RFC 6750 Bearer, RFC 9449 DPoP with its ``algs``); ``params`` (``error`` …) go with the
    scheme the request ``used``."""
    challenges = []
    for scheme, own in ((BEARER, {}), (DPOP, {"algs": " ".join(PROOF_ALGORITHMS)})):
        attributes = {"realm": REALM, **(params if scheme == used else {}), **own}
        challenges.append(f"{scheme} " + ", ".join(f'{name}="{value}"' for name, value in attributes.items()))
    return {"WWW-Authenticate": ", ".join(challenges)}


def _presented_token(request: Request, authorization: str | None) -> tuple[str, PresentedProof | None]:
    """The access token, and for ``Authorization: DPoP`` the proof sent with it."""
    if authorization is None:
        raise Unauthorized(
            Message("No access token was sent (Authorization: Bearer <token>, or DPoP <token> with a DPoP proof)."),
            headers=_challenge(),
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    used = DPOP if scheme.lower() == "dpop" else BEARER
    if (
        scheme.lower() not in {"bearer", "dpop"}
        or not token
        or " " in token
        or len(request.headers.getlist("authorization")) > 1
    ):
        raise Unauthorized(
            Message("The Authorization header must be exactly 'Bearer <token>' or 'DPoP <token>'."),
            headers=_challenge(used, error="invalid_request", error_description="Malformed Authorization header"),
        )
    setattr(request.state, _SCHEME_STATE, used)
    if used == BEARER:
        return token, None
    proofs = request.headers.getlist(DPOP)
    if len(proofs) != 1:
        raise InvalidDPoPProof("Send exactly one DPoP proof (DPoP header) with a DPoP token")
    return token, PresentedProof(proof=proofs[0], method=request.method, uris=request_uris(request))


def request_uris(request: Request) -> set[str]:
    """The URL a DPoP proof must name (``htu``): the request's, without query, as the server sees it (behind a
    proxy, with the forwarded scheme and host the ASGI server was told to trust)."""
    return {str(request.url.replace(query="", fragment=""))}


def authenticate(request: Request, authorization: str | None, required: list[str]) -> Principal:
    """Verify the token once per request; later dependants reuse the result. Raises ``Unauthorized`` (with its
    ``WWW-Authenticate`` challenge) or ``ServiceUnavailable``; the rate limiter calls it before the body is read."""
    cached: Principal | None = getattr(request.state, PRINCIPAL_STATE, None)
    if cached is not None:
        return cached
    try:
        token, proof = _presented_token(request, authorization)
        principal = auth_runtime(request.app).verifier.verify(token, proof)
    except Unauthorized as exc:
        _log(request, "missing_token" if authorization is None else "invalid_request", None, required)
        raise exc
    except InvalidToken as exc:
        error = "invalid_dpop_proof" if isinstance(exc, InvalidDPoPProof) else "invalid_token"
        _log(request, error, None, required, reason=str(exc))
        used = getattr(request.state, _SCHEME_STATE, BEARER)
        raise Unauthorized(f"{exc}.", headers=_challenge(used, error=error, error_description=str(exc))) from exc
    except IssuerUnavailable as exc:
        _log(request, "issuer_unavailable", None, required, reason=str(exc))
        raise ServiceUnavailable(Message("The token issuer's keys are unavailable; try again later.")) from exc
    setattr(request.state, PRINCIPAL_STATE, principal)
    return principal


def check_scopes(request: Request, principal: Principal, required: list[str]) -> None:
    """Raise ``Forbidden`` (with its ``insufficient_scope`` challenge) unless the token carries every scope."""
    missing = [scope for scope in required if scope not in principal.scopes]
    if missing:
        _log(request, "insufficient_scope", principal, required)
        raise Forbidden(
            Message("This operation needs scope(s): {scopes}.", scopes=" ".join(missing)),
            headers=_challenge(
                getattr(request.state, _SCHEME_STATE, BEARER), error="insufficient_scope", scope=" ".join(required)
            ),
            extra={"error": "insufficient_scope", "required_scopes": required},
        )


def route_scopes(dependant: Dependant) -> list[str]:
    """Every scope an operation's dependants declare with ``require(...)``: what the token must carry."""
    return sorted({scope for node in dependants(dependant) for scope in node.own_oauth_scopes or ()})


async def current_principal(
    security_scopes: SecurityScopes,
    request: Request,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """On the event loop: the rate limiter has usually verified the token already. A first verification runs in
    a worker thread, since an external issuer's keys may have to be fetched."""
    required = sorted(security_scopes.scopes)
    principal: Principal | None = getattr(request.state, PRINCIPAL_STATE, None)
    if principal is None:
        principal = await run_in_threadpool(authenticate, request, authorization, required)
    check_scopes(request, principal, required)
    # Dependants without scopes of their own (e.g. the write context) reuse the route's decision: only a call
    # that checked scopes logs the outcome, once per request.
    if required and not getattr(request.state, _LOGGED_STATE, False):
        setattr(request.state, _LOGGED_STATE, True)
        _log(request, "allowed", principal, required)
    return principal


def require(*scopes: Scope) -> Any:
    """``principal: Annotated[Principal, require(Scope.CASES_READ)]`` — authenticated, with these scopes."""
    return Security(current_principal, scopes=[scope.value for scope in scopes])
