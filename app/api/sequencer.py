"""The ledger sequencer's integrator thread for one worker process, started and stopped by the app's lifespan.

Every worker runs one; the round lock makes one of them the integrator at a time (``app.ledger.sequencer``).
An app bound to a test's connection runs none: its writers do the rounds themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from app.core.config import Settings
from app.ledger.sequencer import Sequencer, sequencer_for


@asynccontextmanager
async def sequencer_lifespan(app: FastAPI) -> AsyncIterator[None]:
    sequencer: Sequencer = app.state.sequencer
    threaded = isinstance(app.state.sessionmaker.kw.get("bind"), Engine)
    if threaded:
        sequencer.start()
    try:
        yield
    finally:
        if threaded:
            sequencer.stop()


def install_sequencer(app: FastAPI, settings: Settings) -> None:
    app.state.sequencer = sequencer_for(app.state.sessionmaker, settings)
