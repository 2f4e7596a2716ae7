"""A ledger integrator that stops in the middle of a round, for ``test_sequencer_crash`` to SIGKILL it there.

It takes the round lock, integrates a batch (entries, nodes and write index inserted, pending rows deleted) and,
before committing, prints ``mid-batch <count>`` and sleeps. Settings come from the ``SBT_*`` environment.
"""

from __future__ import annotations

import sys
import time

from app.core.config import get_settings
from app.core.db import make_engine, make_sessionmaker, transaction, try_round_lock
from app.ledger import repository, service


def main() -> None:
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.sqlalchemy_url))
    with transaction(factory) as session:
        assert try_round_lock(session, repository.ADVISORY_LOCK_KEY)
        done = service.integrate_pending(session, settings, settings.ledger_batch_max_writes)
        session.flush()
        sys.stdout.write(f"mid-batch {len(done.written)}\n")
        sys.stdout.flush()
        time.sleep(600)  # killed here, before the commit
    sys.exit("not killed")


if __name__ == "__main__":
    main()
