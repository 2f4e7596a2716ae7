"""``sbt keys rotate --ledger``: a ``ledger.key_rotated`` entry, authorised by the previous key in the checkpoint
that ends with it, then checkpoints by the new key; the offline verifier follows the chain (decision 0036)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings
from app.core.db import transaction
from app.ledger import sequencer, service
from app.ledger.canonical import canonical_json
from app.ledger.cosignature import AddCheckpoint, Cosigner
from app.ledger.key_rotation import KeyRotation, rotation_payload
from app.ledger.merkle import leaf_hash
from app.ledger.note import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint
from app.ledger.replay import replay
from app.ledger.signing import next_key_path
from app.ledger.verify import VerificationReport, verify_export
from app.witness.service import Witness
from app.witness.state import WitnessState
from tests.auth_helpers import AuthHeaders
from tests.ledger.factories import append_committed, write_context

LEDGER = "/api/v1/ledger"


def rotate(app: FastAPI) -> tuple[int, KeyRotation]:
    """Rotate as ``sbt keys rotate --ledger`` does; the rotation entry's position and the two keys."""
    factory, settings = app.state.sessionmaker, app.state.settings
    with transaction(factory) as session:
        pending, rotation = service.record_key_rotation(session, settings, write_context())
    (entry,) = sequencer.receipt(factory, settings, pending).entries
    return entry.seq, rotation


@dataclass(frozen=True)
class Rotated:
    seq: int
    rotation: KeyRotation
    old_private: NoteSigner
    auditor: dict[str, str]
    ndjson: Path
    binary: Path


@pytest.fixture
def rotated(app: FastAPI, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path) -> Rotated:
    """6 entries, a rotation (entry 6), 6 more; checkpoints at 1, 5, 7 (the rotation's), 11; the old private key
    kept aside, and the log exported in both formats."""
    app.state.settings.ledger_checkpoint_max_entries = 4
    append_committed(app, 6)
    old_private = NoteSigner.from_private_key_text(app.state.settings.ledger_key_path.read_text())
    seq, rotation = rotate(app)
    append_committed(app, 6)
    auditor = auth_headers("auditor")
    files: dict[str, Path] = {}
    for name, path in (("ndjson", "/export"), ("binary", "/export.bin")):
        files[name] = tmp_path / f"ledger.{name}"
        files[name].write_bytes(client.get(LEDGER + path, headers=auditor).content)
    return Rotated(seq, rotation, old_private, auditor, files["ndjson"], files["binary"])


def test_the_rotation_is_an_entry_whose_checkpoint_the_old_key_signs_then_the_new_key_signs(
    rotated: Rotated, client: TestClient, app: FastAPI
) -> None:
    seq, rotation, auditor = rotated.seq, rotated.rotation, rotated.auditor
    old, new = rotation.previous, rotation.new
    entry = client.get(f"{LEDGER}/entries/{seq}", headers=auditor).json()
    assert entry["entry_type"] == "ledger.key_rotated"
    assert entry["payload"] == rotation_payload(new, old)
    assert entry["payload"]["key_id"] == new.key_id.hex()

    authorising = client.get(f"{LEDGER}/checkpoints/{seq + 1}", headers=auditor).json()
    assert authorising["verifier_key"] == old.text()
    open_checkpoint(authorising["note"], old)  # the old checkpoints stay verifiable under the old key
    earlier = client.get(f"{LEDGER}/checkpoints/5", headers=auditor).json()
    assert open_checkpoint(earlier["note"], old).tree_size == 5
    latest = client.get(f"{LEDGER}/checkpoint?fresh=true", headers=auditor).json()
    assert latest["tree_size"] == 13
    assert latest["verifier_key"] == new.text()
    open_checkpoint(latest["note"], new)
    keys = client.get(f"{LEDGER}/verifier-key", headers=auditor).json()
    assert (keys["verifier_key"], keys["first_verifier_key"]) == (new.text(), old.text())
    # The new key has taken the key file's place: the retired private key is gone.
    signer = NoteSigner.from_private_key_text(app.state.settings.ledger_key_path.read_text())
    assert signer.verifier() == new
    assert not next_key_path(app.state.settings.ledger_key_path).exists()


@pytest.mark.parametrize("export", ["ndjson", "binary"])
def test_the_export_verifies_across_the_rotation(rotated: Rotated, export: str) -> None:
    rotation = rotated.rotation
    path = rotated.ndjson if export == "ndjson" else rotated.binary
    report = verify_export(path)
    assert report.ok, report.findings
    assert report.verifier_key == rotation.previous.text()
    assert report.keys == [rotation.previous.text(), rotation.new.text()]
    assert report.latest_checkpoint is not None
    assert report.latest_checkpoint.signed_by == rotation.new
    for pinned in (rotation.previous, rotation.new):
        assert verify_export(path, verifier_key=pinned).ok
    stranger = NoteSigner.generate(rotation.new.name).verifier()
    assert "is not one of the log's keys" in _reasons(verify_export(path, verifier_key=stranger))


def _reasons(report: VerificationReport) -> str:
    assert not report.ok
    return "\n".join(str(finding) for finding in report.findings)


def _edited(path: Path, edit: Callable[[list[dict[str, object]]], list[dict[str, object]]]) -> Path:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    edited = path.with_name("edited.ndjson")
    edited.write_text("".join(json.dumps(record) + "\n" for record in edit(records)))
    return edited


def _checkpoint_size(record: dict[str, object]) -> int:
    return int(str(record["note"]).split("\n")[1])


def _rotation_leaf(records: list[dict[str, object]], seq: int) -> tuple[dict[str, object], dict[str, object]]:
    record = next(r for r in records if r["kind"] == "entry" and r["seq"] == seq)
    return record, json.loads(base64.b64decode(str(record["leaf"])))


def test_without_the_checkpoint_the_old_key_signed_the_rotation_is_not_authorised(
    rotated: Rotated,
) -> None:
    seq = rotated.seq
    edited = _edited(
        rotated.ndjson, lambda rs: [r for r in rs if r["kind"] != "checkpoint" or _checkpoint_size(r) != seq + 1]
    )
    assert f"entry {seq}: key rotation to" in _reasons(verify_export(edited))
    assert "is not authorised by the previous key: no checkpoint of size 7 signed by" in _reasons(verify_export(edited))


def test_a_rotation_entry_rewritten_to_another_key_fails_and_the_new_checkpoints_are_unrecorded(
    rotated: Rotated,
) -> None:
    seq, rotation = rotated.seq, rotated.rotation
    attacker = NoteSigner.generate(rotation.new.name)

    def rewrite(records: list[dict[str, object]]) -> list[dict[str, object]]:
        record, leaf = _rotation_leaf(records, seq)
        leaf["payload"] = rotation_payload(attacker.verifier(), rotation.previous)
        data = canonical_json(leaf)
        record["leaf"] = base64.b64encode(data).decode()
        record["leaf_hash"] = base64.b64encode(leaf_hash(data)).decode()  # even with its hash recomputed
        return records

    reasons = _reasons(verify_export(_edited(rotated.ndjson, rewrite)))
    assert f"entry {seq}: entry differs from the one committed to by checkpoint 7" in reasons
    assert "not by a key the log recorded" in reasons


def test_a_rotation_naming_another_previous_key_is_not_authorised(rotated: Rotated) -> None:
    seq, rotation = rotated.seq, rotated.rotation

    def rewrite(records: list[dict[str, object]]) -> list[dict[str, object]]:
        record, leaf = _rotation_leaf(records, seq)
        leaf["payload"] = rotation_payload(rotation.new, NoteSigner.generate(rotation.new.name).verifier())
        record["leaf"] = base64.b64encode(canonical_json(leaf)).decode()
        return records

    reasons = _reasons(verify_export(_edited(rotated.ndjson, rewrite)))
    assert "is not authorised: it names" in reasons
    assert f"but the log's key there is {rotation.previous.text()}" in reasons


def _with_checkpoint(note: str) -> Callable[[list[dict[str, object]]], list[dict[str, object]]]:
    def add(records: list[dict[str, object]]) -> list[dict[str, object]]:
        return [records[0], {"kind": "checkpoint", "note": note}, *records[1:]]

    return add


def test_a_checkpoint_signed_by_an_unrecorded_key_fails(rotated: Rotated) -> None:
    rotation = rotated.rotation
    forged = NoteSigner.generate(rotation.new.name).sign(Checkpoint(rotation.new.name, 13, b"\x01" * 32).body())
    reasons = _reasons(verify_export(_edited(rotated.ndjson, _with_checkpoint(forged))))
    assert "checkpoint 13 from export rejected: signed by" in reasons
    assert "not by a key the log recorded" in reasons


def test_the_retired_key_signs_nothing_after_its_rotation_and_the_new_key_nothing_before(
    rotated: Rotated, app: FastAPI
) -> None:
    seq, old_private = rotated.seq, rotated.old_private
    origin = app.state.settings.ledger_origin
    late = old_private.sign(Checkpoint(origin, seq + 3, b"\x02" * 32).body())
    assert "it was retired after size 7 by the rotation at entry 6" in _reasons(
        verify_export(_edited(rotated.ndjson, _with_checkpoint(late)))
    )
    new_private = NoteSigner.from_private_key_text(app.state.settings.ledger_key_path.read_text())
    early = new_private.sign(Checkpoint(origin, seq - 1, b"\x03" * 32).body())
    assert "it signs only from size 7, after its rotation entry 6" in _reasons(
        verify_export(_edited(rotated.ndjson, _with_checkpoint(early)))
    )


def test_the_replay_accepts_the_rotation_entry(rotated: Rotated) -> None:
    """(The state audit across a rotation: ``sbt ledger audit-state`` in the command test below.)"""
    records = [json.loads(line) for line in rotated.ndjson.read_text().splitlines()]
    _, leaf = _rotation_leaf(records, rotated.seq)
    assert leaf["type"] == "ledger.key_rotated"
    replayed = replay([leaf])
    assert (replayed.cases, replayed.records) == ({}, {}), "it changes no table"


def test_a_witness_given_both_keys_cosigns_across_the_rotation(
    rotated: Rotated, client: TestClient, tmp_path: Path
) -> None:
    rotation, auditor = rotated.rotation, rotated.auditor
    before = client.get(f"{LEDGER}/checkpoints/5", headers=auditor).json()
    after = client.get(f"{LEDGER}/checkpoint?fresh=true", headers=auditor).json()
    proof = client.get(f"{LEDGER}/proofs/consistency", params={"first": 5, "second": after["tree_size"]},
                       headers=auditor).json()["hashes"]  # fmt: skip
    cosigner = Cosigner.generate("witness.bkn.example/sbt")

    def submit(witness: Witness, old_size: int, note: str, hashes: list[str]) -> int:
        body = f"old {old_size}\n" + "".join(h + "\n" for h in hashes) + "\n" + note.split("\n\n")[0] + "\n\n"
        body += "".join(line + "\n" for line in note.split("\n\n", 1)[1].splitlines() if line.startswith("— "))
        assert AddCheckpoint.parse(body.encode())
        return witness.add_checkpoint(body.encode()).status

    only_old = Witness(cosigner, [rotation.previous], WitnessState(tmp_path / "old.db"))
    assert submit(only_old, 0, before["note"], []) == 200
    assert submit(only_old, 5, after["note"], proof) == 403, "the operator step: give the witness the new key"
    both = Witness(cosigner, [rotation.previous, rotation.new], WitnessState(tmp_path / "both.db"))
    assert submit(both, 0, before["note"], []) == 200
    assert submit(both, 5, after["note"], proof) == 200


@pytest.mark.real_commits  # the CLI opens its own engine
def test_the_commands_prepare_rotate_export_and_verify(cli_env: Settings, app: FastAPI, tmp_path: Path) -> None:
    append_committed(app, 3)
    runner = CliRunner()
    first = service.signer_for(cli_env).verifier().text()
    prepared = runner.invoke(cli, ["keys", "rotate", "--ledger", "--prepare"])
    assert prepared.exit_code == 0, prepared.output
    announced = prepared.stdout.strip()
    NoteVerifier.parse(announced)
    rotated = runner.invoke(cli, ["keys", "rotate", "--ledger"])
    assert rotated.exit_code == 0, rotated.output
    assert f"rotation entry 3: checkpoint 4 signed by {first}" in rotated.stdout
    assert f"new checkpoints are signed by {announced}" in rotated.stdout, "the prepared key is the one introduced"
    append_committed(app, 2)
    output = tmp_path / "ledger.sbtlog"
    assert runner.invoke(cli, ["ledger", "export", "-o", str(output), "--format", "binary"]).exit_code == 0
    verified = runner.invoke(cli, ["ledger", "verify", str(output), "--key", first])
    assert verified.exit_code == 0, verified.output
    assert f"rotation 1:  {announced}" in verified.stdout
    audited = runner.invoke(cli, ["ledger", "audit-state"])
    assert audited.exit_code == 0, audited.output


def test_a_second_rotation_waits_for_the_first_and_the_chain_of_three_keys_verifies(
    app: FastAPI, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    client = TestClient(app)  # not started: no integrator thread sequences the first rotation before the second try
    factory, settings = app.state.sessionmaker, app.state.settings
    append_committed(app, 2)
    with transaction(factory) as session:
        pending, first = service.record_key_rotation(session, settings, write_context())
    with (
        pytest.raises(service.RotationRefused, match="already waiting to be sequenced"),
        transaction(factory) as session,
    ):
        service.record_key_rotation(session, settings, write_context())
    sequencer.receipt(factory, settings, pending)
    _, second = rotate(app)
    assert second.previous == first.new, "the second rotation replaces the key the first introduced"
    append_committed(app, 2)
    path = tmp_path / "ledger.sbtlog"
    path.write_bytes(client.get(LEDGER + "/export.bin", headers=auth_headers("auditor")).content)
    report = verify_export(path, verifier_key=first.previous)
    assert report.ok, report.findings
    assert report.keys == [first.previous.text(), first.new.text(), second.new.text()]
