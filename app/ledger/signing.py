"""The log's checkpoint signing key: generated on first start in the data directory, then reused."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from app.ledger.note import NoteError, NoteSigner

_cache: dict[tuple[Path, str], NoteSigner] = {}
_cache_lock = threading.Lock()


def _create_exclusively(path: Path, origin: str) -> None:
    """Write a fresh key without ever replacing one: several processes may start at the same moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    signer = NoteSigner.generate(origin)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(signer.private_key_text() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)  # atomic; fails if another process won the race
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def load_signer(path: Path, origin: str) -> NoteSigner:
    """The signer stored at ``path``, created there if missing. Its name must equal the log origin."""
    key = (path.resolve(), origin)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        if not path.exists():
            _create_exclusively(path, origin)
        signer = NoteSigner.from_private_key_text(path.read_text())
        if signer.name != origin:
            raise NoteError(f"signing key {path} is named {signer.name!r}; the log origin is {origin!r}")
        _cache[key] = signer
        return signer
