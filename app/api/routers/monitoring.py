"""``GET /monitoring``: the public national monitoring page (no login; aggregates only, no personal data).

Everything it needs is in the package: the Jinja2 template, one style sheet (``/monitoring/monitoring.css``) and
charts drawn here as inline SVG, so it works on a closed network and runs no script at all; its content security
policy (``MONITORING_POLICY``) allows nothing but SBT's own style sheet. Indonesian unless the reader asks for
English (``?lang=en``, or ``Accept-Language`` preferring English); the texts are in the message catalogue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from app.api.dependencies.context import SettingsDep
from app.api.dependencies.query import refuse_unknown_query_parameters
from app.api.language import VARY, requested_language
from app.api.security_headers import MONITORING_POLICY
from app.audit import monitoring
from app.audit.bridge import Cause
from app.audit.monitoring import Compliance
from app.audit.state import use_snapshot
from app.core.db import READ_ONLY_OPTION, utcnow
from app.core.i18n import Language, translations
from app.reference import labels as reference_labels
from app.reference import repository as reference_repository
from app.reference.models import AgencyRef, Province

router = APIRouter(tags=["monitoring"], include_in_schema=False)

STATIC = Path(__file__).resolve().parents[1] / "static"
STYLE_SHEET = "/monitoring/monitoring.css"


@cache
def _environment(language: Language) -> Environment:
    """One template environment per language, its gettext installed once (rendering shares nothing mutable)."""
    environment = Environment(
        loader=PackageLoader("app.api", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    environment.filters["number"] = lambda value: _number(value, language)
    environment.filters["percent"] = lambda value: _percent(value, language)
    environment.filters["signed"] = lambda value: ("+" if value > 0 else "") + _number(value, language)
    return environment


def _number(value: int, language: Language) -> str:
    text = f"{value:,}"
    return text.replace(",", ".") if language is Language.INDONESIAN else text


def _percent(rate: float | None, language: Language) -> str:
    if rate is None:
        return "–"
    text = f"{rate * 100:.1f}"
    return (text.replace(".", ",") + " %") if language is Language.INDONESIAN else text + "%"


@dataclass(frozen=True, slots=True)
class Bar:
    key: str
    label: str
    count: int
    width: float
    """Percent of the chart's width (the largest bar fills it)."""


def _bars(counts: Sequence[tuple[str, int]], names: Mapping[str, str]) -> list[Bar]:
    largest = max((count for _, count in counts), default=0) or 1
    return [Bar(key, names.get(key, key), count, round(100 * count / largest, 2)) for key, count in counts]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Table:
    """One breakdown by province: a row per province, a column per key that occurs anywhere."""

    dimension: str
    columns: list[Column]
    rows: list[tuple[str, str, list[int]]]
    """(province code, province name, count per column)."""


def _tables(
    figures: monitoring.Figures, names: Mapping[str, Mapping[str, str]], provinces: Mapping[str, str]
) -> list[Table]:
    tables = []
    for dimension, breakdown in figures.by_province.items():
        keys = sorted({key for counts in breakdown.values() for key in counts})
        rows = [
            (code, provinces.get(code, code), [breakdown[code].get(key, 0) for key in keys])
            for code in sorted(breakdown)
        ]
        labels = names.get(dimension, {})
        tables.append(Table(dimension, [Column(key, labels.get(key, key)) for key in keys], rows))
    return tables


@dataclass(frozen=True, slots=True)
class TrendPoint:
    monday: dt.date
    count: int
    x: float
    height: float


def _trend(weeks: list[tuple[dt.date, int]]) -> list[TrendPoint]:
    largest = max((count for _, count in weeks), default=0) or 1
    return [
        TrendPoint(monday, count, x=index * 10.0, height=round(100 * count / largest, 2))
        for index, (monday, count) in enumerate(weeks)
    ]


@router.get("/monitoring", response_class=HTMLResponse, dependencies=[Depends(refuse_unknown_query_parameters)])
def monitoring_page(
    request: Request,
    settings: SettingsDep,
    lang: Annotated[Language | None, Query(description="`id` or `en`; else `Accept-Language`, else `id`")] = None,
) -> HTMLResponse:
    language = lang or requested_language(request.scope, Language.INDONESIAN)
    english = language is Language.ENGLISH
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    # Read-only (SQLite: no write lock while the scans run) and one snapshot, so that every figure and the ledger
    # size the page names describe the same moment.
    with factory(execution_options={READ_ONLY_OPTION: True}) as session:
        use_snapshot(session)
        figures = monitoring.figures(session, utcnow(), settings.ppk_follow_up_days)
        agencies = {a.code: a.name for a in reference_repository.list_all(session, AgencyRef, AgencyRef.code)}
        provinces = {p.code: p.name for p in reference_repository.list_all(session, Province, Province.code)}
        bridge = monitoring.stored_bridge(session)
    names = {
        "stage": reference_labels.titles("stage", english=english),
        "category": reference_labels.titles("violation_category", english=english),
        "agency": agencies,
    }
    national = figures.national
    page = (
        _environment(language)
        .get_template("monitoring.html")
        .render(
            language=language.value,
            other=Language.INDONESIAN.value if english else Language.ENGLISH.value,
            style_sheet=STYLE_SHEET,
            figures=figures,
            national=national,
            charts={
                "stage": _bars(national.by_stage, names["stage"]),
                "category": _bars(national.by_violation_category, names["category"]),
                "election": _bars(national.by_election, {}),
                "agency": _bars(national.by_agency, agencies),
            },
            tables=_tables(figures, names, provinces),
            compliance=figures.compliance,
            compliance_by_province=[
                (
                    code,
                    provinces.get(code, code),
                    figures.compliance_by_province.get(code, Compliance()),
                    figures.overdue_by_province.get(code, 0),
                )
                for code in sorted(set(figures.province_totals))
            ],
            trend=_trend(figures.weeks),
            bridge=bridge,
            causes=list(Cause),
            agency_names=agencies,
        )
    )
    return HTMLResponse(
        page,
        headers={
            "Content-Language": language.value,
            "Vary": VARY,
            "Content-Security-Policy": MONITORING_POLICY,
            "Cache-Control": "no-cache",
        },
    )


@router.get("/monitoring/monitoring.css")
def monitoring_style_sheet() -> Response:
    return Response(
        (STATIC / "monitoring.css").read_bytes(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )
