"""``GET /api/v1/audit/count-bridge``: from the national number to each agency's own, cause by cause.

Read-only and auditor-only like the rest of ``/audit``. It names cases by id only (no NIP, no name), so it is not
a read of personal data; the case history behind any id is (``/audit/cases/{id}/history``, read-audited).
"""

from __future__ import annotations

import enum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep, SettingsDep
from app.api.parameters import CSV_EXPORT_HEADERS, CSV_EXPORT_HEADERS_DOC, AsOfParam, CsvFormatDep, checked_moment
from app.api.problems import problem_responses
from app.audit import asof, bridge_export, exports
from app.audit.bridge import CountBridgeRead, Period, Unit
from app.core.actor import Principal, Scope
from app.core.problems import InvalidParam, ValidationProblem
from app.core.schemas import IsoDate

router = APIRouter(prefix="/audit", tags=["audit"], responses=problem_responses(400, 401, 403, 422))

Auditor = Annotated[Principal, require(Scope.AUDIT_READ)]
CSV = "text/csv"


class BridgeFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


def _format(requested: BridgeFormat | None, accept: str) -> BridgeFormat:
    if requested is not None:
        return requested
    if exports.XLSX_MEDIA_TYPE in accept:
        return BridgeFormat.XLSX
    if CSV in accept:
        return BridgeFormat.CSV
    return BridgeFormat.JSON


def _invalid(name: str, reason: str) -> ValidationProblem:
    return ValidationProblem(reason, invalid_params=[InvalidParam(name=f"query.{name}", reason=reason)])


@router.get(
    "/count-bridge",
    summary="From the national number to each agency's own count, with every difference traced to named causes",
    response_model=CountBridgeRead,
    responses={
        200: {
            "content": {
                CSV: {"schema": {"type": "string"}},
                exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
            "headers": CSV_EXPORT_HEADERS_DOC,
            "description": "JSON (default), CSV (UTF-8 with BOM, one row per case behind a cause; `sep` and "
            "`excel` as for the case export) or XLSX (sheets agencies, causes, cases), chosen by `format` or else "
            "by `Accept`.",
        }
    },
)
def get_count_bridge(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: Auditor,
    csv_format: CsvFormatDep,
    period_from: Annotated[IsoDate, Query(alias="from", description="First day of the period, YYYY-MM-DD")],
    period_to: Annotated[IsoDate, Query(alias="to", description="Last day of the period (inclusive)")],
    unit: Annotated[Unit, Query(description="What one counts")] = Unit.CASES,
    as_of: AsOfParam = None,
    format: Annotated[BridgeFormat | None, Query(description="Overrides `Accept`")] = None,
) -> CountBridgeRead | Response:
    if period_to < period_from:
        raise _invalid("to", "to cannot be before from")
    result = asof.bridge_at(session, settings, Period(period_from, period_to), unit, checked_moment(as_of))
    chosen = _format(format, request.headers.get("accept", ""))
    name = f"count-bridge-{unit.value}-{period_from.isoformat()}-{period_to.isoformat()}"
    if chosen is BridgeFormat.CSV:
        return Response(
            bridge_export.to_csv(result, csv_format),
            media_type=exports.CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **CSV_EXPORT_HEADERS},
        )
    if chosen is BridgeFormat.XLSX:
        return Response(
            bridge_export.to_xlsx(result),
            media_type=exports.XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return result
