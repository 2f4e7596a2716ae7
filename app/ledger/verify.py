"""Offline verification of a ledger export (stdlib + ``cryptography``; no service, no database).

Export format (NDJSON, ``sbt-ledger-export/1``), one JSON object per line, in this order:

* ``{"kind": "header", "format": ..., "origin": ..., "verifier_key": ..., "entries": n}``
* ``{"kind": "checkpoint", "note": "<signed note>"}`` — every signed checkpoint the log holds
* ``{"kind": "entry", "seq": i, "leaf": "<base64 leaf bytes>", "leaf_hash": "<base64 stored hash>"}``
* ``{"kind": "node", "level": l, "position": p, "hash": "<base64>"}`` — stored perfect subtree hashes

Every leaf hash and every root is recomputed from the leaf bytes; stored hashes are only used as *hints* to
name the exact entry that differs from what a signed checkpoint committed to, and only after they are
themselves authenticated against the signed root.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app.ledger.canonical import NotCanonicalizable, canonical_json
from app.ledger.merkle import (
    CompactRange,
    MemoryTree,
    NodeId,
    ProofError,
    hash_range,
    leaf_hash,
    node_hash,
    split_point,
    verify_consistency,
)
from app.ledger.note import Checkpoint, NoteError, NoteVerifier, open_checkpoint

EXPORT_FORMAT = "sbt-ledger-export/1"


class ExportFormatError(ValueError):
    """The export file itself is unreadable (not a tampering verdict)."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem; ``seq`` is the first entry it concerns (None for problems not tied to an entry)."""

    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else "log"
        return f"{where}: {self.reason}"


@dataclass
class CheckedCheckpoint:
    checkpoint: Checkpoint
    source: str
    """"export" or the path of a checkpoint the auditor saved earlier."""
    note: str


@dataclass
class VerificationReport:
    origin: str = ""
    verifier_key: str = ""
    key_pinned: bool = False
    entries: int = 0
    root: bytes = b""
    checkpoints: list[CheckedCheckpoint] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_bad(self) -> Finding | None:
        with_seq = [f for f in self.findings if f.seq is not None]
        if with_seq:
            return min(with_seq, key=lambda f: (f.seq, self.findings.index(f)))
        return self.findings[0] if self.findings else None

    @property
    def latest_checkpoint(self) -> CheckedCheckpoint | None:
        """The largest signed checkpoint whose entries are all present."""
        verified = [c for c in self.checkpoints if c.checkpoint.tree_size <= self.entries]
        return max(verified, key=lambda c: c.checkpoint.tree_size) if verified else None


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error as exc:
        raise ExportFormatError(f"{what} is not base64") from exc


def read_records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExportFormatError(f"line {number} is not JSON: {exc.msg}") from exc
        if not isinstance(record, dict) or "kind" not in record:
            raise ExportFormatError(f"line {number} is not an export record")
        yield record


def _refuse_float(text: str) -> Any:
    raise NotCanonicalizable(f"float {text} in leaf")


def _inspect_leaf(data: bytes, position: int) -> tuple[list[str], bytes | None]:
    """Problems inside one leaf's bytes, and the root of the earlier tree the leaf commits to."""
    try:
        decoded = json.loads(data.decode("utf-8"), parse_float=_refuse_float)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ["leaf bytes are not JSON"], None
    except NotCanonicalizable as exc:
        return [f"leaf is not canonical ledger JSON ({exc})"], None
    if not isinstance(decoded, dict):
        return ["leaf is not a JSON object"], None
    problems: list[str] = []
    # Fast path (C encoder); it differs from RFC 8785 only for unusual keys, which take the exact path.
    fast = json.dumps(decoded, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    if fast != data:
        try:
            if canonical_json(decoded) != data:
                problems.append("leaf bytes are not canonical JSON (re-encoded or hand-edited)")
        except NotCanonicalizable as exc:
            problems.append(f"leaf is not canonical ledger JSON ({exc})")
    claimed = decoded.get("seq")
    if claimed != position:
        problems.append(
            f"leaf says it is entry {claimed}: entries were reordered or renumbered"
            if isinstance(claimed, int)
            else "leaf has no sequence number"
        )
    try:
        prev_root: bytes | None = base64.b64decode(str(decoded.get("prev_root")), validate=True)
    except binascii.Error:
        prev_root = None
    return problems, prev_root


class _Verifier:
    def __init__(
        self,
        verifier_key: NoteVerifier | None,
        saved_checkpoints: dict[str, str],
        progress: Callable[[int], object] | None,
    ) -> None:
        self.pinned = verifier_key
        self.saved = saved_checkpoints
        self.progress = progress
        self.report = VerificationReport(key_pinned=verifier_key is not None)
        self.verifier: NoteVerifier | None = verifier_key
        self.expected_roots: dict[int, list[CheckedCheckpoint]] = {}
        self.computed_roots: dict[int, bytes] = {}
        self.tree = CompactRange()
        self.recomputed: list[bytes] = []
        self.stored: list[bytes] = []
        self.prev_roots: list[bytes | None] = []

    def finding(self, seq: int | None, reason: str) -> None:
        self.report.findings.append(Finding(seq, reason))

    def header(self, record: dict[str, Any]) -> None:
        if record.get("format") != EXPORT_FORMAT:
            raise ExportFormatError(f"unsupported export format {record.get('format')!r}")
        self.report.origin = str(record.get("origin", ""))
        published = str(record.get("verifier_key", ""))
        if self.verifier is None:
            try:
                self.verifier = NoteVerifier.parse(published)
            except NoteError as exc:
                raise ExportFormatError(f"export has no usable verifier key: {exc}") from exc
        elif published != self.verifier.text():
            self.finding(None, f"export publishes key {published!r}, not the pinned key {self.verifier.text()!r}")
        self.report.verifier_key = self.verifier.text()
        for source, note in self.saved.items():
            self.checkpoint(note, source)

    def checkpoint(self, note: str, source: str) -> None:
        assert self.verifier is not None
        try:
            checkpoint = open_checkpoint(note, self.verifier, self.report.origin or None)
        except NoteError as exc:
            self.finding(None, f"checkpoint from {source} rejected: {exc}")
            return
        checked = CheckedCheckpoint(checkpoint, source, note)
        self.report.checkpoints.append(checked)
        self.expected_roots.setdefault(checkpoint.tree_size, []).append(checked)
        if checkpoint.tree_size == 0:
            self.computed_roots[0] = CompactRange().root()

    def entry(self, record: dict[str, Any]) -> None:
        position = self.tree.size
        seq = record.get("seq")
        if seq != position:
            if isinstance(seq, int) and seq > position:
                self.finding(position, f"entry is missing (deleted): the next stored entry is {seq}")
            else:
                self.finding(position, f"stored position {seq!r} is out of order or duplicated")
        data = _b64(record.get("leaf"), f"leaf of entry {seq}")
        computed = leaf_hash(data)
        stored = _b64(record.get("leaf_hash"), f"leaf hash of entry {seq}")
        if not hmac.compare_digest(computed, stored):
            self.finding(position, "content changed after it was recorded: leaf hash does not match its bytes")
        problems, prev_root = _inspect_leaf(data, position)
        for problem in problems:
            self.finding(position, problem)
        self.prev_roots.append(prev_root)
        self.tree.append(computed)
        self.recomputed.append(computed)
        self.stored.append(stored)
        if self.tree.size in self.expected_roots:
            self.computed_roots[self.tree.size] = self.tree.root()
        if self.progress:
            self.progress(1)

    def finish(self, nodes: Callable[[], dict[NodeId, bytes]]) -> VerificationReport:
        report = self.report
        report.entries = self.tree.size
        report.root = self.tree.root()
        stored_nodes: dict[NodeId, bytes] | None = None
        recomputed_tree: MemoryTree | None = None
        for size in sorted(self.expected_roots):
            for checked in self.expected_roots[size]:
                label = f"checkpoint {size} ({checked.source})"
                if size > report.entries:
                    self.finding(
                        report.entries,
                        f"entries {report.entries}..{size - 1} are missing (log truncated): {label} covers them",
                    )
                    continue
                if hmac.compare_digest(self.computed_roots[size], checked.checkpoint.root_hash):
                    continue
                if stored_nodes is None:
                    stored_nodes = nodes()
                    stored_nodes.update(((0, i), h) for i, h in enumerate(self.stored))
                    recomputed_tree = MemoryTree(self.recomputed)
                assert recomputed_tree is not None
                self._locate(size, checked.checkpoint.root_hash, label, stored_nodes, recomputed_tree)
        self._check_saved_consistency()
        return report

    def _locate(
        self, size: int, signed_root: bytes, label: str, stored: dict[NodeId, bytes], recomputed: MemoryTree
    ) -> None:
        """Descend from the signed root, following authenticated stored hashes, to the first differing leaf."""
        start, end, expected = 0, size, signed_root
        while end - start > 1:
            k = split_point(end - start)
            try:
                left, right = hash_range(start, start + k, stored), hash_range(start + k, end, stored)
            except KeyError:
                left = right = b""
            if not hmac.compare_digest(node_hash(left, right), expected):
                self._locate_by_prev_roots(start, end, label, recomputed)
                return
            if hash_range(start, start + k, recomputed.nodes) != left:
                end, expected = start + k, left
            else:
                start, expected = start + k, right
        self.finding(start, f"entry differs from the one committed to by {label}")

    def _locate_by_prev_roots(self, start: int, end: int, label: str, recomputed: MemoryTree) -> None:
        """Stored hashes below here were rewritten too: use the history root each later leaf commits to.

        Leaf ``i + 1`` records the root of the first ``i + 1`` entries, so the first ``i`` where that
        record disagrees with the recomputed root is the rewritten entry.
        """
        flagged = {f.seq for f in self.report.findings}
        for index in range(start, end):
            following = index + 1
            if index in flagged:
                self.finding(index, f"entry differs from the one committed to by {label}")
                return
            if following >= len(self.prev_roots):
                break
            if following in flagged:
                continue  # a defective leaf's commitment is no evidence
            claimed = self.prev_roots[following]
            if claimed is None or not hmac.compare_digest(claimed, recomputed.root(following)):
                self.finding(index, f"entry differs from the one committed to by {label} (and by entry {following})")
                return
        self.finding(end - 1, f"entry differs from the one committed to by {label}")

    def _check_saved_consistency(self) -> None:
        """The auditor's saved checkpoints must be consistent with the newest checkpoint (RFC 9162 §2.1.4)."""
        newest = self.report.latest_checkpoint
        if newest is None:
            return
        latest = newest.checkpoint
        tree = None
        for checked in self.report.checkpoints:
            older = checked.checkpoint
            if checked.source == "export" or not 0 < older.tree_size < latest.tree_size:
                continue
            tree = tree or MemoryTree(self.recomputed[: latest.tree_size])
            try:
                proof = tree.consistency_proof(older.tree_size, latest.tree_size)
                verify_consistency(older.tree_size, latest.tree_size, proof, older.root_hash, latest.root_hash)
            except ProofError as exc:
                self.finding(
                    None,
                    f"saved checkpoint {older.tree_size} ({checked.source}) is not consistent "
                    f"with checkpoint {latest.tree_size}: {exc}",
                )


def verify_export(
    path: Path,
    *,
    verifier_key: NoteVerifier | None = None,
    saved_checkpoints: dict[str, str] | None = None,
    progress: Callable[[int], object] | None = None,
) -> VerificationReport:
    """Verify an export file. ``saved_checkpoints`` maps a label (e.g. file name) to a signed note."""
    verifier = _Verifier(verifier_key, saved_checkpoints or {}, progress)
    with path.open(encoding="utf-8") as handle:
        records = read_records(handle)
        first = next(records, None)
        if first is None or first.get("kind") != "header":
            raise ExportFormatError("export does not start with a header line")
        verifier.header(first)
        for record in records:
            kind = record["kind"]
            if kind == "checkpoint":
                verifier.checkpoint(str(record.get("note", "")), "export")
            elif kind == "entry":
                verifier.entry(record)
            elif kind != "node":
                raise ExportFormatError(f"unknown record kind {kind!r}")
    return verifier.finish(lambda: _read_nodes(path))


def _read_nodes(path: Path) -> dict[NodeId, bytes]:
    nodes: dict[NodeId, bytes] = {}
    with path.open(encoding="utf-8") as handle:
        for record in read_records(handle):
            if record["kind"] == "node":
                nodes[(int(record["level"]), int(record["position"]))] = _b64(record["hash"], "node hash")
    return nodes


def export_header(origin: str, verifier_key: str, entries: int) -> dict[str, Any]:
    return {
        "kind": "header",
        "format": EXPORT_FORMAT,
        "origin": origin,
        "verifier_key": verifier_key,
        "entries": entries,
    }


def write_record(handle: TextIO, record: dict[str, Any]) -> None:
    handle.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
