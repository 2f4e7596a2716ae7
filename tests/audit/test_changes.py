"""The change feed lets an agency system mirror SBT exactly, across pages and while others keep writing."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases.models import AgencyRecord, Case, CaseTransition
from app.cases.schemas import AgencyRecordRead, TransitionRead
from app.cases.service import to_read
from app.core.actor import Scope
from app.ledger.replay import TRANSITION, LedgerReplay
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, transition

CHANGES = "/api/v1/changes"
DERIVED = {"overdue", "allowed_actions", "updated_at"}
"""Case fields computed on read or touched by bookkeeping, not part of a recorded change."""


class Mirror:
    """What an agency system keeps: every case, agency record and transition, rebuilt from the feed alone (with the
    replay the as-of statistics, the count bridge and the state audit use)."""

    def __init__(self) -> None:
        self.state = LedgerReplay()
        self.cursor: str | None = None

    def apply(self, entry: dict[str, Any]) -> None:
        self.state.apply(json.loads(base64.b64decode(entry["leaf"])))  # the hashed leaf itself, provable

    def follow(self, client: TestClient, headers: dict[str, str], limit: int) -> None:
        while True:
            params: dict[str, Any] = {"limit": limit} | ({"after": self.cursor} if self.cursor else {})
            page = client.get(CHANGES, params=params, headers=headers).json()
            for entry in page["items"]:
                self.apply(entry)
            self.cursor = page["next_cursor"]
            if not page["has_more"]:
                return


View = tuple[dict[str, dict[str, Any]], ...]
TRANSITION_FIELDS = set(TransitionRead.model_fields) - {"created_at"}  # a timestamp's text depends on the session


def _database_view(session: Session) -> View:
    session.rollback()  # end the previous read transaction: see every commit made since
    cases = {
        str(case.id): {k: v for k, v in to_read(case).model_dump(mode="json").items() if k not in DERIVED}
        for case in session.scalars(select(Case))
    }
    record_fields = set(AgencyRecordRead.model_fields) - {"created_at", "updated_at"}
    records = {
        str(record.id): AgencyRecordRead.model_validate(record).model_dump(mode="json", include=record_fields)
        for record in session.scalars(select(AgencyRecord))
    }
    transitions = {
        str(step.id): TransitionRead.model_validate(step).model_dump(mode="json", include=TRANSITION_FIELDS)
        for step in session.scalars(select(CaseTransition))
    }
    return cases, records, transitions


def _mirror_view(mirror: Mirror) -> View:
    record_fields = set(AgencyRecordRead.model_fields) - {"created_at", "updated_at"}
    cases = {key: {k: v for k, v in case.items() if k not in DERIVED} for key, case in mirror.state.cases.items()}
    records = {
        key: {k: v for k, v in record.items() if k in record_fields} for key, record in mirror.state.records.items()
    }
    transitions = {
        key: {k: v for k, v in step.values.items() if k in TRANSITION_FIELDS}
        for key, step in mirror.state.tables[TRANSITION].items()
    }
    return cases, records, transitions


def _write_history(client: TestClient, auth_headers: AuthHeaders, cases: int) -> None:
    bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
    for number in range(cases):
        case = create_case(client, bawaslu)
        case = transition(client, bawaslu, case, "verify")
        if number % 2:
            record = client.post(f"/api/v1/cases/{case['id']}/records", json={"name": "A. Santoso"}, headers=bkn)
            assert record.status_code == 201, record.text
            patched = client.patch(
                f"/api/v1/cases/{case['id']}/records/{record.json()['id']}",
                json={"stage": "TERVERIFIKASI", "notes": f"berkas {number}"},
                headers=bkn | {"If-Match": f'"{record.json()["version"]}"'},
            )
            assert patched.status_code == 200, patched.text


def test_following_the_feed_from_zero_rebuilds_the_database(
    app: FastAPI, client: TestClient, session: Session, auth_headers: AuthHeaders
) -> None:
    _write_history(client, auth_headers, cases=6)
    follower = auth_headers("KEMENDAGRI")
    mirror = Mirror()
    mirror.follow(client, follower, limit=4)
    assert _mirror_view(mirror) == _database_view(session)

    # Resuming from the saved cursor picks up exactly the later changes.
    _write_history(client, auth_headers, cases=2)
    cursor = mirror.cursor
    mirror.follow(client, follower, limit=4)
    assert mirror.cursor != cursor
    assert _mirror_view(mirror) == _database_view(session)
    assert client.get(CHANGES, params={"after": mirror.cursor}, headers=follower).json()["items"] == []


@pytest.mark.real_commits  # two clients write and read at once from two threads
def test_mirror_stays_exact_while_others_write(
    app: FastAPI, client: TestClient, session: Session, auth_headers: AuthHeaders
) -> None:
    follower = auth_headers("KEMENPANRB")
    mirror = Mirror()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with TestClient(app) as other:
                _write_history(other, auth_headers, cases=5)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():
        mirror.follow(client, follower, limit=3)
    thread.join()
    assert errors == []
    mirror.follow(client, follower, limit=3)
    assert len(mirror.state.cases) == 5
    assert _mirror_view(mirror) == _database_view(session)


def test_feed_shows_each_caller_only_what_its_scopes_allow(client: TestClient, auth_headers: AuthHeaders) -> None:
    create_case(client, auth_headers("BAWASLU"))
    client.post(
        "/api/v1/clients", json={"name": "SIMPEG", "role": "agency", "agency": "BKN"}, headers=auth_headers("admin")
    )
    agency = {entry["entry_type"] for entry in client.get(CHANGES, headers=auth_headers("BKN")).json()["items"]}
    assert "case.created" in agency
    assert not any(kind.startswith("client.") for kind in agency)
    cases_only = client.get(CHANGES, headers=auth_headers("BKN", scopes=[Scope.CASES_READ])).json()
    assert {entry["entry_type"] for entry in cases_only["items"]} == {"case.created"}
    assert not cases_only["has_more"]
    assert client.get(CHANGES, params={"after": "not-a-cursor"}, headers=auth_headers("BKN")).status_code == 422
