"""The ledger holds every column the service serves: a fresh history replays into every compared column of every
table, the audit of it finds only the test clients (registered without an entry), entries written before a field
was recorded stay readable, and the background audit reaches untouched rows in turn."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.api.state_audit import BackgroundStateAudit
from app.audit import state
from app.cases.models import Case
from app.ledger.asof import leaves
from app.ledger.models import LedgerEntry
from app.ledger.replay import ALL_TABLES, TRANSITION, legacy_key, replay
from app.ledger.repository import tree_size
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload, create_case, make_nip, transition

API = "/api/v1/reconciliation"
EVERY_TYPE = ("case.", "agency_record.", "finding.", "client.")


def _history(client: TestClient, auth_headers: AuthHeaders) -> None:
    """One write of every kind: a case, its steps, a batch of cases, another agency's record and its correction,
    a batch of records and one of an archive, a finding triaged, a client created, rotated and disabled."""
    bawaslu, bkn, admin = auth_headers("BAWASLU"), auth_headers("BKN"), auth_headers("admin")
    case = transition(client, bawaslu, create_case(client, bawaslu, name="Budi Santoso"), "verify")
    items = [case_payload(nip=make_nip(seq=5)), case_payload(nip=make_nip(seq=6), register_number="001/Reg/TM/73")]
    batch = client.post("/api/v1/cases:batch", json={"items": items}, headers=bawaslu)
    assert batch.status_code == 200, batch.text
    record = client.post(f"/api/v1/cases/{case['id']}/records", json={"name": "Budi Susanto"}, headers=bkn)
    assert record.status_code == 201, record.text
    patched = client.patch(
        f"/api/v1/cases/{case['id']}/records/{record.json()['id']}",
        json={"notes": "berkas lengkap"},
        headers=bkn | {"If-Match": f'"{record.json()["version"]}"'},
    )
    assert patched.status_code == 200, patched.text
    (finding,) = client.get(f"{API}/findings", params={"rule": "NAME_MISMATCH"}, headers=bkn).json()["items"]
    triaged = client.post(
        f"{API}/findings/{finding['id']}/transitions",
        json={"action": "acknowledge"},
        headers=bkn | {"If-Match": f'"{finding["version"]}"'},
    )
    assert triaged.status_code == 200, triaged.text
    records = [{"case_id": item["case_id"], "record": {"stage": "DITERIMA"}} for item in batch.json()["items"]]
    batched = client.post("/api/v1/cases/-/records:batch", json={"items": records}, headers=auth_headers("KEMENDAGRI"))
    assert batched.status_code == 200, batched.text
    archive = [{"case_id": case["id"], "record": {"archive_of": "KASN", "recorded_on": "2024-08-12"}}]
    imported = client.post("/api/v1/cases/-/archived-records:batch", json={"items": archive}, headers=bkn)
    assert imported.status_code == 200, imported.text
    created = client.post("/api/v1/clients", json={"name": "SIMPEG", "role": "agency", "agency": "BKN"}, headers=admin)
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    for step in ("rotate", "disable"):
        assert client.post(f"/api/v1/clients/{client_id}/{step}", headers=admin).status_code == 200


def _test_clients_only(outcome: state.AuditOutcome) -> None:
    """The test clients are inserted straight into the table (tests/auth_helpers.py): rightly extra rows."""
    assert outcome.differences, "the test clients have no entry"
    for difference in outcome.differences:
        assert (difference.kind, difference.table) == ("extra", "oauth_client"), difference.line()
        assert difference.row_id.startswith("test-")


def test_fresh_entries_replay_every_column_the_audit_compares(
    client: TestClient, session: Session, auth_headers: AuthHeaders
) -> None:
    _history(client, auth_headers)
    session.rollback()
    replayed = replay(leaves(session, tree_size(session), EVERY_TYPE))
    for table in ALL_TABLES:
        rows = replayed.tables[table]
        assert rows, f"the history wrote no {table}"
        for key, row in rows.items():
            unrecorded = state.compared_columns(table) - row.values.keys()
            assert not unrecorded, (
                f"{table} {key}: {sorted(unrecorded)} not in its ledger entries; record them in the entry's payload "
                "or list them in app.audit.state.NOT_RECORDED with the reason"
            )
    _test_clients_only(state.audit_everything(session))


def _as_written_before(leaf: dict[str, Any]) -> dict[str, Any]:
    """A leaf as SBT wrote it before the transition row, record created_at, finding details and the finding event's
    id were recorded."""
    old = copy.deepcopy(leaf)
    payload = old["payload"]
    payload.pop("transition", None)
    for record in (payload.get("agency_record"), payload.get("changes"), payload):
        if isinstance(record, dict) and old["type"].startswith(("case.created", "agency_record.")):
            record.pop("created_at", None)
    for name in ("state_changed_at", "event_id", "case_number", "nip", "province_code", "hint", "observed", "agencies"):
        payload.pop(name, None)
    return old


def test_entries_written_before_a_field_was_recorded_stay_readable(
    client: TestClient, session: Session, auth_headers: AuthHeaders
) -> None:
    bawaslu = auth_headers("BAWASLU")
    case = transition(client, bawaslu, create_case(client, bawaslu), "verify")
    session.rollback()
    fresh = list(leaves(session, tree_size(session), EVERY_TYPE))
    old = replay(_as_written_before(leaf) for leaf in fresh)
    new = replay(fresh)
    (step,) = new.tables[TRANSITION].values()
    legacy = old.tables[TRANSITION][legacy_key(case["id"], 0)]
    # what the old entry held is the same; the row's id and time it simply did not know
    assert legacy.values == {key: step.values[key] for key in legacy.values}
    assert {"id", "created_at"} <= step.values.keys() - legacy.values.keys()
    assert old.cases == new.cases


def test_the_background_audit_reaches_untouched_rows_in_turn(
    app: FastAPI, client: TestClient, session: Session, auth_headers: AuthHeaders
) -> None:
    bawaslu = auth_headers("BAWASLU")
    ids = sorted(str(create_case(client, bawaslu)["id"]) for _ in range(5))  # the audit's order too
    auditor = BackgroundStateAudit(
        app.state.settings.model_copy(update={"state_audit_scrub_cases": 2}), app.state.sessionmaker
    )
    first = auditor.run_once()  # the entries since the start touched every case: all compared
    assert {(item["kind"], item["table"]) for item in first.differences} == {("extra", "oauth_client")}

    # an edit in the database leaves no entry: only the rolling comparison finds it, within ceil(5 / 2) rounds
    with app.state.sessionmaker() as writer, writer.begin():
        writer.execute(update(Case).where(Case.id == uuid.UUID(ids[-1])).values(summary="diubah langsung"))
    rounds = [auditor.run_once() for _ in range(3)]  # cases 3-4, then 5 (found), then 1-2 (it stands)
    found = [[item["field"] for item in summary.differences if item["row_id"] == ids[-1]] for summary in rounds]
    assert found == [[], ["summary"], ["summary"]]
    entry = session.scalar(select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc()).limit(1))
    assert entry is not None
    assert rounds[-1].audited_tree_size == entry + 1
    assert json.dumps(rounds[-1].differences)  # kept as plain JSON in ledger_state_audit
