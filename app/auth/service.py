"""Client registry: create, rotate, disable, authenticate. Services flush and record their ledger entry; the
caller's transaction commits."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.auth import repository
from app.auth.assertion import ClientAssertionVerifier, InvalidAssertion, assertion_issuer, registered_key_set_problem
from app.auth.hashing import hash_secret, new_client_secret, verify_secret
from app.auth.models import CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT, OAuthClient
from app.auth.verifier import GRANTABLE_SCOPES
from app.core.actor import Agency, Principal, Role, Scope, WriteContext
from app.core.config import Settings
from app.core.db import utcnow
from app.core.problems import Conflict, NotFound, ValidationProblem
from app.ledger.replay import secret_fingerprint
from app.ledger.schemas import LedgerChange
from app.ledger.sequencer import record_changes
from app.ledger.service import format_timestamp
from app.reference import repository as reference
from app.reference.repository import Retirement

CLIENT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


@dataclass(frozen=True)
class IssuedCredentials:
    """A client and its secret in clear: returned once, at creation or rotation, never stored."""

    client: OAuthClient
    client_secret: str


def operator_context(command: str, arguments: Mapping[str, Any]) -> WriteContext:
    """Write context for registry changes made from the command line or at first start (no HTTP request)."""
    body = json.dumps({"command": command, **arguments}, sort_keys=True, default=str).encode()
    return WriteContext(
        principal=Principal(
            client_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, scopes=frozenset({Scope.ADMIN_CLIENTS})
        ),
        body_sha256=hashlib.sha256(body).hexdigest(),
        request_id=str(uuid.uuid4()),
    )


def _ledger_payload(client: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "role": client.role,
        "agency": client.agency,
        "scopes": sorted(client.allowed_scopes.split()),
        "active": client.active,
        # the rest lets the state audit (app.ledger.replay) rebuild the row; the secret only as a fingerprint
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "jwks": client.jwks,
        "secret_sha256": secret_fingerprint(client.secret_hash),
        "created_at": format_timestamp(client.created_at),
        "secret_rotated_at": format_timestamp(client.secret_rotated_at) if client.secret_rotated_at else None,
        "disabled_at": format_timestamp(client.disabled_at) if client.disabled_at else None,
    }


def _record(session: Session, settings: Settings, ctx: WriteContext, entry_type: str, client: OAuthClient) -> None:
    """Registry changes are single-domain writes: the service records them itself, as its last step (pending:
    the caller's commit makes them durable, the sequencer's next round gives them positions)."""
    record_changes(session, settings, ctx, [LedgerChange(entry_type, _ledger_payload(client))])


def _checked_scopes(role: Role, scopes: Iterable[Scope] | None) -> frozenset[Scope]:
    grantable = GRANTABLE_SCOPES[role]
    chosen = grantable if scopes is None else frozenset(scopes)
    if not chosen:
        raise ValidationProblem("A client needs at least one scope.")
    beyond = chosen - grantable
    if beyond:
        raise ValidationProblem(
            f"A {role.value} client cannot hold: {' '.join(sorted(beyond))}. Grantable: {' '.join(sorted(grantable))}."
        )
    return chosen


def create_client(
    session: Session,
    settings: Settings,
    ctx: WriteContext,
    *,
    name: str,
    role: Role,
    agency: Agency | None = None,
    scopes: Iterable[Scope] | None = None,
    client_id: str | None = None,
) -> IssuedCredentials:
    """A client that authenticates with a secret, generated here (``client_secret_basic`` or ``_post``)."""
    secret = new_client_secret()
    client = _new_client(
        session,
        settings,
        ctx,
        OAuthClient(
            name=name, token_endpoint_auth_method=CLIENT_SECRET_BASIC, secret_hash=hash_secret(secret), jwks=None
        ),
        role=role,
        agency=agency,
        scopes=scopes,
        client_id=client_id,
    )
    return IssuedCredentials(client=client, client_secret=secret)


def create_key_client(
    session: Session,
    settings: Settings,
    ctx: WriteContext,
    *,
    name: str,
    jwks: Mapping[str, Any],
    role: Role,
    agency: Agency | None = None,
    scopes: Iterable[Scope] | None = None,
    client_id: str | None = None,
) -> OAuthClient:
    """A client that authenticates with ``private_key_jwt``: assertions signed by a key of ``jwks`` (public keys;
    the client keeps the private halves). It has no secret."""
    if (problem := registered_key_set_problem(jwks)) is not None:
        raise ValidationProblem(f"{problem}.")
    stored = {"keys": [dict(key) for key in jwks["keys"]]}
    client = OAuthClient(name=name, token_endpoint_auth_method=PRIVATE_KEY_JWT, secret_hash=None, jwks=stored)
    return _new_client(session, settings, ctx, client, role=role, agency=agency, scopes=scopes, client_id=client_id)


def _new_client(
    session: Session,
    settings: Settings,
    ctx: WriteContext,
    client: OAuthClient,
    *,
    role: Role,
    agency: Agency | None,
    scopes: Iterable[Scope] | None,
    client_id: str | None,
) -> OAuthClient:
    """Give ``client`` (its name and credentials set) its identity and scopes, add it and record it."""
    if (role is Role.AGENCY) != (agency is not None):
        raise ValidationProblem("An agency client needs an agency; auditor and admin clients have none.")
    chosen = _checked_scopes(role, scopes)
    client_id = client_id or f"{(agency or role).lower()}-{secrets.token_hex(4)}"
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ValidationProblem("client_id: 3-64 characters of a-z, 0-9, '.', '_' or '-', starting alphanumeric.")
    if repository.get_client(session, client_id) is not None:
        raise Conflict(f"Client {client_id!r} already exists.")
    client.client_id = client_id
    client.role = role.value
    client.agency = agency.value if agency else None
    client.allowed_scopes = " ".join(sorted(chosen))
    client.active = True
    client.created_at = utcnow()
    session.add(client)
    session.flush()
    _record(session, settings, ctx, "client.created", client)
    return client


def get_client(session: Session, client_id: str) -> OAuthClient:
    client = repository.get_client(session, client_id)
    if client is None:
        raise NotFound(f"No client {client_id!r}.")
    return client


def list_clients(session: Session) -> Sequence[OAuthClient]:
    return repository.list_clients(session)


def rotate_secret(session: Session, settings: Settings, ctx: WriteContext, client_id: str) -> IssuedCredentials:
    """New secret; the old one stops working at once. Tokens already issued stay valid until they expire."""
    client = get_client(session, client_id)
    if not client.active:
        raise Conflict(f"Client {client_id!r} is disabled.")
    if client.token_endpoint_auth_method == PRIVATE_KEY_JWT:
        raise Conflict(f"Client {client_id!r} authenticates with its keys (private_key_jwt); it has no secret.")
    secret = new_client_secret()
    client.secret_hash = hash_secret(secret)
    client.secret_rotated_at = utcnow()
    session.flush()
    _record(session, settings, ctx, "client.rotated", client)
    return IssuedCredentials(client=client, client_secret=secret)


def disable_client(session: Session, settings: Settings, ctx: WriteContext, client_id: str) -> OAuthClient:
    client = get_client(session, client_id)
    if not client.active:
        return client
    client.active = False
    client.disabled_at = utcnow()
    session.flush()
    _record(session, settings, ctx, "client.disabled", client)
    return client


def authenticate_client(session: Session, client_id: str, secret: str) -> OAuthClient | None:
    """The active client with this secret, or None. An unknown id is refused without any scrypt work: the
    token endpoint's failure throttle, checked first, bounds how fast ids can be probed."""
    client = repository.get_client(session, client_id)
    if client is None or client.secret_hash is None:
        return None
    if not verify_secret(secret, client.secret_hash) or not client.active:
        return None
    return client


def authenticate_client_by_assertion(
    session: Session, assertion: str, verifier: ClientAssertionVerifier
) -> OAuthClient:
    """The active ``private_key_jwt`` client the assertion authenticates; ``InvalidAssertion`` otherwise."""
    client = repository.get_client(session, assertion_issuer(assertion))
    if client is None or client.jwks is None or not client.active:
        raise InvalidAssertion("Unknown or disabled client, or one that does not authenticate with private_key_jwt")
    verifier.verify(assertion, client_id=client.client_id, key_set=client.jwks)
    return client


def ended_agency(session: Session, client: OAuthClient, on: dt.date) -> Retirement | None:
    """The client's agency, when it no longer exists on ``on``: such a client gets no tokens."""
    if client.agency is None:
        return None
    return reference.retirement(session, client.agency, on)
