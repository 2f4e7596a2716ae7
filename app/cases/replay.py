"""Case data rebuilt from the ledger alone: the state of every case and agency record after any prefix of the log.

The change feed (``GET /api/v1/changes``) serves the same entries in the same order; an agency mirror applies them
with ``CaseReplay.apply`` exactly as the as-of statistics and the count bridge do, so there is one replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.ledger.schemas import CASE_LINK

CASE_ENTRY_PREFIXES = ("case.", "agency_record.")
"""The ledger entry types that change case data (what the change feed shows a ``cases:read`` caller)."""


@dataclass
class CaseReplay:
    """Every case (its ``CaseRead`` fields as recorded) and agency record (``AgencyRecordRead`` fields), by id."""

    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, entry_type: str, payload: Mapping[str, Any]) -> None:
        """Apply one ledger entry; entries of other types leave case data unchanged."""
        if entry_type == "case.created":
            self.cases[payload["case"]["id"]] = dict(payload["case"])
            self.records[payload["agency_record"]["id"]] = dict(payload["agency_record"])
        elif entry_type == "case.transitioned":
            self.cases[payload["case"]["id"]] = dict(payload["case"])
        elif entry_type == "agency_record.submitted":
            self.records[payload["id"]] = {k: v for k, v in payload.items() if k != CASE_LINK}
        elif entry_type == "agency_record.updated":
            self.records[payload["record_id"]] = {k: v for k, v in payload["changes"].items() if k != "changed"}

    def records_by_case(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {case_id: [] for case_id in self.cases}
        for record in self.records.values():
            grouped.setdefault(record["case_id"], []).append(record)
        return grouped


def replay(entries: Iterable[tuple[str, Mapping[str, Any]]]) -> CaseReplay:
    """The case data after applying ``(entry_type, payload)`` pairs in ledger order."""
    state = CaseReplay()
    for entry_type, payload in entries:
        state.apply(entry_type, payload)
    return state
