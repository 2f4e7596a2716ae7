"""SBT and three witness processes on loopback (``sbt witness serve``), quorum 2: checkpoints are cosigned and
published, writes go on while witnesses are down, a forked or rewritten log is refused by every witness and fails
the verifiers under the witness policy. SQLite and PostgreSQL (the tests commit for real: several processes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli.ledger import ledger_cli
from app.core.config import Settings
from app.ledger.cosignature import AddCheckpoint, CosignatureVerifier
from app.ledger.note import Checkpoint
from app.ledger.signing import load_signer
from app.ledger.verify_evidence import verify_evidence
from app.ledger.witness_policy import WitnessPolicy
from app.main import create_app
from tests.auth_helpers import make_auth_headers
from tests.factories import create_case
from tests.ledger.factories import append_committed
from tests.ledger.test_tamper import bypassing_triggers
from tests.servers import WitnessProcess
from tests.webhooks.receiver import Receiver, ReceiverServer

pytestmark = [pytest.mark.real_commits, pytest.mark.slow]  # three witness processes per test, started for it
LEDGER = "/api/v1/ledger"
AGENCIES = ("bawaslu", "bkn", "kasn")


@pytest.fixture
def witnesses(tmp_path: Path, settings: Settings) -> Iterator[list[WitnessProcess]]:
    log_key = load_signer(settings.ledger_key_path, settings.ledger_origin).verifier().text()
    folder = tmp_path / "witnesses"
    processes = [WitnessProcess(folder, f"witness.{agency}.test/sbt", [log_key]) for agency in AGENCIES]
    try:
        for process in processes:
            process.launch()
        for process in processes:
            process.wait()
        yield processes
    finally:  # also when one did not start: none is left running
        for process in processes:
            process.stop()


@pytest.fixture
def witnessed(settings: Settings, witnesses: list[WitnessProcess]) -> Settings:
    return settings.model_copy(
        update={
            "witnesses": [(w.url, w.vkey()) for w in witnesses],
            "witness_quorum": 2,
            "witness_interval_seconds": 0,  # the tests run the rounds themselves
            "witness_grace_seconds": 0,
            "ledger_checkpoint_max_entries": 1,  # every write signs a checkpoint
            "metrics_enabled": True,
        }
    )


@pytest.fixture
def service(witnessed: Settings) -> Iterator[FastAPI]:
    app = create_app(witnessed)
    yield app
    app.state.engine.dispose()


def round_(app: FastAPI) -> int | None:
    size: int | None = app.state.witnessing.run_once()
    return size


def policy_options(witnesses: list[WitnessProcess], quorum: int = 2) -> list[str]:
    return [option for w in witnesses for option in ("--witness", w.vkey())] + ["--quorum", str(quorum)]


def verify(app: FastAPI, tmp_path: Path, options: list[str]) -> Any:
    export = tmp_path / "ledger.ndjson"
    from app.ledger.export import export_records
    from app.ledger.verify import ndjson_chunks

    records = export_records(app.state.sessionmaker, app.state.settings)
    export.write_bytes(b"".join(ndjson_chunks(records)))
    return CliRunner().invoke(ledger_cli, ["verify", str(export), *options])


def test_checkpoints_are_cosigned_by_the_quorum_and_published_with_the_cosignatures(
    service: FastAPI, witnesses: list[WitnessProcess], tmp_path: Path
) -> None:
    with TestClient(service) as client:
        headers = make_auth_headers(service)
        case = create_case(client, headers("BAWASLU"))
        size = round_(service)
        checkpoint = client.get(f"{LEDGER}/checkpoint", headers=headers("auditor")).json()
        assert checkpoint["tree_size"] == size
        keys = [CosignatureVerifier.parse(w.vkey()) for w in witnesses]
        policy = WitnessPolicy.threshold(keys, 3)
        assert policy.cosigned_by(checkpoint["note"]) == {w.name for w in witnesses}
        assert client.get("/ready").json() == {"status": "ready"}
        assert f"sbt_ledger_witnessed_tree_size {float(size or 0)}" in client.get("/metrics").text

        # The log forgets what it knew of the witnesses: each answers 409 with its size, and is asked again.
        with service.state.engine.begin() as conn:
            conn.execute(text("DELETE FROM ledger_witness"))
        create_case(client, headers("BAWASLU"))
        newer = round_(service)
        note = client.get(f"{LEDGER}/checkpoint", headers=headers("auditor")).json()["note"]
        assert (newer or 0) > (size or 0)
        assert policy.cosigned_by(note) == {w.name for w in witnesses}

        # Subscribers to checkpoint.witnessed are told of the newest witnessed checkpoint, once.
        with ReceiverServer(Receiver()) as receiver:
            hook = {"url": receiver.url, "event_types": ["checkpoint.witnessed"], "instansi_codes": ["73.06"]}
            assert client.post("/api/v1/webhooks", json=hook, headers=headers("KEMENDAGRI")).status_code == 201
            service.state.scheduler.run_once()
            service.state.scheduler.run_once()
            [told] = receiver.receiver.processed.values()
        assert told.message["type"] == "checkpoint.witnessed"
        assert told.message["data"]["tree_size"] == newer
        assert told.message["data"]["note"] == note
        assert policy.cosigned_by(told.message["data"]["note"]) == {w.name for w in witnesses}

        bundle = client.get(f"{LEDGER}/cases/{case['id']}/evidence", headers=headers("auditor"))
        assert verify_evidence(bundle.content, policy=policy).witnessed_by == sorted(w.name for w in witnesses)

    result = verify(service, tmp_path, policy_options(witnesses))
    assert result.exit_code == 0, result.output
    assert "latest checkpoint cosigned by witness.bawaslu.test/sbt, witness.bkn.test/sbt" in result.output
    policy_file = tmp_path / "policy.txt"
    policy_file.write_text(
        "".join(f"witness {agency} {w.vkey()} {w.url}\n" for agency, w in zip(AGENCIES, witnesses, strict=True))
        + "group agencies 2 bawaslu bkn kasn\nquorum agencies\n"
    )
    assert verify(service, tmp_path, ["--policy", str(policy_file)]).exit_code == 0


def test_writes_go_on_while_witnesses_are_down_and_the_checkpoint_is_unwitnessed_without_the_quorum(
    service: FastAPI, witnesses: list[WitnessProcess], tmp_path: Path
) -> None:
    with TestClient(service) as client:
        headers = make_auth_headers(service)
        create_case(client, headers("BAWASLU"))
        round_(service)
        witnesses[0].kill()
        create_case(client, headers("BAWASLU"))  # a minority down: writes and the quorum both hold
        round_(service)
        assert client.get("/ready").json() == {"status": "ready"}

        witnesses[1].kill()
        create_case(client, headers("BAWASLU"))  # the quorum is gone; writes are not
        latest = round_(service)
        ready = client.get("/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded"
        assert body["witnessing"]["checkpoint_tree_size"] == latest
        assert body["witnessing"]["witnessed_tree_size"] < latest
        assert set(body["witnessing"]["problems"]) == {witnesses[0].name, witnesses[1].name}
        assert all("unreachable" in problem for problem in body["witnessing"]["problems"].values())
        result = verify(service, tmp_path, policy_options(witnesses))
        assert result.exit_code == 1
        assert f"checkpoint {latest} (export) is not witnessed" in result.output

        witnesses[0].start()  # restarted with its state: it cosigns again from where it was
        round_(service)
        assert client.get("/ready").json() == {"status": "ready"}
    assert verify(service, tmp_path, policy_options(witnesses)).exit_code == 0


@pytest.mark.parametrize("appended", [2, 5], ids=["fork-same-size", "tail-rewritten-longer"])
def test_a_rewritten_log_is_refused_by_every_witness_and_fails_the_verifier(
    witnessed: Settings, witnesses: list[WitnessProcess], tmp_path: Path, appended: int
) -> None:
    first = create_app(witnessed)
    append_committed(first, 6)
    assert round_(first) == 6
    with first.state.engine.connect() as conn:
        cosigned = conn.execute(text("SELECT note FROM ledger_checkpoint WHERE tree_size = 6")).scalar_one()
    # A database administrator cuts the last two entries with what covers them, and the service restarts.
    with bypassing_triggers(first.state.engine) as conn:
        conn.execute(text("DELETE FROM ledger_entry WHERE seq >= 4"))
        conn.execute(text("DELETE FROM ledger_node WHERE (position + 1) * (1 << level) > 4"))
        conn.execute(text("DELETE FROM ledger_checkpoint WHERE tree_size > 4"))
        conn.execute(text("DELETE FROM ledger_cosignature WHERE tree_size > 4"))
    first.state.engine.dispose()
    second = create_app(witnessed)
    try:
        append_committed(second, appended, rewritten=True)
        size = 4 + appended
        assert round_(second) == size
        with TestClient(second) as client:
            body = client.get("/ready").json()
        assert body["status"] == "degraded"
        assert "witnessed_tree_size" not in body["witnessing"]  # none yet: the cut took the witnessed ones
        assert all("HTTP 422" in problem for problem in body["witnessing"]["problems"].values())
        assert set(body["witnessing"]["problems"]) == {w.name for w in witnesses}

        result = verify(second, tmp_path, policy_options(witnesses))
        assert result.exit_code == 1
        assert f"checkpoint {size} (export) is not witnessed: valid cosignatures by no witness" in result.output
        # Without the policy, nobody holding an old checkpoint would notice the rewrite.
        assert verify(second, tmp_path, []).exit_code == 0
    finally:
        second.state.engine.dispose()
    if appended == 2:
        # The fork itself, sent as the same size again: each witness holds the cosigned root and refuses.
        with second.state.engine.connect() as conn:
            forked = conn.execute(text("SELECT note FROM ledger_checkpoint WHERE tree_size = 6")).scalar_one()
        assert Checkpoint.parse_body(forked.partition("\n\n")[0] + "\n") != Checkpoint.parse_body(
            cosigned.partition("\n\n")[0] + "\n"
        )
        for witness in witnesses:
            answer = httpx.post(
                f"{witness.url}/add-checkpoint", content=AddCheckpoint(6, [], forked).encode(), timeout=10
            )
            assert answer.status_code == 422
