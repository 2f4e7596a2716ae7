"""``sbt ledger verify`` answers unusable input — a bad key, an unreadable or garbled file, a failed download — with
one line on stderr and exit status 2, never a traceback; and both export formats verify alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli.ledger import ledger_cli
from app.core.config import Settings
from app.ledger import service, verify
from app.ledger.verify import BINARY_MAGIC, ExportFormatError, verify_export
from tests.auth_helpers import AuthHeaders
from tests.ledger.factories import append_committed

LEDGER = "/api/v1/ledger"


@pytest.fixture
def exports(app: FastAPI, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path) -> dict[str, Path]:
    """A valid export of a 12-entry log in each format, and the log's verifier key in a file."""
    app.state.settings.ledger_checkpoint_max_entries = 4
    append_committed(app, 12)
    auditor = auth_headers("auditor")
    files = {"key": tmp_path / "ledger.key"}
    files["key"].write_text(client.get(f"{LEDGER}/verifier-key", headers=auditor).json()["verifier_key"])
    for name, path in (("ndjson", "/export"), ("binary", "/export.bin")):
        files[name] = tmp_path / f"ledger.{name}"
        files[name].write_bytes(client.get(LEDGER + path, headers=auditor).content)
    return files


def _lines(text: str, transform: Callable[[list[str]], list[str]]) -> bytes:
    return "".join(line + "\n" for line in transform(text.splitlines())).encode()


def _record(kind: str, lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == kind)


def _replace(kind: str, field: str, value: object) -> Callable[[list[str]], list[str]]:
    def transform(lines: list[str]) -> list[str]:
        at = _record(kind, lines)
        lines[at] = json.dumps({**json.loads(lines[at]), field: value})
        return lines

    return transform


# name: (file bytes made from the valid export of that format, the message the one line must hold)
GARBLED_NDJSON: dict[str, tuple[Callable[[str], bytes], str]] = {
    "empty file": (lambda _text: b"", "does not start with a header"),
    "not UTF-8": (lambda _text: b"\xff\xfe\x00garbage\n", "line 1 is not UTF-8 text"),
    "not JSON": (lambda text: text[: len(text) // 2].encode() + b"\n" + text.encode(), "is not JSON"),
    "a JSON array": (lambda _text: b"[1, 2]\n", "line 1 is not an export record"),
    "another format": (lambda text: _lines(text, _replace("header", "format", "other/9")), "unsupported export format"),
    "no entry count": (lambda text: _lines(text, _replace("header", "entries", "many")), "how many entries"),
    "unusable key in the header": (
        lambda text: _lines(text, _replace("header", "verifier_key", "nope")),
        "no usable verifier key",
    ),
    "entry position not a number": (lambda text: _lines(text, _replace("entry", "seq", "7")), "is not an integer"),
    "leaf not base64": (lambda text: _lines(text, _replace("entry", "leaf", "%%%")), "leaf is not base64"),
    "node level not a number": (lambda text: _lines(text, _replace("node", "level", None)), "is not an integer"),
    "unknown record": (lambda text: _lines(text, _replace("node", "kind", "leaf")), "unknown record kind 'leaf'"),
    "header first only": (lambda text: _lines(text, lambda lines: lines[1:2] + lines), "does not start with a header"),
}
GARBLED_BINARY: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "cut short": (lambda data: data[:-300], "the file was cut short"),
    "no end marker": (lambda data: data[:-1], "the file was cut short"),
    "data after the end": (lambda data: data + b"Z", "data after the end"),
    "unknown record tag": (lambda _data: BINARY_MAGIC + b"Q" + bytes(40), "unknown record tag 0x51"),
    "header not JSON": (lambda _data: BINARY_MAGIC + b"H\x00\x00\x00\x03{{{Z", "unreadable H record"),
    "only the magic line": (lambda _data: BINARY_MAGIC, "cut short"),
    "an entry past its block": (lambda data: _shrink_first_entry_block(data), "runs past the end of its block"),
    "no header": (lambda data: BINARY_MAGIC + data[_after_header(data) :], "does not start with a header"),
}


def _after_header(data: bytes) -> int:
    """Where the record after the header starts: the magic line, ``H``, a u32 length, the header's JSON."""
    start = len(BINARY_MAGIC) + 1
    return start + 4 + int.from_bytes(data[start : start + 4], "big")


def _shrink_first_entry_block(data: bytes) -> bytes:
    """Declare the first entry block 10 bytes long: its first entry no longer fits."""
    at = _after_header(data)
    while data[at] != ord("E"):  # past the checkpoints: C, a u32 length, the note
        at += 5 + int.from_bytes(data[at + 1 : at + 5], "big")
    return data[: at + 1] + (10).to_bytes(4, "big") + data[at + 5 :]


def _assert_one_line_refusal(args: list[str], message: str) -> None:
    result = CliRunner().invoke(ledger_cli, ["verify", *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("garbling", GARBLED_NDJSON, ids=list(GARBLED_NDJSON))
def test_a_garbled_ndjson_export_is_one_line_and_exit_2(garbling: str, exports: dict[str, Path]) -> None:
    make, message = GARBLED_NDJSON[garbling]
    garbled = exports["ndjson"].with_name("garbled.ndjson")
    garbled.write_bytes(make(exports["ndjson"].read_text()))
    _assert_one_line_refusal([str(garbled)], message)  # no pinned key: the export's own is read too


@pytest.mark.parametrize("garbling", GARBLED_BINARY, ids=list(GARBLED_BINARY))
def test_a_garbled_binary_export_is_one_line_and_exit_2(garbling: str, exports: dict[str, Path]) -> None:
    make, message = GARBLED_BINARY[garbling]
    garbled = exports["binary"].with_name("garbled.sbtlog")
    garbled.write_bytes(make(exports["binary"].read_bytes()))
    _assert_one_line_refusal([str(garbled), "--key", str(exports["key"])], message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{ndjson}", "--key", "not-a-key"], "--key: malformed verifier key"),
        (["{ndjson}", "--key", "sbt.example.go.id/ledger+00000000+AAAA"], "--key: "),
        (["{ndjson}", "--key", "{garbage}"], "--key: 'utf-8' codec can't decode"),
        (["{ndjson}", "--key", "{ndjson}"], "--key: malformed verifier key"),
        (["{ndjson}", "--key", "{key}", "--checkpoint", "{missing}"], "--checkpoint: "),
        (["{ndjson}", "--key", "{key}", "--checkpoint", "{garbage}"], "--checkpoint: "),
        (["{missing}", "--key", "{key}"], "No such file or directory"),
        (["{folder}", "--key", "{key}"], "Is a directory"),
        (["http://127.0.0.1:9", "--key", "{key}"], "export failed: "),
    ],
    ids=[
        "key text",
        "key that does not match its id",
        "key file not text",
        "key file holding no key",
        "saved checkpoint missing",
        "saved checkpoint not text",
        "export missing",
        "export is a folder",
        "service unreachable",
    ],
)
def test_a_bad_key_or_unreadable_file_is_one_line_and_exit_2(
    args: list[str], message: str, exports: dict[str, Path], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\xff\xfe\xfd")
    places = {**{name: str(path) for name, path in exports.items()}, "garbage": str(garbage)}
    places |= {"missing": str(tmp_path / "missing.ndjson"), "folder": str(tmp_path)}
    _assert_one_line_refusal([arg.format(**places) for arg in args], message)


def test_both_formats_verify_alike_and_the_binary_one_is_read_in_one_pass(exports: dict[str, Path]) -> None:
    reports = {name: verify_export(exports[name]) for name in ("ndjson", "binary")}
    assert reports["ndjson"].ok, reports["ndjson"].findings
    assert reports["binary"].ok, reports["binary"].findings
    assert {(r.entries, r.root, r.origin, len(r.checkpoints)) for r in reports.values()} == {
        (12, reports["ndjson"].root, "sbt.example.go.id/ledger", len(reports["ndjson"].checkpoints))
    }
    result = CliRunner().invoke(ledger_cli, ["verify", str(exports["binary"]), "--key", str(exports["key"])])
    assert result.exit_code == 0, result.output
    assert "OK:" in result.output


def test_the_first_pass_skips_node_records_a_run_at_a_time(
    exports: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs shorter than the log's nodes: each run ends where the next starts, and a foreign tag inside one or a
    node cut short still stops the reading."""
    monkeypatch.setattr(verify, "NODE_RUN", 2)
    data = exports["binary"].read_bytes()
    assert verify_export(exports["binary"]).ok
    nodes = sum(12 >> level for level in range(1, 4))  # the stored nodes of 12 leaves: 42 bytes each, then Z
    first_node = len(data) - 1 - 42 * nodes
    assert data[first_node:-1:42] == b"N" * nodes
    for garbled, message in (
        (data[: first_node + 3 * 42] + b"Q" + data[first_node + 3 * 42 + 1 :], "unknown record tag 0x51"),
        (data[: first_node + 5 * 42 + 20], "cut short"),
    ):
        exports["binary"].write_bytes(garbled)
        with pytest.raises(ExportFormatError, match=message):
            verify_export(exports["binary"])


@pytest.mark.real_commits  # the command opens its own engine
@pytest.mark.parametrize("export_format", ["ndjson", "binary"])
def test_the_operator_exports_from_the_database_in_either_format_and_it_verifies(
    export_format: str, cli_env: Settings, app: FastAPI, tmp_path: Path
) -> None:
    del cli_env
    append_committed(app, 7)
    output = tmp_path / f"ledger.{export_format}"
    exported = CliRunner().invoke(ledger_cli, ["export", "-o", str(output), "--format", export_format])
    assert exported.exit_code == 0, exported.output
    assert output.read_bytes().startswith(BINARY_MAGIC if export_format == "binary" else b'{"kind":"header"')
    key = service.signer_for(app.state.settings).verifier().text()
    result = CliRunner().invoke(ledger_cli, ["verify", str(output), "--key", key])
    assert result.exit_code == 0, result.output
    assert "entries:     7" in result.output


def test_ndjson_chunks_hold_whole_compact_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each chunk ends at a line's end, and each line is the compact UTF-8 JSON of its record: what the standard
    library writes, a non-ASCII origin included."""
    monkeypatch.setattr(verify, "CHUNK_BYTES", 200)
    records: list[verify.ExportRecord] = [
        verify.ExportHeader("sbt.example.go.id/ledger-ü", "key+abc", 3),
        verify.ExportCheckpoint("sbt.example.go.id/ledger-ü\n3\nroot\n\n— sig\n"),
        *(verify.ExportEntry(seq, b'{"seq":%d}' % seq, bytes([seq]) * 32) for seq in range(3)),
        verify.ExportNode(1, 0, b"\x07" * 32),
    ]
    chunks = list(verify.ndjson_chunks(records))
    assert len(chunks) > 1
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    lines = b"".join(chunks).decode().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["header", "checkpoint", "entry", "entry", "entry", "node"]
    assert lines == [json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False) for line in lines]
    assert json.loads(lines[2]) == {"kind": "entry", "seq": 0, "leaf": "eyJzZXEiOjB9", "leaf_hash": "A" * 43 + "="}
