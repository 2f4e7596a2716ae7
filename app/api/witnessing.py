"""The background witnessing of one worker process: a thread running ``app.ledger.witnessing.submit_round``
every ``SBT_WITNESS_INTERVAL_SECONDS`` while the app runs, and what ``/ready`` says of the result.

Writes never wait for a witness: a checkpoint is signed and committed by the write that made it due, and this
thread submits it afterwards. Across workers and replicas one round runs at a time (an advisory lock); the
outcome lives in the database, so every worker's ``/ready`` and metrics report the same.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.api.background import RepeatingThread
from app.core.config import Settings
from app.core.db import utcnow
from app.ledger.witnessing import Witnesses, WitnessingStatus, http_post, status, submit_round

logger = logging.getLogger("sbt.witnessing")


class BackgroundWitnessing(RepeatingThread):
    def __init__(self, settings: Settings, writer: sessionmaker[Session]) -> None:
        witnesses = Witnesses.of(settings)
        super().__init__("witnessing", settings.witness_interval_seconds, writer, logger, enabled=witnesses.enabled)
        self.settings = settings
        self.witnesses = witnesses
        # Keep-alive connections to each witness (tlog-witness: clients SHOULD), one per parallel request.
        self.http = httpx.Client(
            timeout=settings.witness_timeout_seconds,
            limits=httpx.Limits(max_keepalive_connections=max(len(self.witnesses.members), 1)),
        )

    def run_once(self) -> int | None:
        """One round; the size of the checkpoint it submitted (None: no checkpoint, or another replica's turn)."""
        if not self.witnesses.enabled:
            return None
        return submit_round(self.reader, self.writer, self.witnesses, http_post(self.http))

    def status(self) -> WitnessingStatus | None:
        if not self.witnesses.enabled:
            return None
        with self.reader() as session:
            return status(session, self.settings, self.witnesses, utcnow())

    def step(self) -> None:
        self.run_once()  # a failed round: the next tries again; /ready shows what the witnesses last said

    def stop(self) -> None:
        super().stop()
        self.http.close()


def readiness(witnessing: WitnessingStatus | None) -> dict[str, Any]:
    """Degraded (still serving: writes do not need the witnesses) while the latest checkpoint, past the grace
    period, lacks the quorum of cosignatures."""
    if witnessing is None or not witnessing.unwitnessed:
        return {}
    return {
        "status": "degraded",
        "witnessing": {
            "checkpoint_tree_size": witnessing.checkpoint_size,
            "witnessed_tree_size": witnessing.witnessed_size,
            "quorum": witnessing.quorum,
            "problems": witnessing.problems,
        },
    }


def install_witnessing(app: FastAPI, settings: Settings) -> None:
    app.state.witnessing = BackgroundWitnessing(settings, app.state.sessionmaker)
