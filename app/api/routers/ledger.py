"""Read API of the shared ledger: entries, signed checkpoints, proofs and the auditor export."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep, SettingsDep, writes_when_reading
from app.api.dependencies.read_audit import ReadAuditDep
from app.api.export_limit import ExportGateDep
from app.api.parameters import CursorParam, PageSizeParam
from app.api.problems import problem_responses
from app.core.actor import Principal, Scope
from app.core.db import transaction
from app.core.pagination import KeysetPager, Page
from app.core.problems import BadRequest, NotFound
from app.ledger import repository, service
from app.ledger.evidence import case_evidence
from app.ledger.export import export_records
from app.ledger.merkle import hash_range, perfect_nodes
from app.ledger.models import LedgerCheckpoint
from app.ledger.schemas import (
    CaseEvidenceRead,
    CheckpointRead,
    ConsistencyProofRead,
    InclusionProofRead,
    LedgerEntryRead,
    VerifierKeyRead,
    b64,
)
from app.ledger.verify import ExportRecord, binary_chunks, ndjson_chunks
from app.ledger.witnessing import cosigned_note
from app.reconciliation.visibility import require_visible_case

router = APIRouter(prefix="/ledger", tags=["ledger"], responses=problem_responses(400, 401, 403, 422))

Reader = Annotated[Principal, require(Scope.LEDGER_READ)]
CURSOR_SCOPE = "ledger"
NDJSON = "application/x-ndjson"
BINARY = "application/octet-stream"


def _page(
    session: SessionDep,
    settings: SettingsDep,
    audit: ReadAuditDep,
    case_id: uuid.UUID | None,
    limit: int | None,
    cursor: str | None,
) -> Page[LedgerEntryRead]:
    pager = KeysetPager.for_request(settings, CURSOR_SCOPE, {"case_id": str(case_id) if case_id else None}, limit)
    rows, next_cursor = pager.split(
        repository.list_entries(session, after_seq=pager.after_number(cursor), limit=pager.fetch, case_id=case_id),
        lambda entry: [entry.seq],
    )
    items = [LedgerEntryRead.of(entry) for entry in rows]
    audit.entries(items)
    return Page[LedgerEntryRead](items=items, next_cursor=next_cursor)


@router.get("/entries", summary="List ledger entries in log order (cursor pagination)")
def list_ledger_entries(
    session: SessionDep,
    settings: SettingsDep,
    audit: ReadAuditDep,
    _: Reader,
    case_id: Annotated[uuid.UUID | None, Query(description="Only entries about this case")] = None,
    limit: PageSizeParam = None,
    cursor: CursorParam = None,
) -> Page[LedgerEntryRead]:
    return _page(session, settings, audit, case_id, limit, cursor)


@router.get("/entries/{seq}", summary="Get one ledger entry", responses=problem_responses(404))
def get_ledger_entry(
    seq: Annotated[int, Path(ge=0, le=2**63 - 1)], session: SessionDep, audit: ReadAuditDep, _: Reader
) -> LedgerEntryRead:
    entry = repository.get_entry(session, seq)
    if entry is None:
        raise NotFound(f"There is no ledger entry {seq}.")
    result = LedgerEntryRead.of(entry)
    audit.entries([result])
    return result


@router.get(
    "/cases/{case_id}/entries",
    summary="Ledger entries touching one case, in log order",
    responses=problem_responses(404),
)
def list_case_ledger_entries(
    case_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    audit: ReadAuditDep,
    _: Reader,
    limit: PageSizeParam = None,
    cursor: CursorParam = None,
) -> Page[LedgerEntryRead]:
    if not repository.case_is_recorded(session, case_id):
        raise NotFound(f"The ledger holds no entry about case {case_id}.")
    return _page(session, settings, audit, case_id, limit, cursor)


@router.get(
    "/cases/{case_id}/evidence",
    summary="One case's ledger history as a self-contained, offline-verifiable evidence bundle",
    description="Every entry about the case, each with its RFC 9162 inclusion proof against one signed checkpoint "
    "that covers every entry at the time of the request, the checkpoint itself, the log's verifier key and a signed "
    "statement of the case's last entry. Save the answer and check it with `sbt ledger verify-evidence FILE --key "
    "KEY`. Auditors read every case; an agency the cases it holds a record of (else 404).",
    responses=problem_responses(404, 503),
)
@writes_when_reading  # a checkpoint covering every entry may be signed now
def get_case_evidence(
    case_id: uuid.UUID, session: SessionDep, settings: SettingsDep, audit: ReadAuditDep, principal: Reader
) -> CaseEvidenceRead:
    if principal.agency is not None:
        require_visible_case(session, principal, case_id)
    bundle, entries = case_evidence(session, settings, case_id)
    audit.entries(entries)
    return bundle


def _checkpoint_read(session: SessionDep, checkpoint: LedgerCheckpoint, settings: SettingsDep) -> CheckpointRead:
    return CheckpointRead(
        origin=settings.ledger_origin,
        tree_size=checkpoint.tree_size,
        root_hash=b64(checkpoint.root_hash),
        created_at=checkpoint.created_at,
        note=cosigned_note(session, checkpoint),
        verifier_key=service.verifier_at(session, settings, checkpoint.tree_size).text(),
    )


@router.get(
    "/checkpoint",
    summary="Latest signed checkpoint (C2SP signed note) and the log's verifier key",
    responses=problem_responses(503),
)
@writes_when_reading  # a checkpoint covering every entry may be signed now
def get_latest_checkpoint(
    session: SessionDep,
    settings: SettingsDep,
    _: Reader,
    fresh: Annotated[
        bool,
        Query(description="Sign a checkpoint covering every entry now, instead of the periodic one."),
    ] = False,
) -> CheckpointRead:
    return _checkpoint_read(session, service.current_checkpoint(session, settings, fresh=fresh), settings)


@router.get(
    "/checkpoints/{tree_size}", summary="The signed checkpoint of one tree size", responses=problem_responses(404)
)
def get_checkpoint(
    tree_size: Annotated[int, Path(ge=0, le=2**63 - 1)], session: SessionDep, settings: SettingsDep, _: Reader
) -> CheckpointRead:
    checkpoint = repository.get_checkpoint(session, tree_size)
    if checkpoint is None:
        raise NotFound(f"No checkpoint was signed for tree size {tree_size}.")
    return _checkpoint_read(session, checkpoint, settings)


@router.get("/verifier-key", summary="The log's public key as a C2SP note verifier key")
def get_verifier_key(session: SessionDep, settings: SettingsDep, _: Reader) -> VerifierKeyRead:
    next_size = repository.tree_size(session) + 1
    return VerifierKeyRead(
        origin=settings.ledger_origin,
        verifier_key=service.verifier_at(session, settings, next_size).text(),
        first_verifier_key=service.first_verifier(session, settings).text(),
    )


def _require_size(session: SessionDep, tree_size: int) -> None:
    current = repository.tree_size(session)
    if tree_size > current:
        raise BadRequest(f"tree_size {tree_size} is larger than the log ({current} entries).")


@router.get(
    "/proofs/inclusion",
    summary="RFC 9162 inclusion proof of an entry in the tree of a given size",
    responses=problem_responses(404, 503),
)
def get_inclusion_proof(
    session: SessionDep,
    _: Reader,
    seq: Annotated[int, Query(ge=0, description="The entry to prove; below `tree_size` (else 400).")],
    tree_size: Annotated[
        int, Query(ge=1, description="A tree size at most the current one (`GET /ledger/checkpoint`; else 400).")
    ],
) -> InclusionProofRead:
    _require_size(session, tree_size)
    if seq >= tree_size:
        raise BadRequest(f"Entry {seq} is not in a tree of size {tree_size}.")
    entry = repository.get_entry(session, seq)
    if entry is None:
        raise NotFound(f"There is no ledger entry {seq}.")
    proof = service.inclusion_proof(session, seq, tree_size)
    checkpoint = repository.get_checkpoint(session, tree_size)
    return InclusionProofRead(
        seq=seq,
        tree_size=tree_size,
        leaf_hash=b64(entry.leaf_hash),
        hashes=[b64(h) for h in proof],
        root_hash=b64(service.root_hash(session, tree_size)),
        checkpoint=checkpoint.note if checkpoint else None,
    )


@router.get(
    "/proofs/consistency",
    summary="RFC 9162 consistency proof that the tree of size `second` extends the tree of size `first`",
    responses=problem_responses(503),
)
def get_consistency_proof(
    session: SessionDep,
    _: Reader,
    first: Annotated[int, Query(ge=1, description="The older tree size; at most `second` (else 400).")],
    second: Annotated[
        int,
        Query(ge=1, description="The newer tree size, at most the current one (`GET /ledger/checkpoint`; else 400)."),
    ],
) -> ConsistencyProofRead:
    if first > second:
        raise BadRequest("`first` must not be larger than `second`.")
    _require_size(session, second)
    nodes = perfect_nodes(0, first) + perfect_nodes(0, second)
    stored = repository.fetch_nodes(session, set(nodes))
    return ConsistencyProofRead(
        first=first,
        second=second,
        hashes=[b64(h) for h in service.consistency_proof(session, first, second)],
        first_root_hash=b64(hash_range(0, first, stored)),
        second_root_hash=b64(hash_range(0, second, stored)),
    )


def _export_stream(request: Request, settings: SettingsDep, audit: ReadAuditDep) -> Iterator[ExportRecord]:
    factory = request.app.state.sessionmaker

    def audit_batch(entries: Sequence[LedgerEntryRead]) -> None:
        """Each batch's read audit commits before the batch is sent (the request's session is gone by then)."""
        with transaction(factory) as session:
            dataclasses.replace(audit, session=session).entries(entries)

    return export_records(factory, settings, on_entries=audit_batch)


@router.get(
    "/export",
    summary="The whole log for offline verification (NDJSON: header, checkpoints, entries, tree nodes)",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "sbt-ledger-export/1 records, one per line"}},
)
def export_ledger(
    request: Request, settings: SettingsDep, audit: ReadAuditDep, gate: ExportGateDep, _: Reader
) -> StreamingResponse:
    records = _export_stream(request, settings, audit)
    return StreamingResponse(
        gate.stream(ndjson_chunks(records)),
        media_type=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="ledger.ndjson"'},
    )


@router.get(
    "/export.bin",
    summary="The whole log for fast offline verification (sbt-ledger-binary/1: length-prefixed records)",
    description="The records of `GET /ledger/export` (every checkpoint ever signed, the entries' exact bytes, the "
    "stored tree hashes) in a binary framing that `sbt ledger verify` reads in one pass, near the rate of SHA-256 "
    "itself. The layout is described in `app/ledger/verify.py` and decision 0020.",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {BINARY: {"schema": {"type": "string", "format": "binary"}}},
            "description": "sbt-ledger-binary/1",
        }
    },
)
def export_ledger_binary(
    request: Request, settings: SettingsDep, audit: ReadAuditDep, gate: ExportGateDep, _: Reader
) -> StreamingResponse:
    return StreamingResponse(
        gate.stream(binary_chunks(_export_stream(request, settings, audit))),
        media_type=BINARY,
        headers={"Content-Disposition": 'attachment; filename="ledger.sbtlog"'},
    )
