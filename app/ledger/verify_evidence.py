"""Offline verification of a case's evidence bundle (stdlib + ``cryptography``; no service, no database).

A bundle (``GET /api/v1/ledger/cases/{id}/evidence``, format ``sbt-case-evidence/1``) is one JSON object, in the
spirit of C2SP ``tlog-proof`` (an index and an inclusion path per entry, against one signed checkpoint)::

    {"format": "sbt-case-evidence/1", "case_id": "<uuid>", "key_name": "<log key name = origin>",
     "verifier_key": "<C2SP note verifier key>", "checkpoint": "<signed checkpoint note>",
     "case_head": "<signed case head note>",
     "entries": [{"seq": 7, "leaf": "<base64 leaf bytes>", "leaf_hash": "<base64>", "inclusion_proof": [...]}]}

The case head is a signed note by the log's key, stating how many entries about the case the checkpointed tree
holds and which is the last (``case_head_text``): with it, leaving out the newest entry is a signed lie instead of
a silent omission. Every entry about a case names the previous one (``payload.previous``: seq and leaf hash; null
in the first), so the chain proves that no step in between is missing. Entries written before these links
existed lack the field; they may only come first, and the signed count still covers them.

Every byte is checked: the JSON is parsed strictly (no unknown, missing or duplicate keys), base64 must be
canonical, and every value is either signed, hashed into a signed root or compared with something that is.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from app.ledger.merkle import HASH_SIZE, ProofError, leaf_hash, verify_inclusion
from app.ledger.note import Checkpoint, NoteError, NoteVerifier, open_checkpoint, open_note
from app.ledger.witness_policy import WitnessPolicy

EVIDENCE_FORMAT = "sbt-case-evidence/1"
CASE_HEAD_FORMAT = "sbt-case-head/v1"
CASE_LINK = "previous"
"""Payload field of each entry about a case (written since per-case links exist): ``{"seq", "leaf_hash"}`` of the
previous entry about the same case, null in the case's first entry. Older entries lack it."""
_BUNDLE_KEYS = frozenset({"format", "case_id", "key_name", "verifier_key", "checkpoint", "case_head", "entries"})
_ENTRY_KEYS = frozenset({"seq", "leaf", "leaf_hash", "inclusion_proof"})
_LINK_KEYS = frozenset({"seq", "leaf_hash"})


class EvidenceError(ValueError):
    """The bundle does not prove what it claims; the message is one line naming what failed."""


@dataclass(frozen=True)
class EvidenceReport:
    case_id: str
    origin: str
    verifier_key: str
    key_pinned: bool
    tree_size: int
    seqs: list[int]
    unlinked: int
    """Leading entries written before per-case links existed (covered by the signed count only)."""
    witnessed_by: list[str] | None = None
    """Under a witness policy: the witnesses with a valid cosignature of the bundle's checkpoint."""


def case_head_text(
    origin: str, case_id: uuid.UUID | str, tree_size: int, count: int, last_seq: int, last: bytes
) -> str:
    """The statement the log signs: in the tree of ``tree_size`` entries, ``count`` are about the case, the last
    one at ``last_seq`` with leaf hash ``last``. Its first line is not an origin, so no verifier takes it for a
    checkpoint."""
    return f"{CASE_HEAD_FORMAT}\n{origin}\n{case_id}\n{tree_size}\n{count}\n{last_seq}\n{_b64(last)}\n"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _decode(value: Any, what: str, size: int | None = None) -> bytes:
    """Canonical base64 only: otherwise two texts would decode to the same bytes and a change could pass."""
    if not isinstance(value, str):
        raise EvidenceError(f"{what} is not a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise EvidenceError(f"{what} is not base64") from exc
    if _b64(raw) != value:
        raise EvidenceError(f"{what} is not canonical base64")
    if size is not None and len(raw) != size:
        raise EvidenceError(f"{what} is {len(raw)} bytes, not {size}")
    return raw


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EvidenceError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise EvidenceError(f"{name} is not JSON")


def _json(data: bytes, what: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EvidenceError(f"{what} is not UTF-8 (byte {exc.start})") from exc
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{what} is not JSON: {exc.msg} at character {exc.pos}") from exc


def _keys(value: Any, expected: frozenset[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EvidenceError(f"{what} is not an object")
    if value.keys() != expected:
        odd = sorted(value.keys() ^ expected)
        raise EvidenceError(f"{what} has unexpected or missing fields: {', '.join(odd)}")
    return value


def _integer(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise EvidenceError(f"{what} is not a non-negative integer")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise EvidenceError(f"{what} is not a string")
    return value


def _note(value: Any, what: str) -> str:
    """A signed note whose signatures are canonical base64: signed-note verifiers accept any padding bits, so
    without this a changed last character of a signature would still verify."""
    note = _text(value, what)
    for line in note.rpartition("\n\n")[2].splitlines():
        _decode(line.rpartition(" ")[2], f"{what} signature")
    return note


def verify_evidence(
    data: bytes, pinned: NoteVerifier | None = None, policy: WitnessPolicy | None = None
) -> EvidenceReport:
    """Check a bundle; raise ``EvidenceError`` (one line) unless it proves the case's complete history (and, under a
    witness ``policy``, unless its checkpoint carries the quorum of valid cosignatures)."""
    bundle = _keys(_json(data, "bundle"), _BUNDLE_KEYS, "bundle")
    if bundle["format"] != EVIDENCE_FORMAT:
        raise EvidenceError(f"bundle format is {bundle['format']!r}, not {EVIDENCE_FORMAT!r}")
    case_id = _text(bundle["case_id"], "case_id")
    try:
        canonical_id = str(uuid.UUID(case_id))
    except ValueError as exc:
        raise EvidenceError("case_id is not a UUID") from exc
    if canonical_id != case_id:
        raise EvidenceError("case_id is not a UUID in canonical form")
    verifier, key_text = _verifier(bundle, pinned)
    try:
        checkpoint = open_checkpoint(_note(bundle["checkpoint"], "checkpoint"), verifier)
    except NoteError as exc:
        raise EvidenceError(f"checkpoint: {exc}") from exc
    witnessed_by = None
    if policy is not None:
        witnessed_by = sorted(policy.cosigned_by(bundle["checkpoint"]))
        shortfall = policy.shortfall(bundle["checkpoint"])
        if shortfall is not None:
            raise EvidenceError(f"checkpoint {checkpoint.tree_size} is {shortfall}")
    entries = bundle["entries"]
    if not isinstance(entries, list) or not entries:
        raise EvidenceError("entries is not a non-empty list")
    seqs: list[int] = []
    hashes: list[bytes] = []
    links: list[Any] = []
    for number, item in enumerate(entries):
        seq, hashed, link = _entry(item, number, case_id, checkpoint, seqs)
        seqs.append(seq)
        hashes.append(hashed)
        links.append(link)
    unlinked = _check_chain(seqs, hashes, links)
    _check_head(bundle, verifier, checkpoint, case_id, seqs, hashes)
    return EvidenceReport(
        case_id, checkpoint.origin, key_text, pinned is not None, checkpoint.tree_size, seqs, unlinked, witnessed_by
    )


def _verifier(bundle: dict[str, Any], pinned: NoteVerifier | None) -> tuple[NoteVerifier, str]:
    try:
        named = NoteVerifier.parse(_text(bundle["verifier_key"], "verifier_key"))
    except NoteError as exc:
        raise EvidenceError(f"verifier_key: {exc}") from exc
    key_text = _text(bundle["verifier_key"], "verifier_key")
    if named.text() != key_text:
        raise EvidenceError("verifier_key is not in canonical form")
    if pinned is not None and named != pinned:
        raise EvidenceError(f"bundle is signed for key {key_text}, not the pinned key {pinned.text()}")
    if bundle["key_name"] != named.name:
        raise EvidenceError(f"key_name {bundle['key_name']!r} is not the verifier key's name {named.name!r}")
    return named, key_text


def _entry(item: Any, number: int, case_id: str, checkpoint: Checkpoint, seqs: list[int]) -> tuple[int, bytes, Any]:
    """Check one entry; return its seq, its (recomputed) leaf hash and its link to the previous entry."""
    item = _keys(item, _ENTRY_KEYS, f"entries[{number}]")
    seq = _integer(item["seq"], f"entries[{number}].seq")
    where = f"entry {seq}"
    if seqs and seq <= seqs[-1]:
        raise EvidenceError(f"{where} comes after entry {seqs[-1]}: entries are not in log order")
    leaf = _decode(item["leaf"], f"{where} leaf")
    hashed = leaf_hash(leaf)
    if not hmac.compare_digest(hashed, _decode(item["leaf_hash"], f"{where} leaf_hash", HASH_SIZE)):
        raise EvidenceError(f"{where}: leaf_hash is not the hash of its leaf")
    proof = item["inclusion_proof"]
    if not isinstance(proof, list):
        raise EvidenceError(f"{where}: inclusion_proof is not a list")
    path = [_decode(h, f"{where} inclusion_proof[{i}]", HASH_SIZE) for i, h in enumerate(proof)]
    try:
        verify_inclusion(seq, checkpoint.tree_size, hashed, path, checkpoint.root_hash)
    except ProofError as exc:
        raise EvidenceError(f"{where} is not in the checkpointed tree of size {checkpoint.tree_size}: {exc}") from exc
    content = _json(leaf, f"{where} leaf")
    if not isinstance(content, dict) or not isinstance(content.get("payload"), dict):
        raise EvidenceError(f"{where}: leaf is not a ledger entry")
    if content.get("seq") != seq:
        raise EvidenceError(f"{where}: its leaf records position {content.get('seq')!r}")
    if content.get("case_id") != case_id:
        raise EvidenceError(f"{where} is about case {content.get('case_id')!r}, not {case_id}")
    return seq, hashed, content["payload"].get(CASE_LINK, ...)


def _check_chain(seqs: list[int], hashes: list[bytes], links: list[Any]) -> int:
    """Each linked entry names exactly the entry before it in the bundle; unlinked ones only lead."""
    unlinked = 0
    for index, link in enumerate(links):
        where = f"entry {seqs[index]}"
        if link is ...:
            if unlinked != index:
                raise EvidenceError(f"{where} names no previous entry although entries before it do")
            unlinked += 1
        elif link is None:
            if index:
                raise EvidenceError(f"{where} claims to be the case's first entry; entry {seqs[index - 1]} precedes it")
        else:
            named = _keys(link, _LINK_KEYS, f"{where} {CASE_LINK}")
            named_seq = _integer(named["seq"], f"{where} {CASE_LINK}.seq")
            named_hash = _decode(named["leaf_hash"], f"{where} {CASE_LINK}.leaf_hash", HASH_SIZE)
            if not index or named_seq != seqs[index - 1]:
                raise EvidenceError(f"{where} follows entry {named_seq} of the case, which the bundle leaves out")
            if not hmac.compare_digest(named_hash, hashes[index - 1]):
                raise EvidenceError(f"{where} follows a different entry {named_seq} than the bundle holds")
    return unlinked


def _check_head(
    bundle: dict[str, Any],
    verifier: NoteVerifier,
    checkpoint: Checkpoint,
    case_id: str,
    seqs: list[int],
    hashes: list[bytes],
) -> None:
    try:
        head = open_note(_note(bundle["case_head"], "case_head"), verifier)
    except NoteError as exc:
        raise EvidenceError(f"case_head: {exc}") from exc
    expected = case_head_text(checkpoint.origin, case_id, checkpoint.tree_size, len(seqs), seqs[-1], hashes[-1])
    if head == expected:
        return
    for name, stated, held in zip(_HEAD_LINES, head.split("\n"), expected.split("\n"), strict=False):
        if stated != held:
            raise EvidenceError(f"the log's signed case head states {name} {stated!r}; the bundle has {held!r}")
    raise EvidenceError("the log's signed case head is not a case head")


_HEAD_LINES = ("format", "log", "case", "tree size", "entry count", "last entry", "last leaf hash")
