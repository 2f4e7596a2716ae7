"""Credentials for tests: real bearer tokens minted by the app's embedded issuer for registered test clients."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Protocol

from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.api.dependencies.auth import auth_runtime
from app.auth import service
from app.auth.hashing import hash_secret, new_client_secret
from app.auth.models import OAuthClient
from app.auth.service import IssuedCredentials
from app.auth.verifier import GRANTABLE_SCOPES
from app.core.actor import Agency, Role, Scope
from app.core.db import utcnow


class AuthHeaders(Protocol):
    def __call__(self, who: str, scopes: Iterable[Scope] | None = None) -> dict[str, str]: ...


def identity(who: str) -> tuple[Role, Agency | None]:
    """``"auditor"``, ``"admin"`` or an agency code such as ``"BKN"``."""
    if who in (Role.AUDITOR, Role.ADMIN):
        return Role(who), None
    return Role.AGENCY, Agency(who)


def test_client_id(who: str) -> str:
    return f"test-{who.lower()}"


@functools.cache
def _unused_secret_hash() -> str:
    """Test clients never authenticate with a secret (tokens are minted directly); hash once per run."""
    return hash_secret(new_client_secret())


def register_test_client(app: FastAPI, who: str) -> str:
    """Insert (once) an active client for ``who`` with every scope its role may hold; returns its id."""
    role, agency = identity(who)
    client_id = test_client_id(who)
    with app.state.sessionmaker() as session, session.begin():
        if session.get(OAuthClient, client_id) is None:
            session.add(
                OAuthClient(
                    client_id=client_id,
                    name=f"Test {who}",
                    role=role.value,
                    agency=agency.value if agency else None,
                    allowed_scopes=" ".join(sorted(GRANTABLE_SCOPES[role])),
                    secret_hash=_unused_secret_hash(),
                    active=True,
                    created_at=utcnow(),
                )
            )
    return client_id


def make_auth_headers(app: FastAPI) -> AuthHeaders:
    registered: set[str] = set()

    def headers(who: str, scopes: Iterable[Scope] | None = None) -> dict[str, str]:
        role, agency = identity(who)
        if who not in registered:
            register_test_client(app, who)
            registered.add(who)
        issuer = auth_runtime(app).issuer
        assert issuer is not None, "tests run against the embedded issuer"
        granted = GRANTABLE_SCOPES[role] if scopes is None else frozenset(scopes)
        token = issuer.mint(client_id=test_client_id(who), role=role, agency=agency, scopes=granted)
        return {"Authorization": f"Bearer {token.access_token}"}

    return headers


def issue_agency_client(
    session: Session, app: FastAPI, agency: Agency, client_id: str, name: str, scopes: list[Scope] | None = None
) -> IssuedCredentials:
    """An agency's client registered through the service, as an operator's ``sbt clients create`` would."""
    return service.create_client(
        session,
        app.state.settings,
        service.operator_context("test", {}),
        name=name,
        role=Role.AGENCY,
        agency=agency,
        scopes=scopes,
        client_id=client_id,
    )
