"""The reconciliation outbox worker of one serving process: a thread that looks every
``SBT_RECONCILIATION_OUTBOX_INTERVAL_SECONDS`` for cases writes have touched and re-checks them in rounds
(``app.reconciliation.outbox.run_round``) until none waits; started and stopped by the app's lifespan. And what
``/ready`` says of the lag.

Every process runs one; on PostgreSQL a round's advisory lock lets one replica at a time work, on SQLite the
round's write lock does. The look itself is a read (SQLite: deferred, no write lock), so an idle worker costs
one indexed SELECT per interval.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.api.background import RepeatingThread
from app.core.config import Settings
from app.core.db import utcnow
from app.reconciliation import outbox
from app.reconciliation.outbox import Backlog

logger = logging.getLogger("sbt.reconciliation.outbox")


class OutboxWorker(RepeatingThread):
    def __init__(self, settings: Settings, writer: sessionmaker[Session]) -> None:
        interval = settings.reconciliation_outbox_interval_seconds
        super().__init__("reconciliation-outbox", interval, writer, logger, wait_first=True)
        self.settings = settings

    def run_once(self) -> int:
        """Rounds until no touched case waits or another replica holds the round; the cases re-checked."""
        return outbox.drain(self.writer, self.settings).evaluated

    def step(self) -> None:
        # A failed round leaves the rows: the next look retries them, the lag metric shows the wait.
        with self.reader() as session:
            waiting = outbox.has_backlog(session)
        if waiting:
            self.run_once()


def readiness(waiting: Backlog, settings: Settings) -> dict[str, Any]:
    """What ``/ready`` adds for the outbox: degraded while a touched case has waited longer than
    ``SBT_RECONCILIATION_LAG_DEGRADED_SECONDS`` (no worker running, or rounds failing or falling behind). The
    service stays in rotation: writes are still recorded, only their findings are late."""
    lag = waiting.lag_seconds(utcnow())
    if lag <= settings.reconciliation_lag_degraded_seconds:
        return {}
    return {
        "status": "degraded",
        "reconciliation": {"backlog_cases": waiting.cases, "lag_seconds": round(lag, 3)},
    }


def install_outbox_worker(app: FastAPI, settings: Settings) -> None:
    app.state.reconciliation_outbox = OutboxWorker(settings, app.state.sessionmaker)
