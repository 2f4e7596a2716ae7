"""Auditor export: the whole log as records, written in either format of ``app.ledger.verify``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import READ_ONLY_OPTION, transaction
from app.core.problems import LedgerIntegrityFailure
from app.ledger import repository, service
from app.ledger.cosignature import add_cosignatures
from app.ledger.models import LedgerEntry, LedgerNode
from app.ledger.schemas import LedgerEntryRead
from app.ledger.verify import ExportCheckpoint, ExportEntry, ExportHeader, ExportNode, ExportRecord

logger = logging.getLogger("sbt.ledger")
BATCH = 5000


def sign_current_checkpoint(factory: sessionmaker[Session], settings: Settings) -> None:
    """Make sure a checkpoint covers every entry before exporting; a damaged log is exported as it is."""
    try:
        with transaction(factory) as session:
            service.current_checkpoint(session, settings, fresh=True)
    except LedgerIntegrityFailure as exc:
        logger.warning("ledger integrity failure, exporting without a new checkpoint: %s", exc)


def export_records(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    on_entries: Callable[[Sequence[LedgerEntryRead]], None] | None = None,
) -> Iterator[ExportRecord]:
    """Header, every checkpoint ever signed, entries and stored nodes up to the size at the start; in batches.

    ``on_entries`` sees each batch of entries before any of it is yielded (the API's read audit).
    """
    sign_current_checkpoint(factory, settings)
    # A read-only transaction: on SQLite a writing one would hold the write lock for the whole export.
    with factory(execution_options={READ_ONLY_OPTION: True}) as session:
        size = repository.tree_size(session)
        verifier_key = service.first_verifier(session, settings).text()
        yield ExportHeader(settings.ledger_origin, verifier_key, size)
        after = -1
        while batch := repository.list_checkpoints(session, after_size=after, limit=BATCH):
            # Every checkpoint ever signed, also those larger than the stored log: they are the evidence of a cut tail.
            cosignatures = repository.cosignature_lines(session, [checkpoint.tree_size for checkpoint in batch])
            for checkpoint in batch:
                lines = cosignatures.get(checkpoint.tree_size)
                # With the witnesses' cosignatures: a verifier holding a witness policy checks them.
                yield ExportCheckpoint(add_cosignatures(checkpoint.note, lines) if lines else checkpoint.note)
            after = batch[-1].tree_size
        after = -1
        while True:
            rows = session.execute(
                select(LedgerEntry.seq, LedgerEntry.leaf_data, LedgerEntry.leaf_hash)
                .where(LedgerEntry.seq > after, LedgerEntry.seq < size)
                .order_by(LedgerEntry.seq)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            if on_entries is not None:
                on_entries([LedgerEntryRead.from_leaf(seq, data, leaf) for seq, data, leaf in rows])
            for seq, data, leaf in rows:
                yield ExportEntry(seq, data, leaf)
            after = rows[-1][0]
            session.expunge_all()
        for level in range(1, max(size, 1).bit_length()):
            last_position = (size >> level) - 1
            after = -1
            while after < last_position:
                nodes = session.execute(
                    select(LedgerNode.position, LedgerNode.hash)
                    .where(
                        LedgerNode.level == level,
                        LedgerNode.position > after,
                        LedgerNode.position <= last_position,
                    )
                    .order_by(LedgerNode.position)
                    .limit(BATCH)
                ).all()
                if not nodes:
                    break
                for position, node in nodes:
                    yield ExportNode(level, position, node)
                after = nodes[-1][0]
