"""Working days as the agencies count them: no weekends, national holidays or cuti bersama (Asia/Jakarta)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core.clock import add_working_days, is_working_day
from app.core.config import Settings


@pytest.mark.parametrize(
    "day",
    [  # Idulfitri and its cuti bersama, Christmas and its cuti bersama, the two 2024 voting days
        "2024-04-08",
        "2024-04-09",
        "2024-04-10",
        "2024-04-11",
        "2024-04-12",
        "2024-04-15",
        "2024-12-25",
        "2024-12-26",
        "2024-02-14",
        "2024-11-27",
    ],
)
def test_holidays_cuti_bersama_and_election_days_are_not_working_days(day: str) -> None:
    date = dt.date.fromisoformat(day)
    assert not is_working_day(date)
    assert date.weekday() < 5  # a weekday: the holiday, not the weekend, makes it a day off


def test_a_decree_the_package_lacks_is_added_by_configuration() -> None:
    settings = Settings(extra_holidays="2024-09-04, 2024-09-05")  # as SBT_EXTRA_HOLIDAYS reads
    assert settings.extra_holidays == [dt.date(2024, 9, 4), dt.date(2024, 9, 5)]
    assert add_working_days(dt.date(2024, 9, 3), 3) == dt.date(2024, 9, 6)
    assert add_working_days(dt.date(2024, 9, 3), 3, settings.extra_holidays) == dt.date(2024, 9, 10)
