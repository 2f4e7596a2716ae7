"""Receipts with their proofs: a write sending ``Prefer: ledger-proof`` gets, for each entry, an RFC 9162 inclusion
proof against a signed checkpoint, and the checkpoint's note, so that it can be verified offline without a call.

Each proof is checked twice: by the project's own offline code (``merkle.verify_inclusion``, ``note``) and by the
short independent RFC 9162 §2.1.3 recursion below.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.ledger.merkle import verify_inclusion
from app.ledger.models import LedgerCheckpoint
from app.ledger.note import NoteVerifier, open_checkpoint
from tests.auth_helpers import AuthHeaders
from tests.authz import MatrixContext
from tests.cases.test_statement_count import counted_statements
from tests.factories import case_payload, create_case
from tests.reconciliation.authz import _case_with_finding as case_with_finding

PROOF = {"Prefer": "ledger-proof"}


def _independent_root(index: int, size: int, leaf_hash: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.1 read backwards: PATH(m, D[n]) is PATH(m, D[0:k]) : MTH(D[k:n]) for m < k, else
    PATH(m - k, D[k:n]) : MTH(D[0:k]), k the largest power of two below n; the last hash is the top sibling."""
    if size == 1:
        assert not path, "a one-leaf tree's path is empty"
        return leaf_hash
    assert path, "path too short"
    k = 1 << ((size - 1).bit_length() - 1)
    *inner, top = path
    if index < k:
        return hashlib.sha256(b"\x01" + _independent_root(index, k, leaf_hash, inner) + top).digest()
    return hashlib.sha256(b"\x01" + top + _independent_root(index - k, size - k, leaf_hash, inner)).digest()


def _verifier(client: TestClient, auth_headers: AuthHeaders) -> NoteVerifier:
    """The log's key, fetched once as an integrator pins it."""
    key = client.get("/api/v1/ledger/verifier-key", headers=auth_headers("auditor")).json()["verifier_key"]
    return NoteVerifier.parse(key)


def _verified_offline(receipt: dict[str, Any], verifier: NoteVerifier) -> int:
    """Every entry of the receipt proved against its checkpoint with nothing but the receipt and the key; the
    checkpoint's tree size."""
    checkpoint = open_checkpoint(receipt["checkpoint"], verifier)  # the log's signature over the note
    origin, size, root = receipt["checkpoint"].split("\n")[:3]  # C2SP tlog-checkpoint body, read independently
    assert (origin, int(size), base64.b64decode(root)) == (
        checkpoint.origin,
        checkpoint.tree_size,
        checkpoint.root_hash,
    )
    for entry in receipt["entries"]:
        leaf = base64.b64decode(entry["leaf_hash"])
        path = [base64.b64decode(node) for node in entry["inclusion_proof"]]
        verify_inclusion(entry["seq"], checkpoint.tree_size, leaf, path, checkpoint.root_hash)
        assert _independent_root(entry["seq"], int(size), leaf, path) == base64.b64decode(root)
    return checkpoint.tree_size


def _proven(response: Response, verifier: NoteVerifier) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    assert response.headers["Preference-Applied"] == "ledger-proof"
    receipt: dict[str, Any] = response.json()["receipt"]
    assert receipt["entries"], "a write that changed something appends at least one entry"
    _verified_offline(receipt, verifier)
    return receipt


def _checkpoints(session: Session) -> int:
    count = session.scalar(select(func.count()).select_from(LedgerCheckpoint)) or 0
    session.rollback()
    return count


def test_a_write_asking_for_proofs_gets_them_against_the_checkpoint_its_round_signed(
    client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    verifier = _verifier(client, auth_headers)
    bawaslu = auth_headers("BAWASLU")
    create_case(client, bawaslu)  # the log's first checkpoint is signed here: the next ones are not due
    before = _checkpoints(session)
    created = client.post("/api/v1/cases", json=case_payload(), headers=bawaslu | PROOF)
    receipt = _proven(created, verifier)
    assert created.headers["Ledger-Seq"] == ", ".join(str(entry["seq"]) for entry in receipt["entries"])
    size = open_checkpoint(receipt["checkpoint"], verifier).tree_size
    assert size == receipt["entries"][-1]["seq"] + 1, "the round that gave the positions signed the checkpoint"
    assert _checkpoints(session) == before + 1

    moved = client.post(
        f"/api/v1/cases/{created.json()['id']}/transitions",
        json={"action": "verify"},
        headers=bawaslu | PROOF | {"If-Match": created.headers["ETag"]},
    )
    assert len(_proven(moved, verifier)["entries"]) >= 2, "the transition and the own record, one checkpoint"


def test_without_the_preference_the_receipt_and_the_log_are_as_before(
    client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    bawaslu = auth_headers("BAWASLU")
    create_case(client, bawaslu)
    before = _checkpoints(session)
    for prefer in (None, "respond-async", "ledger-proofs"):
        headers = bawaslu if prefer is None else bawaslu | {"Prefer": prefer}
        created = client.post("/api/v1/cases", json=case_payload(), headers=headers)
        assert created.status_code == 201, created.text
        assert "Preference-Applied" not in created.headers
        receipt = created.json()["receipt"]
        assert set(receipt) == {"entries"}
        assert all(set(entry) == {"seq", "entry_type", "leaf_hash"} for entry in receipt["entries"])
    assert _checkpoints(session) == before, "no checkpoint signed for a write that did not ask"


def test_without_the_preference_a_write_proves_and_signs_nothing(
    app: FastAPI, undrained_client: TestClient, auth_headers: AuthHeaders
) -> None:
    """The cost is zero when not asked: no checkpoint signed, no proof read (the round's own look at the latest
    checkpoint, when its process does not know it yet, is as before)."""
    sequencer = app.state.sequencer  # no checkpoint falls due by time during the test, however long the run
    sequencer.settings = sequencer.settings.model_copy(update={"ledger_checkpoint_interval_seconds": 86400})
    headers = auth_headers("BAWASLU")
    assert undrained_client.post("/api/v1/cases", json=case_payload(), headers=headers).status_code == 201
    with counted_statements(app) as plain:
        assert undrained_client.post("/api/v1/cases", json=case_payload(), headers=headers).status_code == 201
    proving = ("INSERT INTO ledger_checkpoint", "ledger_checkpoint.tree_size >=", "ledger_cosignature")
    assert not [s for s in plain if any(part in s for part in proving)]
    with counted_statements(app) as asked:
        assert undrained_client.post("/api/v1/cases", json=case_payload(), headers=headers | PROOF).status_code == 201
    assert [s for s in asked if s.startswith("INSERT INTO ledger_checkpoint")], "its round signed a checkpoint"
    assert [s for s in asked if "ledger_checkpoint.tree_size >=" in s], "the proof read its checkpoint"


def test_the_preference_is_found_among_others_in_any_case(client: TestClient, auth_headers: AuthHeaders) -> None:
    verifier = _verifier(client, auth_headers)
    prefer = {"Prefer": 'respond-async, wait=10, Ledger-Proof; detail="x"'}
    _proven(client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU") | prefer), verifier)


def test_a_batch_gets_its_proofs_in_the_body(client: TestClient, auth_headers: AuthHeaders) -> None:
    verifier = _verifier(client, auth_headers)
    items = [case_payload() for _ in range(3)]
    response = client.post("/api/v1/cases:batch", json={"items": items}, headers=auth_headers("BAWASLU") | PROOF)
    receipt = _proven(response, verifier)
    assert "Ledger-Seq" not in response.headers, "a batch's receipt stays in its body"
    assert [item["ledger_seq"] for item in response.json()["items"]] == [e["seq"] for e in receipt["entries"]]


def test_a_replay_asking_for_proofs_gets_them_whatever_the_first_request_asked(
    client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    verifier = _verifier(client, auth_headers)
    bawaslu = auth_headers("BAWASLU")
    create_case(client, bawaslu)  # the first checkpoint: the next write's round signs none
    key = {"Idempotency-Key": str(uuid.uuid4())}
    payload = case_payload()
    first = client.post("/api/v1/cases", json=payload, headers=bawaslu | key)
    assert "checkpoint" not in first.json()["receipt"]
    before = _checkpoints(session)

    replayed = client.post("/api/v1/cases", json=payload, headers=bawaslu | key | PROOF)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    receipt = _proven(replayed, verifier)
    assert [entry["leaf_hash"] for entry in receipt["entries"]] == first.headers["Ledger-Leaf-Hash"].split(", ")
    assert _checkpoints(session) == before + 1, "no checkpoint covered the write: one was signed for the replay"

    again = client.post("/api/v1/cases", json=payload, headers=bawaslu | key | PROOF)
    assert again.json()["receipt"] == receipt, "later replays are proved against the same checkpoint"
    plain = client.post("/api/v1/cases", json=payload, headers=bawaslu | key)
    assert plain.json()["receipt"] == first.json()["receipt"]
    assert "Preference-Applied" not in plain.headers


def test_a_replayed_batch_asking_for_proofs_gets_them_in_the_body(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    verifier = _verifier(client, auth_headers)
    headers = auth_headers("BAWASLU") | {"Idempotency-Key": str(uuid.uuid4())}
    body = {"items": [case_payload(), case_payload()]}
    first = client.post("/api/v1/cases:batch", json=body, headers=headers)
    replayed = client.post("/api/v1/cases:batch", json=body, headers=headers | PROOF)
    receipt = _proven(replayed, verifier)
    assert replayed.json()["items"] == first.json()["items"]
    assert [e["leaf_hash"] for e in receipt["entries"]] == [e["leaf_hash"] for e in first.json()["receipt"]["entries"]]
    assert "Ledger-Seq" not in replayed.headers


def test_triage_and_a_case_check_honour_the_preference(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    verifier = _verifier(client, auth_headers)
    shared = case_with_finding(MatrixContext(app=app, client=client, auth_headers=auth_headers))
    finding = shared["finding"]
    triaged = client.post(
        f"/api/v1/reconciliation/findings/{finding['id']}/transitions",
        json={"action": "acknowledge"},
        headers=auth_headers("BKN") | PROOF | {"If-Match": f'"{finding["version"]}"'},
    )
    _proven(triaged, verifier)
    checked = client.post(
        f"/api/v1/reconciliation/cases/{shared['case']['id']}/check", headers=auth_headers("BKN") | PROOF
    )
    assert checked.json()["receipt"] == {"entries": []}, "nothing recorded, nothing to prove"
    assert "Preference-Applied" not in checked.headers


@pytest.mark.real_commits  # the integrator thread's rounds sign for the waiters that asked
def test_concurrent_writers_asking_for_proofs_share_checkpoints_and_each_verifies(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    verifier = _verifier(client, auth_headers)
    headers = auth_headers("BAWASLU")
    receipts: list[dict[str, Any]] = []
    lock = threading.Lock()

    def write(proof: bool) -> None:
        response = client.post("/api/v1/cases", json=case_payload(), headers=headers | (PROOF if proof else {}))
        assert response.status_code == 201, response.text
        assert ("Preference-Applied" in response.headers) is proof
        with lock:
            receipts.append(response.json()["receipt"])

    threads = [threading.Thread(target=write, args=(number % 3 != 0,)) for number in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    proven = [receipt for receipt in receipts if "checkpoint" in receipt]
    assert len(proven) == 8
    sizes = {_verified_offline(receipt, verifier) for receipt in proven}
    assert len(sizes) <= len(proven)


def test_the_contract_offers_the_preference_on_every_write_with_a_receipt(app: FastAPI) -> None:
    offered = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            success = [r for status, r in operation["responses"].items() if status.startswith("2")]
            receipted = path.endswith(":batch") or any("Ledger-Seq" in r.get("headers", {}) for r in success)
            prefer = [p for p in operation.get("parameters", []) if p["name"] == "Prefer" and p["in"] == "header"]
            applied = all("Preference-Applied" in r.get("headers", {}) for r in success)
            assert bool(prefer) == receipted == applied, (method, path)
            if receipted:
                offered.append((method, path))
    assert ("post", "/api/v1/cases") in offered
    assert ("post", "/api/v1/cases:batch") in offered
    assert ("post", "/api/v1/reconciliation/findings/{finding_id}/transitions") in offered
    assert len(offered) >= 14
