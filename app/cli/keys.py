"""``sbt keys rotate``: start a new signing key for the embedded issuer's tokens or for the ledger's checkpoints."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

import typer

from app.auth import keys
from app.core.actor import Principal, Role, WriteContext
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.flows.bootstrap import prepare
from app.ledger import sequencer, service
from app.ledger.signing import load_signer, prepare_next

keys_cli = typer.Typer(help="Signing keys of the embedded issuer and of the ledger.", no_args_is_help=True)

ROTATE_CLIENT_ID = "cli:sbt-keys-rotate"


@keys_cli.command("rotate")
def rotate(
    oauth: Annotated[bool, typer.Option("--oauth", help="The embedded issuer's token signing key (JWKS).")] = False,
    ledger: Annotated[bool, typer.Option("--ledger", help="The ledger's checkpoint signing key.")] = False,
    prepare_only: Annotated[
        bool,
        typer.Option(
            "--prepare",
            help="With --ledger: only create the next key and print its verifier key (for the witnesses' "
            "--log-key before the rotation); the rotation itself then introduces this key.",
        ),
    ] = False,
) -> None:
    """Rotate one signing key; the old one keeps verifying what it signed (decisions 0035 and 0036)."""
    if oauth == ledger or (prepare_only and not ledger):
        typer.echo("error: give exactly one of --oauth and --ledger (--prepare only with --ledger)", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    prepare(settings)
    if oauth:
        _rotate_oauth(settings)
    elif prepare_only:
        typer.echo(prepare_next(settings.ledger_key_path, settings.ledger_origin).verifier().text())
    else:
        _rotate_ledger(settings)


def _rotate_oauth(settings: Settings) -> None:
    if not settings.auth_embedded_issuer:
        typer.echo("error: an external issuer is configured (SBT_AUTH_JWKS_URL/FILE); rotate its keys there", err=True)
        raise typer.Exit(2)
    rotation = keys.rotate(
        settings.keys_path,
        prepublish_seconds=settings.auth_key_prepublish_seconds,
        retire_after_seconds=settings.auth_token_lifetime_seconds + settings.auth_clock_skew_seconds,
    )
    typer.echo(f"key {rotation.new_kid}: published now, signs from {rotation.signs_from.isoformat()}")
    for kid, until in rotation.retiring:
        typer.echo(f"key {kid}: signs until {rotation.signs_from.isoformat()}, published until {until.isoformat()}")
    for file in rotation.dropped:
        typer.echo(f"removed {file}: the last tokens it signed have expired")


def _rotate_ledger(settings: Settings) -> None:
    ctx = WriteContext(
        principal=Principal(client_id=ROTATE_CLIENT_ID, role=Role.ADMIN),
        body_sha256=hashlib.sha256(b"sbt keys rotate --ledger").hexdigest(),
        request_id=f"sbt-keys-rotate:{uuid.uuid4()}",
    )
    engine = make_engine(settings.sqlalchemy_url)
    try:
        factory = make_sessionmaker(engine)
        try:
            with transaction(factory) as session:
                pending, rotation = service.record_key_rotation(session, settings, ctx)
        except service.RotationRefused as refused:
            typer.echo(f"error: {refused}", err=True)
            raise typer.Exit(1) from None
        (entry,) = sequencer.receipt(factory, settings, pending).entries
    finally:
        engine.dispose()
    # The checkpoint ending with the entry is signed by the previous key: the new key can take its place now.
    load_signer(settings.ledger_key_path, settings.ledger_origin, rotation.new)
    typer.echo(f"rotation entry {entry.seq}: checkpoint {entry.seq + 1} signed by {rotation.previous.text()}")
    typer.echo(f"new checkpoints are signed by {rotation.new.text()}")
