"""Recording to the ledger, integrating pending writes, signing checkpoints and answering proofs.

Domain services describe what they changed as ``LedgerChange`` values; the write flow of the use case records
them with ``record_pending`` in the same transaction as the change, so a change and its pending ledger record
become durable together or not at all. The sequencer (``app.ledger.sequencer``) then gives pending writes their
positions with ``integrate_pending`` (decision 0028).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.actor import WriteContext
from app.core.config import Settings
from app.core.db import utcnow
from app.core.problems import LedgerIntegrityFailure
from app.ledger import repository
from app.ledger.canonical import canonical_json, encode_ascii_keyed, encode_normalised, sorted_members
from app.ledger.key_rotation import KEY_ROTATION, KeyRotation, parse_rotation, rotation_payload
from app.ledger.merkle import (
    CompactRange,
    ProofError,
    consistency_proof_ranges,
    hash_range,
    inclusion_proof_ranges,
    leaf_hash,
    nodes_for_ranges,
    perfect_nodes,
    verify_consistency,
)
from app.ledger.models import LedgerCheckpoint
from app.ledger.note import Checkpoint, NoteError, NoteSigner, NoteVerifier
from app.ledger.schemas import CASE_LINK, LedgerChange, LedgerReceipt, ReceiptEntry, b64
from app.ledger.signing import load_signer, prepare_next

ENTRY_FORMAT_VERSION = 1
SIGNED_IN_SESSION = "ledger_signed_checkpoint"
"""``session.info`` flag: this session signed a checkpoint that may not be committed yet."""


@dataclass(frozen=True, slots=True)
class _SignedMark:
    tree_size: int
    created_at: dt.datetime
    root_hash: bytes


_committed_checkpoint: WeakKeyDictionary[Engine | Connection, _SignedMark] = WeakKeyDictionary()
"""Per database, a checkpoint this process has seen committed. Checkpoints are append-only and signed in
tree-size order, so the latest one is at least this recent: when this one is not yet due, neither is the
latest, and appends skip the checkpoint query. It is also this process's memory of signed history: when the
stored checkpoints no longer reach it (rows deleted behind the service's back), nothing smaller or inconsistent
is signed, and ``/ready`` says so, until the process restarts (what witnesses are for)."""


def _remember(session: Session, latest: LedgerCheckpoint) -> None:
    """Record a checkpoint read from another transaction's commit (not this session's pending signature)."""
    if not session.info.get(SIGNED_IN_SESSION):
        _committed_checkpoint[session.get_bind()] = _SignedMark(latest.tree_size, latest.created_at, latest.root_hash)


def signer_for(settings: Settings) -> NoteSigner:
    """The key in the key file (created on first start); since a rotation, the log says which key signs
    (``signer_at``)."""
    return load_signer(settings.ledger_key_path, settings.ledger_origin)


def _rotation(leaf: bytes | None) -> KeyRotation | None:
    return None if leaf is None else parse_rotation(json.loads(leaf)["payload"])


def verifier_at(session: Session, settings: Settings, size: int) -> NoteVerifier:
    """The key that signs the checkpoint of ``size``: the one the latest rotation before its last entry introduced;
    before the first rotation, the key that rotation replaced (the log's first key); without one, the key file's.

    The checkpoint ending with a rotation entry is so still signed by the previous key: it authorises the rotation.
    """
    rotation = _rotation(repository.key_rotation_before(session, size - 1))
    if rotation is not None:
        return rotation.new
    first = _rotation(repository.first_key_rotation(session))
    return first.previous if first is not None else signer_for(settings).verifier()


def first_verifier(session: Session, settings: Settings) -> NoteVerifier:
    """The log's first key, where the verifier's chain of rotations starts (the export header names it)."""
    return verifier_at(session, settings, 0)


def signer_at(session: Session, settings: Settings, size: int) -> NoteSigner:
    try:
        return load_signer(settings.ledger_key_path, settings.ledger_origin, verifier_at(session, settings, size))
    except NoteError as exc:
        raise LedgerIntegrityFailure(str(exc)) from exc


class RotationRefused(Exception):
    """``sbt keys rotate --ledger`` cannot start a rotation now (the message says why)."""


def record_key_rotation(session: Session, settings: Settings, ctx: WriteContext) -> tuple[PendingWrite, KeyRotation]:
    """Record the ``ledger.key_rotated`` entry that introduces the waiting ``.next`` key (created if missing).

    Under the log's lock, so the previous key it names is the log's key when it is sequenced: a second rotation
    waits until the first is in the log (and refuses while one is pending).
    """
    repository.lock_log(session)
    if any(
        template["type"] == KEY_ROTATION
        for changes in repository.pending_changes(session)
        for template in json.loads(changes)
    ):
        raise RotationRefused("a key rotation is already waiting to be sequenced; run the command again later")
    size = repository.tree_size(session)
    current = verifier_at(session, settings, size + 1)
    try:
        # A rotation whose entry is sequenced but whose key has not signed yet: move it in before preparing the next.
        load_signer(settings.ledger_key_path, settings.ledger_origin, current)
        new = prepare_next(settings.ledger_key_path, settings.ledger_origin).verifier()
    except NoteError as exc:
        raise RotationRefused(str(exc)) from exc
    rotation = KeyRotation(new, current)
    pending = record_pending(session, ctx, [LedgerChange(KEY_ROTATION, rotation_payload(new, current), None)])
    assert pending is not None
    return pending, rotation


def format_timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_envelope(
    *,
    ctx: WriteContext,
    entry_type: str,
    payload: Mapping[str, Any],
    case_id: uuid.UUID | None,
) -> dict[str, Any]:
    """Everything an auditor must be able to check lives inside the hashed leaf; this is all of it but what
    depends on the entry's position, which the sequencer adds: ``seq``, ``recorded_at`` (stamped in log order)
    and ``prev_root``, the root of the tree before it. Each entry so commits to all history before it, which
    lets the verifier name the exact entry an attacker rewrote (hashes included).
    """
    principal = ctx.principal
    return {
        "v": ENTRY_FORMAT_VERSION,
        "type": entry_type,
        "agency": principal.agency.value if principal.agency else None,
        "client_id": principal.client_id,
        "role": principal.role.value,
        "case_id": str(case_id) if case_id else None,
        "request_id": ctx.request_id,
        "body_sha256": ctx.body_sha256,
        "payload": dict(payload),
    }


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """A write's ledger changes as committed with it, waiting for their positions (``app.ledger.sequencer``)."""

    id: int
    entry_count: int


def record_pending(session: Session, ctx: WriteContext, changes: Sequence[LedgerChange]) -> PendingWrite | None:
    """Record a write's changes in the caller's transaction as one pending row; no lock, one INSERT.

    Everything of each leaf that does not depend on its position is fixed here (who, what, the request); the
    sequencer adds ``seq``, ``recorded_at``, ``prev_root`` and the case link when it integrates the row.
    """
    if not changes:
        return None
    templates = [
        entry_envelope(ctx=ctx, entry_type=change.entry_type, payload=change.payload, case_id=change.case_id)
        for change in changes
    ]
    data = canonical_json(templates)  # a payload that cannot be recorded fails here, before anything is written
    # Flush the caller's pending changes first, so that their errors stay theirs.
    session.flush()
    pending_id = repository.insert_pending(session, len(templates), data, hashlib.sha256(data).digest())
    return PendingWrite(pending_id, len(templates))


WrittenEntry = tuple[int, str, bytes]
"""``(seq, entry type, leaf hash)`` of an entry a write appended: what its receipt says."""


@dataclass(frozen=True, slots=True)
class IntegratedRound:
    """What one sequencer round wrote: each pending write's entries, by pending id, in log order."""

    written: dict[int, list[WrittenEntry]]
    tree_size: int

    def receipt(self, pending_id: int) -> LedgerReceipt:
        """Built for the writes someone waits for only (a round of other processes' writes builds none)."""
        return _receipt(self.written[pending_id])


def integrate_pending(
    session: Session, settings: Settings, limit: int, *, proofs_wanted: Collection[int] = ()
) -> IntegratedRound:
    """Turn up to ``limit`` pending writes, in arrival order, into entries and the Merkle nodes they complete.

    The caller holds the round lock (``sequencer``). Entries, nodes and the write index are multi-row inserts,
    the pending rows are deleted in the same transaction, and a checkpoint is signed when one is due, or when a
    write of the round is in ``proofs_wanted`` (its waiter asked for inclusion proofs: one checkpoint then serves
    every such write of the round): a crash at any point leaves either the pending rows or their entries, never
    both and never neither.
    """
    rows = repository.pending_batch(session, limit)
    if not rows:
        return IntegratedRound({}, 0)
    writes, rotates = _through_first_rotation([_pending_templates(*row) for row in rows])
    tree = _stored_frontier(session)
    appended_from = tree.size
    # The cases as their leaves name them: SQLite stores that text, PostgreSQL parses it where it binds it.
    cases = {t["case_id"] for _, templates, _ in writes for t in templates if t["case_id"]}
    latest = repository.latest_case_entries(session, cases)
    recorded_at = utcnow()
    stamp = format_timestamp(recorded_at)  # one for the round: every entry of it is recorded at that moment
    entry_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    write_rows: list[dict[str, Any]] = []
    written: dict[int, list[WrittenEntry]] = {}
    for pending_id, templates, ascii_only in writes:
        write_rows.append({"pending_id": pending_id, "first_seq": tree.size, "entry_count": len(templates)})
        entries = written[pending_id] = []
        for template in templates:
            row = _entry_row(tree, template, latest, recorded_at, stamp, ascii_only)
            entry_rows.append(row)
            created = tree.append(row["leaf_hash"])
            node_rows.extend(
                {"level": level, "position": position, "hash": node} for (level, position), node in created[1:]
            )  # created[0] is the leaf
            entries.append((row["seq"], row["entry_type"], row["leaf_hash"]))
    try:
        repository.insert_integrated(session, entry_rows, node_rows, write_rows)
    except IntegrityError as exc:
        # Only possible when stored rows were removed behind the service's back (the tail was cut).
        raise LedgerIntegrityFailure(
            f"ledger positions {appended_from}..{tree.size - 1} or their tree nodes already exist"
        ) from exc
    wanted = not written.keys().isdisjoint(proofs_wanted)
    _checkpoint_if_due(session, settings, tree, recorded_at, appended_from=appended_from, force=rotates or wanted)
    return IntegratedRound(written, tree.size)


def _through_first_rotation(writes: list[_Templates]) -> tuple[list[_Templates], bool]:
    """The writes up to the first key rotation, and whether it is among them: a rotation ends its round, whose
    checkpoint then ends with the rotation entry and is signed by the previous key (``verifier_at``)."""
    for index, (pending_id, templates, _) in enumerate(writes):
        kinds = [template["type"] for template in templates]
        if KEY_ROTATION in kinds:
            if kinds[-1] != KEY_ROTATION or kinds.count(KEY_ROTATION) > 1:
                raise LedgerIntegrityFailure(f"pending ledger write {pending_id}: a key rotation must end its write")
            return writes[: index + 1], True
    return writes, False


def pending_subjects(session: Session) -> tuple[set[uuid.UUID], bool]:
    """The cases that committed writes still waiting for their positions are about, and whether any changes a
    client: their rows already show what the log does not hold yet (the state audit leaves them for later)."""
    cases: set[uuid.UUID] = set()
    clients = False
    for changes in repository.pending_changes(session):
        for template in json.loads(changes):
            if template["case_id"]:
                cases.add(uuid.UUID(template["case_id"]))
            clients = clients or template["type"].startswith("client.")
    return cases, clients


def written_receipt(session: Session, pending_id: int) -> LedgerReceipt | None:
    """The receipt of a write a round has integrated (in any process); None while it is pending."""
    return written_receipts(session, [pending_id]).get(pending_id)


def written_receipts(session: Session, pending_ids: Collection[int]) -> dict[int, LedgerReceipt]:
    """The receipts of those writes rounds have integrated (in any process), by pending id."""
    return {
        pending_id: _receipt(entries)
        for pending_id, entries in repository.written_entries(session, pending_ids).items()
    }


def _receipt(entries: Sequence[WrittenEntry]) -> LedgerReceipt:
    return LedgerReceipt(
        entries=[ReceiptEntry(seq=seq, entry_type=kind, leaf_hash=b64(leaf)) for seq, kind, leaf in entries]
    )


class _Templates(NamedTuple):
    """A pending write's leaves as parsed (each becomes its entry's leaf: the round adds its position fields)."""

    pending_id: int
    templates: list[dict[str, Any]]
    ascii_only: bool
    """Its canonical JSON is ASCII: every object key is, so orjson's key order is the canonical one."""


def _pending_templates(pending_id: int, changes: bytes, changes_hash: bytes) -> _Templates:
    if hashlib.sha256(changes).digest() != changes_hash:
        raise LedgerIntegrityFailure(f"pending ledger write {pending_id} does not match its hash")
    return _Templates(pending_id, orjson.loads(changes), changes.isascii())


def _entry_row(
    tree: CompactRange,
    template: dict[str, Any],
    latest: dict[str, tuple[int, bytes]],
    recorded_at: dt.datetime,
    stamp: str,
    ascii_only: bool,
) -> dict[str, Any]:
    """The next entry's row: the template at position ``tree.size``, linked to its case's previous entry;
    ``stamp`` is ``recorded_at`` as the leaf writes it. The template becomes the leaf (it is the round's own copy)."""
    seq = tree.size
    payload = template["payload"]
    case_id: str | None = template["case_id"]
    if case_id is not None:
        payload[CASE_LINK] = _case_link(latest.get(case_id))
    template["seq"] = seq
    template["recorded_at"] = stamp
    template["prev_root"] = b64(tree.root())
    # The template was checked and made canonical by the request: only the members added here need ordering.
    if ascii_only:
        data = encode_ascii_keyed(template)
    else:
        template["payload"] = sorted_members(payload)
        data = encode_normalised(sorted_members(template))
    hashed = leaf_hash(data)
    if case_id is not None:
        latest[case_id] = (seq, hashed)
    return {
        "seq": seq,
        "recorded_at": recorded_at,
        "entry_type": template["type"],
        "agency": template["agency"],
        "client_id": template["client_id"],
        "case_id": case_id,
        "request_id": template["request_id"],
        "body_sha256": template["body_sha256"],
        "leaf_data": data,
        "leaf_hash": hashed,
    }


def _stored_frontier(session: Session) -> CompactRange:
    """The log's right frontier, read from storage under the round lock (O(log n) rows, two queries)."""
    last = repository.last_leaf(session)
    if last is None:
        return CompactRange()
    last_seq, last_hash = last
    size = last_seq + 1
    frontier_ids = perfect_nodes(0, size)
    # An odd-sized tree's frontier ends with its last leaf, which was just read.
    stored = repository.fetch_nodes(session, [node for node in frontier_ids if node != (0, last_seq)])
    stored[(0, last_seq)] = last_hash
    return CompactRange(size, [stored[node] for node in frontier_ids])


def _case_link(previous: tuple[int, bytes] | None) -> dict[str, Any] | None:
    """A change about a case names the previous entry about the same case (null for its first), so that an
    auditor holding a case's entries proves none is missing (``app.ledger.evidence``)."""
    return None if previous is None else {"leaf_hash": b64(previous[1]), "seq": previous[0]}


def _checkpoint_due(settings: Settings, size: int, latest: LedgerCheckpoint | _SignedMark, now: dt.datetime) -> bool:
    return size - latest.tree_size >= settings.ledger_checkpoint_max_entries or now - latest.created_at >= dt.timedelta(
        seconds=settings.ledger_checkpoint_interval_seconds
    )


def _cut_tail(signed_size: int, stored_size: int) -> str:
    return f"checkpoint {signed_size} was signed but the stored log has {stored_size} entries"


def _refuse_shorter_than(signed_size: int, stored_size: int) -> None:
    """Entries a signed checkpoint covers are gone (the tail was cut): appending would fork the log."""
    if signed_size > stored_size:
        raise LedgerIntegrityFailure(_cut_tail(signed_size, stored_size))


def _checkpoint_if_due(
    session: Session, settings: Settings, tree: CompactRange, now: dt.datetime, *, appended_from: int, force: bool
) -> None:
    database = session.get_bind()
    seen = _committed_checkpoint.get(database)
    if seen is not None:
        _refuse_shorter_than(seen.tree_size, appended_from)
        if not force and not _checkpoint_due(settings, tree.size, seen, now):
            return
    latest = repository.latest_checkpoint(session)
    if latest is not None:
        _refuse_shorter_than(latest.tree_size, appended_from)
    if force or latest is None or _checkpoint_due(settings, tree.size, latest, now):
        _sign_checkpoint(session, settings, tree.size, tree.root(), latest)
    else:
        _remember(session, latest)


def root_hash(session: Session, size: int) -> bytes:
    return hash_range(0, size, repository.fetch_nodes(session, perfect_nodes(0, size)))


def _sign_checkpoint(
    session: Session, settings: Settings, size: int, root: bytes, previous: LedgerCheckpoint | None
) -> LedgerCheckpoint:
    remembered = _committed_checkpoint.get(session.get_bind())
    if remembered is not None and (previous is None or remembered.tree_size > previous.tree_size):
        earlier: LedgerCheckpoint | _SignedMark | None = remembered  # stored checkpoints were deleted
    else:
        earlier = previous
    if earlier is not None and earlier.tree_size > 0:
        # Never sign a tree that does not extend what was signed before (C2SP tlog-checkpoint: MUST NOT).
        _refuse_shorter_than(earlier.tree_size, size)
        try:
            verify_consistency(
                earlier.tree_size,
                size,
                consistency_proof(session, earlier.tree_size, size),
                earlier.root_hash,
                root,
            )
        except ProofError as exc:
            raise LedgerIntegrityFailure(
                f"stored tree of size {size} is not consistent with checkpoint {earlier.tree_size}: {exc}"
            ) from exc
    note = signer_at(session, settings, size).sign(Checkpoint(settings.ledger_origin, size, root).body())
    checkpoint = LedgerCheckpoint(tree_size=size, root_hash=root, note=note, created_at=utcnow())
    session.add(checkpoint)
    session.flush()
    session.info[SIGNED_IN_SESSION] = True
    return checkpoint


def current_checkpoint(session: Session, settings: Settings, *, fresh: bool) -> LedgerCheckpoint:
    """The latest checkpoint; a new one is signed first when it is stale (or ``fresh`` and behind).

    Auditors only read, but they still need a signed head that covers recent entries: signing is a
    deterministic statement about entries that already exist, so it is safe to do on their request.
    """
    latest = repository.latest_checkpoint(session)
    size = repository.tree_size(session)
    if latest is not None and latest.tree_size == size:
        return latest
    if latest is not None and not fresh and not _checkpoint_due(settings, size, latest, utcnow()):
        return latest
    repository.lock_log(session)
    size = repository.tree_size(session)
    latest = repository.latest_checkpoint(session)
    if latest is not None and latest.tree_size == size:
        return latest
    return _sign_checkpoint(session, settings, size, root_hash(session, size), latest)


def checkpoint_covering(session: Session, settings: Settings, size: int) -> LedgerCheckpoint:
    """The first signed checkpoint holding the first ``size`` (committed) entries; signed now when none does yet
    (under the log's lock, so that writers asking together get one checkpoint, not one each)."""
    found = repository.first_checkpoint_covering(session, size)
    if found is None:
        repository.lock_log(session)
        found = repository.first_checkpoint_covering(session, size)  # signed while this one waited
    return found or current_checkpoint(session, settings, fresh=True)


def integrity_problem(session: Session) -> str | None:
    """Why the stored log no longer matches its latest signed checkpoint, or None when it does.

    Cheap enough for a readiness probe: the newest checkpoint, the tree size and the O(log n) stored nodes of
    the checkpoint's root. It catches a cut tail, rewritten stored hashes and, while this process runs, deleted
    checkpoints; a full check is ``sbt ledger verify``.
    """
    latest = repository.latest_checkpoint(session)
    remembered = _committed_checkpoint.get(session.get_bind())
    if remembered is not None and (latest is None or remembered.tree_size > latest.tree_size):
        return f"checkpoint {remembered.tree_size}, signed before, is no longer stored"
    if latest is None:
        return None
    _remember(session, latest)
    size = repository.tree_size(session)
    if latest.tree_size > size:
        return _cut_tail(latest.tree_size, size)
    try:
        stored_root = root_hash(session, latest.tree_size)
    except repository.MissingNodes as exc:
        return f"checkpoint {latest.tree_size}: {exc}"
    if stored_root != latest.root_hash:
        return f"the stored tree does not have the root signed by checkpoint {latest.tree_size}"
    return None


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    ranges = inclusion_proof_ranges(index, size)
    nodes = repository.fetch_nodes(session, nodes_for_ranges(ranges))
    return [hash_range(start, end, nodes) for start, end in ranges]


def consistency_proof(session: Session, old_size: int, new_size: int) -> list[bytes]:
    if old_size == new_size:
        return []
    ranges = consistency_proof_ranges(old_size, new_size)
    nodes = repository.fetch_nodes(session, nodes_for_ranges(ranges))
    return [hash_range(start, end, nodes) for start, end in ranges]
