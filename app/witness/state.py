"""The witness's memory: per log origin, the latest checkpoint it cosigned, in a SQLite file of its own.

The check against the stored checkpoint and the write of the new one happen in one ``BEGIN IMMEDIATE``
transaction (tlog-witness: check and persist atomically, or two requests racing could roll the witness back), and
a cosignature leaves the witness only after that transaction committed with ``synchronous=FULL``: a witness
killed at any moment remembers every checkpoint it answered for.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cosigned_checkpoint (
    origin TEXT PRIMARY KEY,
    tree_size INTEGER NOT NULL CHECK (tree_size >= 0),
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class Cosigned:
    tree_size: int
    root_hash: bytes
    note: str
    """The checkpoint with the log signatures the witness verified and its own cosignature."""
    cosigned_at: int


class WitnessState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.execute(_SCHEMA)

    def latest(self, origin: str) -> Cosigned | None:
        with self._lock:
            return self._read(origin)

    def _read(self, origin: str) -> Cosigned | None:
        row = self._connection.execute(
            "SELECT tree_size, root_hash, note, cosigned_at FROM cosigned_checkpoint WHERE origin = ?", (origin,)
        ).fetchone()
        return None if row is None else Cosigned(row[0], bytes(row[1]), row[2], row[3])

    @contextmanager
    def updating(self, origin: str) -> Iterator[tuple[Cosigned | None, list[Cosigned]]]:
        """The stored checkpoint under the write lock; append the replacement to the list to store it.

        The new checkpoint is durable when the block ends without an exception; nothing is written otherwise.
        """
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                replacement: list[Cosigned] = []
                yield self._read(origin), replacement
                for new in replacement:
                    self._connection.execute(
                        "INSERT INTO cosigned_checkpoint (origin, tree_size, root_hash, note, cosigned_at) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET tree_size = excluded.tree_size, "
                        "root_hash = excluded.root_hash, note = excluded.note, cosigned_at = excluded.cosigned_at",
                        (origin, new.tree_size, new.root_hash, new.note, new.cosigned_at),
                    )
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._connection.close()
