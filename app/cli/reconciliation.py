"""``sbt reconciliation ...``: run a sweep against the configured database and print its counts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from app.cli.errors import problem_exit
from app.core.config import get_settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.core.problems import ProblemError
from app.flows.bootstrap import prepare
from app.reconciliation.models import RunMode, RunStatus
from app.reconciliation.runner import create_run, execute_run

reconciliation_cli = typer.Typer(help="Cross-agency reconciliation: sweeps and deadline checks.", no_args_is_help=True)


@reconciliation_cli.command("run")
def run_command(
    mode: Annotated[
        RunMode, typer.Option(help="FULL or DEADLINES (CASES runs take case ids: use the API)")
    ] = RunMode.FULL,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            help="Evaluate as of this instant, with its UTC offset (2024-10-20T00:00:00+07:00); default now",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"],
        ),
    ] = None,
    screen: Annotated[
        bool, typer.Option("--screen/--no-screen", help="FULL: screen in SQL first, or evaluate every case")
    ] = True,
) -> None:
    """Run a sweep now (the same work as POST /api/v1/reconciliation/runs) and print the run as JSON."""
    if mode is RunMode.CASES:
        raise typer.BadParameter("CASES runs take a list of case ids; use the API or check cases one by one")
    if as_of is not None and as_of.tzinfo is None:
        raise typer.BadParameter("--as-of needs a UTC offset, e.g. 2024-05-01T20:00:00+00:00")
    settings = get_settings()
    prepare(settings)
    engine = make_engine(settings.sqlalchemy_url)
    factory = make_sessionmaker(engine)
    try:
        with transaction(factory) as session:
            run_id = create_run(
                session,
                "cli:sbt-reconciliation",
                mode,
                as_of,
                None,
                screen,
                stale_seconds=settings.reconciliation_run_stale_seconds,
            ).id
        run = execute_run(factory, settings, run_id)
    except ProblemError as error:  # e.g. another FULL run is active
        raise problem_exit(error) from error
    finally:
        engine.dispose()
    summary = {
        "id": str(run.id),
        "mode": run.mode,
        "status": run.status,
        "as_of": run.as_of.isoformat(),
        "stats": run.stats,
        "error": run.error,
    }
    print(json.dumps(summary, indent=2, sort_keys=True))
    if run.status != RunStatus.SUCCEEDED:
        raise typer.Exit(code=1)
