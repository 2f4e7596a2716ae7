"""The ledger benchmark's baseline: SBT whose write flows skip the ledger append, patched in this process only.

Production has no switch for this (the ledger is never optional); ``bench.ledger_bench`` serves this module to
measure what the append costs.
"""

from __future__ import annotations

from typing import Any

from app.ledger import service


def _skip_append(*_args: Any, **_kwargs: Any) -> list[Any]:
    return []


service.append_changes = _skip_append  # the flows call it through the module, so they all see the patch

from app.asgi import app  # noqa: E402 - after the patch, by design

__all__ = ["app"]
