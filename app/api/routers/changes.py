"""``GET /api/v1/changes``: every change the caller may see, in ledger order, resumable from any position.

An agency system mirrors SBT by applying the entries in order and remembering ``next_cursor``. The cursor is the
last ledger position delivered; positions are assigned by one sequencer round at a time and commit in order, so a
follower never skips an entry that commits later. Each item is the ledger entry itself (with its leaf and leaf
hash), so a mirror can prove every change against a signed checkpoint.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep, SettingsDep
from app.api.dependencies.read_audit import ReadAuditDep
from app.api.problems import problem_responses
from app.changes import repository
from app.core.actor import Principal, Scope
from app.ledger.replay import CASE_ENTRY_PREFIXES
from app.ledger.schemas import LedgerEntryRead

router = APIRouter(prefix="/changes", tags=["changes"], responses=problem_responses(400, 401, 403, 422))

Follower = Annotated[Principal, require(Scope.CASES_READ)]

TYPE_PREFIXES_BY_SCOPE: dict[Scope, tuple[str, ...]] = {
    Scope.CASES_READ: CASE_ENTRY_PREFIXES,
    Scope.RECONCILIATION_READ: ("finding.",),
    Scope.ADMIN_CLIENTS: ("client.",),
}
"""Which ledger entry types each scope lets a caller see."""


class ChangePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "items": [
                    {
                        "seq": 0,
                        "recorded_at": "2024-10-04T02:00:00Z",
                        "entry_type": "case.created",
                        "agency": "BAWASLU",
                        "client_id": "demo-bawaslu",
                        "case_id": "2b0c5a52-5a7e-4d0c-9d4e-1f3a2c1e9b11",
                        "request_id": "7e1c…",
                        "body_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                        "payload": {"case": {"case_number": "SBT-2024-000001"}, "agency_record": {"agency": "BAWASLU"}},
                        "leaf": "eyJ2Ijox…",
                        "leaf_hash": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
                    }
                ],
                "next_cursor": "0",
                "has_more": False,
            }
        }
    )

    items: list[LedgerEntryRead]
    next_cursor: str = Field(
        description="Pass as `after` next time. Always present: at the end of the feed it marks where to resume."
    )
    has_more: bool = Field(description="True when more changes are available right now.")


@router.get("", summary="Changes visible to the caller, in ledger order, after a cursor (mirror feed)")
def list_changes(
    session: SessionDep,
    settings: SettingsDep,
    audit: ReadAuditDep,
    principal: Follower,
    after: Annotated[
        str | None,
        Query(pattern=r"^-?[0-9]{1,18}$", description="`next_cursor` of your previous call; omit to start at zero."),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="Most entries returned (capped by the server)")] = None,
) -> ChangePage:
    position = int(after) if after is not None else -1
    page_size = min(limit or settings.page_size_default, settings.changes_page_size_max)
    prefixes = [
        prefix for scope, types in TYPE_PREFIXES_BY_SCOPE.items() if scope in principal.scopes for prefix in types
    ]
    entries, read_up_to = repository.visible_entries(session, prefixes, after_seq=position, limit=page_size + 1)
    items = [LedgerEntryRead.of(entry) for entry in entries[:page_size]]
    audit.entries(items)
    has_more = len(entries) > page_size
    last = items[-1].seq if has_more else max(read_up_to, position)
    return ChangePage(items=items, next_cursor=str(last), has_more=has_more)
