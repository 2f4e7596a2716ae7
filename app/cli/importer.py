"""``sbt import FILE``: load cases from a CSV or XLSX file in the import template, all or nothing.

The file is read into one item per row (the template's columns are ``CaseCreate``'s fields) and sent through the
batch flow (``app.flows.batch.write_batch``) against the configured database, as the agency given by ``--agency``:
every row is validated by the same schema and service as ``POST /api/v1/cases``, and one refused row refuses the
whole file. Every refused row is printed (row number, column, message) and nothing is written; otherwise the cases,
their records, ledger entries and findings are committed together. Rows are numbered as a spreadsheet shows them:
the header is row 1.

The whole file is one transaction and one pending ledger write, which one sequencer round integrates: other writes
do not wait for the file, but its round holds the log while it builds the file's entries (split very large
archives into files of some 10,000 rows).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from openpyxl import load_workbook

from app.cases import template
from app.cli.errors import problem_exit
from app.core.actor import AGENCY_SCOPES, Agency, Principal, Role, WriteContext
from app.core.config import get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.problems import BatchRejected, Problem, ProblemError
from app.flows.batch import BatchKind, write_batch
from app.flows.bootstrap import prepare
from app.reconciliation import outbox

HEADER_ROW = 1
EXCEL_TEXT_FORMULA = ('="', '"')
"""How SBT's own CSV exports keep identifiers as text (``="196608011988031001"``): read back as the text inside."""


class FileProblem(Exception):
    """The file cannot be read as the template (not a row problem: its type, header or encoding)."""


def _cell_text(value: Any) -> str | None:
    """A cell as the text the schema reads; empty cells are absent fields."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date() if value.time() == dt.time() else value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text.startswith(EXCEL_TEXT_FORMULA[0]) and text.endswith(EXCEL_TEXT_FORMULA[1]) and len(text) >= 3:
        text = text[2:-1]
    return text or None


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileProblem(f"the CSV file is not UTF-8 ({error})") from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","  # Excel in id-ID writes ';'
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several types for a file that is not a workbook
        raise FileProblem(f"the file is not an XLSX workbook ({error})") from None
    sheet = book[template.SHEET] if template.SHEET in book.sheetnames else book.worksheets[0]
    for row in sheet.iter_rows(values_only=True):
        yield list(row)
    book.close()


def read_items(data: bytes, suffix: str) -> list[tuple[int, dict[str, Any]]]:
    """``(row number, item)`` for each non-empty data row, with the values of the template's columns (integer
    columns as integers); empty rows are skipped."""
    rows = _xlsx_rows(data) if suffix.lower() == ".xlsx" else _csv_rows(data)
    header = [_cell_text(name) for name in next(rows, [])]
    columns = {column.name: column for column in template.columns()}
    unknown = [name for name in header if name is not None and name not in columns]
    if unknown or not any(header):
        raise FileProblem(
            f"the header row (row {HEADER_ROW}) has columns not in the template: {', '.join(unknown)}"
            if unknown
            else f"row {HEADER_ROW} must name the template's columns (sbt import --template FILE writes one)"
        )
    items = []
    for number, values in enumerate(rows, start=HEADER_ROW + 1):
        item: dict[str, Any] = {}
        for name, value in zip(header, values, strict=False):
            text = _cell_text(value)
            if name is None or text is None:
                continue
            item[name] = int(text) if columns[name].integer and text.isdigit() else text
        if item:
            items.append((number, item))
    return items


def _column(name: str) -> str:
    column = name.removeprefix("body").removeprefix(".")
    return f"column {column}" if column else "row"


def describe(problem: Problem, row: int) -> list[str]:
    """Lines for one refused row: one per field when the problem names fields, otherwise its detail."""
    if problem.invalid_params:
        return [f"row {row}, {_column(param.name)}: {param.reason}" for param in problem.invalid_params]
    return [f"row {row}: {problem.detail or problem.title}"]


def import_command(
    file: Annotated[Path | None, typer.Argument(help="A CSV (UTF-8, ',' or ';') or XLSX file in the template")] = None,
    agency: Annotated[Agency | None, typer.Option(help="The agency whose cases these are (it reports them)")] = None,
    template_file: Annotated[
        Path | None,
        typer.Option("--template", help="Write the import template to this file (.xlsx or .csv) and exit"),
    ] = None,
) -> None:
    """Import cases from a CSV or XLSX file into the configured database: every row, or none."""
    if template_file is not None:
        if template_file.suffix.lower() == ".xlsx":
            template_file.write_bytes(template.xlsx_template())
        else:
            template_file.write_text(template.csv_template(), encoding="utf-8-sig")
        typer.echo(f"wrote the import template to {template_file}", err=True)
        return
    if file is None or agency is None:
        raise typer.BadParameter("give FILE and --agency (or --template FILE)")
    try:
        data = file.read_bytes()
        rows = read_items(data, file.suffix)
    except (FileProblem, OSError) as error:
        typer.echo(f"error: {file}: {error}", err=True)
        raise typer.Exit(1) from None
    if not rows:
        typer.echo(f"error: {file}: no rows below the header", err=True)
        raise typer.Exit(1)
    settings = get_settings()
    prepare(settings)
    principal = Principal(
        client_id=f"cli:sbt-import:{agency.value.lower()}", role=Role.AGENCY, agency=agency, scopes=AGENCY_SCOPES
    )
    ctx = WriteContext(
        principal=principal, body_sha256=hashlib.sha256(data).hexdigest(), request_id=f"sbt-import:{uuid.uuid4()}"
    )
    items = [item for _, item in rows]
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with typer.progressbar(length=len(items), label=f"importing {len(items)} rows", file=sys.stderr) as bar:
            factory = make_sessionmaker(engine)
            reply = write_batch(
                factory, settings, ctx, BatchKind.CASES, items, None, lambda done: bar.update(done - bar.pos)
            )
        checked = outbox.drain(factory, settings)  # the file's findings before the command ends
    except BatchRejected as rejected:
        for refused in rejected.errors:
            for line in describe(refused.problem, rows[refused.index][0]):
                typer.echo(line, err=True)
        typer.echo(f"error: {len(rejected.errors)} of {len(items)} rows refused; nothing was imported", err=True)
        raise typer.Exit(1) from None
    except ProblemError as error:
        raise problem_exit(error) from error
    finally:
        engine.dispose()
    first, last = reply.body.items[0], reply.body.items[-1]
    typer.echo(
        f"imported {len(reply.body.items)} cases (ledger {first.ledger_seq}..{last.ledger_seq}); "
        f"reconciliation opened {checked.opened} findings"
    )
