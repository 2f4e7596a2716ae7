"""Reference data endpoints (read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep
from app.api.problems import problem_responses
from app.audit.exports import BOM, CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from app.cases import template
from app.core.actor import Principal, Scope
from app.reference import repository
from app.reference.models import (
    AgencyRef,
    EmployeeKind,
    PositionCategory,
    Province,
    Sanction,
    ViolationForm,
    ViolationSanctionLevel,
)
from app.reference.schemas import (
    AgencyRead,
    EmployeeKindRead,
    PositionCategoryRead,
    ProvinceRead,
    SanctionMatrixRow,
    SanctionRead,
    ViolationFormRead,
)

router = APIRouter(prefix="/reference", tags=["reference"], responses=problem_responses(401, 403))
Reader = Annotated[Principal, require(Scope.CASES_READ)]


@router.get("/agencies", summary="The five agencies, with validity dates and successors")
def list_agencies(session: SessionDep, _: Reader) -> list[AgencyRead]:
    rows = repository.list_all(session, AgencyRef, AgencyRef.code)
    return [AgencyRead.model_validate(row) for row in rows]


@router.get("/violation-forms", summary="The 20 violation forms of the 2022 joint decree")
def list_violation_forms(session: SessionDep, _: Reader) -> list[ViolationFormRead]:
    rows = repository.list_all(session, ViolationForm, ViolationForm.code)
    return [ViolationFormRead.model_validate(row) for row in rows]


@router.get(
    "/sanctions",
    summary="Sanction catalogue (moral, PP 94/2021, PTDH, legacy PP 53/2010, PPPK under PP 49/2018), with the "
    "employee kind and the dates each may be given",
)
def list_sanctions(session: SessionDep, _: Reader) -> list[SanctionRead]:
    rows = repository.list_all(session, Sanction, Sanction.code)
    return [SanctionRead.model_validate(row) for row in rows]


@router.get(
    "/sanction-matrix",
    summary="The SKB sanction matrix: the sanction levels each violation form allows (the sanctions of a level "
    "follow from /reference/sanctions by employee kind and date)",
)
def list_sanction_matrix(session: SessionDep, _: Reader) -> list[SanctionMatrixRow]:
    rows = repository.list_all(session, ViolationSanctionLevel, ViolationSanctionLevel.violation_code)
    return [SanctionMatrixRow.model_validate(row) for row in rows]


@router.get("/employee-kinds", summary="Employee kinds (PNS, PPPK)")
def list_employee_kinds(session: SessionDep, _: Reader) -> list[EmployeeKindRead]:
    rows = repository.list_all(session, EmployeeKind, EmployeeKind.code)
    return [EmployeeKindRead.model_validate(row) for row in rows]


@router.get("/position-categories", summary="Position categories (kategori jabatan)")
def list_position_categories(session: SessionDep, _: Reader) -> list[PositionCategoryRead]:
    rows = repository.list_all(session, PositionCategory, PositionCategory.code)
    return [PositionCategoryRead.model_validate(row) for row in rows]


@router.get("/provinces", summary="The 38 provinces")
def list_provinces(session: SessionDep, _: Reader) -> list[ProvinceRead]:
    rows = repository.list_all(session, Province, Province.code)
    return [ProvinceRead.model_validate(row) for row in rows]


_TEMPLATE_DESCRIPTION = (
    "The columns are the fields of `POST /api/v1/cases` (CaseCreate), header in row 1, one case per row below; "
    "`sbt import FILE --agency AGENCY` loads such a file all or nothing, and `sbt import --template FILE` writes "
    "the same template."
)


@router.get(
    "/import-template.xlsx",
    summary="The bulk-import template as an Excel workbook (sheet `cases`, and `columns` documenting each column)",
    description=_TEMPLATE_DESCRIPTION,
    response_class=Response,
    responses={
        200: {
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "Office Open XML workbook (ECMA-376)",
        }
    },
)
def get_import_template_xlsx(_: Reader) -> Response:
    return Response(
        template.xlsx_template(),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="sbt-import-template.xlsx"'},
    )


@router.get(
    "/import-template.csv",
    summary="The bulk-import template as CSV (the header row; UTF-8 with a byte-order mark)",
    description=_TEMPLATE_DESCRIPTION,
    response_class=Response,
    responses={200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "CSV header row"}},
)
def get_import_template_csv(_: Reader) -> Response:
    return Response(
        BOM + template.csv_template(),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="sbt-import-template.csv"'},
    )
