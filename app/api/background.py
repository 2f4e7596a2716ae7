"""One daemon thread per background job of a process, started and stopped by the app's lifespan
(``app.main.background_work``): the state audit, the scheduler, the reconciliation outbox, the witnessing rounds."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from app.core.db import engine_of, make_sessionmaker


class RepeatingThread:
    """Runs ``step()`` every ``interval`` seconds while the app serves; a failing round is logged and the next one
    tries again (the job's state lives in the database). Not ``threaded`` (an app bound to a test's connection,
    which has none to spare, an interval of 0, or not ``enabled``): no thread, and the tests call the rounds
    themselves. ``wait_first``: the first round comes one interval after the start instead of at once.

    ``writer`` is the app's sessionmaker; ``reader`` one on the same engine whose sessions only read (SQLite: a
    deferred transaction, never holding the write lock), or the writer itself when bound to a test's connection."""

    def __init__(
        self,
        name: str,
        interval: float,
        writer: sessionmaker[Session],
        logger: logging.Logger,
        *,
        enabled: bool = True,
        wait_first: bool = False,
    ) -> None:
        engine = engine_of(writer)
        self.threaded = engine is not None and enabled and interval > 0
        self.writer = writer
        self.reader = writer if engine is None else make_sessionmaker(engine, read_only=True)
        self._name = name
        self._interval = interval
        self._logger = logger
        self._wait_first = wait_first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        if self._wait_first and self._stop.wait(self._interval):
            return
        while True:
            try:
                self.step()
            except Exception:
                self._logger.exception("%s round failed", self._name)
            if self._stop.wait(self._interval):
                return

    def start(self) -> None:
        if self.threaded and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=f"sbt-{self._name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
