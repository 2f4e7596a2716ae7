"""The findings summary as of a moment, from the ledger's ``finding.*`` entries (never from the current rows).

Each entry records the finding's rule, severity and new state. What a finding never changes (its case, NIP,
province, rule, agencies) is filtered in SQL with the list's own query; state and severity come from the replay.
Severity is the one recorded with the finding's last state change up to that moment: a deadline escalation
(HIGH → CRITICAL) refreshes the row without a ledger entry, so the as-of severity can lag the current one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from sqlalchemy.orm import Session

from app.ledger.asof import LedgerPositionRead, leaves, position_at
from app.ledger.replay import FINDING, replay
from app.reconciliation import repository
from app.reconciliation.repository import FindingFilters
from app.reconciliation.rules import Severity

FINDING_PREFIXES = ("finding.",)


def summary_at(
    session: Session, filters: FindingFilters, moment: dt.datetime
) -> tuple[dict[str, dict[str, int]], LedgerPositionRead]:
    """``repository.summary_counts`` as of ``moment``, and the ledger position it was replayed from."""
    position = position_at(session, moment)
    replayed = replay(leaves(session, position.tree_size, FINDING_PREFIXES)).tables[FINDING]
    latest = {key: (row.values["rule"], row.values["severity"], row.values["state"]) for key, row in replayed.items()}
    fixed = dataclasses.replace(filters, state=None, severity=None, min_severity_rank=None)
    agencies = repository.finding_agencies(session, fixed)
    chosen = [
        (finding_id, rule, severity, state)
        for finding_id, (rule, severity, state) in latest.items()
        if finding_id in agencies
        and (filters.state is None or state == filters.state)
        and (filters.severity is None or severity == filters.severity)
        and (filters.min_severity_rank is None or Severity(severity).rank >= filters.min_severity_rank)
    ]
    counts = {
        "rule": Counter(rule for _, rule, _, _ in chosen),
        "severity": Counter(severity for _, _, severity, _ in chosen),
        "state": Counter(state for _, _, _, state in chosen),
        "agency": Counter(agency for finding_id, _, _, _ in chosen for agency in agencies[finding_id]),
    }
    return {name: dict(sorted(counter.items())) for name, counter in counts.items()}, position
