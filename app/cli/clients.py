"""``sbt clients ...``: manage the embedded issuer's OAuth clients from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.auth import service
from app.auth.models import OAuthClient
from app.auth.registry import registry_session
from app.auth.runtime import client_status_signal, load_issuer
from app.cli.errors import problem_exit
from app.core.actor import Agency, Role, Scope
from app.core.config import Settings, get_settings
from app.core.problems import ProblemError
from app.core.shared_state import SharedState
from app.flows.bootstrap import prepare

clients_cli = typer.Typer(help="OAuth clients of the embedded issuer.", no_args_is_help=True)


def _settings() -> Settings:
    settings = get_settings()
    if not settings.auth_embedded_issuer:
        typer.echo("An external issuer is configured (SBT_AUTH_JWKS_URL/FILE); manage clients there.", err=True)
        raise typer.Exit(2)
    prepare(settings)
    return settings


def _describe(client: OAuthClient) -> str:
    state = "active" if client.active else "DISABLED"
    who = client.agency or client.role
    return f"{client.client_id:<28} {who:<11} {state:<8} {client.allowed_scopes}"


@clients_cli.command("create")
def create(
    name: Annotated[str, typer.Option(help="Which system uses the client.")],
    agency: Annotated[Agency | None, typer.Option(help="For an agency client.")] = None,
    role: Annotated[Role, typer.Option(help="agency (needs --agency), auditor or admin.")] = Role.AGENCY,
    scope: Annotated[list[Scope] | None, typer.Option(help="Repeat; default: all the role may hold.")] = None,
    client_id: Annotated[str | None, typer.Option(help="Default: generated.")] = None,
    jwks: Annotated[
        Path | None,
        typer.Option(
            help="The client's public keys (a JWK set, JSON): it then authenticates with private_key_jwt, no secret.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Register a client and print its secret (shown once), or, with --jwks, a client that signs in with its keys."""
    settings = _settings()
    key_set = _key_set(jwks) if jwks is not None else None
    try:
        with registry_session(settings) as session:
            ctx = service.operator_context("clients.create", {"client_id": client_id, "agency": agency})
            if key_set is not None:
                client = service.create_key_client(
                    session, settings, ctx, name=name, jwks=key_set, role=role, agency=agency, scopes=scope,
                    client_id=client_id,
                )  # fmt: skip
                secret = None
            else:
                credentials = service.create_client(
                    session, settings, ctx, name=name, role=role, agency=agency, scopes=scope, client_id=client_id
                )
                client, secret = credentials.client, credentials.client_secret
    except ProblemError as error:
        raise problem_exit(error) from error
    typer.echo(f"client_id:     {client.client_id}")
    if secret is None:
        typer.echo(f"auth method:   {client.token_endpoint_auth_method}")
    else:
        typer.echo(f"client_secret: {secret}")
    typer.echo(f"scopes:        {client.allowed_scopes}")
    if secret is not None:
        typer.echo("The secret is not stored in clear and cannot be shown again.", err=True)


def _key_set(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        typer.echo(f"error: {path} is not JSON: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not isinstance(document, dict):
        typer.echo(f"error: {path} is not a JWK set (a JSON object with keys)", err=True)
        raise typer.Exit(1)
    return document


@clients_cli.command("list")
def list_() -> None:
    """List clients: id, agency or role, state, allowed scopes."""
    with registry_session(_settings()) as session:
        for client in service.list_clients(session):
            typer.echo(_describe(client))


@clients_cli.command("rotate")
def rotate(client_id: str) -> None:
    """Give a client a new secret (the old one stops working at once) and print it."""
    settings = _settings()
    try:
        with registry_session(settings) as session:
            ctx = service.operator_context("clients.rotate", {"client_id": client_id})
            credentials = service.rotate_secret(session, settings, ctx, client_id)
    except ProblemError as error:
        raise problem_exit(error) from error
    typer.echo(f"client_id:     {credentials.client.client_id}")
    typer.echo(f"client_secret: {credentials.client_secret}")


@clients_cli.command("disable")
def disable(client_id: str) -> None:
    """Disable a client: no new tokens; its current tokens stop working within the status cache TTL."""
    settings = _settings()
    try:
        with registry_session(settings) as session:
            ctx = service.operator_context("clients.disable", {"client_id": client_id})
            client = service.disable_client(session, settings, ctx, client_id)
    except ProblemError as error:
        raise problem_exit(error) from error
    shared = SharedState(settings)
    client_status_signal(shared).bump()
    typer.echo(_describe(client))
    if shared.is_shared:
        typer.echo("Tokens already issued stop working on every replica within a second.", err=True)
    else:
        typer.echo(
            f"Tokens already issued stop working within {settings.auth_client_status_cache_seconds} s.", err=True
        )


@clients_cli.command("token")
def token(
    client_id: str,
    scope: Annotated[list[Scope] | None, typer.Option(help="Repeat; default: all the client's scopes.")] = None,
) -> None:
    """Print an access token for an active client, signed with the local issuer key (operator shortcut)."""
    settings = _settings()
    with registry_session(settings) as session:
        try:
            client = service.get_client(session, client_id)
        except ProblemError as error:
            raise problem_exit(error) from error
        if not client.active:
            typer.echo(f"error: client {client_id!r} is disabled", err=True)
            raise typer.Exit(1)
        granted = client.scopes if scope is None else frozenset(scope)
        if not granted <= client.scopes:
            typer.echo(f"error: {client_id!r} may only hold: {client.allowed_scopes}", err=True)
            raise typer.Exit(1)
        issued = load_issuer(settings).mint(
            client_id=client.client_id, role=client.role_enum, agency=client.agency_enum, scopes=granted
        )
    typer.echo(issued.access_token)
