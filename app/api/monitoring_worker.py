"""The monitoring page's count bridge job of one serving process: a thread that looks every
``SBT_MONITORING_BRIDGE_INTERVAL_SECONDS`` whether the ledger has grown since the stored totals and, if so, replays
it and stores them again (``app.audit.monitoring.refresh_bridge``); started and stopped by the app's lifespan.

The first look comes at once, so a fresh database gets its totals as the service starts. Every process runs one; on
PostgreSQL an advisory lock lets one replica at a time replay. An idle look costs two indexed reads.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.api.background import RepeatingThread
from app.audit.monitoring import refresh_bridge
from app.core.config import Settings

logger = logging.getLogger("sbt.monitoring")


class BridgeWorker(RepeatingThread):
    def __init__(self, settings: Settings, writer: sessionmaker[Session]) -> None:
        super().__init__("monitoring-bridge", settings.monitoring_bridge_interval_seconds, writer, logger)
        self.settings = settings

    def step(self) -> None:
        refresh_bridge(self.reader, self.writer, self.settings)


def install_bridge_worker(app: FastAPI, settings: Settings) -> None:
    app.state.monitoring_bridge = BridgeWorker(settings, app.state.sessionmaker)
