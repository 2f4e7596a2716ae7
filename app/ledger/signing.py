"""The log's checkpoint signing key: generated on first start in the key directory, then reused.

After ``sbt keys rotate --ledger`` (decision 0036) the log names its current key in its latest
``ledger.key_rotated`` entry; the new private key waits in ``<key file>.next`` until the first checkpoint it
signs, which moves it over the key file (the retired private key is then gone: nothing can sign with it again).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from app.ledger.note import NoteError, NoteSigner, NoteVerifier

_cache: dict[tuple[Path, str], NoteSigner] = {}
_cache_lock = threading.Lock()


def next_key_path(path: Path) -> Path:
    """Where a rotation's new key waits until it signs."""
    return path.with_name(path.name + ".next")


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


def _read(path: Path, origin: str) -> NoteSigner:
    signer = NoteSigner.from_private_key_text(path.read_text())
    if signer.name != origin:
        raise NoteError(f"signing key {path} is named {signer.name!r}; the log origin is {origin!r}")
    return signer


def load_signer(path: Path, origin: str, current: NoteVerifier | None = None) -> NoteSigner:
    """The signer stored at ``path``, created there if missing. Its name must equal the log origin.

    ``current``: the key the log names as its signing key since a rotation; when it is not the one at ``path`` it
    must be the waiting ``.next`` key, which then replaces it (in whichever process signs first).
    """
    cache_key = (path.resolve(), origin)
    with _cache_lock:
        cached = _cache.get(cache_key)
        if cached is not None and (current is None or cached.key_id == current.key_id):
            return cached
        if not path.exists():
            _create_exclusively(path, origin)
        signer = _read(path, origin)
        if current is not None and signer.key_id != current.key_id:
            signer = _move_in(path, origin, current)
        _cache[cache_key] = signer
        return signer


def _move_in(path: Path, origin: str, current: NoteVerifier) -> NoteSigner:
    """The waiting key the log names, moved over the key file (by this process or, meanwhile, another one)."""
    waiting = next_key_path(path)
    try:
        signer = _read(waiting, origin)
    except FileNotFoundError:
        signer = _read(path, origin)
    else:
        if signer.key_id == current.key_id:
            with contextlib.suppress(FileNotFoundError):
                os.replace(waiting, path)
    if signer.key_id != current.key_id:
        raise NoteError(f"the log's signing key {current.text()} is neither in {path} nor in {waiting}")
    return signer


def prepare_next(path: Path, origin: str) -> NoteSigner:
    """The key a rotation introduces: the waiting ``.next`` key, created if there is none (so a rotation that was
    interrupted, or announced to the witnesses beforehand, introduces the same key when run again)."""
    waiting = next_key_path(path)
    if not waiting.exists():
        _create_exclusively(waiting, origin)
    return _read(waiting, origin)
