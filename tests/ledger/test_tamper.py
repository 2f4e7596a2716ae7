"""An attacker with database access edits, deletes, reorders or truncates the ledger behind the service's back.

The offline verifier must name the first bad entry, in either export format, and a checkpoint the auditor saved
beforehand must prove it; a tail cut under checkpoints the log still holds fails without any saved checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner

from app.cli.ledger import ledger_cli
from app.ledger.canonical import canonical_json
from app.ledger.merkle import leaf_hash
from app.ledger.note import NoteVerifier
from app.ledger.verify import VerificationReport, verify_export
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload
from tests.ledger.factories import append_committed
from tests.problems import assert_problem

LEDGER = "/api/v1/ledger"
ENTRIES = 20


@contextmanager
def bypassing_triggers(engine: Engine) -> Iterator[Connection]:
    """What an attacker with database access does to get past the append-only triggers."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            yield conn
            return
        triggers = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'ledger%'")
        ).all()
        for name, _sql in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        yield conn
        for _name, sql in triggers:
            conn.execute(text(sql))


def _forged_leaf(conn: Connection, seq: int) -> bytes:
    import json

    data = conn.execute(text("SELECT leaf_data FROM ledger_entry WHERE seq = :s"), {"s": seq}).scalar_one()
    content = json.loads(bytes(data))
    content["payload"]["number"] = 999
    return canonical_json(content)


def edit_content(conn: Connection) -> None:
    conn.execute(text("UPDATE ledger_entry SET leaf_data = :d WHERE seq = 7"), {"d": _forged_leaf(conn, 7)})


def edit_content_and_its_hash(conn: Connection) -> None:
    forged = _forged_leaf(conn, 7)
    conn.execute(
        text("UPDATE ledger_entry SET leaf_data = :d, leaf_hash = :h WHERE seq = 7"),
        {"d": forged, "h": leaf_hash(forged)},
    )


def delete_one(conn: Connection) -> None:
    conn.execute(text("DELETE FROM ledger_entry WHERE seq = 7"))


def reorder_two(conn: Connection) -> None:
    conn.execute(text("UPDATE ledger_entry SET seq = 1000000 WHERE seq = 7"))
    conn.execute(text("UPDATE ledger_entry SET seq = 7 WHERE seq = 12"))
    conn.execute(text("UPDATE ledger_entry SET seq = 12 WHERE seq = 1000000"))


def truncate_tail(conn: Connection) -> None:
    conn.execute(text("DELETE FROM ledger_entry WHERE seq >= 15"))
    conn.execute(text("DELETE FROM ledger_node WHERE ((position + 1) * (1 << level)) > 15"))


TAMPERING: dict[str, tuple[Callable[[Connection], None], int]] = {
    "edit one entry": (edit_content, 7),
    "edit one entry and its stored hash": (edit_content_and_its_hash, 7),
    "delete one entry": (delete_one, 7),
    "reorder two entries": (reorder_two, 7),
    "truncate the tail": (truncate_tail, 15),
}


EXPORTS = {"ndjson": "/export", "binary": "/export.bin"}


def _export(client: TestClient, headers: dict[str, str], path: Path, export: str = "ndjson") -> Path:
    response = client.get(LEDGER + EXPORTS[export], headers=headers)
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return path


def _problem_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("TAMPERED", "  - "))]


@pytest.mark.real_commits  # tampers through a second connection
@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("attack", TAMPERING, ids=list(TAMPERING))
def test_verifier_names_the_first_bad_entry_and_the_saved_checkpoint_proves_it(
    attack: str, export: str, app: FastAPI, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    tamper, first_bad = TAMPERING[attack]
    auditor = auth_headers("auditor")
    app.state.settings.ledger_checkpoint_max_entries = 4
    append_committed(app, ENTRIES)
    key = NoteVerifier.parse(client.get(f"{LEDGER}/verifier-key", headers=auditor).json()["verifier_key"])
    saved = client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=auditor).json()["note"]
    before = verify_export(_export(client, auditor, tmp_path / "before", export), verifier_key=key)
    assert before.ok, before.findings
    assert before.entries == ENTRIES

    with bypassing_triggers(app.state.engine) as conn:
        tamper(conn)
        conn.execute(text("DELETE FROM ledger_checkpoint"))  # and cover the tracks

    exported = _export(client, auditor, tmp_path / "after", export)
    report: VerificationReport = verify_export(exported, verifier_key=key, saved_checkpoints={"saved.note": saved})
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.seq == first_bad, [str(f) for f in report.findings]
    assert any("saved.note" in f.reason for f in report.findings), [str(f) for f in report.findings]

    (tmp_path / "saved.note").write_text(saved)
    result = CliRunner().invoke(
        ledger_cli,
        ["verify", str(exported), "--key", key.text(), "--checkpoint", str(tmp_path / "saved.note")],
    )
    assert result.exit_code == 1, result.output
    assert f"first bad entry {first_bad}:" in result.output


def test_untouched_log_verifies_and_the_cli_saves_the_checkpoint_for_next_time(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    auditor = auth_headers("auditor")
    append_committed(app, 9)
    key = client.get(f"{LEDGER}/verifier-key", headers=auditor).json()["verifier_key"]
    exported = _export(client, auditor, tmp_path / "ledger.ndjson")
    saved = tmp_path / "latest.note"
    result = CliRunner().invoke(ledger_cli, ["verify", str(exported), "--key", key, "--save-checkpoint", str(saved)])
    assert result.exit_code == 0, result.output
    assert "OK:" in result.output
    assert saved.read_text().startswith("sbt.example.go.id/ledger\n9\n")

    append_committed(app, 4)
    later = _export(client, auditor, tmp_path / "later.ndjson")
    result = CliRunner().invoke(ledger_cli, ["verify", str(later), "--key", key, "--checkpoint", str(saved)])
    assert result.exit_code == 0, result.output


def test_checkpoint_signed_by_another_key_is_rejected(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    from app.ledger.note import Checkpoint, NoteSigner

    auditor = auth_headers("auditor")
    append_committed(app, 3)
    key = NoteVerifier.parse(client.get(f"{LEDGER}/verifier-key", headers=auditor).json()["verifier_key"])
    forger = NoteSigner.generate(key.name)
    forged = forger.sign(Checkpoint(key.name, 3, b"\x01" * 32).body())
    report = verify_export(
        _export(client, auditor, tmp_path / "l.ndjson"), verifier_key=key, saved_checkpoints={"forged": forged}
    )
    assert not report.ok
    assert "forged" in str(report.findings[0])


@pytest.mark.real_commits
@pytest.mark.parametrize("export", EXPORTS)
def test_a_tail_cut_under_kept_checkpoints_fails_verification_without_a_saved_checkpoint_and_ready_reports_it(
    export: str, app: FastAPI, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    auditor = auth_headers("auditor")
    app.state.settings.ledger_checkpoint_max_entries = 4
    append_committed(app, ENTRIES)
    assert client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=auditor).json()["tree_size"] == ENTRIES
    key = client.get(f"{LEDGER}/verifier-key", headers=auditor).json()["verifier_key"]
    assert client.get("/ready").json() == {"status": "ready"}

    with bypassing_triggers(app.state.engine) as conn:
        truncate_tail(conn)  # entries 15..19 and their nodes; checkpoints 17 and 20 stay

    exported = _export(client, auditor, tmp_path / "ledger", export)
    result = CliRunner().invoke(ledger_cli, ["verify", str(exported), "--key", key])
    assert result.exit_code == 1, result.output
    assert _problem_lines(result.output) == [
        "TAMPERED — first bad entry 15: entries 15..19 are missing (log truncated): "
        "checkpoint 17 (export), checkpoint 20 (export) cover them"
    ]

    ready = assert_problem(client.get("/ready"), 503)
    assert ready["type"].endswith("/ledger-integrity-failure")
    assert "checkpoint 20 was signed but the stored log has 15 entries" in ready["detail"]
    refused = assert_problem(client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU")), 503)
    assert refused["type"].endswith("/ledger-integrity-failure")
    fresh = assert_problem(client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=auditor), 503)
    assert "checkpoint 20" in fresh["detail"]


@pytest.mark.real_commits
def test_ready_reports_a_stored_tree_whose_root_is_no_longer_the_signed_one(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    append_committed(app, 8)
    assert (
        client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=auth_headers("auditor")).status_code == 200
    )
    with bypassing_triggers(app.state.engine) as conn:
        conn.execute(text("UPDATE ledger_node SET hash = :h WHERE level = 3 AND position = 0"), {"h": b"\x07" * 32})
    ready = assert_problem(client.get("/ready"), 503)
    assert ready["detail"] == (
        "Ledger integrity failure: the stored tree does not have the root signed by checkpoint 8."
    )


@pytest.mark.real_commits
def test_a_deleted_entry_is_named_once_however_long_the_log_after_it(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    auditor = auth_headers("auditor")
    app.state.settings.ledger_checkpoint_max_entries = 16
    append_committed(app, 300)
    key = client.get(f"{LEDGER}/verifier-key", headers=auditor).json()["verifier_key"]
    with bypassing_triggers(app.state.engine) as conn:
        delete_one(conn)
    exported = _export(client, auditor, tmp_path / "after.ndjson")
    result = CliRunner().invoke(ledger_cli, ["verify", str(exported), "--key", key])
    assert result.exit_code == 1, result.output
    problems = _problem_lines(result.output)
    assert problems[0] == "TAMPERED — first bad entry 7: entry 7 is missing (deleted): the next stored entry is 8"
    # Besides the gap: every checkpoint after it (19 of them) leads to the same entry, in one line.
    assert problems[1:] == [
        "  - entry 7: entry differs from the one committed to by checkpoint 17 (export), checkpoint 300 (export) "
        "and 17 others"
    ]


@pytest.mark.real_commits
def test_a_service_that_saw_a_checkpoint_signs_nothing_smaller_after_the_tail_and_its_checkpoints_are_deleted(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    """Without a witness only the running service remembers; it refuses to sign over the rewritten tail."""
    auditor = auth_headers("auditor")
    app.state.settings.ledger_checkpoint_max_entries = 4
    append_committed(app, ENTRIES)
    assert client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=auditor).json()["tree_size"] == ENTRIES
    assert client.get("/ready").status_code == 200  # reads (and remembers) checkpoint 20

    with bypassing_triggers(app.state.engine) as conn:
        truncate_tail(conn)
        conn.execute(text("DELETE FROM ledger_checkpoint WHERE tree_size > 15"))

    ready = assert_problem(client.get("/ready"), 503)
    assert ready["detail"] == "Ledger integrity failure: checkpoint 20, signed before, is no longer stored."
    fresh = assert_problem(client.get(f"{LEDGER}/checkpoint", params={"fresh": True}, headers=auditor), 503)
    assert fresh["detail"] == "checkpoint 20 was signed but the stored log has 15 entries"
    assert_problem(client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU")), 503)
    assert client.get(f"{LEDGER}/checkpoint", headers=auditor).json()["tree_size"] == 13
