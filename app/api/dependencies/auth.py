"""The one place that identifies the caller. Routes declare scopes with ``require(...)``.

Bearer tokens are read from the ``Authorization`` header only (never the query string or body, FAPI 2.0), verified
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

from app.api.operations import dependants
from app.auth.runtime import AuthRuntime, build_runtime
from app.auth.verifier import InvalidToken, IssuerUnavailable
from app.core.actor import SCOPE_DESCRIPTIONS, Principal, Scope
from app.core.i18n import Message
from app.core.problems import Forbidden, ServiceUnavailable, Unauthorized

TOKEN_URL = "/oauth/token"  # noqa: S105 - a path, not a secret
REALM = "sbt"

logger = logging.getLogger("sbt.auth")

oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl=TOKEN_URL, scopes={scope.value: text for scope, text in SCOPE_DESCRIPTIONS.items()}
        )
    ),
    scheme_name="OAuth2",
    description="Client-credentials grant (RFC 6749 §4.4); send the access token as `Authorization: Bearer`.",
    auto_error=False,
)

PRINCIPAL_STATE = "sbt_principal"
"""``request.state`` attribute holding the verified principal: the token is verified once per request."""
_LOGGED_STATE = "sbt_auth_logged"


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


def _challenge(**params: str) -> dict[str, str]:
    attributes = ", ".join(f'{name}="{value}"' for name, value in {"realm": REALM, **params}.items())
    return {"WWW-Authenticate": f"Bearer {attributes}"}


def _bearer_token(request: Request, authorization: str | None) -> str:
    if authorization is None:
        raise Unauthorized(Message("No access token was sent (Authorization: Bearer <token>)."), headers=_challenge())
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or len(request.headers.getlist("authorization")) > 1:
        raise Unauthorized(
            Message("The Authorization header must be exactly 'Bearer <token>'."),
            headers=_challenge(error="invalid_request", error_description="Malformed Authorization header"),
        )
    return token


def authenticate(request: Request, authorization: str | None, required: list[str]) -> Principal:
    """Verify the token once per request; later dependants reuse the result. Raises ``Unauthorized`` (with its
    ``WWW-Authenticate`` challenge) or ``ServiceUnavailable``; the rate limiter calls it before the body is read."""
    cached: Principal | None = getattr(request.state, PRINCIPAL_STATE, None)
    if cached is not None:
        return cached
    try:
        token = _bearer_token(request, authorization)
        principal = auth_runtime(request.app).verifier.verify(token)
    except Unauthorized as exc:
        _log(request, "missing_token" if authorization is None else "invalid_request", None, required)
        raise exc
    except InvalidToken as exc:
        _log(request, "invalid_token", None, required, reason=str(exc))
        raise Unauthorized(f"{exc}.", headers=_challenge(error="invalid_token", error_description=str(exc))) from exc
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
            headers=_challenge(error="insufficient_scope", scope=" ".join(required)),
            extra={"error": "insufficient_scope", "required_scopes": required},
        )


def route_scopes(dependant: Dependant) -> list[str]:
    """Every scope an operation's dependants declare with ``require(...)``: what the token must carry."""
    return sorted({scope for node in dependants(dependant) for scope in node.own_oauth_scopes or ()})


def current_principal(
    security_scopes: SecurityScopes,
    request: Request,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    required = sorted(security_scopes.scopes)
    principal = authenticate(request, authorization, required)
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
