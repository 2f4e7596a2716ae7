"""The ledger benchmark's baseline: SBT whose write flows record nothing to the ledger, patched in this process only.

Production has no switch for this (the ledger is never optional); ``bench.ledger_bench`` serves this module to
measure what the append costs.
"""

from __future__ import annotations

from typing import Any

from app.ledger import sequencer


def _skip_record(*_args: Any, **_kwargs: Any) -> None:
    return None


sequencer.record_changes = _skip_record  # the flows call it through the module, so they all see the patch

from app.asgi import app  # noqa: E402 - after the patch, by design

__all__ = ["app"]
