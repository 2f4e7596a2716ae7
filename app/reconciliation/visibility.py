"""Who may see which finding and which case.

Auditors (principals without an agency) see everything. An agency sees the findings about its data or about a
case it holds a record of, and the cases it holds a record of (its own, or one it imported from a retired
predecessor's archive). ``repository.finding_visible_to`` and ``repository.case_visible_to`` state this once, in
SQL: the findings list, summary and CSV export filter with it (``FindingFilters.visible_to``), and so do the single
reads below.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from app.cases.models import Case
from app.core.actor import Principal
from app.core.problems import NotFound
from app.reconciliation import repository
from app.reconciliation.models import Finding


def visibility_scope(principal: Principal) -> str | None:
    """The agency whose visibility limits what the principal sees; None for auditors, who see everything."""
    return principal.agency.value if principal.agency else None


def visible_finding(
    session: Session, principal: Principal, finding_id: uuid.UUID, *, for_update: bool = False
) -> Finding:
    finding = repository.get_finding(session, finding_id, for_update=for_update, visible_to=visibility_scope(principal))
    if finding is None:
        raise NotFound(f"No finding with id {finding_id}.")
    return finding


def require_visible_case(session: Session, principal: Principal, case_id: uuid.UUID) -> Case:
    case = repository.get_case(session, case_id, visible_to=visibility_scope(principal))
    if case is None:
        raise NotFound(f"No case with id {case_id}.")
    return case
