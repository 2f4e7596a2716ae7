"""The SKB sanction matrix applied to a case's steps: which sanctions a recommendation may name and a PPK may impose.

The matrix is reference data (``app/reference/data/sanction_matrix.json`` and ``sanctions.json``): the levels each
violation form allows, and for a level the sanctions an employee kind may be given on a date (PNS: PP 94/2021 from
2021-08-31, PP 53/2010 before; PPPK: PP 49/2018). A recommendation names a level or a concrete sanction of the
matrix. An imposed sanction stays within the recommendation's level, or carries a coded reason (keberatan, banding,
the PPK's decision) that the case and the acting agency's record keep and reconciliation reports. Whatever the
reason, it is a sanction of the form's kind (moral for a code-of-ethics form), in force for the employee on the day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy.orm import Session

from app.cases.models import Case
from app.cases.schemas import DEPARTURE_REASONS, SanctionReason
from app.core.problems import InvalidParam, SanctionNotAllowed, SanctionReasonRequired, ValidationProblem
from app.reference import repository as reference
from app.reference.models import Sanction

MATRIX_PATH = "/api/v1/reference/sanction-matrix"


def _sanction(session: Session, code: str) -> Sanction:
    found = reference.get(session, Sanction, code)
    if found is None:
        reason = f"unknown code {code!r}; see /api/v1/reference/sanctions"
        raise ValidationProblem(reason, invalid_params=[InvalidParam(name="body.sanction_code", reason=reason)])
    return found


def _refuse(
    case: Case, field: str, what: str, on: dt.date, levels: Collection[str], allowed: list[Sanction]
) -> SanctionNotAllowed:
    codes = [row.code for row in allowed]
    reason = (
        f"{what} is not allowed for violation {case.violation_code} of a {case.employee_kind} on {on.isoformat()}; "
        f"allowed: {', '.join(codes) or 'none'} (levels {', '.join(levels)}; see {MATRIX_PATH})"
    )
    return SanctionNotAllowed(
        reason,
        invalid_params=[InvalidParam(name=f"body.{field}", reason=reason)],
        extra={"allowed_levels": list(levels), "allowed_sanctions": codes},
    )


def recommended_level(session: Session, case: Case, code: str | None, level: str | None, on: dt.date) -> str:
    """The level a recommendation names, checked against the matrix: a level it allows for the violation form, or a
    sanction of such a level in force for the employee kind on ``on``."""
    levels = reference.matrix_levels(session, case.violation_code)
    allowed = reference.sanctions_in_force(session, case.employee_kind, on, levels)
    if code is not None:
        sanction = _sanction(session, code)
        if sanction.code not in {row.code for row in allowed}:
            raise _refuse(case, "sanction_code", sanction.code, on, levels, allowed)
        if level is not None and level != sanction.level:
            reason = f"{sanction.code} is a sanction of level {sanction.level}, not {level}"
            raise ValidationProblem(reason, invalid_params=[InvalidParam(name="body.sanction_level", reason=reason)])
        return sanction.level
    if level is None or level not in levels:
        raise _refuse(case, "sanction_level", f"level {level}", on, levels, allowed)
    return level


def check_imposed(session: Session, case: Case, code: str, reason: SanctionReason | None, on: dt.date) -> None:
    """An imposed (or corrected) sanction: within the recommendation's level, or outside it with a departure
    reason, and always a sanction of the form's kind in force for the employee kind on ``on``."""
    sanction = _sanction(session, code)
    levels = reference.matrix_levels(session, case.violation_code)
    within = [case.recommended_sanction_level] if case.recommended_sanction_level else levels
    kinds_levels = reference.levels_of_same_kinds(session, levels)
    possible = reference.sanctions_in_force(session, case.employee_kind, on, kinds_levels)
    if sanction.code not in {row.code for row in possible}:
        in_level = reference.sanctions_in_force(session, case.employee_kind, on, within)
        raise _refuse(case, "sanction_code", sanction.code, on, within, in_level)
    if sanction.level in within or reason in DEPARTURE_REASONS:
        return
    in_level = reference.sanctions_in_force(session, case.employee_kind, on, within)
    codes = [row.code for row in in_level]
    detail = (
        f"{sanction.code} ({sanction.level}) is outside the recommendation's level {', '.join(within)}: impose one "
        f"of {', '.join(codes)}, or give sanction_reason ({', '.join(DEPARTURE_REASONS)})"
    )
    raise SanctionReasonRequired(
        detail,
        invalid_params=[InvalidParam(name="body.sanction_reason", reason=detail)],
        extra={
            "allowed_levels": within,
            "allowed_sanctions": codes,
            "reasons": [reason.value for reason in DEPARTURE_REASONS],
        },
    )
