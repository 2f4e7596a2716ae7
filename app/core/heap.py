"""The garbage collector in long-running SBT processes (the server, ``sbt import``, ``sbt demo-data``, sweeps)."""

import gc

YOUNG_THRESHOLD = 50_000
"""Container objects allocated (less those freed) between two young collections; Python's default is 700.

A re-check, a batch or a ledger round allocates tens of thousands of short-lived rows, facts and drafts that
reference counting frees, nearly none in cycles: at 700 the collector ran about 100 times per 1,000 cases a sweep
re-checks, and a steady full run at 1M cases (PostgreSQL) spent 0.5 s of its 3.8 s CPU there, now 0.1 s. A young
collection walks at most this many objects (0.3 ms each in that run), so a request's latency does not grow."""
OLDER_THRESHOLDS = (20, 20)
"""Young collections per middle one, middle ones per full one (Python's default: 10, 10); with the young threshold
above, the older generations are visited less often too, not more."""


def tune_collector() -> None:
    """Put what exists now (the modules, the app) out of the collector's sight, and collect the young generation
    less often. The startup heap lives as long as the process, and each full collection, which a write's many
    short-lived objects trigger, walked all of it (about 15% of a ledger round's time, and of a bulk import's).
    Called once a process has loaded what it runs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
