"""Working days as the agencies count them: no weekends, national holidays or cuti bersama (Asia/Jakarta)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import holidays
import pytest

from app.core.clock import OVERRIDE_FILE, add_working_days, decreed_days, is_working_day
from app.core.config import Settings

CUTI_BERSAMA_2024 = [  # Keppres 7/2024 on the cuti bersama of ASN in 2024
    "2024-02-09",
    "2024-03-12",
    "2024-04-08",
    "2024-04-09",
    "2024-04-12",
    "2024-04-15",
    "2024-05-10",
    "2024-05-24",
    "2024-06-18",
    "2024-12-26",
]


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


@pytest.mark.parametrize("day", CUTI_BERSAMA_2024)
def test_every_cuti_bersama_of_2024_is_a_day_off(day: str) -> None:
    assert not is_working_day(dt.date.fromisoformat(day))


def test_the_shipped_override_file_names_each_decree_and_only_days_the_package_lacks() -> None:
    document = json.loads(OVERRIDE_FILE.read_text(encoding="utf-8"))
    assert document["description"]
    package = holidays.country_holidays("ID", categories=("public", "government"))
    for day in document["days"]:
        assert day["name"], day
        assert day["decree"], day
        date = dt.date.fromisoformat(day["date"])
        assert date.weekday() < 5, f"{date} is a weekend day already"
        assert date not in package, f"the package knows {date} now: remove it from {OVERRIDE_FILE.name}"


def test_override_file_days_are_days_off(tmp_path: Path) -> None:
    decree = {"date": "2024-09-04", "name": "Cuti bersama (example)", "decree": "Keppres (example)"}
    file = tmp_path / "holidays.json"
    file.write_text(json.dumps({"description": "test", "days": [decree]}), encoding="utf-8")
    days = decreed_days(file)
    assert days == frozenset({dt.date(2024, 9, 4)})
    assert add_working_days(dt.date(2024, 9, 3), 1, days) == dt.date(2024, 9, 5)
