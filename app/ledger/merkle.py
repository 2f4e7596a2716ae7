"""RFC 9162 Merkle tree: hashing, proofs planned over stored perfect subtrees, and verification.

Pure module (stdlib only) so that the offline verifier can use it without the service or a database.

Storage model: a *perfect node* ``(level, position)`` is the hash of the aligned, complete subtree of
``2**level`` leaves starting at leaf ``position << level``. Perfect nodes never change once the tree has
grown past them; level 0 nodes are the leaf hashes. The hash of any range the RFC recursion visits is the
right-fold of at most log2(n) perfect nodes, so every proof needs O(log n) stored hashes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
LEAF_HASHER = hashlib.sha256(LEAF_PREFIX)
NODE_HASHER = hashlib.sha256(NODE_PREFIX)
"""Hashers primed with the RFC 9162 prefixes: on hot paths copying one is cheaper than hashing prefix + bytes
afresh (OpenSSL 3 looks the digest up on each constructor)."""

NodeId = tuple[int, int]
"""(level, position) of a perfect subtree."""
Range = tuple[int, int]
"""Half-open leaf range [start, end)."""


class ProofError(ValueError):
    """A proof, or its inputs, failed verification."""


def leaf_hash(data: bytes) -> bytes:
    hasher = LEAF_HASHER.copy()
    hasher.update(data)
    return hasher.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    hasher = NODE_HASHER.copy()
    hasher.update(left)
    hasher.update(right)
    return hasher.digest()


def split_point(size: int) -> int:
    """Largest power of two strictly less than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[NodeId]:
    """Perfect subtrees covering [start, end), left to right, largest first."""
    nodes: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        # Never exceed the alignment of ``start`` (only matters for ranges not produced by the RFC split).
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def hash_range(start: int, end: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """MTH of leaves [start, end) where ``start`` is aligned to the RFC split, from stored perfect nodes."""
    if start == end:
        return EMPTY_ROOT
    hashes = [nodes[node] for node in perfect_nodes(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_proof_ranges(index: int, size: int) -> list[Range]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]) as leaf ranges, leaf's sibling first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof_ranges(old_size: int, new_size: int) -> list[Range]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]) as leaf ranges."""
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    proof: list[Range] = []
    start, end, whole_old_tree = 0, new_size, True
    m = old_size
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append((start + k, end))
            end = start + k
        else:
            proof.append((start, start + k))
            start += k
            m -= k
            whole_old_tree = False
    if not whole_old_tree:
        proof.append((start, end))
    proof.reverse()
    return proof


def nodes_for_ranges(ranges: Iterable[Range]) -> set[NodeId]:
    needed: set[NodeId] = set()
    for start, end in ranges:
        needed.update(perfect_nodes(start, end))
    return needed


@dataclass
class CompactRange:
    """The right frontier of a tree [0, size): one perfect root per set bit of ``size``, left to right."""

    size: int = 0
    frontier: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Add a leaf hash; return every perfect node it completes (the leaf itself included)."""
        index = self.size
        created: list[tuple[NodeId, bytes]] = [((0, index), leaf)]
        current, level = leaf, 0
        frontier = self.frontier
        while (index >> level) & 1:
            hasher = NODE_HASHER.copy()
            hasher.update(frontier.pop())
            hasher.update(current)
            current = hasher.digest()
            level += 1
            created.append(((level, index >> level), current))
        frontier.append(current)
        self.size += 1
        return created

    def root(self) -> bytes:
        """The tree's root: the frontier folded from the right. Every step depends on the last (smallest) perfect
        root, which each append changes, so consecutive roots share no hash: the sequencer computes one per entry
        (its ``prev_root``), popcount(size) - 1 node hashes, hence the primed hasher and no call per hash."""
        frontier = self.frontier
        if not frontier:
            return EMPTY_ROOT
        result = frontier[-1]
        copy = NODE_HASHER.copy
        for at in range(len(frontier) - 2, -1, -1):
            hasher = copy()
            hasher.update(frontier[at])
            hasher.update(result)
            result = hasher.digest()
        return result


class MemoryTree:
    """A whole tree in memory: used by the offline verifier, tests and benchmarks."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._compact = CompactRange()
        self.nodes: dict[NodeId, bytes] = {}
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return self._compact.size

    def append(self, leaf: bytes) -> None:
        self.nodes.update(self._compact.append(leaf))

    def root(self, size: int | None = None) -> bytes:
        return hash_range(0, self.size if size is None else size, self.nodes)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return [hash_range(s, e, self.nodes) for s, e in inclusion_proof_ranges(index, size)]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return [hash_range(s, e, self.nodes) for s, e in consistency_proof_ranges(old_size, new_size)]


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, expected {HASH_SIZE}")


def inclusion_proof_length(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner + border


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-4; returns the computed root."""
    if index >= size or index < 0:
        raise ProofError(f"leaf index {index} is beyond tree size {size}")
    _check_hash(leaf, "leaf hash")
    if len(proof) != inclusion_proof_length(index, size):
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {inclusion_proof_length(index, size)}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hash(p, "proof hash")
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2. Raises ProofError unless ``leaf`` is at ``index`` in the tree with ``root``."""
    _check_hash(root, "root hash")
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if not hmac.compare_digest(computed, root):
        raise ProofError("inclusion proof does not lead to the given root")


def verify_consistency(old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes) -> None:
    """RFC 9162 §2.1.4.2. Raises ProofError unless the tree ``new_root`` extends the tree ``old_root``."""
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"tree size went from {old_size} down to {new_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if old_size == new_size:
        if proof:
            raise ProofError("proof between equal sizes must be empty")
        if not hmac.compare_digest(old_root, new_root):
            raise ProofError("different roots for the same tree size")
        return
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if not proof:
        raise ProofError("empty consistency proof")
    for p in proof:
        _check_hash(p, "proof hash")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if not hmac.compare_digest(fr, old_root):
        raise ProofError("consistency proof does not lead to the old root")
    if not hmac.compare_digest(sr, new_root):
        raise ProofError("consistency proof does not lead to the new root")
