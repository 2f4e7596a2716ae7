"""``insert_rows`` and ``update_rows`` keep JSON values and timestamps as given (on PostgreSQL a JSON column's
values travel as one JSON array, not as a text array of documents; on SQLite the driver gets each row's values as
Core would have bound them)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from app.core.db import UNNEST_FROM_ROWS, UNNEST_UPDATE_FROM_ROWS, insert_rows, update_rows
from app.reconciliation.models import Run

RUNS = cast(Table, Run.__table__)
AWKWARD: list[Any] = [
    {"quote": 'say "hi"', "backslash": "C:\\temp\\", "braces": "{a,b}", "nested": {"list": [1, None, "x, y"]}},
    {"unicode": "Śri Dewi — 王", "empty": "", "null": None},
    {},
]


def _run(index: int, stats: Any, case_ids: list[str] | None) -> dict[str, Any]:
    moment = dt.datetime(2024, 12, 16, 3, 0, tzinfo=dt.UTC)
    return {"id": uuid.uuid4(), "mode": "FULL", "status": "QUEUED", "as_of": moment, "use_screen": True,
            "case_ids": case_ids, "requested_by": f"test-{index}", "requested_at": moment, "stats": stats}  # fmt: skip


@pytest.mark.parametrize("copies", [1, max(UNNEST_FROM_ROWS, UNNEST_UPDATE_FROM_ROWS)], ids=["few rows", "arrays"])
def test_json_values_round_trip(session: Session, copies: int) -> None:
    """Both of PostgreSQL's forms: an executemany below ``UNNEST_FROM_ROWS`` (``UNNEST_UPDATE_FROM_ROWS``) rows,
    arrays from it on."""
    rows = [_run(index, stats, None if index else ["a", 'b"c']) for index, stats in enumerate(AWKWARD * copies)]
    insert_rows(session, RUNS, rows)
    changed = rows[2::3][:copies]  # as many rows as the inserts' copies: one, or the update's arrays
    later = dt.datetime(2024, 12, 17, 4, 5, 6, 789, tzinfo=dt.UTC)
    update_rows(session, RUNS, "id", [{"id": row["id"], "stats": AWKWARD[0], "requested_at": later} for row in changed])
    ids = [row["id"] for row in rows[:3]]
    stored = {run_id: (stats, case_ids) for run_id, stats, case_ids in session.execute(
        select(Run.id, Run.stats, Run.case_ids).where(Run.id.in_(ids))
    )}  # fmt: skip
    assert [stored[run_id] for run_id in ids] == [(AWKWARD[0], ["a", 'b"c']), (AWKWARD[1], None), (AWKWARD[0], None)]
    everything = [row["id"] for row in rows]
    assert session.scalar(select(func.count()).where(Run.id.in_(everything))) == len(rows)
    updated = session.execute(select(Run.stats, Run.requested_at).where(Run.id.in_([row["id"] for row in changed])))
    assert [tuple(row) for row in updated] == [(AWKWARD[0], later)] * copies
