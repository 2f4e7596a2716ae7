"""The bulk-import template: one column per field of ``CaseCreate``, documented from the schema itself.

The columns, their descriptions, allowed codes and example come from the schema (``CaseCreate`` and its JSON
Schema), so a field added to the single operation appears in the template and is imported without a change here.
``import-template.csv`` (shipped beside this module, in ``data/``) is the header row; the XLSX template adds a
``columns`` sheet that documents every column, and formats the identifier columns as text so that a spreadsheet
keeps an 18-digit NIP's digits (decision 0014).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib import resources
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.cases.schemas import CaseCreate

SHEET = "cases"
"""The sheet ``sbt import`` reads (or the first sheet, when a workbook has no sheet of that name)."""
CSV_TEMPLATE = "import-template.csv"
TEXT_FORMAT = "@"
TEXT_COLUMNS = frozenset({"nip", "province_code", "reference_number", "external_id"})
"""Identifier columns formatted as text in the XLSX template (digits that must stay digits)."""


@dataclass(frozen=True, slots=True)
class TemplateColumn:
    name: str
    required: bool
    integer: bool
    description: str
    allowed: tuple[str, ...]
    example: str


def _property_schema(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """The field's own schema: references followed, ``anyOf [X, null]`` (an optional field) reduced to X."""
    if "$ref" in schema:
        return _property_schema(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions)
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    if len(options) == 1:
        return {**_property_schema(options[0], definitions), **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def columns() -> list[TemplateColumn]:
    schema = CaseCreate.model_json_schema()
    definitions = schema.get("$defs", {})
    required = set(schema.get("required", []))
    example = schema.get("example", {})
    result = []
    for name, prop in schema["properties"].items():
        own = _property_schema(prop, definitions)
        result.append(
            TemplateColumn(
                name=name,
                required=name in required,
                integer=own.get("type") == "integer",
                description=str(own.get("description") or own.get("title") or "")
                + (" (YYYY-MM-DD)" if own.get("format") == "date" else ""),
                allowed=tuple(str(code) for code in own.get("enum", [])),
                example="" if example.get(name) is None else str(example[name]),
            )
        )
    return result


def csv_template() -> str:
    """The CSV template: the header row of ``CaseCreate``'s fields (``data/import-template.csv`` is a copy of it)."""
    return ",".join(column.name for column in columns()) + "\n"


def shipped_csv_template() -> str:
    """The copy shipped for people who take the file from the package instead of the API or the CLI."""
    return resources.files("app.cases").joinpath("data", CSV_TEMPLATE).read_text(encoding="utf-8-sig")


def xlsx_template() -> bytes:
    book = Workbook()
    cases = book.active
    assert cases is not None  # a new workbook has one sheet
    cases.title = SHEET
    bold = Font(bold=True)
    template = columns()
    cases.append([column.name for column in template])
    for index, column in enumerate(template, start=1):
        cases.cell(row=1, column=index).font = bold
        if column.name in TEXT_COLUMNS:  # the column's format, which cells typed into it take: text
            cases.column_dimensions[get_column_letter(index)].number_format = TEXT_FORMAT
    cases.freeze_panes = "A2"
    guide = book.create_sheet("columns")
    guide.append(["column", "required", "description", "allowed values", "example"])
    for cell in guide[1]:
        cell.font = bold
    for column in template:
        guide.append(
            [
                column.name,
                "yes" if column.required else "no",
                column.description,
                " ".join(column.allowed),
                column.example,
            ]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
