"""The shared record rebuilt from the ledger alone: the rows every entry implies, after any prefix of the log.

One replay serves every reader of the entries: the as-of statistics and the count bridge (case data at a moment),
an agency mirror following ``GET /api/v1/changes`` (it applies each item's leaf), and the state audit
(``app.audit.state``), which compares the replayed rows with the tables.

Rows are kept by table name (the SQL table) and id, as the JSON values the entries carry. Case and agency-record
entries hold the whole row as read back after the write, so a column added to ``CaseRead`` or
``AgencyRecordRead`` is replayed without a change here. Each field remembers the position of the entry that set
it last, so a difference names the entry it comes from. Entries written before a field was recorded simply leave
it out (it is then not known, rather than wrong).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.ledger.verify_evidence import CASE_LINK

CASE_ENTRY_PREFIXES = ("case.", "agency_record.")
"""The ledger entry types that change case data (what the change feed shows a ``cases:read`` caller)."""

CASE = "case"
RECORD = "agency_record"
TRANSITION = "case_transition"
FINDING = "reconciliation_finding"
FINDING_EVENT = "reconciliation_finding_event"
CLIENT = "oauth_client"
ALL_TABLES = (CASE, RECORD, TRANSITION, FINDING, FINDING_EVENT, CLIENT)
"""The tables the replay rebuilds, by their SQL names."""


@dataclass
class Row:
    """A replayed row: its fields, and for each the position of the entry that gave it its value."""

    values: dict[str, Any] = field(default_factory=dict)
    set_by: dict[str, int] = field(default_factory=dict)
    created_by: int = -1
    """Position of the entry that made the row."""
    case_id: str | None = None
    """The case the row belongs to (None for clients): audits are scoped by case."""

    def update(self, seq: int, values: Mapping[str, Any]) -> None:
        """Entries repeat whole rows: a field keeps the entry that gave it its value until one changes it."""
        for name, value in values.items():
            if name not in self.values or self.values[name] != value:
                self.set_by[name] = seq
        self.values.update(values)


@dataclass
class LedgerReplay:
    """Every table's rows as the applied entries say, by table name and row id."""

    tables: dict[str, dict[str, Row]] = field(default_factory=lambda: {name: {} for name in ALL_TABLES})
    _steps: dict[str, int] = field(default_factory=dict)
    """Per case (transitions) and per finding (events): how many steps the applied entries recorded."""

    @property
    def cases(self) -> dict[str, dict[str, Any]]:
        """Every case, its ``CaseRead`` fields as recorded."""
        return {key: row.values for key, row in self.tables[CASE].items()}

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """Every agency record, its ``AgencyRecordRead`` fields as recorded."""
        return {key: row.values for key, row in self.tables[RECORD].items()}

    def records_by_case(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {case_id: [] for case_id in self.tables[CASE]}
        for record in self.tables[RECORD].values():
            grouped.setdefault(record.values["case_id"], []).append(record.values)
        return grouped

    def _put(self, table: str, key: str, seq: int, values: Mapping[str, Any], case_id: str | None) -> None:
        row = self.tables[table].get(key)
        if row is None:
            row = self.tables[table][key] = Row(created_by=seq, case_id=case_id)
        # The per-case link names the previous entry; it is evidence, not a column of any row.
        row.update(seq, {name: value for name, value in values.items() if name != CASE_LINK})

    def apply(self, leaf: Mapping[str, Any]) -> None:
        """Apply one entry (its decoded leaf: the envelope with ``type``, ``seq`` and ``payload``); entries of
        types that change no table leave the state unchanged."""
        entry_type: str = leaf["type"]
        seq: int = leaf["seq"]
        payload: Mapping[str, Any] = leaf["payload"]
        if entry_type in {"case.created", "case.transitioned"}:
            case = payload["case"]
            self._put(CASE, case["id"], seq, case, case["id"])
        if entry_type == "case.created":
            record = payload["agency_record"]
            self._put(RECORD, record["id"], seq, record, record["case_id"])
        elif entry_type == "case.transitioned":
            self._transition(seq, leaf, payload)
        elif entry_type == "agency_record.submitted":
            self._put(RECORD, payload["id"], seq, payload, payload["case_id"])
        elif entry_type == "agency_record.updated":
            record = {key: value for key, value in payload["changes"].items() if key != "changed"}
            self._put(RECORD, payload["record_id"], seq, record, record["case_id"])
        elif entry_type.startswith("finding."):
            self._finding(seq, leaf, entry_type.removeprefix("finding."), payload)
        elif entry_type.startswith("client."):
            self._client(seq, payload)

    def _next_step(self, parent: str) -> int:
        ordinal = self._steps.get(parent, 0)
        self._steps[parent] = ordinal + 1
        return ordinal

    def _transition(self, seq: int, leaf: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        case_id: str = payload["case_id"]
        ordinal = self._next_step(case_id)
        recorded = payload.get("transition")
        if recorded is not None:
            self._put(TRANSITION, recorded["id"], seq, recorded, case_id)
            return
        # Entries written before the transition row was recorded whole: the step's fields and who took it; the
        # row is named by its place in the case's history (``legacy_key``).
        fields = ("action", "from_stage", "to_stage", "effective_date", "reference_number", "sanction_code", "note")
        values = {name: payload[name] for name in fields} | {
            "case_id": case_id,
            "agency": leaf["agency"],
            "client_id": leaf["client_id"],
        }
        self._put(TRANSITION, legacy_key(case_id, ordinal), seq, values, case_id)

    def _finding(self, seq: int, leaf: Mapping[str, Any], action: str, payload: Mapping[str, Any]) -> None:
        renamed = {"finding_id": "id", "to_state": "state"} | (
            {"run_id": "first_seen_run_id"} if action == "opened" else {}
        )
        skipped = {"from_state", "run_id"} - renamed.keys()
        values = {renamed.get(key, key): value for key, value in payload.items() if key not in skipped}
        values |= {"case_id": leaf["case_id"], "state_changed_by": leaf["client_id"]}
        self._put(FINDING, payload["finding_id"], seq, values, leaf["case_id"])
        # each entry is also one row of the finding's history; older entries name it by its place there
        event = {name: payload[name] for name in ("finding_id", "from_state", "to_state", "note", "run_id")}
        event |= {"action": action, "actor": leaf["client_id"]}
        if "event_id" in payload:
            event |= {"id": payload["event_id"], "at": payload["state_changed_at"]}
        ordinal = self._next_step(payload["finding_id"])
        key = event.get("id") or legacy_key(payload["finding_id"], ordinal)
        self._put(FINDING_EVENT, key, seq, event, leaf["case_id"])

    def _client(self, seq: int, payload: Mapping[str, Any]) -> None:
        values = {key: value for key, value in payload.items() if key != "scopes"}
        values["allowed_scopes"] = " ".join(sorted(payload["scopes"]))
        self._put(CLIENT, payload["client_id"], seq, values, None)


def legacy_key(parent: str, ordinal: int) -> str:
    """The name of a case's ``ordinal``-th transition, or a finding's ``ordinal``-th event (from 0), whose entry
    does not carry the row's id."""
    return f"{parent}#{ordinal}"


def secret_fingerprint(secret_hash: str | None) -> str | None:
    """What the ledger records of a client's stored secret hash: its SHA-256, so a swapped secret shows without
    the ledger publishing the scrypt hash itself. None for a client without a secret (``private_key_jwt``)."""
    return hashlib.sha256(secret_hash.encode()).hexdigest() if secret_hash is not None else None


def replay(leaves: Iterable[Mapping[str, Any]]) -> LedgerReplay:
    """The state after applying decoded leaves in ledger order."""
    state = LedgerReplay()
    for leaf in leaves:
        state.apply(leaf)
    return state
