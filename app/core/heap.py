"""The garbage collector in long-running SBT processes (the server, ``sbt import``, ``sbt demo-data``)."""

import gc


def freeze_startup_heap() -> None:
    """Put what exists now (the modules, the app) out of the collector's sight: it lives as long as the process,
    and each full collection, which a write's many short-lived objects trigger, walked all of it (about 15% of a
    ledger round's time, and of a bulk import's). Called once a process has loaded what it runs."""
    gc.collect()
    gc.freeze()
