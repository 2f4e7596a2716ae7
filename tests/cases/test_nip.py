"""NIP validation: PNS and PPPK layouts, and each hard rule."""

from __future__ import annotations

import pytest

from app.cases.nip import EmployeeKind, Gender, InvalidNip, parse_nip


def test_valid_pns_nip_is_parsed() -> None:
    parsed = parse_nip("196608011988031001")
    assert parsed.kind is EmployeeKind.PNS
    assert parsed.birth_date.isoformat() == "1966-08-01"
    assert (parsed.appointment_year, parsed.appointment_month) == (1988, 3)
    assert parsed.gender is Gender.MALE
    assert parsed.sequence == 1


def test_valid_pppk_nip_is_parsed() -> None:
    parsed = parse_nip("200012312024211001")
    assert parsed.kind is EmployeeKind.PPPK
    assert parsed.appointment_year == 2024
    assert parsed.appointment_month is None
    assert parsed.contract_count == 1
    assert parsed.gender is Gender.MALE


@pytest.mark.parametrize(
    ("nip", "message"),
    [
        ("196602301988031001", "calendar date"),  # 30 February
        ("196613011988031001", "calendar date"),  # month 13
        ("196608011988033001", "gender"),
        ("196608011988030001", "gender"),
        ("196608011988131001", "neither a TMT month"),
        ("196608011988001001", "neither a TMT month"),
        ("196608011960031001", "after the birth date"),
        ("196608011988031000", "sequence"),
        ("19660801198803100", "exactly 18 digits"),
        ("1966080119880310011", "exactly 18 digits"),
        ("19660801198803100a", "exactly 18 digits"),
        ("１96608011988031001", "exactly 18 digits"),  # full-width digit
    ],
)
def test_invalid_nips_name_the_broken_rule(nip: str, message: str) -> None:
    with pytest.raises(InvalidNip, match=message):
        parse_nip(nip)
