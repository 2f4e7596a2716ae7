"""Reports: the cases of one incident, grouped by Bawaslu's nomor register (a column of the case)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep
from app.api.dependencies.read_audit import ReadAuditDep
from app.api.problems import problem_responses
from app.cases import service
from app.cases.schemas import REGISTER_NUMBER_DESCRIPTION, ReportRead
from app.core.actor import Principal, Scope
from app.core.schemas import LINE_PATTERN

router = APIRouter(prefix="/reports", tags=["cases"], responses=problem_responses(400, 401, 403, 422))

Reader = Annotated[Principal, require(Scope.CASES_READ)]


@router.get(
    # ``:path``: register numbers hold slashes ("045/Reg/LP/PB/Kab/27.03/X/2024"), sent as they are or as %2F
    "/{register_number:path}",
    summary="Get one report: every case of the incident with its stage",
    responses=problem_responses(404),
)
def get_report(
    register_number: Annotated[
        str, Path(min_length=1, max_length=100, pattern=LINE_PATTERN, description=REGISTER_NUMBER_DESCRIPTION)
    ],
    session: SessionDep,
    audit: ReadAuditDep,
    _: Reader,
) -> ReportRead:
    cases = service.require_report(session, register_number)
    audit.cases(cases)
    return ReportRead(register_number=register_number, cases=[service.to_read(case) for case in cases])
