"""``sbt witness serve`` as C2SP tlog-witness specifies ``add-checkpoint``: every status code, the cosignature it
answers with, and its memory across a SIGKILL. Real witness processes on loopback; the log is a tree in memory."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.ledger.cosignature import SIZE_CONTENT_TYPE, AddCheckpoint, CosignatureVerifier, cosignatures_in
from app.ledger.merkle import EMPTY_ROOT, MemoryTree, leaf_hash
from app.ledger.note import Checkpoint, NoteSigner, open_checkpoint
from tests.servers import WitnessProcess

ORIGIN = "sbt.test.go.id/ledger"


class Log:
    def __init__(self) -> None:
        self.signer = NoteSigner.generate(ORIGIN)
        self.tree = MemoryTree(leaf_hash(b"entry %d" % i) for i in range(20))

    def checkpoint(self, size: int, root: bytes | None = None, signer: NoteSigner | None = None) -> str:
        root = self.tree.root(size) if root is None else root
        return (signer or self.signer).sign(Checkpoint(ORIGIN, size, root).body())

    def request(self, old: int, size: int, *, proof: list[bytes] | None = None, note: str | None = None) -> bytes:
        if proof is None:
            proof = self.tree.consistency_proof(old, size) if 0 < old < size else []
        return AddCheckpoint(old, proof, note or self.checkpoint(size)).encode()


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def witness(tmp_path: Path, log: Log) -> Iterator[WitnessProcess]:
    process = WitnessProcess(tmp_path, "witness.bkn.test/sbt", [log.signer.verifier().text()])
    try:
        yield process.start()
    finally:
        process.stop()


def add(witness: WitnessProcess, body: bytes) -> httpx.Response:
    return httpx.post(f"{witness.url}/add-checkpoint", content=body, timeout=10)


def test_the_witness_answers_each_case_with_the_status_the_spec_names(witness: WitnessProcess, log: Log) -> None:
    stranger = NoteSigner.generate(ORIGIN)
    other_log = NoteSigner.generate("other.test/log")
    forged = log.checkpoint(5).replace(log.checkpoint(5).split()[-1][:8], "AAAAAAAA")
    cases = [
        (b"old 0\nnot a proof\n\n", 400),
        (log.request(0, 5, note=other_log.sign(Checkpoint("other.test/log", 5, log.tree.root(5)).body())), 404),
        (log.request(0, 5, note=log.checkpoint(5, signer=stranger)), 403),
        (log.request(0, 5, note=forged), 403),
        (log.request(6, 5), 400),
        (log.request(0, 0, note=log.checkpoint(0, root=bytes(32))), 422),
        (log.request(0, 5, proof=[bytes(32)]), 422),
    ]
    for body, status in cases:
        assert add(witness, body).status_code == status, body
    conflict = add(witness, log.request(3, 5))
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == SIZE_CONTENT_TYPE
    assert conflict.text == "0\n"

    first = add(witness, log.request(0, 5))
    assert first.status_code == 200
    key = CosignatureVerifier.parse(witness.vkey())
    body5 = Checkpoint(ORIGIN, 5, log.tree.root(5)).body()
    assert set(cosignatures_in(body5 + "\n" + first.text, [key])) == {key.name}

    assert add(witness, log.request(3, 9)).text == "5\n"  # not the witness's size: 409 with its size
    bad_proof = log.tree.consistency_proof(5, 9)
    bad_proof[0] = hashlib.sha256(bad_proof[0]).digest()
    assert add(witness, log.request(5, 9, proof=bad_proof)).status_code == 422
    assert add(witness, log.request(5, 5, note=log.checkpoint(5, root=log.tree.root(6)))).status_code == 422
    assert add(witness, log.request(5, 5)).status_code == 200  # the same checkpoint again: a fresh cosignature
    assert add(witness, log.request(5, 9)).status_code == 200
    assert add(witness, log.request(5, 12)).text == "9\n"


def test_a_witness_killed_and_restarted_remembers_what_it_cosigned(witness: WitnessProcess, log: Log) -> None:
    assert add(witness, log.request(0, 7)).status_code == 200
    assert add(witness, log.request(7, 11)).status_code == 200
    witness.kill()
    witness.start()

    assert add(witness, log.request(0, 11)).text == "11\n"  # it does not start over
    fork = log.checkpoint(11, root=EMPTY_ROOT)
    assert add(witness, log.request(11, 11, note=fork)).status_code == 422
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    served = httpx.get(f"{witness.url}/{origin_hash}/checkpoint", timeout=10)
    assert served.status_code == 200
    assert open_checkpoint(served.text, log.signer.verifier()).tree_size == 11
    assert set(cosignatures_in(served.text, [CosignatureVerifier.parse(witness.vkey())])) == {witness.name}
    assert httpx.get(f"{witness.url}/{'0' * 64}/checkpoint", timeout=10).status_code == 404
    assert base64.b64decode(served.text.split("\n")[2]) == log.tree.root(11)
