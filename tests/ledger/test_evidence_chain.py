"""The per-case chain rules of ``verify_evidence`` on bundles built here, without a service: entries written before
per-case links existed, and links that skip, repeat or misname a step."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from app.ledger.canonical import canonical_json
from app.ledger.merkle import MemoryTree, leaf_hash
from app.ledger.note import Checkpoint, NoteSigner
from app.ledger.verify_evidence import EVIDENCE_FORMAT, EvidenceError, case_head_text, verify_evidence

ORIGIN = "sbt.test/ledger"
CASE = str(uuid.UUID(int=7))
UNLINKED = object()
"""A payload without the ``previous`` field, as entries written before per-case links have."""
FORGED = -1
"""A link naming the right position with another leaf hash."""


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _bundle(links: list[Any], signer: NoteSigner) -> bytes:
    """Entries about ``CASE`` at seqs 1, 3, 5, ... (another case's in between); ``links[i]`` is entry i's
    ``previous``: an index into the case's entries, None, or ``UNLINKED``."""
    leaves: list[bytes] = []
    ours: list[int] = []
    for index, link in enumerate(links):
        leaves.append(canonical_json({"seq": len(leaves), "case_id": str(uuid.UUID(int=8)), "payload": {}}))
        payload: dict[str, Any] = {"step": index}
        if link == FORGED:
            payload["previous"] = {"seq": ours[-1], "leaf_hash": _b64(leaf_hash(b"another entry"))}
        elif link is not UNLINKED:
            named = None if link is None else {"seq": ours[link], "leaf_hash": _b64(leaf_hash(leaves[ours[link]]))}
            payload["previous"] = named
        ours.append(len(leaves))
        leaves.append(canonical_json({"seq": len(leaves), "case_id": CASE, "payload": payload}))
    tree = MemoryTree(leaf_hash(leaf) for leaf in leaves)
    size = tree.size
    last = ours[-1]
    bundle = {
        "format": EVIDENCE_FORMAT,
        "case_id": CASE,
        "key_name": ORIGIN,
        "verifier_key": signer.verifier().text(),
        "checkpoint": signer.sign(Checkpoint(ORIGIN, size, tree.root()).body()),
        "case_head": signer.sign(case_head_text(ORIGIN, CASE, size, len(ours), last, leaf_hash(leaves[last]))),
        "entries": [
            {
                "seq": seq,
                "leaf": _b64(leaves[seq]),
                "leaf_hash": _b64(leaf_hash(leaves[seq])),
                "inclusion_proof": [_b64(h) for h in tree.inclusion_proof(seq, size)],
            }
            for seq in ours
        ],
    }
    return json.dumps(bundle).encode()


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


def test_a_linked_history_verifies(signer: NoteSigner) -> None:
    report = verify_evidence(_bundle([None, 0, 1, 2], signer), signer.verifier())
    assert report.seqs == [1, 3, 5, 7]
    assert report.unlinked == 0


def test_entries_from_before_per_case_links_may_lead_the_history(signer: NoteSigner) -> None:
    report = verify_evidence(_bundle([UNLINKED, UNLINKED, 1, 2], signer), signer.verifier())
    assert report.unlinked == 2


@pytest.mark.parametrize(
    ("links", "refusal"),
    [
        ([None, 0, UNLINKED], "entry 5 names no previous entry although entries before it do"),
        ([None, None], "entry 3 claims to be the case's first entry; entry 1 precedes it"),
        ([None, 0, 0], "entry 5 follows entry 1 of the case, which the bundle leaves out"),
        ([None, 0, FORGED], "entry 5 follows a different entry 3 than the bundle holds"),
    ],
)
def test_a_link_that_skips_repeats_or_misnames_a_step_fails(signer: NoteSigner, links: list[Any], refusal: str) -> None:
    with pytest.raises(EvidenceError) as refused:
        verify_evidence(_bundle(links, signer), signer.verifier())
    assert str(refused.value) == refusal


def test_a_history_whose_first_entry_names_a_predecessor_is_missing_its_beginning(signer: NoteSigner) -> None:
    raw = json.loads(_bundle([None, 0, 1], signer))
    raw["entries"] = raw["entries"][1:]
    with pytest.raises(EvidenceError, match="entry 3 follows entry 1 of the case, which the bundle leaves out"):
        verify_evidence(json.dumps(raw).encode(), signer.verifier())
