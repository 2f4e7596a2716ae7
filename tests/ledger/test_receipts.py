"""Receipts: every ledger-recording write answers where it was recorded, and the receipt proves it.

And per-case links: every entry about a case names the previous entry about the same case.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from app.ledger.merkle import verify_inclusion
from app.ledger.note import NoteVerifier, open_checkpoint
from tests.auth_helpers import AuthHeaders
from tests.authz import MatrixContext
from tests.factories import case_payload, create_case, transition
from tests.reconciliation.authz import _case_with_finding as case_with_finding

LEDGER = "/api/v1/ledger"


def _proven_receipt(
    client: TestClient, auth_headers: AuthHeaders, response: Response, *, in_headers: bool = True
) -> list[dict[str, Any]]:
    """The receipt of ``response`` (header and body agree), each entry checked against the log and a signed
    checkpoint as an agency system holding only the receipt and the log's key would check it."""
    assert response.status_code in (200, 201), response.text
    entries: list[dict[str, Any]] = response.json()["receipt"]["entries"]
    assert entries, "a write that changed something appends at least one entry"
    if in_headers:
        assert response.headers["Ledger-Seq"] == ", ".join(str(entry["seq"]) for entry in entries)
        assert response.headers["Ledger-Leaf-Hash"] == ", ".join(entry["leaf_hash"] for entry in entries)
    auditor = auth_headers("auditor")
    signed = client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=auditor).json()
    checkpoint = open_checkpoint(signed["note"], NoteVerifier.parse(signed["verifier_key"]))
    for item in entries:
        stored = client.get(f"{LEDGER}/entries/{item['seq']}", headers=auditor).json()
        assert (stored["seq"], stored["entry_type"], stored["leaf_hash"]) == (
            item["seq"],
            item["entry_type"],
            item["leaf_hash"],
        )
        proof = client.get(
            f"{LEDGER}/proofs/inclusion",
            params={"seq": item["seq"], "tree_size": checkpoint.tree_size},
            headers=auditor,
        ).json()
        verify_inclusion(
            item["seq"],
            checkpoint.tree_size,
            base64.b64decode(item["leaf_hash"]),
            [base64.b64decode(h) for h in proof["hashes"]],
            checkpoint.root_hash,
        )
    return entries


def test_every_case_write_answers_with_a_receipt_that_an_inclusion_proof_confirms(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    bawaslu = auth_headers("BAWASLU")
    created = client.post(
        "/api/v1/cases",
        json=case_payload(),
        headers=bawaslu | {"Idempotency-Key": "receipt-1"},
    )
    assert _proven_receipt(client, auth_headers, created)[0]["entry_type"] == "case.created"
    case = created.json()

    moved = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "verify"},
        headers=bawaslu | {"If-Match": created.headers["ETag"]},
    )
    types = [e["entry_type"] for e in _proven_receipt(client, auth_headers, moved)]
    assert types[:2] == ["case.transitioned", "agency_record.updated"], "the change first, then the own record"

    bkn = auth_headers("BKN")
    submitted = client.post(
        f"/api/v1/cases/{case['id']}/records", json={"nip": case["nip"], "stage": "DITERIMA"}, headers=bkn
    )
    assert _proven_receipt(client, auth_headers, submitted)[0]["entry_type"] == "agency_record.submitted"
    updated = client.patch(
        submitted.headers["Location"],
        json={"notes": "diperbarui"},
        headers=bkn | {"If-Match": submitted.headers["ETag"]},
    )
    assert _proven_receipt(client, auth_headers, updated)[0]["entry_type"] == "agency_record.updated"


def test_reopening_a_case_answers_with_a_receipt(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu = auth_headers("BAWASLU")
    rejected = transition(client, bawaslu, create_case(client, bawaslu), "reject")
    reopened = client.post(
        f"/api/v1/cases/{rejected['id']}/reopen",
        json={"reason": "BUKTI_BARU", "reference_number": "001/LP/PB/Kab/27.01/X/2024"},
        headers=bawaslu | {"If-Match": f'"{rejected["version"]}"'},
    )
    first = _proven_receipt(client, auth_headers, reopened)[0]
    assert first["entry_type"] == "case.transitioned"
    action = client.get(f"{LEDGER}/entries/{first['seq']}", headers=auth_headers("auditor")).json()["payload"]["action"]
    assert action == "reopen"


def test_a_batch_answers_with_its_receipt_in_the_body(client: TestClient, auth_headers: AuthHeaders) -> None:
    """Only in the body: a thousand items' leaf hashes would not fit in a header."""
    items = [case_payload(), case_payload()]
    response = client.post("/api/v1/cases:batch", json={"items": items}, headers=auth_headers("BAWASLU"))
    entries = _proven_receipt(client, auth_headers, response, in_headers=False)
    assert "Ledger-Seq" not in response.headers
    created = [entry["seq"] for entry in entries if entry["entry_type"] == "case.created"]
    assert created == [item["ledger_seq"] for item in response.json()["items"]]


def test_a_replayed_write_carries_the_receipt_of_the_original(client: TestClient, auth_headers: AuthHeaders) -> None:
    headers = auth_headers("BAWASLU") | {"Idempotency-Key": str(uuid.uuid4())}
    payload = case_payload()
    first = client.post("/api/v1/cases", json=payload, headers=headers)
    again = client.post("/api/v1/cases", json=payload, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["receipt"] == first.json()["receipt"]
    assert again.headers["Ledger-Seq"] == first.headers["Ledger-Seq"]
    assert again.headers["Ledger-Leaf-Hash"] == first.headers["Ledger-Leaf-Hash"]


def test_reads_and_exports_carry_no_receipt(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    read = client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("BAWASLU"))
    assert "receipt" not in read.json()
    assert "Ledger-Seq" not in read.headers
    exported = client.get("/api/v1/audit/exports/cases.ndjson", headers=auth_headers("auditor"))
    assert all("receipt" not in json.loads(line) for line in exported.text.splitlines() if line)
    assert "receipt" not in client.get("/api/v1/audit/exports/cases.csv", headers=auth_headers("auditor")).text


def test_triage_and_a_case_check_answer_with_receipts(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    shared = case_with_finding(MatrixContext(app=app, client=client, auth_headers=auth_headers))
    finding = shared["finding"]
    triaged = client.post(
        f"/api/v1/reconciliation/findings/{finding['id']}/transitions",
        json={"action": "acknowledge"},
        headers=auth_headers("BKN") | {"If-Match": f'"{finding["version"]}"'},
    )
    assert _proven_receipt(client, auth_headers, triaged)[0]["entry_type"] == "finding.acknowledged"
    checked = client.post(f"/api/v1/reconciliation/cases/{shared['case']['id']}/check", headers=auth_headers("BKN"))
    assert checked.status_code == 200, checked.text
    assert checked.json()["receipt"] == {"entries": []}, "nothing changed, so nothing was recorded"
    assert "Ledger-Seq" not in checked.headers


def _case_entries(client: TestClient, auth_headers: AuthHeaders, case_id: str) -> list[dict[str, Any]]:
    page = client.get(f"{LEDGER}/cases/{case_id}/entries", headers=auth_headers("auditor"))
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_each_entry_about_a_case_names_the_previous_entry_about_the_same_case(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    bawaslu = auth_headers("BAWASLU")
    case = create_case(client, bawaslu)
    other = create_case(client, bawaslu)  # interleaved entries about another case are not part of the chain
    case = transition(client, bawaslu, case, "verify")
    transition(client, bawaslu, other, "verify")
    client.post(f"/api/v1/cases/{case['id']}/records", json={"nip": case["nip"]}, headers=auth_headers("BKN"))
    for case_id in (case["id"], other["id"]):
        entries = _case_entries(client, auth_headers, case_id)
        assert len(entries) >= 3
        assert entries[0]["payload"]["previous"] is None, "the first entry of a case names none"
        for before, entry in itertools.pairwise(entries):
            assert entry["payload"]["previous"] == {"seq": before["seq"], "leaf_hash": before["leaf_hash"]}


def test_the_link_is_inside_the_hashed_leaf_and_entries_without_a_case_have_none(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    first = _case_entries(client, auth_headers, case["id"])[0]
    assert json.loads(base64.b64decode(first["leaf"]))["payload"]["previous"] is None
    registry = client.get(f"{LEDGER}/entries", headers=auth_headers("auditor")).json()["items"]
    assert all("previous" not in entry["payload"] for entry in registry if entry["case_id"] is None)
