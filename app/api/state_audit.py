"""The background state audit of one worker process: a thread running ``app.audit.state.audit_cycle`` every
``SBT_STATE_AUDIT_INTERVAL_SECONDS`` while the app runs (started and stopped by the app's lifespan), and what
``/ready`` says of its result.

Each worker runs its own thread; the result lives in the database (``ledger_state_audit``), so every worker's
``/ready``, the auditor endpoint and the metrics report the same standing differences. Two workers auditing at
once only repeat work: each merges its result into the row under the write lock.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.api.background import RepeatingThread
from app.audit.state import StateAuditSummary, audit_cycle
from app.core.config import Settings

logger = logging.getLogger("sbt.state_audit")
STATE_AUDIT_PATH = "/api/v1/ledger/state-audit"


class BackgroundStateAudit(RepeatingThread):
    def __init__(self, settings: Settings, writer: sessionmaker[Session]) -> None:
        super().__init__("state-audit", settings.state_audit_interval_seconds, writer, logger)
        self.settings = settings
        self.cycles = 0
        self._done = threading.Condition()

    def run_once(self) -> StateAuditSummary:
        summary = audit_cycle(self.reader, self.writer, self.settings.state_audit_scrub_cases)
        with self._done:
            self.cycles += 1
            self._done.notify_all()
        return summary

    def wait_for_cycle(self, after: int, timeout: float) -> bool:
        """Wait until more than ``after`` rounds have finished (tests); False if none did within ``timeout``."""
        with self._done:
            return self._done.wait_for(lambda: self.cycles > after, timeout)

    def step(self) -> None:
        self.run_once()  # a failed round: the next tries again; the probe shows how old the result is


def readiness(summary: StateAuditSummary) -> dict[str, Any]:
    """What ``/ready`` adds for the state audit: degraded while any difference stands, with the count and where
    to read them. The service stays in rotation: the tables disagreeing with the ledger is for people to look
    at, not a reason to stop serving the agencies."""
    if not summary.differences:
        return {}
    return {
        "status": "degraded",
        "state_audit": {
            "differences": len(summary.differences),
            "checked_at": summary.checked_at,
            "detail": STATE_AUDIT_PATH,
        },
    }


def install_state_audit(app: FastAPI, settings: Settings) -> None:
    app.state.state_audit = BackgroundStateAudit(settings, app.state.sessionmaker)
