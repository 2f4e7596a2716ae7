"""RFC 9162 Merkle tree: official transparency-dev vectors plus property tests against a recursive reference."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    split_point,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc9162"
"""transparency-dev/merkle's RFC 6962/9162 probes, kept in the repository (see tests/vectors/README.md)."""


def _vectors(kind: str) -> list[tuple[str, dict[str, Any]]]:
    folder = VECTORS / kind
    return [(str(path.relative_to(folder)), json.loads(path.read_text())) for path in sorted(folder.rglob("*.json"))]


def _b64(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def _decode(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def test_every_official_inclusion_vector_is_judged_as_published() -> None:
    vectors = _vectors("inclusion")
    assert len(vectors) >= 90
    for name, v in vectors:
        leaf_index, size = v["leafIdx"], v["treeSize"]
        args = (leaf_index, size, _decode(v["leafHash"]), _b64(v["proof"]), _decode(v["root"]))
        if v["wantErr"]:
            with pytest.raises(ProofError):
                verify_inclusion(*args)
        else:
            verify_inclusion(*args)
        assert name


def test_every_official_consistency_vector_is_judged_as_published() -> None:
    vectors = _vectors("consistency")
    assert len(vectors) >= 90
    for _name, v in vectors:
        args = (v["size1"], v["size2"], _b64(v["proof"]), _decode(v["root1"]), _decode(v["root2"]))
        if v["wantErr"]:
            with pytest.raises(ProofError):
                verify_consistency(*args)
        else:
            verify_consistency(*args)


def test_roots_of_the_rfc_constant_leaves() -> None:
    constants = json.loads((VECTORS / "constants.json").read_text())
    leaves = [leaf_hash(bytes.fromhex(data)) for data in constants["leaf_inputs_hex"]]
    tree = MemoryTree(leaves)
    assert [tree.root(size).hex() for size in range(len(leaves) + 1)] == constants["root_hashes_hex"]
    assert EMPTY_ROOT.hex() == constants["root_hashes_hex"][0]


def test_official_happy_path_proofs_are_the_ones_we_generate() -> None:
    constants = json.loads((VECTORS / "constants.json").read_text())
    tree = MemoryTree(leaf_hash(bytes.fromhex(data)) for data in constants["leaf_inputs_hex"])
    checked = 0
    for _name, v in _vectors("inclusion"):
        if not v["wantErr"] and v["treeSize"] <= tree.size and _decode(v["root"]) == tree.root(v["treeSize"]):
            assert tree.inclusion_proof(v["leafIdx"], v["treeSize"]) == _b64(v["proof"])
            checked += 1
    for _name, v in _vectors("consistency"):
        usable = not v["wantErr"] and 0 < v["size1"] < v["size2"] <= tree.size
        if usable and _decode(v["root2"]) == tree.root(v["size2"]):
            assert tree.consistency_proof(v["size1"], v["size2"]) == _b64(v["proof"])
            checked += 1
    assert checked >= 5


# Recursive reference, written straight from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1.
def ref_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(ref_root(leaves[:k]), ref_root(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = split_point(len(leaves))
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_root(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_root(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [ref_root(leaves)]
    k = split_point(len(leaves))
    if m <= k:
        return [*ref_subproof(m, leaves[:k], whole), ref_root(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_root(leaves[:k])]


def _leaves(size: int) -> list[bytes]:
    return [leaf_hash(index.to_bytes(4, "big")) for index in range(size)]


def _flip(value: bytes, bit: int) -> bytes:
    flipped = bytearray(value)
    flipped[(bit // 8) % len(value)] ^= 1 << (bit % 8)
    return bytes(flipped)


sizes_and_index = st.integers(min_value=1, max_value=300).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=0, max_value=n - 1))
)


@settings(max_examples=150, deadline=None)
@given(sizes_and_index, st.integers(min_value=0, max_value=255))
def test_every_inclusion_proof_verifies_and_any_bit_flip_breaks_it(case: tuple[int, int], bit: int) -> None:
    size, index = case
    leaves = _leaves(size)
    tree = MemoryTree(leaves)
    root = tree.root()
    proof = tree.inclusion_proof(index, size)
    assert root == ref_root(leaves)
    assert proof == ref_path(index, leaves)
    assert len(proof) == inclusion_proof_length(index, size)
    verify_inclusion(index, size, leaves[index], proof, root)

    with pytest.raises(ProofError):
        verify_inclusion(index, size, _flip(leaves[index], bit), proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaves[index], proof, _flip(root, bit))
    for position in range(len(proof)):
        tampered = [*proof]
        tampered[position] = _flip(proof[position], bit)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaves[index], tampered, root)
    if index + 1 < size:
        with pytest.raises(ProofError):
            verify_inclusion(index + 1, size, leaves[index], proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaves[index], [*proof, root], root)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=2, max_value=300).flatmap(
        lambda n: st.tuples(st.integers(min_value=1, max_value=n - 1), st.just(n))
    ),
    st.integers(min_value=0, max_value=255),
)
def test_every_consistency_proof_verifies_and_any_bit_flip_breaks_it(sizes: tuple[int, int], bit: int) -> None:
    old_size, new_size = sizes
    leaves = _leaves(new_size)
    tree = MemoryTree(leaves)
    old_root, new_root = tree.root(old_size), tree.root()
    proof = tree.consistency_proof(old_size, new_size)
    assert proof == ref_subproof(old_size, leaves, True)
    verify_consistency(old_size, new_size, proof, old_root, new_root)

    with pytest.raises(ProofError):
        verify_consistency(old_size, new_size, proof, _flip(old_root, bit), new_root)
    with pytest.raises(ProofError):
        verify_consistency(old_size, new_size, proof, old_root, _flip(new_root, bit))
    for position in range(len(proof)):
        tampered = [*proof]
        tampered[position] = _flip(proof[position], bit)
        with pytest.raises(ProofError):
            verify_consistency(old_size, new_size, tampered, old_root, new_root)
    with pytest.raises(ProofError):
        verify_consistency(old_size, new_size, proof[:-1], old_root, new_root)
    with pytest.raises(ProofError):
        verify_consistency(old_size, new_size, [*proof, new_root], old_root, new_root)


def test_tree_sizes_may_not_shrink_or_start_empty() -> None:
    tree = MemoryTree(_leaves(5))
    with pytest.raises(ProofError, match="down"):
        verify_consistency(5, 3, [], tree.root(5), tree.root(3))
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 5, [], EMPTY_ROOT, tree.root(5))
    verify_consistency(5, 5, [], tree.root(5), tree.root(5))
    with pytest.raises(ProofError, match="same tree size"):
        verify_consistency(5, 5, [], tree.root(5), tree.root(4))
