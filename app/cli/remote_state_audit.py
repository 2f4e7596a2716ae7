"""``sbt ledger audit-state --url``: the state audit of a live service, from what it serves to an auditor.

The ledger comes from the binary export, verified (every leaf hash and root, the signed checkpoints) before any of
it is replayed, so the replay input is proven; a log that fails verification is reported as ``sbt ledger verify``
reports it. The served rows come from the API an auditor token opens: a case (``GET /api/v1/cases/{id}``; 404 is a
missing row), its agency records and its transitions, and the ids of every served case from the auditor's NDJSON
export (a row no entry made is an extra row). The comparison is ``app.audit.state.compare_cases``, the one the
local audit uses, so both print the same lines. Every read holding NIPs (export, cases, records) is in the
service's read audit.

Findings and clients are not served whole to an auditor (a finding's history, a client's secret hash), so this
mode audits cases, agency records and transitions; the local mode and the background audit cover the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import DateTime

from app.audit.state import TABLES, AuditOutcome, combined, compare_cases
from app.ledger.note import NoteVerifier
from app.ledger.replay import CASE, RECORD, TRANSITION, LedgerReplay, replay
from app.ledger.verify import ExportFormatError, VerificationReport, exported_leaves, verify_export

SERVED_TABLES = (CASE, RECORD, TRANSITION)
"""The tables an auditor's API serves whole enough to audit."""
CASES = "/api/v1/cases"
CASES_EXPORT = "/api/v1/audit/exports/cases.ndjson"
BATCH = 500


class ServiceUnusable(Exception):
    """The service could not be read (unreachable, refused the token, answered what is not an export)."""


class LedgerNotProven(Exception):
    """The downloaded log fails verification: nothing replayed from it would prove anything."""

    def __init__(self, report: VerificationReport) -> None:
        super().__init__("the ledger export fails verification")
        self.report = report


def _get(http: httpx.Client, path: str, headers: dict[str, str], *, missing_ok: bool = False) -> Any:
    try:
        response = http.get(path, headers=headers)
    except httpx.HTTPError as exc:
        raise ServiceUnusable(f"GET {path}: {exc}") from exc
    if missing_ok and response.status_code == httpx.codes.NOT_FOUND:
        return None
    if response.status_code != httpx.codes.OK:
        raise ServiceUnusable(f"GET {path}: HTTP {response.status_code} {' '.join(response.text[:300].split())}")
    return response.json()


def _as_row(table: str, served: dict[str, Any]) -> dict[str, Any]:
    """A served JSON object as the comparison takes a row: timestamps as datetimes (the API may spell the same
    moment otherwise than the ledger does); columns the table lacks left out."""
    columns = TABLES[table].columns
    row: dict[str, Any] = {}
    for name, value in served.items():
        if name not in columns:
            continue
        if isinstance(columns[name].type, DateTime) and isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        row[name] = value
    return row


def proven_leaves(pinned: NoteVerifier | None, download: Callable[[Path], None]) -> list[dict[str, Any]]:
    """The service's whole log, decoded, once its export verifies. ``download`` writes the binary export to a
    path."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "ledger.sbtlog"
        download(path)
        try:
            report = verify_export(path, verifier_key=pinned)
        except (ExportFormatError, OSError) as exc:
            raise ServiceUnusable(f"ledger export: {exc}") from exc
        if not report.ok:
            raise LedgerNotProven(report)
        return [json.loads(leaf) for leaf in exported_leaves(path)]


def served_case_ids(http: httpx.Client, headers: dict[str, str]) -> set[str]:
    """Every case the service serves (the auditor's NDJSON export, streamed)."""
    ids: set[str] = set()
    try:
        with http.stream("GET", CASES_EXPORT, headers=headers) as response:
            if response.status_code != httpx.codes.OK:
                response.read()
                raise ServiceUnusable(f"GET {CASES_EXPORT}: HTTP {response.status_code} {response.text[:300]}")
            ids.update(json.loads(line)["id"] for line in response.iter_lines() if line)
    except httpx.HTTPError as exc:
        raise ServiceUnusable(f"GET {CASES_EXPORT}: {exc}") from exc
    return ids


def served_rows(
    http: httpx.Client, headers: dict[str, str], case_ids: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """The rows the service serves for these cases, by table (a case it answers 404 for has none)."""
    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in SERVED_TABLES}
    for case_id in case_ids:
        case = _get(http, f"{CASES}/{case_id}", headers, missing_ok=True)
        if case is None:
            continue
        rows[CASE].append(_as_row(CASE, case))
        rows[RECORD].extend(_as_row(RECORD, item) for item in _get(http, f"{CASES}/{case_id}/records", headers))
        transitions = [_as_row(TRANSITION, item) for item in _get(http, f"{CASES}/{case_id}/transitions", headers)]
        rows[TRANSITION].extend(sorted(transitions, key=lambda row: (row["created_at"], row["id"])))
    return rows


def audit_served(
    http: httpx.Client,
    headers: dict[str, str],
    leaves: list[dict[str, Any]],
    *,
    case: uuid.UUID | None = None,
    first_seq: int | None = None,
    last_seq: int | None = None,
) -> AuditOutcome:
    """Compare what the service serves with the replay of its proven log: one case, the cases entries
    ``first_seq..last_seq`` are about, or (neither given) every case the ledger or the service knows of."""
    if case is not None:
        case_ids = {str(case)}
    elif first_seq is not None or last_seq is not None:
        case_ids = {
            leaf["case_id"]
            for leaf in leaves
            if leaf.get("case_id")
            and (first_seq or 0) <= leaf["seq"] <= (last_seq if last_seq is not None else leaf["seq"])
        }
    else:
        case_ids = {leaf["case_id"] for leaf in leaves if leaf.get("case_id")} | served_case_ids(http, headers)
    replayed: LedgerReplay = replay(leaf for leaf in leaves if leaf.get("case_id") in case_ids)
    outcome = AuditOutcome([], 0, set())
    ordered = sorted(case_ids)
    for start in range(0, len(ordered), BATCH):
        batch = ordered[start : start + BATCH]
        outcome = combined(outcome, compare_cases(replayed, served_rows(http, headers, batch), batch, SERVED_TABLES))
    return outcome
