"""The sequencer seen from a client: back-pressure, receipts of writes integrated elsewhere, replays while pending,
and readers that never see pending writes as entries (decision 0028)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.cases.models import Case
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.ledger import sequencer
from app.ledger.canonical import canonical_json
from app.ledger.merkle import MemoryTree, leaf_hash
from app.ledger.models import LedgerEntry, LedgerPending
from app.ledger.schemas import CASE_LINK, LedgerChange, LedgerReceipt, b64
from app.ledger.sequencer import Sequencer
from app.ledger.service import PendingWrite, entry_envelope
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload
from tests.ledger.factories import write_context
from tests.problems import assert_problem


def _leave_pending(app: FastAPI, count: int) -> list[PendingWrite]:
    """Committed writes nobody has waited for yet (no integrator thread: the test client is not started)."""
    written = []
    for number in range(count):
        with transaction(app.state.sessionmaker) as session:
            change = LedgerChange("case.created", {"number": number})
            pending = sequencer.record_changes(session, app.state.settings, write_context(), [change])
            assert pending is not None
            written.append(pending)
    return written


def _counts(session: Session) -> tuple[int, int, int]:
    counted = tuple(
        session.scalar(select(func.count()).select_from(table)) or 0 for table in (Case, LedgerEntry, LedgerPending)
    )
    session.rollback()
    return counted[0], counted[1], counted[2]


def test_a_write_above_the_backlog_is_refused_with_retry_after_and_leaves_nothing(
    app: FastAPI, auth_headers: AuthHeaders, session: Session
) -> None:
    app.state.settings.ledger_max_backlog = 3
    _leave_pending(app, 3)
    client = TestClient(app)  # not started: no integrator thread drains the backlog meanwhile
    before = _counts(session)
    refused = assert_problem(client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU")), 503)
    assert refused["type"].endswith("/ledger-busy")
    assert "waiting for their ledger positions" in refused["detail"]
    assert _counts(session) == before == (0, 0, 3), "the refused write rolled back"

    app.state.sequencer.drain()
    accepted = client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU"))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["receipt"]["entries"][0]["seq"] == 3


def test_the_503_names_retry_after(app: FastAPI, auth_headers: AuthHeaders) -> None:
    _leave_pending(app, 2)
    app.state.settings.ledger_max_backlog = 1
    response = TestClient(app).post("/api/v1/cases", json=case_payload(), headers=auth_headers("BKN"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


def test_pending_writes_are_not_entries_for_readers(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    app.state.sequencer.stop()  # hold the integrator: what follows stays pending
    _leave_pending(app, 2)
    auditor = auth_headers("auditor")
    assert client.get("/api/v1/ledger/entries", headers=auditor).json()["items"] == []
    assert client.get("/api/v1/ledger/checkpoint", params={"fresh": True}, headers=auditor).json()["tree_size"] == 0
    app.state.sequencer.drain()
    listed = client.get("/api/v1/ledger/entries", headers=auditor).json()["items"]
    assert [entry["payload"]["number"] for entry in listed] == [0, 1]


def test_an_idempotent_replay_while_the_write_is_pending_is_in_flight_then_carries_the_receipt(
    app: FastAPI, auth_headers: AuthHeaders
) -> None:
    app.state.settings.ledger_sequence_timeout_seconds = 0.2
    client = TestClient(app, raise_server_exceptions=False)
    headers = auth_headers("BAWASLU") | {"Idempotency-Key": "pending-1"}
    payload = case_payload()
    with _integration_held(app):
        first = client.post("/api/v1/cases", json=payload, headers=headers)
        assert first.status_code == 503, "committed but not yet in the ledger: not acknowledged"
        in_flight = assert_problem(client.post("/api/v1/cases", json=payload, headers=headers), 409)
        assert "not yet in the ledger" in in_flight["detail"]
    app.state.sequencer.drain()
    replayed = client.post("/api/v1/cases", json=payload, headers=headers)
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    receipt = replayed.json()["receipt"]["entries"]
    assert replayed.headers["Ledger-Seq"] == ", ".join(str(entry["seq"]) for entry in receipt)
    assert replayed.headers["Ledger-Leaf-Hash"] == ", ".join(entry["leaf_hash"] for entry in receipt)


class _integration_held:
    """Another integrator holds the round (as another replica's would): this process's rounds find it taken."""

    def __init__(self, app: FastAPI) -> None:
        self.sequencer: sequencer.Sequencer = app.state.sequencer
        self.original = self.sequencer.run_round

    def __enter__(self) -> None:
        self.sequencer.run_round = lambda: None  # type: ignore[method-assign]

    def __exit__(self, *_: object) -> None:
        self.sequencer.run_round = self.original  # type: ignore[method-assign]


@pytest.mark.real_commits  # waiters in several threads, one integrator thread
def test_concurrent_writers_in_one_process_share_rounds_and_each_gets_its_own_receipt(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    headers = auth_headers("BAWASLU")
    receipts: list[list[int]] = []
    lock = threading.Lock()

    def write() -> None:
        response = client.post("/api/v1/cases", json=case_payload(), headers=headers)
        assert response.status_code == 201, response.text
        seqs = [entry["seq"] for entry in response.json()["receipt"]["entries"]]
        assert response.headers["Ledger-Seq"] == ", ".join(map(str, seqs))
        with lock:
            receipts.append(seqs)

    threads = [threading.Thread(target=write) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(seq for seqs in receipts for seq in seqs)
    assert len(every) == len(set(every)), "each position given once"
    # The gaps between the writers' positions are the reconciliation outbox's rounds (findings of those cases).
    others = session.scalars(select(LedgerEntry.entry_type).where(LedgerEntry.seq.not_in(every))).all()
    assert {entry_type.split(".")[0] for entry_type in others} <= {"finding"}
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == len(every) + len(others), "no gap"
    created = session.scalars(select(LedgerEntry).where(LedgerEntry.entry_type == "case.created")).all()
    assert {entry.seq for entry in created} == {seqs[0] for seqs in receipts}


@pytest.mark.real_commits  # the rounds commit, and the LISTEN thread has a connection of its own
@pytest.mark.postgres_only
def test_a_process_hands_its_own_rounds_receipts_out_and_reads_back_only_other_processes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each round's NOTIFY reaches the LISTEN thread of the process that sent it too; that one is skipped, so
    the waiters take the receipts their round handed them (a round that integrated a write before its writer
    began to wait included), and only another process's round sends a waiter to the write index."""
    # A waiter whose round outlasts a whole poll looks in the database (a lost LISTEN connection looks the same):
    # a long poll keeps a slow round on a loaded machine from counting as a read-back.
    monkeypatch.setattr(sequencer, "POLL_SECONDS", 5.0)
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    own, listener, other = (Sequencer(factory, settings) for _ in range(3))
    read_back: list[int] = []
    for waiting in (own, listener):
        monkeypatch.setattr(waiting, "_stored_receipt", _counting(waiting._stored_receipt, read_back))
    monkeypatch.setattr(listener, "_integrate_loop", lambda: None)  # its LISTEN thread only: rounds run elsewhere
    own.start()
    listener.start()
    try:
        receipts = [own.receipt(_recorded(factory, settings, number)) for number in range(20)]
        assert [len(receipt.entries) for receipt in receipts] == [1] * 20
        early = _recorded(factory, settings, 20)
        while own.run_round() is None:  # the integrator thread's round holds the lock; then one after it
            time.sleep(0.001)
        # A round of this process that began after the commit has integrated the write before its writer waits.
        receipts.append(own.receipt(early))
        assert [entry.seq for entry in receipts[-1].entries] == [receipts[-2].entries[0].seq + 1]
        assert read_back == [], "a receipt of this process's own round was read back from the database"
        own.stop()

        elsewhere = _recorded(factory, settings, 21)
        waiter = threading.Thread(target=lambda: receipts.append(listener.receipt(elsewhere)))
        waiter.start()
        assert other.run_round() is not None
        waiter.join(timeout=30)
        assert [entry.seq for entry in receipts[-1].entries] == [receipts[-2].entries[0].seq + 1]
        assert read_back == [elsewhere.id]
    finally:
        own.stop()
        listener.stop()
        engine.dispose()


@pytest.mark.real_commits  # two sequencers (processes) on one database
def test_a_round_hands_its_waiters_the_receipts_of_writes_another_process_integrated(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite sends no notification of another process's round: the next round of the waiter's own process
    finds the write in the log and hands its receipt over, instead of the waiter reading it after a whole quiet
    poll (the LISTEN thread is left out here, so both databases take that path)."""
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    own, other = Sequencer(factory, settings), Sequencer(factory, settings)
    read_back: list[int] = []
    monkeypatch.setattr(own, "_stored_receipt", _counting(own._stored_receipt, read_back))
    monkeypatch.setattr(own, "_listen_loop", lambda _url: None)
    pending = _recorded(factory, settings, 0)
    integrated = other.run_round()
    assert integrated is not None
    assert list(integrated.written) == [pending.id]
    own.start()
    try:
        assert own.receipt(pending) == integrated.receipt(pending.id)
        assert read_back == []
    finally:
        own.stop()
        engine.dispose()


def _counting(
    stored_receipt: Callable[[int], LedgerReceipt | None], calls: list[int]
) -> Callable[[int], LedgerReceipt | None]:
    def counted(pending_id: int) -> LedgerReceipt | None:
        calls.append(pending_id)
        return stored_receipt(pending_id)

    return counted


def _recorded(factory: sessionmaker[Session], settings: Settings, number: int) -> PendingWrite:
    with transaction(factory) as session:
        pending = sequencer.record_changes(
            session, settings, write_context(), [LedgerChange("case.created", {"number": number})]
        )
    assert pending is not None
    return pending


def test_each_leaf_is_its_requests_template_with_the_position_fields_in_canonical_json(app: FastAPI) -> None:
    """The round adds ``seq``, ``recorded_at``, ``prev_root`` and the case link to the template the request made
    canonical, without checking every value again: the leaf must still be exactly the canonical JSON of the whole
    (the verifier re-encodes each leaf), for ASCII-only writes (sorted by orjson) and others (UTF-16 key order)."""
    case = uuid.uuid4()
    odd_keys = {"é": 1, "\U0001f600": {"z": 1, "\ue000": 2}, "\ue000": [{"b": 1, "a": 2}], "a": "x"}
    writes = [
        [LedgerChange("case.created", {"number": 1, "nested": {"b": 1, "a": [{"d": 1, "c": None}]}}, case)],
        [LedgerChange("case.updated", {"number": 2, **odd_keys}, case), LedgerChange("x.noted", {"name": "Ñ"})],
        [LedgerChange("case.updated", {"number": 3}, case)],
    ]
    contexts = [write_context() for _ in writes]
    with transaction(app.state.sessionmaker) as session:
        for ctx, changes in zip(contexts, writes, strict=True):
            sequencer.record_changes(session, app.state.settings, ctx, changes)
    app.state.sequencer.drain()

    with transaction(app.state.sessionmaker) as session:
        stored = [entry.leaf_data for entry in session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))]
    tree = MemoryTree()
    previous: dict[str, Any] | None = None
    expected_changes = [(ctx, change) for ctx, changes in zip(contexts, writes, strict=True) for change in changes]
    assert len(stored) == len(expected_changes)
    for seq, (leaf, (ctx, change)) in enumerate(zip(stored, expected_changes, strict=True)):
        envelope = entry_envelope(ctx=ctx, entry_type=change.entry_type, payload=change.payload, case_id=change.case_id)
        if change.case_id is not None:
            envelope["payload"] = {**change.payload, CASE_LINK: previous}
        position = {"seq": seq, "recorded_at": json.loads(leaf)["recorded_at"], "prev_root": b64(tree.root())}
        assert leaf == canonical_json(envelope | position)
        tree.append(leaf_hash(leaf))
        if change.case_id is not None:
            previous = {"seq": seq, "leaf_hash": b64(leaf_hash(leaf))}
