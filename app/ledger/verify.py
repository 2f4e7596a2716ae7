"""Offline verification of a ledger export (stdlib + ``cryptography``; no service, no database).

Two export formats carry the same records, in this order: a header, every checkpoint ever signed, the entries,
the stored perfect subtree hashes (decision 0020).

``sbt-ledger-export/1`` (NDJSON), one JSON object per line:

* ``{"kind": "header", "format": ..., "origin": ..., "verifier_key": ..., "entries": n}``
* ``{"kind": "checkpoint", "note": "<signed note>"}``
* ``{"kind": "entry", "seq": i, "leaf": "<base64 leaf bytes>", "leaf_hash": "<base64 stored hash>"}``
* ``{"kind": "node", "level": l, "position": p, "hash": "<base64>"}``

``sbt-ledger-binary/1``, the fast one: the line ``sbt-ledger-binary/1\\n``, then tagged records, integers
big-endian: ``H`` u32 length + the header's JSON object; ``C`` u32 length + the signed note (UTF-8); ``E`` u32
length + a block of consecutive entries, each u64 seq, u32 length, the 32-byte stored leaf hash, the leaf bytes;
``N`` u8 level, u64 position, 32-byte hash; ``Z`` (the end: a file cut short fails to read).

Every leaf hash and every root is recomputed from the leaf bytes in one pass that keeps only the tree's
frontier. Stored hashes are only *hints*, read in a second pass when a root differs from a signed one, to name
the exact entry that differs, and only after they are themselves authenticated against the signed root.
Checkpoints the auditor saved earlier are checked like the exported ones: the root recomputed at their size
must be theirs, which also proves them consistent with every later checkpoint.

Signing keys follow the log's chain of ``ledger.key_rotated`` entries from its first key (the header's, or a
pinned one; decision 0036): each rotation must name the key signing before it and be authorised by it, in the
checkpoint of size ``seq + 1`` (the log ending with the rotation entry) signed by that previous key; a key signs
only the checkpoints from that size on, and its predecessor none after it. The rotation entries are noticed in the
same pass (their ``type`` follows ``seq`` in the canonical leaf), so checkpoints are authenticated once the
entries are read.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import mmap
import struct
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from app.ledger.canonical import NotCanonicalizable, canonical_json
from app.ledger.key_rotation import KEY_ROTATION, parse_rotation
from app.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF_HASHER,
    NODE_HASHER,
    CompactRange,
    MemoryTree,
    NodeId,
    hash_range,
    node_hash,
    split_point,
)
from app.ledger.note import Checkpoint, NoteError, NoteSignature, NoteVerifier, split_note
from app.ledger.witness_policy import WitnessPolicy

EXPORT_FORMAT = "sbt-ledger-export/1"
BINARY_FORMAT = "sbt-ledger-binary/1"
BINARY_MAGIC = BINARY_FORMAT.encode() + b"\n"
BATCH = 4096
"""NDJSON entries packed into one block."""
CHUNK_BYTES = 64 * 1024


class ExportFormatError(ValueError):
    """The export file itself is unreadable (not a tampering verdict)."""


@dataclass(frozen=True, slots=True)
class ExportHeader:
    origin: str
    verifier_key: str
    entries: int


@dataclass(frozen=True, slots=True)
class ExportCheckpoint:
    note: str


@dataclass(frozen=True, slots=True)
class ExportEntry:
    seq: int
    leaf: bytes
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class ExportNode:
    level: int
    position: int
    hash: bytes


ExportRecord = ExportHeader | ExportCheckpoint | ExportEntry | ExportNode


@dataclass(frozen=True, slots=True)
class _EntryBlock:
    """Consecutive entries in the binary framing, ``data[start:end]``; both formats are read into these."""

    data: bytes | mmap.mmap
    start: int
    end: int


_Read = ExportHeader | ExportCheckpoint | ExportNode | _EntryBlock


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
    signed_by: NoteVerifier

    @property
    def label(self) -> str:
        return f"checkpoint {self.checkpoint.tree_size} ({self.source})"


@dataclass
class _Claimed:
    """A checkpoint as read, before its signature is checked against the key chain."""

    checkpoint: Checkpoint
    source: str
    note: str
    text: str
    signatures: list[NoteSignature]


@dataclass
class _KeyPeriod:
    """One key of the chain and the checkpoint sizes it may sign (``last_size`` None: until further notice)."""

    key: NoteVerifier
    first_size: int
    last_size: int | None = None
    introduced_at: int | None = None
    """The position of the rotation entry that introduced it (None for the first key)."""


@dataclass
class VerificationReport:
    origin: str = ""
    verifier_key: str = ""
    """The log's first key, where the chain starts."""
    keys: list[str] = field(default_factory=list)
    """Every key of the chain, first to current (verifier keys)."""
    key_pinned: bool = False
    entries: int = 0
    root: bytes = b""
    checkpoints: list[CheckedCheckpoint] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    witnessed_by: list[str] | None = None
    """Under a witness policy: the witnesses with a valid cosignature of the latest checkpoint."""

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


# --- writing -------------------------------------------------------------------------------------------------


def _header_object(header: ExportHeader, export_format: str) -> dict[str, Any]:
    return {
        "kind": "header",
        "format": export_format,
        "origin": header.origin,
        "verifier_key": header.verifier_key,
        "entries": header.entries,
    }


def ndjson_chunks(records: Iterable[ExportRecord]) -> Iterator[bytes]:
    """The ``sbt-ledger-export/1`` lines of ``records``, in ~64 KiB chunks (a response sent a line at a time made
    one ASGI message per entry)."""
    lines: list[bytes] = []
    buffered = 0
    for record in records:
        lines.append(_ndjson_line(record))
        buffered += len(lines[-1])
        if buffered >= CHUNK_BYTES:
            yield b"".join(lines)
            lines, buffered = [], 0
    if lines:
        yield b"".join(lines)


def _ndjson_line(record: ExportRecord) -> bytes:
    """One ``sbt-ledger-export/1`` line: compact JSON in UTF-8, written by orjson (the bytes ``json.dumps`` with
    compact separators and ``ensure_ascii=False`` writes, in a fifth of its time)."""
    value: dict[str, Any]
    match record:
        case ExportHeader():
            value = _header_object(record, EXPORT_FORMAT)
        case ExportCheckpoint(note):
            value = {"kind": "checkpoint", "note": note}
        case ExportEntry(seq, leaf, stored):
            value = {"kind": "entry", "seq": seq, "leaf": _b64text(leaf), "leaf_hash": _b64text(stored)}
        case ExportNode(level, position, node):
            value = {"kind": "node", "level": level, "position": position, "hash": _b64text(node)}
    return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)


_ENTRY_HEAD = struct.Struct(">QI")
_ENTRY_HEAD_SIZE = _ENTRY_HEAD.size + HASH_SIZE  # then the leaf bytes
_NODE_HEAD = struct.Struct(">BQ")
_LENGTH = struct.Struct(">I")
_ENTRY, _NODE, _HEADER, _CHECKPOINT, _END = b"ENHCZ"
_NODE_TAG = bytes([_NODE])
_NODE_SIZE = 1 + _NODE_HEAD.size + HASH_SIZE
NODE_RUN = 4096
"""Node records skipped at a time by the first pass."""


def binary_chunks(records: Iterable[ExportRecord]) -> Iterator[bytes]:
    """The ``sbt-ledger-binary/1`` encoding of ``records`` (a header first), end marker included, in ~64 KiB chunks.

    Entries go in blocks of about a chunk each, so a reader takes a block at a time, not an entry at a time.
    """
    parts: list[bytes] = [BINARY_MAGIC]
    block: list[bytes] = []
    buffered = 0
    for record in records:
        if isinstance(record, ExportEntry):
            block.append(_ENTRY_HEAD.pack(record.seq, len(record.leaf)) + record.leaf_hash + record.leaf)
            buffered += len(block[-1])
        else:
            if block:
                parts.append(_entry_block(block))
                block = []
            parts.append(_binary_record(record))
            buffered += len(parts[-1])
        if buffered >= CHUNK_BYTES:
            if block:
                parts.append(_entry_block(block))
                block = []
            yield b"".join(parts)
            parts, buffered = [], 0
    if block:
        parts.append(_entry_block(block))
    parts.append(bytes([_END]))
    yield b"".join(parts)


def _entry_block(entries: list[bytes]) -> bytes:
    packed = b"".join(entries)
    return bytes([_ENTRY]) + _LENGTH.pack(len(packed)) + packed


def _binary_record(record: ExportHeader | ExportCheckpoint | ExportNode) -> bytes:
    match record:
        case ExportHeader():
            text = json.dumps(_header_object(record, BINARY_FORMAT), separators=(",", ":")).encode()
            return bytes([_HEADER]) + _LENGTH.pack(len(text)) + text
        case ExportCheckpoint(note):
            data = note.encode()
            return bytes([_CHECKPOINT]) + _LENGTH.pack(len(data)) + data
        case ExportNode(level, position, node):
            return bytes([_NODE]) + _NODE_HEAD.pack(level, position) + node


def _b64text(value: bytes) -> str:
    return base64.b64encode(value).decode()


# --- reading -------------------------------------------------------------------------------------------------


def _b64(value: Any, what: str) -> bytes:
    try:  # strict mode refuses what ``b64decode(validate=True)`` refuses, in half its time (no regex first)
        return binascii.a2b_base64(str(value), strict_mode=True)
    except binascii.Error as exc:
        raise ExportFormatError(f"{what} is not base64") from exc


def _integer(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExportFormatError(f"{what} is not an integer")
    return value


def _header(value: Any, export_format: str) -> ExportHeader:
    if value.get("format") != export_format:
        raise ExportFormatError(f"unsupported export format {value.get('format')!r}")
    entries = value.get("entries")
    if not isinstance(entries, int) or isinstance(entries, bool):
        raise ExportFormatError("the export's header does not say how many entries it holds")
    return ExportHeader(str(value.get("origin", "")), str(value.get("verifier_key", "")), entries)


def _ndjson_records(path: Path, *, with_nodes: bool) -> Iterator[_Read]:
    """Records of an ``sbt-ledger-export/1`` file; entries come in blocks, nodes only ``with_nodes``."""
    batch: list[bytes] = []
    number = 0
    with path.open(encoding="utf-8") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ExportFormatError(f"line {number} is not JSON: {exc.msg}") from exc
                if not isinstance(record, dict) or "kind" not in record:
                    raise ExportFormatError(f"line {number} is not an export record")
                kind = record["kind"]
                if kind == "entry":
                    where = f"line {number}: entry"
                    seq = _integer(record.get("seq"), f"{where} position")
                    leaf, stored = (
                        _b64(record.get("leaf"), f"{where} leaf"),
                        _b64(record.get("leaf_hash"), f"{where} hash"),
                    )
                    if not 0 <= seq < 2**63 or len(stored) != HASH_SIZE:
                        raise ExportFormatError(f"{where} has a position out of range or a hash that is not 32 bytes")
                    batch.append(_ENTRY_HEAD.pack(seq, len(leaf)) + stored + leaf)
                    if len(batch) >= BATCH:
                        yield _packed(batch)
                        batch = []
                    continue
                if batch:
                    yield _packed(batch)
                    batch = []
                if kind == "header":
                    yield _header(record, EXPORT_FORMAT)
                elif kind == "checkpoint":
                    yield ExportCheckpoint(str(record.get("note", "")))
                elif kind == "node":
                    node = ExportNode(
                        _integer(record.get("level"), f"line {number}: node level"),
                        _integer(record.get("position"), f"line {number}: node position"),
                        _b64(record.get("hash"), f"line {number}: node hash"),
                    )
                    if with_nodes:
                        yield node
                else:
                    raise ExportFormatError(f"line {number}: unknown record kind {kind!r}")
        except UnicodeDecodeError as exc:
            raise ExportFormatError(f"line {number + 1} is not UTF-8 text") from exc
    if batch:
        yield _packed(batch)


def _packed(entries: list[bytes]) -> _EntryBlock:
    data = b"".join(entries)
    return _EntryBlock(data, 0, len(data))


_TRUNCATED = "the export ends in the middle of a record or without its end marker: the file was cut short"


def _binary_records(blob: bytes | mmap.mmap, *, with_nodes: bool) -> Iterator[_Read]:
    """Records of an ``sbt-ledger-binary/1`` file; entries come in blocks, nodes only ``with_nodes``."""
    size = len(blob)
    offset = len(BINARY_MAGIC)
    try:
        while offset < size:
            tag = blob[offset]
            if tag == _END:
                if offset + 1 != size:
                    raise ExportFormatError(f"byte {offset + 1}: data after the end of the export")
                return
            if tag == _NODE and not with_nodes:
                end = offset + _NODE_SIZE * _node_run(blob, offset, size)
                if end == offset:  # the node record is cut short
                    break
            elif tag == _NODE:
                end = offset + _NODE_SIZE
                if end > size:
                    break
                level, position = _NODE_HEAD.unpack_from(blob, offset + 1)
                yield ExportNode(level, position, blob[offset + 10 : end])
            elif tag in (_ENTRY, _HEADER, _CHECKPOINT):
                (length,) = _LENGTH.unpack_from(blob, offset + 1)
                end = offset + 5 + length
                if end > size:
                    break
                if tag == _ENTRY:
                    yield _EntryBlock(blob, offset + 5, end)
                else:
                    yield _text_record(tag, blob[offset + 5 : end], offset)
            else:
                raise ExportFormatError(f"byte {offset}: unknown record tag {tag:#04x}")
            offset = end
    except struct.error:
        pass  # a record's head runs past the end of the file
    raise ExportFormatError(_TRUNCATED)


def _node_run(blob: bytes | mmap.mmap, offset: int, size: int) -> int:
    """How many whole node records follow each other from ``offset`` (at most ``NODE_RUN``): skipped together
    when the stored hashes are not wanted, as a record each cost as much as reading an entry."""
    whole = min(NODE_RUN, (size - offset) // _NODE_SIZE)
    tags = blob[offset : offset + whole * _NODE_SIZE : _NODE_SIZE]
    return whole - len(tags.lstrip(_NODE_TAG))


def _text_record(tag: int, data: bytes, offset: int) -> ExportHeader | ExportCheckpoint:
    try:
        if tag == _CHECKPOINT:
            return ExportCheckpoint(data.decode())
        header = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportFormatError(f"byte {offset}: unreadable {chr(tag)} record") from exc
    if not isinstance(header, dict):
        raise ExportFormatError(f"byte {offset}: unreadable H record")
    return _header(header, BINARY_FORMAT)


@dataclass
class _ExportFile:
    """An open export of either format; records can be read more than once (the second pass)."""

    path: Path
    binary: mmap.mmap | None

    @classmethod
    def open(cls, path: Path) -> _ExportFile:
        with path.open("rb") as handle:
            start = handle.read(len(BINARY_MAGIC))
            if start != BINARY_MAGIC:
                return cls(path, None)
            try:
                return cls(path, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
            except ValueError as exc:  # not a regular file (a pipe): the binary format is read mapped
                raise ExportFormatError(f"a binary export must be a regular file ({exc})") from exc

    def records(self, *, with_nodes: bool) -> Iterator[_Read]:
        if self.binary is None:
            return _ndjson_records(self.path, with_nodes=with_nodes)
        return _binary_records(self.binary, with_nodes=with_nodes)

    def close(self) -> None:
        if self.binary is not None:
            self.binary.close()


# --- checking ------------------------------------------------------------------------------------------------


def _refuse_float(text: str) -> Any:
    raise NotCanonicalizable(f"float {text} in leaf")


def leaf_json_problems(data: bytes) -> list[str]:
    """Problems with one leaf's JSON form (``sbt-ledger-export/1`` only: JSON is parsed there anyway)."""
    try:
        # The usual leaf, parsed and re-encoded in C. Bytes that are the canonical form of what orjson read are
        # what any parser reads; anything else (a float, an integer past 64 bits that orjson reads as one, a
        # lone surrogate) is named by the standard library's parse below.
        decoded = orjson.loads(data)
        if type(decoded) is dict and canonical_json(decoded) == data:
            return []
    except (orjson.JSONDecodeError, NotCanonicalizable):
        pass
    try:
        decoded = json.loads(data.decode("utf-8"), parse_float=_refuse_float)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ["leaf bytes are not JSON"]
    except NotCanonicalizable as exc:
        return [f"leaf is not canonical ledger JSON ({exc})"]
    if not isinstance(decoded, dict):
        return ["leaf is not a JSON object"]
    try:
        if canonical_json(decoded) != data:
            return ["leaf bytes are not canonical JSON (re-encoded or hand-edited)"]
    except NotCanonicalizable as exc:
        return [f"leaf is not canonical ledger JSON ({exc})"]
    return []


_SEQ_KEY = b',"seq":'
_SEQ_CLAIM = _SEQ_KEY + b"%d,"
_ROTATION_TYPE = b'"type":"' + KEY_ROTATION.encode() + b'"'


def _claimed_seq(data: bytes) -> int | None:
    """The ``seq`` the leaf itself names (None when it names none or is not a JSON object)."""
    try:
        decoded = json.loads(data)
    except ValueError:
        return None
    claimed = decoded.get("seq") if isinstance(decoded, dict) else None
    return claimed if isinstance(claimed, int) and not isinstance(claimed, bool) else None


def _prev_root(data: bytes) -> bytes | None:
    """The root of the earlier tree this leaf commits to (None for a leaf that names none)."""
    try:
        decoded = json.loads(data)
        return base64.b64decode(str(decoded.get("prev_root")), validate=True) if isinstance(decoded, dict) else None
    except (ValueError, binascii.Error):
        return None


@dataclass
class _StoredTree:
    """What the second pass reads when a root differs: the recomputed and the stored hashes, the commitments."""

    recomputed: MemoryTree = field(default_factory=MemoryTree)
    stored: dict[NodeId, bytes] = field(default_factory=dict)
    prev_roots: list[bytes | None] = field(default_factory=list)

    def add(self, data: bytes, stored_leaf: bytes, leaf: bytes) -> None:
        self.stored[(0, self.recomputed.size)] = stored_leaf
        self.recomputed.append(leaf)
        self.prev_roots.append(_prev_root(data))


def _read_stored_tree(export: _ExportFile) -> _StoredTree:
    tree = _StoredTree()
    entries = _Verifier(None, {}, None)  # the same reading of entries; its findings are the first pass's
    for record in export.records(with_nodes=True):
        if isinstance(record, _EntryBlock):
            entries.entries(record, inspect_json=False, collect=tree)
        elif isinstance(record, ExportNode) and record.level > 0:
            tree.stored[(record.level, record.position)] = record.hash
    return tree


class _Verifier:
    def __init__(
        self,
        verifier_key: NoteVerifier | None,
        saved_checkpoints: dict[str, str],
        progress: Callable[[int], object] | None,
    ) -> None:
        self.saved = saved_checkpoints
        self.progress = progress
        self.report = VerificationReport(key_pinned=verifier_key is not None)
        self.pinned = verifier_key
        self.first_key: NoteVerifier | None = None
        self.announced_entries = 0
        self.claimed: list[_Claimed] = []
        self.wanted: set[int] = set()
        """Sizes whose roots a checkpoint claims, recomputed in the pass over the entries."""
        self._marks: list[int] = []
        """``wanted`` in order."""
        self.rotations: list[tuple[int, bytes]] = []
        self.expected_roots: dict[int, list[CheckedCheckpoint]] = {}
        self.computed_roots: dict[int, bytes] = {0: EMPTY_ROOT}
        self.frontier: list[bytes] = []
        self.size = 0
        self.next_seq = 0
        self.claim_shift: int | None = 0
        self.first_gap: int | None = None

    def finding(self, seq: int | None, reason: str) -> None:
        self.report.findings.append(Finding(seq, reason))

    def header(self, header: ExportHeader) -> None:
        self.report.origin = header.origin
        self.announced_entries = header.entries
        try:
            self.first_key = NoteVerifier.parse(header.verifier_key)
        except NoteError as exc:
            if self.pinned is None:
                raise ExportFormatError(f"export has no usable verifier key: {exc}") from exc
            self.first_key = self.pinned
            self.finding(
                None, f"export publishes key {header.verifier_key!r}, not the pinned key {self.pinned.text()!r}"
            )
        self.report.verifier_key = self.first_key.text()
        for source, note in self.saved.items():
            self.checkpoint(note, source)

    def checkpoint(self, note: str, source: str) -> None:
        """Read now, authenticated at the end (``_authenticate``): the key chain is in the entries that follow."""
        if self.first_key is None:
            raise ExportFormatError("export does not start with a header")
        try:
            text, signatures = split_note(note)
            checkpoint = Checkpoint.parse_body(text)
        except NoteError as exc:
            self.finding(None, f"checkpoint from {source} rejected: {exc}")
            return
        expected = self.report.origin or self.first_key.name
        if checkpoint.origin != expected:
            self.finding(
                None, f"checkpoint from {source} rejected: checkpoint origin {checkpoint.origin!r} is not {expected!r}"
            )
            return
        self.claimed.append(_Claimed(checkpoint, source, note, text, signatures))
        self.wanted.add(checkpoint.tree_size)

    def _key_chain(self) -> list[_KeyPeriod]:
        """The first key, then each key a rotation entry introduced, if it names the key signing before it."""
        assert self.first_key is not None
        chain = [_KeyPeriod(self.first_key, 0)]
        for seq, data in self.rotations:
            try:
                rotation = parse_rotation(json.loads(data)["payload"])
            except (ValueError, KeyError, TypeError) as exc:  # NoteError and JSON errors are ValueErrors
                self.finding(seq, f"key rotation entry is malformed: {exc}")
                continue
            current = chain[-1]
            if rotation.previous != current.key:
                self.finding(
                    seq,
                    f"key rotation to {rotation.new.text()} is not authorised: it names {rotation.previous.text()} "
                    f"as the key it replaces, but the log's key there is {current.key.text()}",
                )
                continue
            current.last_size = seq + 1
            chain.append(_KeyPeriod(rotation.new, seq + 1, introduced_at=seq))
        return chain

    def _authenticate(self) -> None:
        """Each checkpoint against the key of the chain that may sign its size; then each rotation's authorisation."""
        chain = self._key_chain()
        self.report.keys = [period.key.text() for period in chain]
        if self.pinned is not None and self.pinned not in [period.key for period in chain]:
            self.finding(
                None, f"the pinned key {self.pinned.text()!r} is not one of the log's keys: {self.report.keys}"
            )
        for claimed in self.claimed:
            checked = self._signed(claimed, chain)
            if checked is not None:
                self.report.checkpoints.append(checked)
                self.expected_roots.setdefault(claimed.checkpoint.tree_size, []).append(checked)
        for previous, period in itertools.pairwise(chain):
            assert period.introduced_at is not None
            size = period.introduced_at + 1
            if not any(c.signed_by == previous.key for c in self.expected_roots.get(size, [])):
                self.finding(
                    period.introduced_at,
                    f"key rotation to {period.key.text()} is not authorised by the previous key: no checkpoint of "
                    f"size {size} signed by {previous.key.text()}",
                )

    def _signed(self, claimed: _Claimed, chain: list[_KeyPeriod]) -> CheckedCheckpoint | None:
        """C2SP signed-note: a signature by a known key that fails rejects the note; unknown signers are ignored,
        but one known signer is needed. Known here: a key of the chain allowed to sign this size."""
        size = claimed.checkpoint.tree_size
        label = f"checkpoint {size} from {claimed.source}"
        signers = [
            (signature, period)
            for signature in claimed.signatures
            for period in chain
            if signature.name == period.key.name and signature.key_id == period.key.key_id
        ]
        if not signers:
            named = ", ".join(sorted({f"{s.name}+{s.key_id.hex()}" for s in claimed.signatures}))
            self.finding(None, f"{label} rejected: signed by {named}, not by a key the log recorded")
            return None
        allowed = None
        for signature, period in signers:
            if not period.key.verify(claimed.text, signature.signature):
                self.finding(None, f"{label} rejected: signature by {period.key.text()} does not verify")
                return None
            if period.first_size <= size and (period.last_size is None or size <= period.last_size):
                allowed = period
        if allowed is None:
            _, period = signers[0]
            if period.last_size is None or size < period.first_size:
                why = f"it signs only from size {period.first_size}, after its rotation entry {period.introduced_at}"
            else:
                why = f"it was retired after size {period.last_size} by the rotation at entry {period.last_size - 1}"
            self.finding(None, f"{label} rejected: signed by {period.key.text()}, but {why}")
            return None
        return CheckedCheckpoint(claimed.checkpoint, claimed.source, claimed.note, allowed.key)

    def entries(self, block: _EntryBlock, *, inspect_json: bool, collect: _StoredTree | None = None) -> None:
        """The hot path: per entry one SHA-256 of the leaf, about one of a node, no JSON unless ``inspect_json``.

        It reads the block's entries itself: a record object per entry would cost a third of the time. Each step
        of the loop is counted: the hashes alone are half of it.
        """
        unpack, frontier = _ENTRY_HEAD.unpack_from, self.frontier
        pop, push = frontier.pop, frontier.append
        # Copying a hash primed with the RFC 9162 prefix is cheaper than hashing prefix + bytes afresh.
        leaf_hasher, node_hasher = LEAF_HASHER.copy, NODE_HASHER.copy
        # Constants as locals: a global's look-up in this loop costs as much as a check.
        head_size, hash_size = _ENTRY_HEAD_SIZE, HASH_SIZE
        seq_key, seq_claim, rotation_type = _SEQ_KEY, _SEQ_CLAIM, _ROTATION_TYPE
        size, next_seq, claim_shift = self.size, self.next_seq, self.claim_shift
        mark = self._next_mark(size)
        blob, offset, end = block.data, block.start, block.end
        if not isinstance(blob, bytes):  # a mapped file: one copy of the block, which the checks below read in place
            blob, offset, end = blob[offset:end], 0, end - offset
        seq = next_seq
        try:
            while offset < end:
                seq, length = unpack(blob, offset)
                start = offset + head_size
                offset = start + length  # past the block's end: only the last entry, refused after the loop
                if seq != next_seq:
                    self._out_of_place(seq, next_seq, size)
                next_seq = seq + 1
                data = blob[start:offset]
                hasher = leaf_hasher()
                hasher.update(data)
                leaf = hasher.digest()
                if not blob.startswith(leaf, start - hash_size):
                    self.finding(size, "content changed after it was recorded: leaf hash does not match its bytes")
                # The leaf names its own seq. Canonical JSON sorts keys, so only `type` and `v` follow it: a look at the
                # last `,"seq":` finds it, and the leaf is parsed only when that look does not show the stored position.
                at = data.rfind(seq_key)
                if at >= 0 and data.startswith(seq_claim % seq, at):
                    claim_shift = 0
                else:
                    claim_shift = self._claim_differs(data, seq, size, claim_shift)
                if at >= 0 and data.find(rotation_type, at) >= 0:
                    self.rotations.append((size, data))
                if inspect_json:
                    for problem in leaf_json_problems(data):
                        self.finding(size, problem)
                if collect is not None:
                    collect.add(data, blob[start - hash_size : start], leaf)
                node, index = leaf, size
                while index & 1:
                    hasher = node_hasher()
                    hasher.update(pop())
                    hasher.update(node)
                    node = hasher.digest()
                    index >>= 1
                push(node)
                size += 1
                if size == mark:
                    self.computed_roots[size] = self._root()
                    mark = self._next_mark(size)
        except struct.error:  # the block ends inside an entry's head
            raise ExportFormatError(f"entry {next_seq} runs past the end of its block") from None
        if offset > end:
            raise ExportFormatError(f"entry {seq} runs past the end of its block")
        if self.progress:
            self.progress(size - self.size)
        self.size, self.next_seq, self.claim_shift = size, next_seq, claim_shift

    def _next_mark(self, size: int) -> int | None:
        """The next size after ``size`` whose root a checkpoint claims (None: no more)."""
        if len(self._marks) != len(self.wanted):
            self._marks = sorted(self.wanted)
        index = bisect_right(self._marks, size)
        return self._marks[index] if index < len(self._marks) else None

    def _out_of_place(self, seq: int, next_seq: int, position: int) -> None:
        """Once per gap or jump in the stored numbering, not once for every entry after it."""
        if seq > next_seq:
            if self.first_gap is None:
                self.first_gap = next_seq
            missing = f"entry {next_seq} is" if seq == next_seq + 1 else f"entries {next_seq}..{seq - 1} are"
            self.finding(next_seq, f"{missing} missing (deleted): the next stored entry is {seq}")
        else:
            self.finding(position, f"stored position {seq} is out of order or duplicated")

    def _claim_differs(self, data: bytes, seq: int, position: int, shift_before: int | None) -> int | None:
        """A leaf names another position than it is stored at; reported where that difference starts or changes."""
        claimed = _claimed_seq(data)
        shift = None if claimed is None else claimed - seq
        if shift == shift_before:
            return shift
        self.finding(
            position,
            "leaf has no sequence number"
            if claimed is None
            else f"leaf says it is entry {claimed}: entries were reordered or renumbered",
        )
        return shift

    def _root(self) -> bytes:
        return CompactRange(frontier=self.frontier).root()

    def finish(self, export: _ExportFile) -> VerificationReport:
        report = self.report
        report.entries = self.size
        report.root = self._root()
        self._authenticate()
        if self.next_seq < self.announced_entries:
            self.finding(
                None,
                f"the export's header announces {self.announced_entries} entries but it ends after "
                f"{self.next_seq}: the file was cut short",
            )
        # Beyond the last stored position a checkpoint proves a cut tail; between the tree's size and that
        # position, the entries deleted in a gap keep its root from being recomputed: it differs at the gap.
        beyond = [c for size in sorted(self.expected_roots) if size > self.next_seq for c in self.expected_roots[size]]
        if beyond:
            last = beyond[-1].checkpoint.tree_size - 1
            missing = f"entry {last} is" if last == self.next_seq else f"entries {self.next_seq}..{last} are"
            covers = "covers it" if len(beyond) == 1 else "cover them"
            self.finding(self.next_seq, f"{missing} missing (log truncated): {_names(beyond)} {covers}")
        differing = [
            c
            for size in sorted(self.expected_roots)
            if size <= self.next_seq
            for c in self.expected_roots[size]
            if size > self.size or self.computed_roots[size] != c.checkpoint.root_hash
        ]
        if differing:
            self._locate_all(differing, _read_stored_tree(export))
        return report

    def _locate_all(self, differing: list[CheckedCheckpoint], tree: _StoredTree) -> None:
        """Each differing checkpoint leads to a first bad entry; one finding per entry, naming its checkpoints."""
        located: dict[tuple[int, str], list[CheckedCheckpoint]] = {}
        for checked in differing:
            if checked.checkpoint.tree_size > self.size:
                where = (self.first_gap or 0, "")
            else:
                where = self._locate(checked.checkpoint, tree)
            located.setdefault(where, []).append(checked)
        for (seq, evidence), checkpoints in located.items():
            self.finding(seq, f"entry differs from the one committed to by {_names(checkpoints)}{evidence}")

    def _locate(self, checkpoint: Checkpoint, tree: _StoredTree) -> tuple[int, str]:
        """Descend from the signed root, following authenticated stored hashes, to the first differing leaf."""
        start, end, expected = 0, checkpoint.tree_size, checkpoint.root_hash
        while end - start > 1:
            k = split_point(end - start)
            try:
                left, right = hash_range(start, start + k, tree.stored), hash_range(start + k, end, tree.stored)
            except KeyError:
                left = right = b""
            if node_hash(left, right) != expected:
                return self._locate_by_prev_roots(start, end, tree)
            if hash_range(start, start + k, tree.recomputed.nodes) != left:
                end, expected = start + k, left
            else:
                start, expected = start + k, right
        return start, ""

    def _locate_by_prev_roots(self, start: int, end: int, tree: _StoredTree) -> tuple[int, str]:
        """Stored hashes below here were rewritten too: use the history root each later leaf commits to.

        Leaf ``i + 1`` records the root of the first ``i + 1`` entries, so the first ``i`` where that
        record disagrees with the recomputed root is the rewritten entry.
        """
        flagged = {f.seq for f in self.report.findings}
        for index in range(start, end):
            following = index + 1
            if index in flagged:
                return index, ""
            if following >= len(tree.prev_roots):
                break
            if following in flagged:
                continue  # a defective leaf's commitment is no evidence
            claimed = tree.prev_roots[following]
            if claimed is None or claimed != tree.recomputed.root(following):
                return index, f" (and by entry {following})"
        return end - 1, ""


def _names(checkpoints: list[CheckedCheckpoint]) -> str:
    """The smallest checkpoint, the largest and the auditor's own (ordered by size), and how many others."""
    named = [checkpoints[0], *(c for c in checkpoints[1:] if c.source != "export" or c is checkpoints[-1])]
    others = len(checkpoints) - len(named)
    return ", ".join(c.label for c in named) + (f" and {others} other{'s' if others > 1 else ''}" if others else "")


def verify_export(
    path: Path,
    *,
    verifier_key: NoteVerifier | None = None,
    saved_checkpoints: dict[str, str] | None = None,
    progress: Callable[[int], object] | None = None,
    policy: WitnessPolicy | None = None,
) -> VerificationReport:
    """Verify an export file of either format. ``saved_checkpoints`` maps a label (e.g. file name) to a signed note;
    under a witness ``policy`` the latest checkpoint must carry its quorum of valid cosignatures.

    Raises ``ExportFormatError`` (or ``OSError``) when the file cannot be read as an export.
    """
    verifier = _Verifier(verifier_key, saved_checkpoints or {}, progress)
    export = _ExportFile.open(path)
    try:
        inspect_json = export.binary is None
        started = False
        for record in export.records(with_nodes=False):  # stored hashes are read only to locate a difference
            if isinstance(record, ExportHeader) and not started:
                verifier.header(record)
                started = True
            elif not started or isinstance(record, ExportHeader):
                raise ExportFormatError("export does not start with a header" if not started else "a second header")
            elif isinstance(record, _EntryBlock):
                verifier.entries(record, inspect_json=inspect_json)
            elif isinstance(record, ExportCheckpoint):
                verifier.checkpoint(record.note, "export")
        if not started:
            raise ExportFormatError("export does not start with a header")
        report = verifier.finish(export)
        if policy is not None:
            check_witnesses(report, policy)
        return report
    except struct.error as exc:  # an entry's head runs past the end of the file
        raise ExportFormatError(_TRUNCATED) from exc
    finally:
        export.close()


def check_witnesses(report: VerificationReport, policy: WitnessPolicy) -> None:
    """The checkpoint the verdict rests on (the latest whose entries are all present) must be witnessed: without
    that, a log that rewrote its history and signed it afresh would pass as long as nobody kept an old checkpoint."""
    latest = report.latest_checkpoint
    if latest is None:
        report.findings.append(Finding(None, "no signed checkpoint covers the log, so none is witnessed"))
        return
    report.witnessed_by = sorted(policy.cosigned_by(latest.note))
    shortfall = policy.shortfall(latest.note)
    if shortfall is not None:
        report.findings.append(Finding(None, f"{latest.label} is {shortfall}"))


def exported_leaves(path: Path) -> Iterator[bytes]:
    """Each entry's leaf, in log order, from an export of either format: the replay input once ``verify_export``
    has proven the file (``sbt ledger audit-state --url``)."""
    export = _ExportFile.open(path)
    try:
        for record in export.records(with_nodes=False):
            if isinstance(record, _EntryBlock):
                blob, offset = record.data, record.start
                while offset < record.end:
                    _, length = _ENTRY_HEAD.unpack_from(blob, offset)
                    start = offset + _ENTRY_HEAD_SIZE
                    offset = start + length
                    yield bytes(blob[start:offset])
    finally:
        export.close()
