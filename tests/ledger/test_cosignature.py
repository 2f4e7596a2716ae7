"""Wire formats of witnessing against the C2SP specifications' own examples, and round trips where the examples
carry no key (the tlog-cosignature example names no public key, so its signature cannot be checked).

The examples are quoted from C2SP (https://github.com/C2SP/C2SP at commit 5ba5ee8: signed-note.md,
tlog-cosignature.md, tlog-witness.md, tlog-policy.md), licensed CC BY 4.0 by the C2SP authors.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from app.ledger.cosignature import (
    COSIGNATURE_SIZE,
    AddCheckpoint,
    CosignatureVerifier,
    Cosigner,
    add_cosignatures,
    cosignatures_in,
    cosigned_message,
    parse_cosignature_lines,
    parse_size_answer,
)
from app.ledger.note import Checkpoint, NoteError, NoteSigner, NoteVerifier, open_checkpoint, open_note, split_note
from app.ledger.witness_policy import PolicyError, WitnessPolicy

SIGNED_NOTE_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SIGNED_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
COSIGNED_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+"
    "zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xU"
    "e+mbIUBkBIfZ+qnA==\n"
)
COSIGNED_MESSAGE = (
    "cosignature/v1\ntime 1679315147\n"
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
ADD_CHECKPOINT_BODY = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+"
    "zyWE+xeMcTOAYQ8=\n"
    "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovn"
    "zv++qbSzm9Q=\n"
)
WITNESS_RESPONSE = (
    "— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0p"
    "Wh6Up69HVOw==\n"
    "— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP"
    "1vi/lCAsmlw==\n"
    "— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXX"
    "vpysAdyP3wQ==\n"
)
BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_the_signed_note_example_verifies_with_its_key() -> None:
    assert open_note(SIGNED_NOTE, NoteVerifier.parse(SIGNED_NOTE_KEY)) == "This is an example message.\n"


def test_the_cosignature_example_has_the_spec_layout_key_id_then_timestamp_then_signature() -> None:
    _text, signatures = split_note(COSIGNED_CHECKPOINT)
    cosignature = signatures[1]
    assert cosignature.name == "witness.example.com/w1"
    assert len(cosignature.raw) == COSIGNATURE_SIZE == 76
    assert int.from_bytes(cosignature.raw[4:12], "big") == 1679315147  # the time of the spec's signed message
    assert cosigned_message(BODY, 1679315147).decode() == COSIGNED_MESSAGE


def test_the_witness_response_example_is_signature_lines_of_cosignature_size() -> None:
    lines = WITNESS_RESPONSE.splitlines()
    assert [split_note(BODY + "\n" + line + "\n")[1][0].name for line in lines] == [
        "witness.example/w1",
        "witness.example/w1",
        "witness.example/w2",
    ]
    # Cosignature lines by keys the client does not know are ignored, as tlog-witness says they must be.
    assert parse_cosignature_lines(WITNESS_RESPONSE, BODY, Cosigner.generate("witness.example/w1").verifier()) == []


def test_the_add_checkpoint_example_body_parses_and_encodes_back_to_the_same_bytes() -> None:
    request = AddCheckpoint.parse(ADD_CHECKPOINT_BODY.encode())
    assert request.old_size == 20852014
    assert base64.b64encode(request.proof[0]).decode() == "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="
    assert len(request.proof) == 4
    assert Checkpoint.parse_body(split_note(request.checkpoint)[0]).tree_size == 20852163
    assert len(split_note(request.checkpoint)[1]) == 2
    assert request.encode() == ADD_CHECKPOINT_BODY.encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"old 01\n\nx\n", "leading zeros"),
        (b"old -1\n\nx\n", "decimal"),
        (b"new 1\n\nx\n", "old <size>"),
        (b"old 1\nnot base64!\n\nx\n", "base64"),
        (b"old 1\nAAAA\n\nx\n", "32-byte"),
        (b"old 1\n" + b"".join([base64.b64encode(bytes(32)) + b"\n"] * 64) + b"\nx\n", "63"),
        (b"old 1\n", "empty line"),
        (b"\xff", "UTF-8"),
    ],
)
def test_a_malformed_add_checkpoint_body_is_refused_with_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        AddCheckpoint.parse(body)


def test_a_cosignature_verifies_with_the_witness_key_and_carries_its_timestamp() -> None:
    cosigner = Cosigner.generate("witness.bkn.example/sbt")
    line = cosigner.cosign(BODY, 1700000000)
    verifier = CosignatureVerifier.parse(cosigner.verifier().text())
    assert cosignatures_in(BODY + "\n" + line, [verifier]) == {"witness.bkn.example/sbt": 1700000000}
    # The key ID is the spec's: SHA-256(name || "\n" || 0x04 || public key)[:4], and the vkey carries type 0x04.
    expected_id = hashlib.sha256(b"witness.bkn.example/sbt\n\x04" + verifier.public_key).digest()[:4]
    assert verifier.key_id == expected_id
    assert base64.b64decode(verifier.text().split("+", 2)[2])[0] == 0x04  # the key itself may hold a "+"
    assert base64.b64decode(line.split()[2])[:4] == expected_id


def test_a_cosignature_over_another_body_or_time_does_not_verify() -> None:
    cosigner = Cosigner.generate("w.example")
    line = cosigner.cosign(BODY, 1700000000)
    other = BODY.replace("20852163", "20852164")
    assert cosignatures_in(other + "\n" + line, [cosigner.verifier()]) == {}
    raw = bytearray(base64.b64decode(line.split()[2]))
    raw[11] ^= 1  # the timestamp
    forged = f"— w.example {base64.b64encode(bytes(raw)).decode()}\n"
    assert cosignatures_in(BODY + "\n" + forged, [cosigner.verifier()]) == {}


def test_a_go_style_ed25519_vkey_is_read_as_its_cosignature_key() -> None:
    """transparency-dev's NewVerifierForCosignatureV1 accepts a 0x01 vkey and uses the 0x04 key ID; so do we."""
    signer = NoteSigner.generate("w.example")
    assert CosignatureVerifier.parse(signer.verifier().text()) == Cosigner.of(signer).verifier()


def test_a_witness_key_file_is_an_ordinary_note_private_key() -> None:
    cosigner = Cosigner.generate("w.example")
    text = cosigner.private_key_text()
    assert text.startswith("PRIVATE+KEY+w.example+")
    assert Cosigner.from_private_key_text(text).verifier() == cosigner.verifier()


def test_cosignatures_are_appended_once_after_the_log_signature() -> None:
    log = NoteSigner.generate("log.example")
    note = log.sign(Checkpoint("log.example", 3, bytes(32)).body())
    line = Cosigner.generate("w.example").cosign(note.partition("\n\n")[0] + "\n", 1700000000)
    cosigned = add_cosignatures(note, [line, line])
    assert cosigned == note + line
    assert open_checkpoint(cosigned, log.verifier()).tree_size == 3  # the log's verifier ignores the cosignature


def test_a_409_answer_is_a_decimal_size_and_a_newline() -> None:
    assert parse_size_answer("20852014\n") == 20852014
    with pytest.raises(NoteError):
        parse_size_answer("20852014")


def test_the_tlog_policy_example_with_keys_gives_the_quorum_it_describes() -> None:
    x = [Cosigner.generate(f"x{i}.example") for i in range(3)]
    y = [Cosigner.generate(f"y{i}.example") for i in range(3)]
    log = NoteSigner.generate("log.example")
    policy = WitnessPolicy.parse(
        f"# tlog-policy.md's example\nlog {log.verifier().text()}\n\n"
        + "".join(f"witness X{i + 1} {c.verifier().text()}\n" for i, c in enumerate(x))
        + "group X-witnesses 2 X1 X2 X3\n\n"
        + "".join(f"witness Y{i + 1} {c.verifier().text()}\n" for i, c in enumerate(y))
        + "group Y-witnesses any Y1 Y2 Y3\n\ngroup X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n"
    )
    assert policy.satisfied({"X1", "X3", "Y2"})
    assert not policy.satisfied({"X1", "Y1", "Y2", "Y3"})
    assert not policy.satisfied({"X1", "X2"})
    body = Checkpoint("log.example", 1, bytes(32)).body()
    note = log.sign(body) + x[0].cosign(body, 1) + x[1].cosign(body, 2) + y[2].cosign(body, 3)
    assert policy.cosigned_by(note) == {"X1", "X2", "Y3"}
    assert policy.shortfall(note) is None
    assert "needs" in (policy.shortfall(log.sign(body)) or "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("quorum W\n", "not defined above"),
        ("witness W {key}\nwitness V {key}\nquorum W\n", "listed twice"),
        ("witness W {key}\ngroup G 2 W\nquorum G\n", "threshold"),
        ("witness W {key}\n", "no quorum"),
        ("witness W {key}\nquorum W\nquorum W\n", "second quorum"),
        ("witness none {key}\nquorum none\n", "reserved"),
        ("witnesses W {key}\nquorum none\n", "unknown"),
    ],
)
def test_a_bad_policy_file_names_its_line(text: str, reason: str) -> None:
    key = Cosigner.generate("w.example").verifier().text()
    with pytest.raises(PolicyError, match=reason):
        WitnessPolicy.parse(text.format(key=key))


def test_an_unusable_witness_policy_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli.ledger import ledger_cli

    bundle = tmp_path / "bundle.json"
    bundle.write_text("{}")
    runner = CliRunner()
    for options in (["--witness", "not-a-key"], ["--quorum", "2"], ["--policy", str(tmp_path / "missing.policy")]):
        result = runner.invoke(ledger_cli, ["verify-evidence", str(bundle), *options])
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1
        assert result.output.startswith("error: ")
    key = Cosigner.generate("w.example").verifier().text()
    result = runner.invoke(ledger_cli, ["verify-evidence", str(bundle), "--witness", key, "--quorum", "2"])
    assert result.exit_code == 2
    assert "a quorum of 2 cannot be met by 1 witness" in result.output
