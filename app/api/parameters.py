"""Query and header parameters shared by several routes, declared once so the contract states them alike."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Header, Query, Response

from app.api.language import VARY, negotiate
from app.audit.exports import CsvFormat, Separator
from app.core.db import utcnow
from app.core.i18n import Language
from app.core.problems import InvalidParam, ValidationProblem
from app.core.schemas import IsoDate, IsoDateTime

PageSizeParam = Annotated[int | None, Query(ge=1, description="Page size (capped by the server maximum)")]
CursorParam = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Opaque: the `next_cursor` of the previous page, for the same filters (400 otherwise).",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]+$"},  # base64url without padding; checked on decoding (400)
    ),
]

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag from your last read of the resource; required (428 when missing, 412 if stale).",
    ),
]
"""Declare as ``if_match: IfMatchHeader = None``; the service enforces it with ``check_if_match``."""


DateParam = Annotated[IsoDate | None, Query()]
"""An optional query date, ``YYYY-MM-DD`` only."""


def checked_moment(as_of: dt.datetime | None) -> dt.datetime:
    """The moment an as-of answer is for: now by default, never in the future (later writes would change it)."""
    now = utcnow()
    if as_of is None:
        return now
    if as_of > now:
        reason = "as_of cannot be in the future"
        raise ValidationProblem(reason, invalid_params=[InvalidParam(name="query.as_of", reason=reason)])
    return as_of


AsOfParam = Annotated[
    IsoDateTime | None,
    Query(
        description="Answer as the ledger stood at this moment (with its UTC offset, e.g. "
        "`2024-10-20T00:00:00+07:00`); default now. Not in the future.",
    ),
]


def csv_separator_for(accept_language: str | None) -> Separator:
    """``;`` when Indonesian is the caller's preferred language (Excel in an Indonesian locale splits on ``;``, its
    list separator, since the decimal separator is ``,``), ``,`` otherwise. Highest q wins, the first on a tie."""
    best, best_q = "", 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = tag.strip().lower(), q
    return ";" if best.split("-")[0] == "id" else ","


CsvSeparatorParam = Annotated[
    Separator | None,
    Query(
        description="Field separator. Default: `;` when `Accept-Language` prefers Indonesian (`id`, `id-ID`; "
        "what Excel in an Indonesian locale expects), `,` otherwise."
    ),
]
CsvExcelParam = Annotated[
    bool,
    Query(
        description='true (default): identifiers (NIP, ids, case, letter and province numbers) as `="…"` so Excel, '
        "LibreOffice and Google Sheets keep them as text, and free text that a spreadsheet would run as a formula "
        "prefixed with `'`. false: raw values, for scripts."
    ),
]
AcceptLanguageHeader = Annotated[
    str | None,
    Header(alias="Accept-Language", max_length=200, description="Picks the default `sep` (`id` → `;`)."),
]


async def csv_format(
    accept_language: AcceptLanguageHeader = None, sep: CsvSeparatorParam = None, excel: CsvExcelParam = True
) -> CsvFormat:
    return CsvFormat(sep=sep or csv_separator_for(accept_language), excel=excel)


CsvFormatDep = Annotated[CsvFormat, Depends(csv_format)]
"""How a spreadsheet CSV export is written (``app.audit.exports.csv_chunks``); its answer varies by language."""
CSV_EXPORT_HEADERS = {"Vary": "Accept-Language"}
CSV_EXPORT_HEADERS_DOC = {"Vary": {"schema": {"type": "string"}, "description": "`Accept-Language`"}}


TextLanguageHeader = Annotated[
    str | None,
    Header(
        alias="Accept-Language",
        max_length=200,
        description="`id` (or `id-ID`) preferred: texts for people in Indonesian; otherwise English. "
        "`Content-Language` says which.",
    ),
]


async def text_language(response: Response, accept_language: TextLanguageHeader = None) -> Language:
    """The language of the texts for people in this answer (a finding's ``message``, a rule's ``description``),
    said in ``Content-Language``; English unless the client prefers Indonesian, like problem details."""
    language = negotiate(accept_language, Language.ENGLISH)
    response.headers["Content-Language"] = language.value
    response.headers["Vary"] = VARY
    return language


TextLanguageDep = Annotated[Language, Depends(text_language)]
