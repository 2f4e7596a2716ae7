"""Dates as the agencies count them: calendar days in Asia/Jakarta (WIB)."""

from __future__ import annotations

import datetime as dt

from app.core.config import JAKARTA

SATURDAY = 5


def today_in_jakarta() -> dt.date:
    return dt.datetime.now(JAKARTA).date()


def add_working_days(start: dt.date, days: int) -> dt.date:
    current = start
    remaining = days
    while remaining > 0:
        current += dt.timedelta(days=1)
        if current.weekday() < SATURDAY:
            remaining -= 1
    return current
