"""Dates as the agencies count them: calendar days in Asia/Jakarta (WIB); working days without weekends, national
holidays or cuti bersama.

National holidays and the joint leave days (cuti bersama) come from the ``holidays`` package (Indonesia, its
``public`` and ``government`` categories, which follow the yearly SKB on cuti bersama). A decree the installed
package does not know yet is added with ``SBT_EXTRA_HOLIDAYS`` until the package is upgraded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import holidays

from app.core.config import JAKARTA

SATURDAY = 5

_INDONESIA = holidays.country_holidays("ID", categories=("public", "government"))
"""Filled year by year as dates are asked about."""


def today_in_jakarta() -> dt.date:
    return dt.datetime.now(JAKARTA).date()


def is_working_day(day: dt.date, extra_holidays: Collection[dt.date] = ()) -> bool:
    return day.weekday() < SATURDAY and day not in _INDONESIA and day not in extra_holidays


def add_working_days(start: dt.date, days: int, extra_holidays: Collection[dt.date] = ()) -> dt.date:
    """The day ``days`` working days after ``start`` (``start`` itself not counted)."""
    current = start
    remaining = days
    while remaining > 0:
        current += dt.timedelta(days=1)
        if is_working_day(current, extra_holidays):
            remaining -= 1
    return current
