"""NIP (PNS) and NI PPPK validation: the PNS layout of Perka BKN 22/2007 and the layout of the NI PPPK.

PNS:  YYYYMMDD YYYYMM G NNN  (birth date, TMT CPNS year-month, gender 1/2, sequence)
PPPK: YYYYMMDD YYYY 2 F G NNN (birth date, TMT year, PPPK marker "2", contract count 1-9, gender, sequence)
Digits 13-14 tell them apart: a PNS month is 01-12, a PPPK reads 21-29.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from app.core.clock import today_in_jakarta
from app.core.i18n import Message

NIP_LENGTH = 18
EARLIEST_BIRTH_YEAR = 1900
MIN_APPOINTMENT_AGE = 18


class EmployeeKind(enum.StrEnum):
    PNS = "PNS"
    PPPK = "PPPK"


class Gender(enum.StrEnum):
    MALE = "L"
    FEMALE = "P"


class InvalidNip(ValueError):
    """The NIP breaks a hard format rule; the message says which (``str()`` in English, as validation shows it)."""

    def __init__(self, message: Message) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ParsedNip:
    nip: str
    kind: EmployeeKind
    birth_date: dt.date
    appointment_year: int
    appointment_month: int | None
    """None for PPPK, whose number carries only the year."""
    contract_count: int | None
    gender: Gender
    sequence: int

    @property
    def warnings(self) -> list[Message]:
        """Soft findings that do not make the NIP invalid (legacy conversions contain such errors)."""
        age = self.appointment_year - self.birth_date.year
        if age < MIN_APPOINTMENT_AGE:
            return [Message("appointed at about {age} years old, younger than {minimum}", age=age,
                            minimum=MIN_APPOINTMENT_AGE)]  # fmt: skip
        return []


def parse_nip(value: str, *, today: dt.date | None = None) -> ParsedNip:
    """Parse and validate an 18-digit NIP or NI PPPK, raising InvalidNip with the broken rule."""
    if len(value) != NIP_LENGTH or not value.isascii() or not value.isdigit():
        raise InvalidNip(
            Message("a NIP is exactly {length} digits (got {got} characters)", length=NIP_LENGTH, got=len(value))
        )
    today = today or today_in_jakarta()  # the day in Indonesia, not the server's
    try:
        birth = dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError as exc:
        raise InvalidNip(Message("digits 1-8 ({digits}) are not a calendar date of birth", digits=value[0:8])) from exc
    if birth.year < EARLIEST_BIRTH_YEAR or birth > today:
        raise InvalidNip(Message("date of birth {birth} is not plausible", birth=birth.isoformat()))
    gender_digit = value[14]
    if gender_digit not in "12":
        raise InvalidNip(Message("digit 15 is the gender and must be 1 or 2 (got {digit})", digit=gender_digit))
    sequence = int(value[15:18])
    if sequence == 0:
        raise InvalidNip(Message("digits 16-18 are a sequence number starting at 001"))
    year = int(value[8:12])
    marker = value[12:14]
    if marker[0] == "2" and marker[1] != "0":
        kind, month, contracts = EmployeeKind.PPPK, None, int(marker[1])
    elif 1 <= int(marker) <= 12:
        kind, month, contracts = EmployeeKind.PNS, int(marker), None
    else:
        raise InvalidNip(
            Message(
                "digits 13-14 ({marker}) are neither a TMT month 01-12 (PNS) nor a PPPK marker 21-29", marker=marker
            )
        )
    appointment_first_day = dt.date(year, month or 1, 1)
    if appointment_first_day <= birth.replace(day=1) or appointment_first_day > today:
        raise InvalidNip(
            Message(
                "appointment {appointment} must fall after the birth date and not in the future",
                appointment=f"{year}-{month or 1:02d}",
            )
        )
    return ParsedNip(
        nip=value,
        kind=kind,
        birth_date=birth,
        appointment_year=year,
        appointment_month=month,
        contract_count=contracts,
        gender=Gender.MALE if gender_digit == "1" else Gender.FEMALE,
        sequence=sequence,
    )


def validate_nip(value: str) -> str:
    """Pydantic-friendly validator: returns the NIP unchanged or raises ValueError."""
    parse_nip(value)
    return value
