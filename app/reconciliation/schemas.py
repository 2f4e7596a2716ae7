"""Request and response bodies of the reconciliation API."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from pydantic import ConfigDict, Field, StrictBool, model_validator

from app.core.i18n import Language
from app.core.schemas import TEXT_PATTERN, InputSchema, IsoDate, IsoDateTime, ReadSchema
from app.ledger.asof import LedgerPositionRead
from app.ledger.schemas import Receipted
from app.reconciliation.models import Finding, RunMode
from app.reconciliation.rules import Severity


class RunCreate(InputSchema):
    mode: RunMode = Field(
        default=RunMode.FULL,
        description="FULL: every case (fingerprint screen first); DEADLINES: time-based rules only; CASES: the "
        "listed cases.",
    )
    as_of: IsoDateTime | None = Field(
        default=None,
        description="Evaluate as of this instant (deadlines count in Asia/Jakarta days); default now. A past "
        "instant reproduces historical deadline findings.",
    )
    case_ids: list[uuid.UUID] | None = Field(default=None, max_length=10_000, description="Required for CASES.")
    use_screen: StrictBool = Field(
        default=True, description="FULL only: false evaluates every case in Python (slow; for verification)."
    )

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={  # the validator below, stated in the contract
            "if": {"properties": {"mode": {"const": RunMode.CASES.value}}, "required": ["mode"]},
            "then": {"required": ["case_ids"], "properties": {"case_ids": {"type": "array"}}},
            "else": {"properties": {"case_ids": {"type": "null"}}},
        },
    )

    @model_validator(mode="after")
    def _cases_only_with_cases_mode(self) -> RunCreate:
        if (self.mode is RunMode.CASES) != (self.case_ids is not None):
            raise ValueError("case_ids is required with mode CASES and not allowed otherwise")
        return self


class RunRead(ReadSchema):
    id: uuid.UUID
    mode: str
    status: str
    as_of: dt.datetime
    use_screen: bool
    requested_by: str
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    stats: dict[str, Any] = Field(
        description="Counts (selected, evaluated, opened, resolved, reopened, unchanged, per rule) and timings."
    )
    error: str | None


class TriageAction(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    SUPPRESS = "suppress"
    REOPEN = "reopen"


class FindingTransitionCreate(InputSchema):
    action: TriageAction = Field(
        description="acknowledge (OPEN→ACKNOWLEDGED); resolve (fixed at source: 409 while the data still "
        "disagree); suppress (accepted difference, reason required, optional until-date); reopen."
    )
    note: str | None = Field(
        default=None, max_length=2000, pattern=TEXT_PATTERN, description="Reason or remark; required to suppress."
    )
    suppressed_until: IsoDate | None = Field(
        default=None, description="suppress only: the finding reopens after this day if the difference remains."
    )

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={  # the validator below, stated in the contract
            "if": {"properties": {"action": {"const": TriageAction.SUPPRESS.value}}, "required": ["action"]},
            "then": {"required": ["note"], "properties": {"note": {"type": "string", "pattern": r"\S"}}},
            "else": {"properties": {"suppressed_until": {"type": "null"}}},
        },
    )

    @model_validator(mode="after")
    def _suppress_needs_reason(self) -> FindingTransitionCreate:
        if self.action is TriageAction.SUPPRESS and not self.note:
            raise ValueError("suppress needs a note giving the reason the difference is accepted")
        if self.suppressed_until is not None and self.action is not TriageAction.SUPPRESS:
            raise ValueError("suppressed_until applies to suppress only")
        return self


class FindingEventRead(ReadSchema):
    at: dt.datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str | None
    run_id: uuid.UUID | None


class FindingRead(ReadSchema, Receipted):
    id: uuid.UUID
    finding_key: str = Field(description="sha256 of (case, rule, fields, every source's normalised values).")
    case_id: uuid.UUID
    case_number: str
    rule: str
    fields: list[str]
    severity: Severity
    hint: str | None = Field(description="e.g. probable_typo / different_person_likely, lighter / heavier.")
    state: str
    resolution: str | None
    agencies: list[str] = Field(description="Agencies whose records the finding is about.")
    observed: dict[str, Any] = Field(
        description="source (CASE or agency) -> field -> {raw, normalized}: what each one holds."
    )
    evidence: dict[str, Any]
    message_id: str
    message_en: str
    message: str = Field(
        description="The explanation in the language `Accept-Language` prefers (`Content-Language` says which): "
        "`message_id` for Indonesian, else `message_en`."
    )
    nip: str | None
    province_code: str
    deadline_date: dt.date | None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    state_changed_at: dt.datetime
    state_changed_by: str
    suppressed_until: dt.date | None
    note: str | None
    version: int

    @classmethod
    def of(cls, finding: Finding, language: Language) -> FindingRead:
        """``language``: the reader's, for ``message`` (both stored texts are rendered from the catalogue)."""
        derived = {
            "fields": finding.fields.split(","),
            "agencies": finding.agency_codes,
            "message_id": finding.message_indonesian,  # public name kept: "id" is the language code
            "message": finding.message_indonesian if language is Language.INDONESIAN else finding.message_en,
        }
        values = {name: getattr(finding, name) for name in cls.state_fields() if name not in derived}
        return cls.model_validate({**values, **derived})


class FindingDetail(FindingRead):
    events: list[FindingEventRead]


class CaseCheckRead(ReadSchema, Receipted):
    case_id: uuid.UUID
    findings: list[FindingRead] = Field(description="Active (open or acknowledged) findings after the check.")
    stats: dict[str, Any]


class RuleRead(ReadSchema):
    code: str
    enabled: bool
    severity: Severity
    params: dict[str, Any]
    description_en: str
    description_id: str
    description: str = Field(
        description="What the rule checks, in the language `Accept-Language` prefers (`Content-Language` says "
        "which): `description_id` for Indonesian, else `description_en`."
    )
    local: bool = Field(description="Decided on one source alone (read by the SQL screen from a stored flag).")


class SummaryRead(ReadSchema):
    by_rule: dict[str, int]
    by_severity: dict[str, int]
    by_state: dict[str, int]
    by_agency: dict[str, int]
    consistent_with: LedgerPositionRead | None = Field(
        default=None,
        description="With `as_of`: the ledger prefix the counts were replayed from (state and rule exactly; "
        "severity as recorded with each finding's last state change) and the signed checkpoint covering it. "
        "Without `as_of` the counts read the current rows and this is null.",
    )
