"""Authorization matrix rows: the embedded issuer and the client registry (admin:clients only)."""

from __future__ import annotations

from app.auth import service
from app.core.actor import Agency, Role
from tests.authz import ADMIN_ONLY, PUBLIC, Call, CallFactory, MatrixContext, Row, statuses


def _token_request(context: MatrixContext, who: str) -> Call:
    """A bearer token is not client authentication: everyone is invalid_client without a secret."""
    del context, who
    return Call("/oauth/token", data={"grant_type": "client_credentials"})


def _target(context: MatrixContext) -> str:
    def make() -> str:
        with context.app.state.sessionmaker() as session, session.begin():
            service.create_client(
                session,
                context.app.state.settings,
                service.operator_context("matrix", {}),
                name="Matrix target",
                role=Role.AGENCY,
                agency=Agency.KEMENPANRB,
                client_id="matrix-target",
            )
        return "matrix-target"

    target: str = context.remember("client", make)
    return target


def _on_target(suffix: str = "") -> CallFactory:
    def call(context: MatrixContext, who: str) -> Call:
        del who
        return Call(f"/api/v1/clients/{_target(context)}{suffix}")

    return call


def _new_client(context: MatrixContext, who: str) -> Call:
    del context
    return Call(
        "/api/v1/clients",
        json={"name": "Matrix", "role": "auditor", "client_id": f"matrix-{who.lower()}"},
    )


ROWS = [
    Row("POST", "/oauth/token", statuses(anonymous=401, agencies=401, auditor=401, admin=401), _token_request),
    Row("GET", "/.well-known/jwks.json", PUBLIC),
    Row("GET", "/.well-known/oauth-authorization-server", PUBLIC),
    Row("GET", "/api/v1/clients", ADMIN_ONLY),
    Row("POST", "/api/v1/clients", {**ADMIN_ONLY, "admin": 201}, _new_client),
    Row("GET", "/api/v1/clients/{client_id}", ADMIN_ONLY, _on_target()),
    Row("POST", "/api/v1/clients/{client_id}/rotate", ADMIN_ONLY, _on_target("/rotate")),
    Row("POST", "/api/v1/clients/{client_id}/disable", ADMIN_ONLY, _on_target("/disable")),
]
