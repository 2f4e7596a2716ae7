"""Auditor answers as of a moment, computed from the ledger (never from the current rows): the statistics and the
count bridge. Each replays the ledger prefix recorded by then and names the position it is consistent with."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable

from sqlalchemy.orm import Session

from app.audit.bridge import BridgeInput, CountBridgeRead, Period, Unit, count_bridge
from app.audit.repository import Statistics, case_ids
from app.cases.repository import CaseFilters
from app.cases.workflow import Stage
from app.core.config import Settings
from app.ledger.asof import LedgerPositionRead, leaves, position_at
from app.ledger.replay import CASE_ENTRY_PREFIXES, LedgerReplay, replay
from app.reconciliation.facts import jakarta_day, reference_data, ruleset_of
from app.reconciliation.rules import RULES


def case_data_at(session: Session, moment: dt.datetime) -> tuple[LedgerReplay, LedgerPositionRead]:
    """Every case and agency record as the ledger held them at ``moment``, and that ledger position."""
    position = position_at(session, moment)
    return replay(leaves(session, position.tree_size, CASE_ENTRY_PREFIXES)), position


def statistics_at(session: Session, filters: CaseFilters, moment: dt.datetime) -> tuple[Statistics, LedgerPositionRead]:
    """``repository.statistics`` as of ``moment``. The filters on fields a case never changes run in SQL (the case
    list's own query); stage and agency, which change with time, are read from the replay."""
    data, position = case_data_at(session, moment)
    fixed = dataclasses.replace(filters, stage=None, agency=None)
    candidates = {str(case_id) for case_id in case_ids(session, fixed)}
    holders = data.records_by_case()
    chosen = [
        case
        for case_id, case in data.cases.items()
        if case_id in candidates
        and (filters.stage is None or case["stage"] == filters.stage)
        and (filters.agency is None or any(r["agency"] == filters.agency for r in holders[case_id]))
    ]
    category = reference_data(session).violation_category
    today = jakarta_day(moment)

    def count(values: Iterable[str]) -> list[tuple[str, int]]:
        return sorted(Counter(values).items())

    overdue = sum(
        1
        for case in chosen
        if case["stage"] == Stage.REKOMENDASI.value
        and case["deadline_date"] is not None
        and dt.date.fromisoformat(case["deadline_date"]) < today
    )
    stats = Statistics(
        total=len(chosen),
        by_agency=count(agency for case in chosen for agency in {r["agency"] for r in holders[case["id"]]}),
        by_stage=count(case["stage"] for case in chosen),
        by_province=count(case["province_code"] for case in chosen),
        by_violation_category=count(category[case["violation_code"]] for case in chosen),
        by_election=count(f"{case['election_type']} {case['election_year']}" for case in chosen),
        by_month=count(case["reported_date"][:7] for case in chosen),
        overdue_ppk_follow_ups=overdue,
    )
    return stats, position


MISSING_RULE = next(rule for rule in RULES if rule.code == "CASE_MISSING_AT_AGENCY")


def bridge_at(session: Session, settings: Settings, period: Period, unit: Unit, moment: dt.datetime) -> CountBridgeRead:
    data, position = case_data_at(session, moment)
    grace = int(ruleset_of(settings).config(MISSING_RULE).params["grace_days"])
    inputs = BridgeInput(
        replay=data,
        period=period,
        unit=unit,
        today=jakarta_day(moment),
        reference=reference_data(session),
        grace_days=grace,
    )
    return count_bridge(inputs, position)
