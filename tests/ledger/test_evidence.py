"""A case's evidence bundle: served over HTTP, verified offline, and refused once anything in it is changed."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli.ledger import ledger_cli
from app.ledger.note import NoteSigner, NoteVerifier, open_note
from app.ledger.verify_evidence import EvidenceError, verify_evidence
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, transition

LEDGER = "/api/v1/ledger"


@pytest.fixture
def history(client: TestClient, auth_headers: AuthHeaders) -> dict[str, Any]:
    """A case with a few steps, interleaved with another case's: the bundle, its bytes and the log's key."""
    bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
    case = create_case(client, bawaslu)
    other = create_case(client, bawaslu)
    case = transition(client, bawaslu, case, "verify")
    transition(client, bawaslu, other, "verify")
    record = client.post(f"/api/v1/cases/{case['id']}/records", json={"nip": case["nip"]}, headers=bkn)
    assert record.status_code == 201, record.text
    updated = client.patch(
        record.headers["Location"], json={"notes": "lengkap"}, headers=bkn | {"If-Match": record.headers["ETag"]}
    )
    assert updated.status_code == 200, updated.text
    response = client.get(f"{LEDGER}/cases/{case['id']}/evidence", headers=auth_headers("auditor"))
    assert response.status_code == 200, response.text
    key = client.get(f"{LEDGER}/verifier-key", headers=auth_headers("auditor")).json()["verifier_key"]
    entries = client.get(f"{LEDGER}/cases/{case['id']}/entries", headers=auth_headers("auditor")).json()["items"]
    return {"case": case, "raw": response.content, "bundle": response.json(), "key": key, "entries": entries}


def _verify(raw: bytes, key: str) -> None:
    verify_evidence(raw, NoteVerifier.parse(key))


def _encoded(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode()


def test_the_bundle_verifies_offline_and_holds_the_whole_history(history: dict[str, Any], tmp_path: Path) -> None:
    bundle = history["bundle"]
    assert [entry["seq"] for entry in bundle["entries"]] == [entry["seq"] for entry in history["entries"]]
    assert len(bundle["entries"]) >= 5
    report = verify_evidence(history["raw"], NoteVerifier.parse(history["key"]))
    assert report.case_id == history["case"]["id"]
    assert report.unlinked == 0
    path = tmp_path / "case.evidence.json"
    path.write_bytes(history["raw"])
    result = CliRunner().invoke(ledger_cli, ["verify-evidence", str(path), "--key", history["key"]])
    assert result.exit_code == 0, result.output
    assert f"entries:     {len(bundle['entries'])} " in result.output
    assert "(pinned)" in result.output
    assert result.output.rstrip().endswith("the log's signed case head names the last.")


@pytest.mark.slow  # every byte, two ways: ~30 000 verifications
def test_flipping_any_byte_of_the_bundle_fails_verification(history: dict[str, Any]) -> None:
    raw: bytes = history["raw"]
    verifier = NoteVerifier.parse(history["key"])
    passed = []
    for position in range(len(raw)):
        for mask in (0x01, 0x20):
            flipped = raw[:position] + bytes([raw[position] ^ mask]) + raw[position + 1 :]
            try:
                verify_evidence(flipped, verifier)
            except EvidenceError:
                continue
            passed.append((position, mask, raw[max(0, position - 20) : position + 20]))
    assert passed == []


def _region(bundle: dict[str, Any], where: str) -> tuple[str, int]:
    """One part of the bundle as it appears in the JSON text, and the offset of the character to change in it."""
    entry = bundle["entries"][len(bundle["entries"]) // 2]
    head = bundle["case_head"].split("\n")
    first_digit = next(i for i, ch in enumerate(bundle["case_id"]) if ch.isdigit())
    parts: dict[str, tuple[str, int]] = {
        "entry seq": (f'"seq":{entry["seq"]},"leaf":"{entry["leaf"][:8]}', len('"seq":')),
        "entry leaf": (entry["leaf"][40:60], 10),
        "entry leaf_hash": (f'"leaf_hash":"{entry["leaf_hash"]}"', 16),
        "first proof hash": (f'"inclusion_proof":["{entry["inclusion_proof"][0]}', 25),
        "last proof hash": (f'"{entry["inclusion_proof"][-1]}"]', 10),
        "checkpoint size": ("\\n" + bundle["checkpoint"].split("\n")[1] + "\\n", 2),
        "checkpoint signature": (bundle["checkpoint"].rsplit(" ", 1)[1][:20], 12),
        "case head count": ("\\n".join(head[3:6]), len(head[3]) + 2),
        "case head signature": (bundle["case_head"].rsplit(" ", 1)[1][:20], 12),
        "verifier key": (bundle["verifier_key"][-20:], 10),
        "case id": (f'"case_id":"{bundle["case_id"]}"', len('"case_id":"') + first_digit),
        "format": (bundle["format"], 9),
    }
    return parts[where]


def _changed(character: str) -> str:
    """Another character of the same kind (digit, hex letter, letter, base64 symbol): the JSON stays well-formed."""
    for alphabet in ("0123456789", "abcdef", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "+/"):
        if character in alphabet:
            return alphabet[(alphabet.index(character) + 1) % len(alphabet)]
    raise AssertionError(f"no replacement for {character!r}")


@pytest.mark.parametrize(
    ("where", "refusal"),
    [
        ("entry seq", "log order|checkpointed tree"),
        ("entry leaf", "leaf_hash is not the hash of its leaf"),
        ("entry leaf_hash", "leaf_hash is not the hash of its leaf"),
        ("first proof hash", "is not in the checkpointed tree"),
        ("last proof hash", "is not in the checkpointed tree"),
        ("checkpoint size", "checkpoint: signature .* does not verify"),
        ("checkpoint signature", "checkpoint: signature .* does not verify"),
        ("case head count", "case_head: signature .* does not verify"),
        ("case head signature", "case_head: signature .* does not verify"),
        ("verifier key", "verifier_key: "),
        ("case id", "is about case"),
        ("format", "bundle format is"),
    ],
)
def test_a_changed_character_in_each_part_fails_the_command_with_one_line(
    history: dict[str, Any], where: str, refusal: str, tmp_path: Path
) -> None:
    raw: bytes = history["raw"]
    text, offset = _region(history["bundle"], where)
    position = raw.index(text.encode()) + offset
    path = tmp_path / "changed.json"
    path.write_bytes(raw[:position] + _changed(chr(raw[position])).encode() + raw[position + 1 :])
    result = CliRunner().invoke(ledger_cli, ["verify-evidence", str(path), "--key", history["key"]])
    assert result.exit_code == 1
    assert re.match(f"FAILED: .*({refusal})", result.output), result.output
    assert result.output.count("\n") == 1, result.output


@pytest.mark.parametrize("index", range(5))
def test_removing_any_one_entry_of_the_history_fails(history: dict[str, Any], index: int) -> None:
    bundle = history["bundle"]
    removed = bundle["entries"][index]["seq"]
    bundle["entries"] = bundle["entries"][:index] + bundle["entries"][index + 1 :]
    with pytest.raises(EvidenceError) as refused:
        _verify(_encoded(bundle), history["key"])
    assert str(removed) in str(refused.value) or "case head" in str(refused.value)


def test_reordering_the_history_fails(history: dict[str, Any]) -> None:
    bundle = history["bundle"]
    entries = bundle["entries"]
    for reordered in (entries[::-1], [entries[1], entries[0], *entries[2:]], [*entries[:-2], entries[-1], entries[-2]]):
        with pytest.raises(EvidenceError, match="not in log order"):
            _verify(_encoded({**bundle, "entries": reordered}), history["key"])


def test_a_bundle_re_signed_with_another_key_fails_against_the_pinned_key(history: dict[str, Any]) -> None:
    """Only the pinned key makes the bundle evidence: anyone can sign a consistent-looking bundle with their own."""
    bundle = history["bundle"]
    forger = NoteSigner.generate(bundle["key_name"])
    signed_by_log = NoteVerifier.parse(bundle["verifier_key"])
    forged = {
        **bundle,
        "verifier_key": forger.verifier().text(),
        "checkpoint": forger.sign(open_note(bundle["checkpoint"], signed_by_log)),
        "case_head": forger.sign(open_note(bundle["case_head"], signed_by_log)),
    }
    verify_evidence(_encoded(forged))  # self-consistent when nothing is pinned
    with pytest.raises(EvidenceError, match="not the pinned key"):
        _verify(_encoded(forged), history["key"])


def test_leaving_out_the_newest_entry_fails_on_the_signed_case_head(history: dict[str, Any]) -> None:
    bundle = history["bundle"]
    with pytest.raises(EvidenceError, match="signed case head states entry count"):
        _verify(_encoded({**bundle, "entries": bundle["entries"][:-1]}), history["key"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "bundle is not JSON"),
        (b"\xff\xfe", "bundle is not UTF-8"),
        (b"[]", "bundle is not an object"),
        (b'{"format":"sbt-case-evidence/1"}', "missing fields"),
    ],
)
def test_an_unreadable_bundle_fails_with_one_line(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(content)
    result = CliRunner().invoke(ledger_cli, ["verify-evidence", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert message in result.output


def test_a_missing_file_or_a_bad_key_is_one_line_and_exit_2(history: dict[str, Any], tmp_path: Path) -> None:
    missing = CliRunner().invoke(ledger_cli, ["verify-evidence", str(tmp_path / "absent.json")])
    assert missing.exit_code == 2
    assert missing.output == f"error: {tmp_path / 'absent.json'}: No such file or directory\n"
    path = tmp_path / "bundle.json"
    path.write_bytes(history["raw"])
    bad_key = CliRunner().invoke(ledger_cli, ["verify-evidence", str(path), "--key", "not+a+key"])
    assert bad_key.exit_code == 2
    assert bad_key.output == "error: --key: malformed verifier key\n"


def test_an_agency_reads_the_evidence_of_the_cases_it_holds_a_record_of(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    path = f"{LEDGER}/cases/{case['id']}/evidence"
    assert client.get(path, headers=auth_headers("BAWASLU")).status_code == 200
    assert client.get(path, headers=auth_headers("BKN")).status_code == 404
    client.post(f"/api/v1/cases/{case['id']}/records", json={"nip": case["nip"]}, headers=auth_headers("BKN"))
    assert client.get(path, headers=auth_headers("BKN")).status_code == 200
    unknown = client.get(f"{LEDGER}/cases/{uuid.uuid4()}/evidence", headers=auth_headers("auditor"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
