"""The ledger sequencer: pending writes become entries in batches, by one integrator per database at a time.

A write's transaction records its changes as one pending row (``record_changes``) and takes no lock. After its
commit the write waits (``receipt``) until an integrator round has given them positions, and answers with the
receipt. A round (``run_round``) is one transaction that holds the log's advisory lock through
``try_round_lock`` (PostgreSQL: ``pg_try_advisory_xact_lock``, PgBouncer-safe, released by the server if the
holder dies, so any replica takes over; SQLite: the write lock), takes up to ``SBT_LEDGER_BATCH_MAX_WRITES``
pending writes in arrival order, writes their entries, nodes and write index with multi-row inserts, deletes
the pending rows, signs a checkpoint when due and, on PostgreSQL, sends ``NOTIFY sbt_ledger_sequenced`` at its
commit. Decision 0028.

Each process keeps one ``Sequencer`` per database: its waiters wait on an in-process condition, which the
process's own rounds and (PostgreSQL) a LISTEN thread for other processes' rounds signal. The app's lifespan
starts an integrator thread; without one (the CLI, tests bound to one connection) a waiter runs the rounds
itself. Pending rows left by a crash are integrated by the next round anywhere: every integrator polls.

A waiter that asked for inclusion proofs (``Prefer: ledger-proof``) has its round sign a checkpoint (one per round,
whatever the number of such waiters); the proofs are then read against it after the wait (``proven``). A write a
round of another process integrated is proved against the next checkpoint, signed then if none covers it yet.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Sequence
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.core.actor import WriteContext
from app.core.config import Settings
from app.core.db import engine_of, transaction, try_round_lock
from app.core.problems import LedgerBusy, LedgerIntegrityFailure
from app.ledger import repository, service
from app.ledger.evidence import prove_receipt
from app.ledger.schemas import LedgerChange, LedgerReceipt
from app.ledger.service import IntegratedRound, PendingWrite

logger = logging.getLogger("sbt.ledger.sequencer")

SEQUENCED_CHANNEL = "sbt_ledger_sequenced"
"""PostgreSQL NOTIFY channel: a round committed; the payload is the highest pending id it integrated."""
POLL_SECONDS = 0.5
"""How often an idle integrator looks for pending rows nobody woke it for (another process's, or a crash's)."""
LOCK_RETRY_SECONDS = 0.002
"""How soon an integrator whose waiters are still pending retries the lock another process's round holds."""
RETRY_AFTER_SECONDS = 1
RECENT_ROUNDS = 4
"""How many of this process's last rounds keep their receipts for writers that begin waiting only after theirs."""
RECORDED_IN_SESSION = "ledger_recorded_pending"
"""``session.info`` key: the pending writes a session recorded, for ``recorded_in``."""

RoundObserver = Callable[[float, IntegratedRound], None]
"""Told of each round this process completed that integrated writes: its duration (seconds) and what it wrote."""


class Sequencer:
    """This process's view of one database's sequencer: waiters, the integrator thread, the LISTEN thread."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self._changed = threading.Condition()
        """Guards the state below; the integrator thread waits on it for arrivals."""
        self._waiting: dict[int, threading.Event] = {}
        """Each waiting writer's own signal: a round wakes only the writers it integrated (``notify_all`` on one
        condition woke every waiting thread each round, a seventh of a loaded worker's time)."""
        self._proofs_wanted: set[int] = set()
        """Pending ids whose waiters want inclusion proofs: the round integrating one signs a checkpoint."""
        self._receipts: dict[int, LedgerReceipt] = {}
        self._recent: deque[IntegratedRound] = deque(maxlen=RECENT_ROUNDS)
        """This process's last rounds: a round that began before a writer waited (woken by another arrival or by
        the poll) may integrate its committed write, and the writer then takes its receipt from here instead of
        reading it from the database."""
        self._integrated_through: int | None = None
        """Highest pending id this process knows integrated (its rounds, other processes' notifications)."""
        self._failure: LedgerIntegrityFailure | None = None
        self._arrivals = 0
        self._seen_arrivals = -1
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.round_observer: RoundObserver | None = None
        """The serving app's metrics (``app.api.metrics``); None in the CLI."""
        self._origin = uuid.uuid4().hex
        """Names this process's rounds in their notifications, which its LISTEN thread then skips: the round
        itself hands its waiters their receipts, and a notification arriving first sent each of them to read
        its receipt from the database (a seventh of a create's handler time)."""

    @property
    def running(self) -> bool:
        return bool(self._threads)

    # -- writers -------------------------------------------------------------------------------------------

    def refuse_if_unwritable(self) -> None:
        if self._failure is not None:
            raise self._failure

    def check_backlog(self, session: Session, pending: PendingWrite, limit: int) -> None:
        """Refuse (503, the write rolls back) when more writes wait than ``SBT_LEDGER_MAX_BACKLOG``.

        Estimated from ids, no query per write: pending ids grow, and this process knows the highest one a
        round integrated."""
        if self._integrated_through is None:
            self._integrated_through = repository.last_integrated_pending_id(session)
        backlog = pending.id - self._integrated_through
        if backlog > limit:  # this process may have missed other processes' rounds: ask once before refusing
            self._integrated(repository.last_integrated_pending_id(session))
            backlog = pending.id - (self._integrated_through or 0)
        if backlog > limit:
            raise LedgerBusy(
                f"{backlog} writes are waiting for their ledger positions; retry later.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )

    def receipt(self, pending: PendingWrite, *, proof: bool = False) -> LedgerReceipt:
        """Wait until the committed ``pending`` write is in the log; its receipt (503 after the timeout), with the
        inclusion proofs of its entries when ``proof``."""
        found = self._sequenced(pending, proof)
        return self.proven(found) if proof else found

    def proven(self, receipt: LedgerReceipt) -> LedgerReceipt:
        """The receipt with its entries' inclusion proofs and the checkpoint they lead to (one short transaction)."""
        if not receipt.entries:
            return receipt
        with transaction(self.factory) as session:
            return prove_receipt(session, self.settings, receipt)

    def _sequenced(self, pending: PendingWrite, proof: bool) -> LedgerReceipt:
        deadline = time.monotonic() + self.settings.ledger_sequence_timeout_seconds
        signal = threading.Event()
        with self._changed:
            self._waiting[pending.id] = signal
            if proof:
                self._proofs_wanted.add(pending.id)
            self._arrivals += 1
            self._changed.notify_all()
        quiet = False  # a whole poll passed without a signal (a lost LISTEN connection): look in the database
        try:
            while True:
                signal.clear()  # before looking: a signal set after this is not lost
                found = self._take(pending.id)
                if found is not None:
                    return found
                if not self.running:
                    self.drain()  # no integrator thread here: this waiter does the rounds
                    found = self._take(pending.id)
                if found is None and (not self.running or quiet or self._maybe_integrated(pending.id)):
                    found = self._stored_receipt(pending.id)  # another process's round (or one before we waited)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LedgerBusy(
                        "The write is committed but not yet in the ledger; retry it with its Idempotency-Key "
                        "to read its receipt.",
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                    )
                quiet = not signal.wait(min(remaining, POLL_SECONDS if self.running else LOCK_RETRY_SECONDS))
        finally:
            with self._changed:
                self._waiting.pop(pending.id, None)
                self._proofs_wanted.discard(pending.id)
                self._receipts.pop(pending.id, None)

    def _take(self, pending_id: int) -> LedgerReceipt | None:
        with self._changed:
            if self._failure is not None:
                raise self._failure
            found = self._receipts.pop(pending_id, None)
            if found is None:
                for done in self._recent:
                    if pending_id in done.written:
                        return done.receipt(pending_id)
            return found

    def _maybe_integrated(self, pending_id: int) -> bool:
        with self._changed:
            return self._integrated_through is not None and self._integrated_through >= pending_id

    def _stored_receipt(self, pending_id: int) -> LedgerReceipt | None:
        """A write another process integrated, read from the write index."""
        with transaction(self.factory) as session:
            return service.written_receipt(session, pending_id)

    # -- the integrator ----------------------------------------------------------------------------------

    def run_round(self) -> IntegratedRound | None:
        """One round; None when another process's round holds the lock."""
        started = time.perf_counter()
        with self._changed:
            proofs_wanted = frozenset(self._proofs_wanted)
            unanswered = self._waiting.keys() - self._receipts.keys()
        try:
            with transaction(self.factory) as session:
                if not try_round_lock(session, repository.ADVISORY_LOCK_KEY):
                    return None
                done = service.integrate_pending(
                    session, self.settings, self.settings.ledger_batch_max_writes, proofs_wanted=proofs_wanted
                )
                elsewhere = _integrated_elsewhere(unanswered, done)
                stored = service.written_receipts(session, elsewhere) if elsewhere else {}
                if done.written and session.get_bind().dialect.name == "postgresql":
                    session.execute(
                        text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": SEQUENCED_CHANNEL, "payload": f"{max(done.written)} {self._origin}"},
                    )
        except LedgerIntegrityFailure as failure:
            with self._changed:
                self._failure = failure
                self._signal_all()
            raise
        with self._changed:
            self._failure = None
            if done.written:
                self._recent.append(done)
            integrated = done.written.keys() | stored.keys()
            if integrated:
                self._integrated(max(integrated))
                for pending_id in integrated & self._waiting.keys():
                    found = stored.get(pending_id)
                    self._receipts[pending_id] = done.receipt(pending_id) if found is None else found
                    self._waiting[pending_id].set()
        if done.written and self.round_observer is not None:
            self.round_observer(time.perf_counter() - started, done)
        return done

    def _integrated(self, through: int) -> None:
        self._integrated_through = max(through, self._integrated_through or 0)

    def _signal_all(self) -> None:
        for signal in self._waiting.values():
            signal.set()

    def drain(self) -> None:
        """Rounds until nothing is pending, or until another process's round holds the lock."""
        while True:
            done = self.run_round()
            if done is None or len(done.written) < self.settings.ledger_batch_max_writes:
                return

    def _integrate_loop(self) -> None:
        self._seen_arrivals = -1
        while not self._stop.is_set():
            with self._changed:
                self._changed.wait_for(self._woken, POLL_SECONDS)
                self._seen_arrivals = self._arrivals
                if self.settings.ledger_batch_wait_ms > 0:  # let a batch gather (up to N waiters or M ms)
                    self._changed.wait_for(
                        lambda: len(self._waiting) >= self.settings.ledger_batch_max_writes,
                        self.settings.ledger_batch_wait_ms / 1000,
                    )
            try:
                self._drain_for_waiters()
            except Exception:  # the next round tries again; waiters time out with 503 meanwhile
                logger.exception("ledger sequencer round failed")
                self._stop.wait(POLL_SECONDS)

    def _woken(self) -> bool:
        return self._stop.is_set() or self._arrivals != self._seen_arrivals

    def _drain_for_waiters(self) -> None:
        while not self._stop.is_set():
            done = self.run_round()
            if done is None:  # another process's round: retry soon while this process's writes still wait
                with self._changed:
                    if not self._waiting.keys() - self._receipts.keys():
                        return
                self._stop.wait(LOCK_RETRY_SECONDS)
                continue
            if not done.written:
                return

    def _listen_loop(self, url: str) -> None:
        """PostgreSQL: other processes' rounds, so that this process's waiters read their receipts."""
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {SEQUENCED_CHANNEL}")
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=POLL_SECONDS):
                            sequenced, _, origin = notification.payload.partition(" ")
                            if origin == self._origin:
                                continue
                            through = int(sequenced)
                            with self._changed:
                                self._integrated(through)
                                for pending_id, signal in self._waiting.items():
                                    if pending_id <= through:
                                        signal.set()
            except psycopg.Error:
                logger.exception("ledger sequencer LISTEN connection lost; reconnecting")
                self._stop.wait(POLL_SECONDS)

    def start(self) -> None:
        """The integrator (and LISTEN) threads; none for a factory bound to one connection (tests)."""
        engine = engine_of(self.factory)
        if self.running or engine is None:
            return
        self._stop.clear()
        self._threads = [threading.Thread(target=self._integrate_loop, name="sbt-ledger-sequencer", daemon=True)]
        if engine.dialect.name == "postgresql":
            url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._threads.append(
                threading.Thread(target=self._listen_loop, args=(url,), name="sbt-ledger-listen", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
            self._signal_all()
        for thread in self._threads:
            thread.join()
        self._threads = []


_sequencers: WeakKeyDictionary[Engine | Connection, Sequencer] = WeakKeyDictionary()
_registry_lock = threading.Lock()


def _integrated_elsewhere(unanswered: Collection[int], done: IntegratedRound) -> list[int]:
    """The writes this process waited for before the round began that another process's round integrated.

    A waiter waits only after its write committed, so the round read each of them: pending (and then the round
    integrated it, unless it lay past the round's limit) or already in the log. On SQLite no notification
    tells a process of another's rounds: its waiters would otherwise sit out a whole poll (0.5 s) after its
    own round came back empty-handed, the tail of a create's latency with two workers."""
    last = max(done.written, default=None)
    return [
        pending_id
        for pending_id in unanswered
        if pending_id not in done.written and (last is None or pending_id < last)
    ]


def sequencer_for(factory: sessionmaker[Session], settings: Settings) -> Sequencer:
    """This process's sequencer of the factory's database (created on first use, not started)."""
    bind = factory.kw["bind"]
    with _registry_lock:
        found = _sequencers.get(bind)
        if found is None:
            found = _sequencers[bind] = Sequencer(factory, settings)
        return found


def record_changes(
    session: Session, settings: Settings, ctx: WriteContext, changes: Sequence[LedgerChange]
) -> PendingWrite | None:
    """Record a write's changes as pending in its own transaction (no lock); refused (503) above the backlog or
    while the stored log contradicts its checkpoints (the last round here failed on it)."""
    sequencer = _sequencers.get(session.get_bind())
    if sequencer is not None:
        sequencer.refuse_if_unwritable()
    pending = service.record_pending(session, ctx, changes)
    if pending is not None:
        if sequencer is not None:
            sequencer.check_backlog(session, pending, settings.ledger_max_backlog)
        session.info.setdefault(RECORDED_IN_SESSION, []).append(pending)
    return pending


def receipt(
    factory: sessionmaker[Session], settings: Settings, pending: PendingWrite | None, *, proof: bool = False
) -> LedgerReceipt:
    """After the commit: wait for the write's positions (empty when it recorded nothing); with ``proof`` (the
    caller sent ``Prefer: ledger-proof``), each entry's inclusion proof and the checkpoint they lead to."""
    if pending is None:
        return LedgerReceipt(entries=[])
    return sequencer_for(factory, settings).receipt(pending, proof=proof)


def proven(factory: sessionmaker[Session], settings: Settings, receipt: LedgerReceipt) -> LedgerReceipt:
    """An already sequenced write's receipt (an Idempotency-Key replay's) with its inclusion proofs."""
    return sequencer_for(factory, settings).proven(receipt)


def recorded_in(session: Session) -> list[PendingWrite]:
    """The pending writes recorded in this session (single-domain writes that do not wait themselves)."""
    return list(session.info.get(RECORDED_IN_SESSION, []))


def wait_for_all(factory: sessionmaker[Session], settings: Settings, recorded: list[PendingWrite]) -> None:
    """After the commit of a session that recorded ledger changes: wait until they are in the log."""
    for pending in recorded:
        receipt(factory, settings, pending)
