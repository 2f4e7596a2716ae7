"""The case list's filters as one dependency, shared by the case list, exports and statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from app.api.parameters import DateParam
from app.cases.repository import CaseFilters
from app.cases.schemas import INSTANSI_CODE_PATTERN, ElectionType
from app.cases.workflow import Stage
from app.core.actor import Agency
from app.core.schemas import LINE_PATTERN

CODE = r"^[A-Z0-9_-]+$"


async def case_filters(
    agency: Annotated[Agency | None, Query(description="Cases this agency has a record of")] = None,
    stage: Stage | None = None,
    province_code: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
    regency: Annotated[str | None, Query(min_length=1, max_length=100, pattern=LINE_PATTERN)] = None,
    instansi_code: Annotated[
        str | None, Query(pattern=INSTANSI_CODE_PATTERN, description="Cases of this instansi (reference/instansi)")
    ] = None,
    position_category: Annotated[str | None, Query(max_length=48, pattern=CODE)] = None,
    violation_code: Annotated[str | None, Query(max_length=8, pattern=CODE)] = None,
    category: Annotated[str | None, Query(pattern=r"^(KODE_ETIK|DISIPLIN)$")] = None,
    nip: Annotated[str | None, Query(pattern=r"^[0-9]{18}$")] = None,
    election_type: ElectionType | None = None,
    election_year: Annotated[int | None, Query(ge=2004, le=2100)] = None,
    reported_from: DateParam = None,
    reported_to: DateParam = None,
    register_number: Annotated[
        str | None,
        Query(min_length=1, max_length=100, pattern=LINE_PATTERN, description="Cases of this report (nomor register)"),
    ] = None,
) -> CaseFilters:
    return CaseFilters(
        agency=agency.value if agency else None,
        stage=stage.value if stage else None,
        province_code=province_code,
        regency=regency,
        instansi_code=instansi_code,
        position_category=position_category,
        violation_code=violation_code,
        category=category,
        nip=nip,
        election_type=election_type.value if election_type else None,
        election_year=election_year,
        reported_from=reported_from,
        reported_to=reported_to,
        register_number=register_number,
    )


CaseFiltersDep = Annotated[CaseFilters, Depends(case_filters)]
