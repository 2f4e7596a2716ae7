"""The ``sbt`` command: serve, migrate, demo data, and each domain's tools."""

from __future__ import annotations

import contextlib
import os
import tempfile

import typer
import uvicorn

from app.cli.audit import audit_cli
from app.cli.clients import clients_cli
from app.cli.importer import import_command
from app.cli.keys import keys_cli
from app.cli.ledger import ledger_cli
from app.cli.reconciliation import reconciliation_cli
from app.core.config import ConfigurationError, get_settings
from app.core.heap import tune_collector
from app.flows.bootstrap import prepare
from app.witness.cli import witness_cli

cli = typer.Typer(help="SBT — Sistem Berbagi Terintegrasi", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")
cli.add_typer(clients_cli, name="clients")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(ledger_cli, name="ledger")
cli.add_typer(reconciliation_cli, name="reconciliation")
cli.add_typer(witness_cli, name="witness")
cli.command("import")(import_command)


@cli.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Migrate the database (once, under a lock, when replicas start together), prepare first-start data, serve."""
    from app.api.metrics import MULTIPROCESS_DIR_VARIABLE  # the web layer, only for the command that serves it

    settings = get_settings()
    typer.echo(prepare(settings).describe(), err=True)
    with contextlib.ExitStack() as stack:
        if workers > 1 and not os.environ.get(MULTIPROCESS_DIR_VARIABLE):
            # Each worker counts its own requests in files here; a scrape of any worker sums them all.
            os.environ[MULTIPROCESS_DIR_VARIABLE] = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="sbt-metrics-")
            )
        # No Server banner: what runs behind SBT is nobody's business but its operators'. SBT_LOG_LEVEL applies to
        # uvicorn's own lines too (its access log is INFO).
        uvicorn.run(
            "app.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            server_header=False,
        )


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision and create the signing keys if they are missing."""
    typer.echo(prepare(get_settings()).describe(), err=True)


@cli.command("demo-data")
def demo_data(cases: int = 300, seed: int = 2024, disagreements: bool = True) -> None:
    """Load a realistic sample of cases, with deliberate disagreements between agency records (unless
    --no-disagreements)."""
    from app.flows.demo import load_demo_data

    settings = get_settings()
    prepare(settings)
    loaded = load_demo_data(settings, cases=cases, seed=seed, disagreements=disagreements)
    planted = ", ".join(sorted(loaded.planted)) or "none"
    typer.echo(f"loaded {loaded.cases} demo cases; planted disagreements: {planted}")


def main() -> None:
    tune_collector()
    try:
        cli()
    except ConfigurationError as error:
        # One line per problem, each naming its SBT_* variable; no traceback for an operator's typo.
        raise SystemExit(str(error)) from None
