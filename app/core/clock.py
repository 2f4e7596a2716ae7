"""Dates as the agencies count them: calendar days in Asia/Jakarta (WIB); working days without weekends, national
holidays or cuti bersama.

National holidays and the joint leave days (cuti bersama) come from the ``holidays`` package (Indonesia, its
``public`` and ``government`` categories, which follow the yearly SKB on cuti bersama). A decree the pinned package
does not know yet goes in the shipped override file ``data/holidays.json`` (for every deployment, with the decree
named) or, for one deployment, ``SBT_EXTRA_HOLIDAYS``, until the package is upgraded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from pathlib import Path

import holidays

from app.core.config import JAKARTA

SATURDAY = 5
OVERRIDE_FILE = Path(__file__).with_name("data") / "holidays.json"

_INDONESIA = holidays.country_holidays("ID", categories=("public", "government"))
"""Filled year by year as dates are asked about."""


def decreed_days(path: Path) -> frozenset[dt.date]:
    """The override file's days: ``{"days": [{"date": "YYYY-MM-DD", "name": …, "decree": …}, …]}``."""
    days = json.loads(path.read_text(encoding="utf-8"))["days"]
    return frozenset(dt.date.fromisoformat(day["date"]) for day in days)


DECREED = decreed_days(OVERRIDE_FILE)


def today_in_jakarta() -> dt.date:
    return dt.datetime.now(JAKARTA).date()


def is_working_day(day: dt.date, extra_holidays: Collection[dt.date] = ()) -> bool:
    return day.weekday() < SATURDAY and day not in _INDONESIA and day not in DECREED and day not in extra_holidays


def add_working_days(start: dt.date, days: int, extra_holidays: Collection[dt.date] = ()) -> dt.date:
    """The day ``days`` working days after ``start`` (``start`` itself not counted)."""
    current = start
    remaining = days
    while remaining > 0:
        current += dt.timedelta(days=1)
        if is_working_day(current, extra_holidays):
            remaining -= 1
    return current
