"""The ``sbt`` command: serve, migrate, demo data, and each domain's tools."""

from __future__ import annotations

import typer
import uvicorn

from app.cli.audit import audit_cli
from app.cli.clients import clients_cli
from app.cli.ledger import ledger_cli
from app.cli.reconciliation import reconciliation_cli
from app.core.config import get_settings
from app.flows.bootstrap import prepare

cli = typer.Typer(help="SBT — Sistem Berbagi Terintegrasi", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")
cli.add_typer(clients_cli, name="clients")
cli.add_typer(ledger_cli, name="ledger")
cli.add_typer(reconciliation_cli, name="reconciliation")


@cli.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Migrate the database, prepare first-start data, and serve the API."""
    prepare(get_settings())
    # No Server banner: what runs behind SBT is nobody's business but its operators'.
    uvicorn.run("app.asgi:app", host=host, port=port, workers=workers, log_level="info", server_header=False)


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision."""
    prepare(get_settings())


@cli.command("demo-data")
def demo_data(cases: int = 300, seed: int = 2024) -> None:
    """Load a realistic sample of cases, with deliberate disagreements between agency records."""
    from app.flows.demo import load_demo_data

    settings = get_settings()
    prepare(settings)
    created = load_demo_data(settings, cases=cases, seed=seed)
    typer.echo(f"loaded {created} demo cases")


def main() -> None:
    cli()
