"""``GET /api/v1/ledger/state-audit``: what the background state audit found (tables against the ledger).

Auditor-only. It names rows by id and column only, never their values, so it is not a read of personal data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep
from app.api.problems import problem_responses
from app.audit.schemas import StateAuditRead, StateDifferenceRead
from app.audit.state import latest
from app.core.actor import Principal, Scope

router = APIRouter(prefix="/ledger", tags=["ledger"], responses=problem_responses(400, 401, 403, 422))

Auditor = Annotated[Principal, require(Scope.AUDIT_READ)]


@router.get("/state-audit", summary="Differences between the tables and the ledger, from the background audit")
def get_state_audit(session: SessionDep, _: Auditor) -> StateAuditRead:
    summary = latest(session)
    return StateAuditRead(
        checked_at=summary.checked_at,
        audited_tree_size=summary.audited_tree_size,
        rows_checked=summary.rows_checked,
        difference_count=len(summary.differences),
        differences=[StateDifferenceRead.model_validate(difference) for difference in summary.differences],
    )
