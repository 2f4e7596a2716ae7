"""The JSON verifier names leaves that are not canonical ledger JSON, even when a forger recomputed their hashes.

``sbt-ledger-export/1`` parses each leaf anyway, so ``sbt ledger verify`` checks its form: the usual leaf takes a C
fast path (orjson), and whatever that path does not accept is judged by the exact one. The fast path must never
accept a leaf the exact path refuses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger.canonical import MAX_SAFE_INTEGER, canonical_json
from app.ledger.merkle import CompactRange, leaf_hash
from app.ledger.note import Checkpoint, NoteSigner
from app.ledger.verify import (
    ExportCheckpoint,
    ExportEntry,
    ExportHeader,
    ExportRecord,
    leaf_json_problems,
    ndjson_chunks,
    verify_export,
)
from tests.ledger.test_canonical import json_values

ORIGIN = "sbt.example.go.id/ledger"
LEAF = {"v": 1, "seq": 1, "type": "case.created", "payload": {"nip": "198005172005031001", "nama": "Amir"}}
RE_ENCODED = "not canonical JSON (re-encoded or hand-edited)"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (canonical_json(LEAF), None),
        (canonical_json({**LEAF, "payload": {"nama": "Ñoño \U0001f600", "\ufb01": 1, "\U0001f600": 2}}), None),
        (json.dumps(LEAF, separators=(",", ":")).encode(), RE_ENCODED),  # members in insertion order
        (json.dumps(LEAF, sort_keys=True).encode(), RE_ENCODED),  # whitespace
        (b'{"a":1,"a":1,"seq":1}', RE_ENCODED),  # a duplicated member
        (b'{"a":"\\u00e9","seq":1}', RE_ENCODED),  # a character escaped that canonical JSON writes as it is
        ('{"seq":1,"\ufb01":1,"\U0001f600":2}'.encode(), RE_ENCODED),  # code point order, not UTF-16's
        (b'{"amount":1.5,"seq":1}', "float 1.5 in leaf"),
        (b'{"amount":1.0,"seq":1}', "float 1.0 in leaf"),
        (f'{{"n":{MAX_SAFE_INTEGER + 1},"seq":1}}'.encode(), "outside"),
        (f'{{"n":{2**64 + 1},"seq":1}}'.encode(), "outside"),  # orjson reads an integer this long as a float
        (b'{"a":"\\ud800","seq":1}', "not valid Unicode"),  # a lone surrogate
        (b"[1]", "not a JSON object"),
        (b'{"seq":', "not JSON"),
        (b'{"a":"\xff"}', "not JSON"),
    ],
    ids=[
        "canonical",
        "canonical with UTF-16 key order",
        "members unsorted",
        "whitespace",
        "duplicated member",
        "needless escape",
        "code point key order",
        "float",
        "float with no fraction",
        "integer past 2^53",
        "integer past 2^64",
        "lone surrogate",
        "array",
        "cut short",
        "not UTF-8",
    ],
)
def test_each_leaf_form_is_judged_as_the_exact_check_judges_it(data: bytes, problem: str | None) -> None:
    problems = leaf_json_problems(data)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1, problems
        assert problem in problems[0]


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4), st.sampled_from(["sorted", "ascii", "spaced"]))
def test_no_re_encoding_of_a_value_passes_unless_it_is_the_canonical_bytes(value: dict[str, Any], form: str) -> None:
    canonical = canonical_json(value)
    assert leaf_json_problems(canonical) == []
    encoded = json.dumps(
        value,
        sort_keys=True,
        ensure_ascii=form == "ascii",
        separators=(", ", ": ") if form == "spaced" else (",", ":"),
    ).encode()
    assert (leaf_json_problems(encoded) == []) == (encoded == canonical)


def test_a_forged_leaf_with_its_hash_recomputed_is_named_at_its_entry(tmp_path: Path) -> None:
    """A forger who re-encodes a leaf (members unsorted) and recomputes its hash and the tree: the leaf hash and the
    tree agree with the bytes, but the JSON form gives the entry away."""
    signer = NoteSigner.generate(ORIGIN)
    leaves = [canonical_json({**LEAF, "seq": seq}) for seq in range(3)]
    leaves[1] = json.dumps({**LEAF, "seq": 1}, separators=(",", ":")).encode()
    tree = CompactRange()
    for data in leaves:
        tree.append(leaf_hash(data))
    records: list[ExportRecord] = [
        ExportHeader(ORIGIN, signer.verifier().text(), len(leaves)),
        ExportCheckpoint(signer.sign(Checkpoint(ORIGIN, len(leaves), tree.root()).body())),
        *(ExportEntry(seq, data, leaf_hash(data)) for seq, data in enumerate(leaves)),
    ]
    path = tmp_path / "forged.ndjson"
    path.write_bytes(b"".join(ndjson_chunks(records)))
    report = verify_export(path, verifier_key=signer.verifier())
    assert [(finding.seq, finding.reason) for finding in report.findings] == [(1, f"leaf bytes are {RE_ENCODED}")]
