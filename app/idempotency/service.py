"""Idempotency-Key handling (draft-ietf-httpapi-idempotency-key-header), framework-free.

The key is claimed in its own short transaction, so a concurrent retry sees it as in flight (409). The response
is stored in the write's own transaction, so it exists exactly when the write committed; if the write fails,
the claim is released and the client may retry with the same key. The write's ledger positions are given after
its commit (``app.ledger.sequencer``), so the stored reply names the write's pending ledger record instead, and
a replay fills the positions in from the ledger (409 while they are still pending), and, when the retry sends
``Prefer: ledger-proof``, the inclusion proofs of its entries (whether or not the first request asked for them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import transaction, utcnow
from app.core.problems import IdempotencyInFlight, IdempotencyMismatch
from app.idempotency.models import IdempotencyRecord
from app.ledger import sequencer
from app.ledger.schemas import LedgerReceipt
from app.ledger.service import PendingWrite, written_receipt

Body = TypeVar("Body", bound=BaseModel)


class IdempotentReplay(Exception):
    """Raised when a completed request is retried; the web layer renders it as the stored response."""

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        super().__init__("idempotent replay")
        self.status = status
        self.body = body
        self.headers = headers


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key for one request, with the fingerprint (method, path, body) a retry must match."""

    client_id: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Reply(Generic[Body]):
    """The response of a write: stored under the key before the commit, and sent once receipted.

    Before the commit the body has no ``receipt`` and, in a batch, each item's ``ledger_seq`` is the index of
    its first entry in the receipt; ``receipted`` fills both in (and, unless ``receipt_in_headers`` is off, the
    receipt headers), the same way for the live answer and a replay.
    """

    status: int
    body: Body
    headers: dict[str, str]
    receipt_in_headers: bool = True

    def receipted(self, receipt: LedgerReceipt) -> Reply[Body]:
        body, headers = _with_receipt(self.body.model_dump(mode="json"), self.headers, receipt, self.receipt_in_headers)
        return Reply(self.status, type(self.body).model_validate(body), headers, self.receipt_in_headers)


def _with_receipt(
    body: dict[str, Any], headers: dict[str, str], receipt: LedgerReceipt, in_headers: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    entries = receipt.entries
    filled = {**body, "receipt": receipt.model_dump(mode="json")}
    if isinstance(body.get("items"), list):  # a batch: each item names the position of its first entry
        filled["items"] = [{**item, "ledger_seq": entries[item["ledger_seq"]].seq} for item in body["items"]]
    return filled, {**headers, **(receipt.headers() if in_headers else receipt.preference_headers())}


@dataclass(frozen=True, slots=True)
class _StoredReply:
    """A completed request's reply as stored, and the receipt of its write (None: it recorded nothing)."""

    status: int
    body: Any
    headers: dict[str, str]
    receipt: LedgerReceipt | None
    receipt_in_headers: bool

    def replay(self, receipt: LedgerReceipt | None) -> IdempotentReplay:
        if receipt is None:
            return IdempotentReplay(self.status, self.body, self.headers)
        return IdempotentReplay(self.status, *_with_receipt(self.body, self.headers, receipt, self.receipt_in_headers))


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


@contextmanager
def claimed(
    factory: sessionmaker[Session], settings: Settings, key: IdempotencyKey | None, *, proof: bool = False
) -> Iterator[None]:
    """Claim the key for the block; release it if the block fails, so that the client may retry. A completed
    request's retry raises ``IdempotentReplay`` instead, its receipt proved when ``proof`` (after the claim's
    transaction: proving may sign a checkpoint, which must commit).

    A claim whose commit fails after the block is released by the abandonment timeout
    (``SBT_IDEMPOTENCY_LOCK_SECONDS``).
    """
    if key is None:
        yield
        return
    stored = _claim(factory, settings, key)
    if stored is not None:
        receipt = stored.receipt
        if proof and receipt is not None:
            receipt = sequencer.proven(factory, settings, receipt)
        raise stored.replay(receipt)
    try:
        yield
    except BaseException:
        _release(factory, key)
        raise


def store(session: Session, key: IdempotencyKey | None, reply: Reply[Any], pending: PendingWrite | None) -> None:
    """Keep the reply under the key, in the write's own transaction, with the write's pending ledger record."""
    if key is None:
        return
    record = session.get(IdempotencyRecord, (key.client_id, key.key))
    if record is None:  # the claim was purged meanwhile; the write itself still stands
        return
    record.response_status = reply.status
    record.response_body = reply.body.model_dump(mode="json")
    record.response_headers = reply.headers
    record.ledger_pending_id = None if pending is None else pending.id
    record.ledger_receipt_headers = reply.receipt_in_headers


def _claim(factory: sessionmaker[Session], settings: Settings, key: IdempotencyKey) -> _StoredReply | None:
    """Claim the key; or, for a completed request, its stored reply."""
    now = utcnow()
    try:
        with transaction(factory) as session:
            existing = session.get(IdempotencyRecord, (key.client_id, key.key))
            if existing is not None and _expired_or_abandoned(existing, settings, now):
                session.delete(existing)
                session.flush()
                existing = None
            if existing is not None:
                return _judge(session, existing, key.fingerprint)
            session.add(
                IdempotencyRecord(
                    client_id=key.client_id,
                    key=key.key,
                    fingerprint=key.fingerprint,
                    created_at=now,
                    expires_at=now + dt.timedelta(hours=settings.idempotency_ttl_hours),
                )
            )
    except IntegrityError:
        raise IdempotencyInFlight("A request with this key is being processed.", headers={"Retry-After": "1"}) from None
    return None


def _expired_or_abandoned(record: IdempotencyRecord, settings: Settings, now: dt.datetime) -> bool:
    if record.expires_at <= now:
        return True
    lock_deadline = record.created_at + dt.timedelta(seconds=settings.idempotency_lock_seconds)
    return record.response_status is None and lock_deadline <= now


def _judge(session: Session, existing: IdempotencyRecord, fingerprint: str) -> _StoredReply:
    if existing.fingerprint != fingerprint:
        raise IdempotencyMismatch(
            "This Idempotency-Key was already used with a different request body or target. "
            "Use a new key for a new request."
        )
    if existing.response_status is None:
        raise IdempotencyInFlight(
            "The first request with this key has not finished; retry later.", headers={"Retry-After": "1"}
        )
    receipt = None
    if existing.ledger_pending_id is not None:
        receipt = written_receipt(session, existing.ledger_pending_id)
        if receipt is None:
            raise IdempotencyInFlight(
                "The first request with this key is not yet in the ledger; retry later.", headers={"Retry-After": "1"}
            )
    return _StoredReply(
        existing.response_status,
        existing.response_body,
        existing.response_headers or {},
        receipt,
        bool(existing.ledger_receipt_headers),
    )


def _release(factory: sessionmaker[Session], key: IdempotencyKey) -> None:
    with transaction(factory) as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.client_id == key.client_id,
                IdempotencyRecord.key == key.key,
                IdempotencyRecord.response_status.is_(None),
            )
        )
