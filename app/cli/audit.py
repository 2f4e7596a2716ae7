"""``sbt audit ...``: the auditor's answers from the command line, against the configured database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from app.audit import asof, bridge_export
from app.audit.bridge import Period, Unit
from app.audit.exports import CsvFormat
from app.core.config import get_settings
from app.core.db import make_engine, make_sessionmaker, transaction, utcnow
from app.flows.bootstrap import prepare

audit_cli = typer.Typer(help="Auditor answers: the count bridge.", no_args_is_help=True)
DAY = ["%Y-%m-%d"]


@audit_cli.command("count-bridge")
def count_bridge_command(
    period_from: Annotated[dt.datetime, typer.Option("--from", formats=DAY, help="First day, YYYY-MM-DD")],
    period_to: Annotated[dt.datetime, typer.Option("--to", formats=DAY, help="Last day (inclusive), YYYY-MM-DD")],
    unit: Annotated[Unit, typer.Option(help="What one counts")] = Unit.CASES,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            help="As the ledger stood at this instant, with its UTC offset (2024-10-20T00:00:00+07:00); default now",
            formats=["%Y-%m-%dT%H:%M:%S%z"],
        ),
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="json, csv or xlsx")] = "json",
    output: Annotated[Path | None, typer.Option(help="Write to this file (required for xlsx); default stdout")] = None,
    sep: Annotated[str, typer.Option(help="csv: field separator, , or ; (Excel in an Indonesian locale)")] = ",",
) -> None:
    """The same answer as GET /api/v1/audit/count-bridge: national number, each agency's, and the causes."""
    if output_format not in {"json", "csv", "xlsx"}:
        raise typer.BadParameter("--format is json, csv or xlsx")
    if sep not in {",", ";"}:
        raise typer.BadParameter("--sep is , or ;")
    if output_format == "xlsx" and output is None:
        raise typer.BadParameter("--format xlsx writes a file: give --output")
    if period_to < period_from:
        raise typer.BadParameter("--to cannot be before --from")
    moment = utcnow() if as_of is None else as_of
    if moment > utcnow():
        raise typer.BadParameter("--as-of cannot be in the future")
    settings = get_settings()
    prepare(settings)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            period = Period(period_from.date(), period_to.date())
            result = asof.bridge_at(session, settings, period, unit, moment)
    finally:
        engine.dispose()
    if output_format == "json":
        content = (result.model_dump_json(indent=2) + "\n").encode()
    elif output_format == "csv":
        content = bridge_export.to_csv(result, CsvFormat(sep="," if sep == "," else ";"))
    else:
        content = bridge_export.to_xlsx(result)
    if output is None:
        typer.echo(content, nl=False)
    else:
        output.write_bytes(content)
