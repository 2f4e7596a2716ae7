"""Ledger entries carry NIPs and names: every read of them is in the read audit (UU PDP), export included."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.auth_helpers import AuthHeaders
from tests.factories import create_case

LEDGER = "/api/v1/ledger"
READ_LOG = "/api/v1/audit/read-log"


@pytest.mark.real_commits  # the export's read session stays open while each batch's read audit commits
def test_every_ledger_read_of_a_person_is_in_the_read_audit(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    other = create_case(client, auth_headers("BAWASLU"))
    auditor = auth_headers("auditor")
    by_case = client.get(f"{LEDGER}/cases/{case['id']}/entries", headers=auth_headers("KEMENPANRB"))
    seq = by_case.json()["items"][0]["seq"]
    purpose = {"X-Purpose": "Surat R-12/BKN/3/2024"}
    assert client.get(f"{LEDGER}/entries/{seq}", headers=auth_headers("BKN") | purpose).status_code == 200
    assert client.get(f"{LEDGER}/entries", params={"limit": 1}, headers=auth_headers("KEMENDAGRI")).status_code == 200
    assert client.get(f"{LEDGER}/export", headers=auditor).status_code == 200
    assert client.get(f"{LEDGER}/export.bin", headers=auditor).status_code == 200

    trail: list[dict[str, Any]] = client.get(READ_LOG, params={"nip": case["nip"]}, headers=auditor).json()["items"]
    record_id = client.get(f"/api/v1/cases/{case['id']}/records", headers=auditor).json()[0]["id"]
    # The ``case.created`` entry holds the case and Bawaslu's record of it: one row for each, per read.
    assert [(e["client_id"], e["operation"], e["purpose"], e["case_id"], e["record_id"]) for e in trail] == [
        (client_id, operation, reason, case["id"], subject)
        for client_id, operation, reason in [
            ("test-kemenpanrb", "list_case_ledger_entries", None),
            ("test-bkn", "get_ledger_entry", purpose["X-Purpose"]),
            ("test-kemendagri", "list_ledger_entries", None),
            ("test-auditor", "export_ledger", None),
            ("test-auditor", "export_ledger_binary", None),
        ]
        for subject in (None, record_id)
    ]
    # The other person was returned by the export only (the one-entry page and the single entry were not theirs).
    trail_of_other = client.get(READ_LOG, params={"nip": other["nip"]}, headers=auditor).json()["items"]
    assert {e["operation"] for e in trail_of_other} == {"export_ledger", "export_ledger_binary"}
