"""C2SP signed notes and checkpoints, checked against the golang.org/x/mod/sumdb/note reference example."""

from __future__ import annotations

import base64

import pytest

from app.ledger.merkle import EMPTY_ROOT
from app.ledger.note import Checkpoint, NoteError, NoteSigner, NoteVerifier, open_checkpoint, open_note

# golang.org/x/mod sumdb/note documentation example (also used by the C2SP signed-note test suites).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    signer = NoteSigner.from_private_key_text(GO_SKEY)
    assert signer.private_key_text() == GO_SKEY
    assert signer.verifier().text() == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_NOTE


def test_reference_note_opens_and_any_change_is_rejected() -> None:
    verifier = NoteVerifier.parse(GO_VKEY)
    assert open_note(GO_NOTE, verifier) == GO_TEXT
    with pytest.raises(NoteError, match="does not verify"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), verifier)
    with pytest.raises(NoteError, match="not signed by"):
        open_note(GO_NOTE, NoteSigner.generate("PeterNeumann").verifier())


def test_unknown_signers_are_ignored_but_a_known_one_is_required() -> None:
    other = NoteSigner.generate("witness.example")
    cosigned = GO_NOTE + other.sign(GO_TEXT).split("\n\n", 1)[1]
    assert open_note(cosigned, NoteVerifier.parse(GO_VKEY)) == GO_TEXT
    assert open_note(cosigned, other.verifier()) == GO_TEXT


@pytest.mark.parametrize(
    "vkey",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),  # key ID does not match
        GO_VKEY.replace("PeterNeumann", "Peter Neumann"),
        GO_VKEY[:-4],
        GO_VKEY.replace("+ARpc", "+AhRpc"),
        "PeterNeumann+c74f20a3",
    ],
)
def test_mangled_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.parse(vkey)


def test_checkpoint_round_trip_and_origin_pinning() -> None:
    signer = NoteSigner.generate("sbt.example.go.id/ledger")
    checkpoint = Checkpoint("sbt.example.go.id/ledger", 0, EMPTY_ROOT)
    note = signer.sign(checkpoint.body())
    assert note.startswith("sbt.example.go.id/ledger\n0\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n\n— ")
    assert open_checkpoint(note, signer.verifier()) == checkpoint
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(note, signer.verifier(), origin="other.example/log")


@pytest.mark.parametrize(
    "body",
    [
        "origin\n01\nAAAA\n",
        "origin\n-1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n",
        "origin\n1\n" + base64.b64encode(b"short").decode() + "\n",
        "origin\n1\n",
    ],
)
def test_malformed_checkpoints_are_refused(body: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse_body(body)
