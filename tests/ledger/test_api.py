"""The ledger read API as auditors and agencies use it: entries, checkpoints, proofs, export."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.actor import Scope
from app.ledger.merkle import verify_consistency, verify_inclusion
from app.ledger.note import NoteVerifier, open_checkpoint
from tests.auth_helpers import AuthHeaders
from tests.authz import IDENTITIES, READERS
from tests.factories import create_case
from tests.ledger.factories import append_committed

PROBLEM = "application/problem+json"
LEDGER = "/api/v1/ledger"


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def test_creating_a_case_is_recorded_and_listed_under_the_case(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    auditor = auth_headers("auditor")
    entries = client.get(f"{LEDGER}/cases/{case['id']}/entries", headers=auditor).json()["items"]
    assert entries, "creating a case must append a ledger entry"
    first = entries[0]
    assert first["entry_type"] == "case.created"
    assert first["agency"] == "BAWASLU"
    assert first["case_id"] == case["id"]
    leaf = _b64(first["leaf"])
    assert json.loads(leaf)["payload"] == first["payload"]
    assert client.get(f"{LEDGER}/entries/{first['seq']}", headers=auditor).json() == first


def test_entries_page_through_the_log_with_a_cursor(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    append_committed(app, 5)
    headers = auth_headers("auditor")
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"{LEDGER}/entries", params=params, headers=headers).json()
        seen += [item["seq"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [0, 1, 2, 3, 4]
    forged = client.get(f"{LEDGER}/entries", params={"cursor": "AAAA"}, headers=headers)
    assert forged.status_code == 400
    assert forged.headers["content-type"] == PROBLEM


def test_auditor_verifies_inclusion_and_consistency_against_a_signed_checkpoint(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    headers = auth_headers("auditor")
    append_committed(app, 6)
    old = client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=headers).json()
    append_committed(app, 7)
    new = client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=headers).json()
    key = client.get(f"{LEDGER}/verifier-key", headers=headers).json()["verifier_key"]
    assert new["verifier_key"] == key
    verifier = NoteVerifier.parse(key)
    old_cp, new_cp = open_checkpoint(old["note"], verifier), open_checkpoint(new["note"], verifier)
    assert (old_cp.tree_size, new_cp.tree_size) == (6, 13)

    for seq in (0, 5, 12):
        proof = client.get(f"{LEDGER}/proofs/inclusion", params={"seq": seq, "tree_size": 13}, headers=headers).json()
        entry = client.get(f"{LEDGER}/entries/{seq}", headers=headers).json()
        assert proof["checkpoint"] == new["note"]
        verify_inclusion(seq, 13, _b64(entry["leaf_hash"]), [_b64(h) for h in proof["hashes"]], new_cp.root_hash)
    consistency = client.get(f"{LEDGER}/proofs/consistency", params={"first": 6, "second": 13}, headers=headers).json()
    verify_consistency(6, 13, [_b64(h) for h in consistency["hashes"]], old_cp.root_hash, new_cp.root_hash)
    assert client.get(f"{LEDGER}/checkpoints/6", headers=headers).json()["note"] == old["note"]


def test_impossible_requests_are_problems(app: FastAPI, client: TestClient, auth_headers: AuthHeaders) -> None:
    append_committed(app, 3)
    headers = auth_headers("auditor")
    cases = [
        (f"{LEDGER}/entries/99", {}, 404),
        (f"{LEDGER}/entries/-1", {}, 422),
        (f"{LEDGER}/checkpoints/2", {}, 404),
        (f"{LEDGER}/proofs/inclusion", {"seq": 0, "tree_size": 4}, 400),
        (f"{LEDGER}/proofs/inclusion", {"seq": 3, "tree_size": 3}, 400),
        (f"{LEDGER}/proofs/consistency", {"first": 3, "second": 2}, 400),
        (f"{LEDGER}/proofs/consistency", {"first": 0, "second": 2}, 422),
    ]
    for path, params, status in cases:
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == status, (path, params, response.text)
        assert response.headers["content-type"] == PROBLEM


def test_reading_the_ledger_needs_the_ledger_read_scope(client: TestClient, auth_headers: AuthHeaders) -> None:
    assert client.get(f"{LEDGER}/entries").status_code == 401
    response = client.get(f"{LEDGER}/entries", headers=auth_headers("BKN", scopes=[Scope.CASES_READ]))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert client.get(f"{LEDGER}/entries", headers=auth_headers("BKN")).status_code == 200


def test_unknown_ledger_objects_are_404_to_readers_only(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    """Existence is not revealed before authorization: anonymous is 401 and the admin 403, as for known objects."""
    append_committed(app, 2)
    unknown = [f"{LEDGER}/entries/2", f"{LEDGER}/checkpoints/5", f"{LEDGER}/cases/{uuid.uuid4()}/entries"]
    for path in unknown:
        answers = {}
        for who in IDENTITIES:
            response = client.get(path, headers={} if who == "anonymous" else auth_headers(who))
            assert response.headers["content-type"] == PROBLEM
            answers[who] = response.status_code
        assert answers == {who: 404 if status == 200 else status for who, status in READERS.items()}, path
