"""Helpers that write ledger entries the way services do."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

from app.core.actor import Agency, Principal, Role, WriteContext
from app.core.db import transaction
from app.ledger import sequencer
from app.ledger.schemas import LedgerChange, LedgerReceipt


def write_context(agency: Agency = Agency.BKN, request_id: str | None = None) -> WriteContext:
    return WriteContext(
        principal=Principal(client_id=f"test-{agency.value.lower()}", role=Role.AGENCY, agency=agency),
        body_sha256="0" * 64,
        request_id=request_id or str(uuid.uuid4()),
    )


def append_committed(app: FastAPI, count: int, *, case_id: uuid.UUID | None = None, **payload: Any) -> list[int]:
    """Append ``count`` entries, each in its own committed transaction (as separate requests would)."""
    sequence: list[int] = []
    for number in range(count):
        change = LedgerChange("case.created", {"number": number, **payload}, case_id)
        (entry,) = record_committed(app, [change]).entries
        sequence.append(entry.seq)
    return sequence


def record_committed(app: FastAPI, changes: list[LedgerChange], ctx: WriteContext | None = None) -> LedgerReceipt:
    """Record ``changes`` as one write, commit, and wait for their positions (as a write flow does)."""
    factory, settings = app.state.sessionmaker, app.state.settings
    with transaction(factory) as session:
        pending = sequencer.record_changes(session, settings, ctx or write_context(), changes)
    return sequencer.receipt(factory, settings, pending)
