"""The scheduler of one process: a thread that, while the app runs, turns ledger entries into webhook events and
delivers them every ``SBT_SCHEDULER_INTERVAL_SECONDS``, sweeps for passed deadlines every
``SBT_DEADLINE_SWEEP_INTERVAL_SECONDS`` and starts the periodic FULL reconciliation when it is due.

Every replica runs one; ``app.flows.scheduler`` makes sure work meant to happen once per database happens once.
A FULL run it starts works in a thread of its own, so deliveries do not wait for it.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.api.background import RepeatingThread
from app.core.config import Settings
from app.flows import scheduler as jobs
from app.ledger.witnessing import Witnesses
from app.reconciliation import runner

logger = logging.getLogger("sbt.scheduler")


class BackgroundScheduler(RepeatingThread):
    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        super().__init__("scheduler", settings.scheduler_interval_seconds, factory, logger)
        self.settings = settings
        self.http = httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
        self.witnesses = Witnesses.of(settings)
        self._next_sweep = 0.0
        self._runs: list[threading.Thread] = []

    def run_once(self) -> None:
        """One round: new events, due deliveries, and the sweeps when they are due (tests call it directly)."""
        jobs.make_webhook_events(self.writer, self.settings)
        if self.witnesses.enabled:
            jobs.announce_witnessed(self.writer, self.witnesses)
        jobs.deliver_webhooks(self.writer, self.settings, self.http)
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.settings.deadline_sweep_interval_seconds
            jobs.sweep_deadlines(self.writer, self.settings)
            run_id = jobs.queue_periodic_reconciliation(self.writer, self.settings)
            if run_id is not None:
                thread = threading.Thread(
                    target=runner.execute_run, args=(self.writer, self.settings, run_id), name="sbt-reconciliation"
                )
                thread.start()
                self._runs = [t for t in self._runs if t.is_alive()] + [thread]

    def step(self) -> None:
        self.run_once()  # a failed round: the next tries again; deliveries keep their state in the database

    def stop(self) -> None:
        super().stop()
        for run in self._runs:
            run.join()
        self.http.close()


def install_scheduler(app: FastAPI, settings: Settings) -> None:
    app.state.scheduler = BackgroundScheduler(settings, app.state.sessionmaker)
