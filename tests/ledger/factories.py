"""Helpers that write ledger entries the way services do."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.core.actor import Agency, Principal, Role
from app.core.actor import WriteContext
from app.ledger.models import LedgerEntry
from app.ledger.service import append_entry


def write_context(agency: Agency = Agency.BKN, request_id: str | None = None) -> WriteContext:
    return WriteContext(
        principal=Principal(client_id=f"test-{agency.value.lower()}", role=Role.AGENCY, agency=agency),
        body_sha256="0" * 64,
        request_id=request_id or str(uuid.uuid4()),
    )


def append_committed(
    factory: sessionmaker[Session], count: int, *, case_id: uuid.UUID | None = None, **payload: Any
) -> list[int]:
    """Append ``count`` entries, each in its own committed transaction (as separate requests would)."""
    sequence: list[int] = []
    for number in range(count):
        with factory() as session:
            entry: LedgerEntry = append_entry(
                session,
                write_context(),
                entry_type="case.created",
                payload={"number": number, **payload},
                case_id=case_id,
            )
            session.commit()
            sequence.append(entry.seq)
    return sequence
