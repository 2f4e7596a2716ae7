"""Getting the log's checkpoints witnessed (C2SP tlog-witness) and publishing them cosigned.

A round (run in the background by ``app.api.witnessing``, never on the write path) reads the latest signed
checkpoint after its commit, sends it to every configured witness that has not cosigned it yet, with the
consistency proof from the size that witness cosigned last (``ledger_witness.known_size``; a 409 answer names the
witness's own size, and the request is made once more from there), verifies each answer against the witness's key
and stores the cosignature lines (``ledger_cosignature``). Witnesses are asked in parallel, each with a timeout: a
witness that is down costs its own request and nothing else.

A checkpoint is *witnessed* when its stored cosignatures, verified again, satisfy the policy (``SBT_WITNESSES``,
``SBT_WITNESS_QUORUM``). Published notes (``GET /ledger/checkpoint``, the export, evidence bundles) carry the log's
signature followed by the witnesses' cosignature lines, so any C2SP verifier holding a policy checks them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import ConfigurationError, Settings
from app.core.db import transaction, try_round_lock, utcnow
from app.ledger import repository, service
from app.ledger.cosignature import (
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    CosignatureVerifier,
    add_cosignatures,
    parse_cosignature_lines,
    parse_size_answer,
)
from app.ledger.models import LedgerCheckpoint, LedgerCosignature, LedgerWitness
from app.ledger.note import NoteError, parse_signature_line
from app.ledger.witness_policy import PolicyError, WitnessPolicy

logger = logging.getLogger("sbt.witnessing")
ADD_CHECKPOINT = "/add-checkpoint"
ROUND_LOCK_KEY = int.from_bytes(b"SBTWITNS", "big") & 0x7FFF_FFFF_FFFF_FFFF
"""pg_try_advisory_xact_lock key: one replica at a time submits to the witnesses."""
RECENT_CHECKPOINTS = 50
"""How many of the newest cosigned checkpoints the search for the latest witnessed one looks at."""


@dataclass(frozen=True)
class ConfiguredWitness:
    url: str
    """The submission prefix: ``<url>/add-checkpoint``."""
    key: CosignatureVerifier

    @property
    def name(self) -> str:
        return self.key.name


@dataclass(frozen=True)
class Witnesses:
    members: tuple[ConfiguredWitness, ...]
    policy: WitnessPolicy

    @property
    def enabled(self) -> bool:
        return bool(self.members)

    @classmethod
    def of(cls, settings: Settings) -> Witnesses:
        try:
            members = tuple(ConfiguredWitness(url, CosignatureVerifier.parse(key)) for url, key in settings.witnesses)
            policy = WitnessPolicy.threshold([m.key for m in members], settings.witness_quorum_needed)
        except (NoteError, PolicyError) as exc:
            # One line naming the variable, like every other setting that must not start (no traceback).
            raise ConfigurationError([f"SBT_WITNESSES: {exc}"]) from None
        return cls(members, policy)


# --- publication -----------------------------------------------------------------------------------------------


def cosigned_note(session: Session, checkpoint: LedgerCheckpoint) -> str:
    """The checkpoint's note with every stored cosignature line appended (log signature first)."""
    lines = repository.cosignature_lines(session, [checkpoint.tree_size]).get(checkpoint.tree_size)
    return add_cosignatures(checkpoint.note, lines) if lines else checkpoint.note


def latest_witnessed(session: Session, witnesses: Witnesses) -> tuple[LedgerCheckpoint, str] | None:
    """The largest checkpoint whose cosignatures (verified again) satisfy the policy, with its cosigned note."""
    sizes = session.scalars(
        select(LedgerCosignature.tree_size)
        .distinct()
        .order_by(LedgerCosignature.tree_size.desc())
        .limit(RECENT_CHECKPOINTS)
    ).all()
    for size in sizes:
        checkpoint = repository.get_checkpoint(session, size)
        if checkpoint is None:
            continue
        note = cosigned_note(session, checkpoint)
        if witnesses.policy.satisfied(witnesses.policy.cosigned_by(note)):
            return checkpoint, note
    return None


@dataclass(frozen=True)
class WitnessingStatus:
    quorum: str
    checkpoint_size: int | None
    witnessed_size: int | None
    problems: dict[str, str] = field(default_factory=dict)
    """Witness name -> why its latest submission got no cosignature."""
    unwitnessed: bool = False
    """The latest checkpoint, older than the grace period, lacks the quorum."""


def status(session: Session, settings: Settings, witnesses: Witnesses, now: dt.datetime) -> WitnessingStatus:
    latest = repository.latest_checkpoint(session)
    witnessed = latest_witnessed(session, witnesses)
    witnessed_size = None if witnessed is None else witnessed[0].tree_size
    rows = {row.witness: row for row in session.scalars(select(LedgerWitness))}
    problems = {
        m.name: rows[m.name].problem or "" for m in witnesses.members if m.name in rows and rows[m.name].problem
    }
    overdue = latest is not None and now - latest.created_at >= dt.timedelta(seconds=settings.witness_grace_seconds)
    return WitnessingStatus(
        quorum=witnesses.policy.describe(),
        checkpoint_size=None if latest is None else latest.tree_size,
        witnessed_size=witnessed_size,
        problems=problems,
        unwitnessed=overdue and latest is not None and witnessed_size != latest.tree_size,
    )


# --- submission ------------------------------------------------------------------------------------------------


@dataclass
class _Submission:
    witness: ConfiguredWitness
    old_size: int
    lines: list[str] = field(default_factory=list)
    timestamp: int = 0
    problem: str | None = None
    retry_from: int | None = None


Post = Callable[[str, bytes], httpx.Response]


def http_post(client: httpx.Client) -> Post:
    def post(url: str, body: bytes) -> httpx.Response:
        return client.post(url + ADD_CHECKPOINT, content=body, headers={"Content-Type": "text/plain"})

    return post


def submit_round(
    reader: sessionmaker[Session], writer: sessionmaker[Session], witnesses: Witnesses, post: Post
) -> int | None:
    """Submit the latest checkpoint to every witness that has not cosigned it; return its size (None: no
    checkpoint yet, or another replica runs this round)."""
    with reader() as session:
        if not try_round_lock(session, ROUND_LOCK_KEY):
            return None
        latest = repository.latest_checkpoint(session)
        if latest is None:
            return None
        known = {row.witness: row.known_size for row in session.scalars(select(LedgerWitness))}
        have = set(
            session.scalars(select(LedgerCosignature.witness).where(LedgerCosignature.tree_size == latest.tree_size))
        )
        pending = [_Submission(m, known.get(m.name, 0)) for m in witnesses.members if m.name not in have]
        if not pending:
            return latest.tree_size
        _send(session, latest, pending, post)
        retries = [s for s in pending if s.retry_from is not None]
        for submission in retries:  # a 409 named the witness's own size: once more, from there
            assert submission.retry_from is not None
            submission.old_size, submission.retry_from, submission.problem = submission.retry_from, None, None
        _send(session, latest, retries, post)
        _record(writer, latest, pending)  # still under the round lock
    return latest.tree_size


def _send(session: Session, checkpoint: LedgerCheckpoint, submissions: Sequence[_Submission], post: Post) -> None:
    bodies: dict[int, bytes] = {}
    for submission in submissions:
        old = submission.old_size
        if old > checkpoint.tree_size:
            submission.problem = (
                f"it cosigned a tree of {old} entries, larger than the log's latest checkpoint "
                f"({checkpoint.tree_size}): the log lost signed history"
            )
        elif old not in bodies:
            proof = [] if old == 0 else service.consistency_proof(session, old, checkpoint.tree_size)
            bodies[old] = AddCheckpoint(old, proof, checkpoint.note).encode()
    sendable = [s for s in submissions if s.problem is None]
    outcomes = ask_witnesses(post, [(s.witness.url, bodies[s.old_size]) for s in sendable])
    for submission, outcome in zip(sendable, outcomes, strict=True):
        _read_answer(submission, outcome, checkpoint)


def ask_witnesses(post: Post, requests: Sequence[tuple[str, bytes]]) -> list[httpx.Response | str]:
    """``add-checkpoint`` to every witness at once: each answer, or why there was none (a witness down costs its
    own timeout, in parallel with the others)."""
    if not requests:
        return []

    def ask(request: tuple[str, bytes]) -> httpx.Response | str:
        try:
            return post(*request)
        except httpx.HTTPError as exc:
            return f"unreachable: {type(exc).__name__} {exc}".strip()

    with ThreadPoolExecutor(max_workers=len(requests), thread_name_prefix="sbt-witness") as pool:
        return list(pool.map(ask, requests))


def _read_answer(submission: _Submission, outcome: httpx.Response | str, checkpoint: LedgerCheckpoint) -> None:
    if isinstance(outcome, str):
        submission.problem = outcome
        return
    text = outcome.text
    if outcome.status_code == httpx.codes.OK:
        body = checkpoint.note.partition("\n\n")[0] + "\n"
        try:
            submission.lines = parse_cosignature_lines(text, body, submission.witness.key)
        except NoteError as exc:
            submission.problem = f"answered 200 with no usable cosignature: {exc}"
            return
        if not submission.lines:
            submission.problem = "answered 200 without a valid cosignature by its key"
            return
        signature = parse_signature_line(submission.lines[0][:-1])
        submission.timestamp = submission.witness.key.timestamp(body, signature) or 0
        return
    if outcome.status_code == httpx.codes.CONFLICT and outcome.headers.get("content-type", "").startswith(
        SIZE_CONTENT_TYPE
    ):
        try:
            size = parse_size_answer(text)
        except NoteError as exc:
            submission.problem = f"HTTP 409: {exc}"
            return
        if size != submission.old_size and submission.retry_from is None:
            submission.retry_from = size
        submission.old_size = size
        submission.problem = f"HTTP 409: it has cosigned size {size}"
        return
    first_line = " ".join(text.strip().splitlines()[:1])[:300]
    submission.problem = f"refused with HTTP {outcome.status_code}: {first_line}".rstrip(": ")


def _record(writer: sessionmaker[Session], checkpoint: LedgerCheckpoint, submissions: Sequence[_Submission]) -> None:
    now = utcnow()
    with transaction(writer) as session:
        for submission in submissions:
            name = submission.witness.name
            row = session.get(LedgerWitness, name)
            if row is None:
                row = LedgerWitness(witness=name, known_size=0, checked_at=now)
                session.add(row)
            row.checked_at = now
            if submission.lines:
                session.merge(
                    LedgerCosignature(
                        tree_size=checkpoint.tree_size,
                        witness=name,
                        line=submission.lines[0],
                        cosigned_at=dt.datetime.fromtimestamp(submission.timestamp, dt.UTC),
                    )
                )
                row.known_size, row.problem = checkpoint.tree_size, None
            else:
                row.known_size, row.problem = submission.old_size, submission.problem
                logger.warning("witness %s: %s", name, submission.problem)
