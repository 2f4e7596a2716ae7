"""Request and response bodies of the cases API."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    WithJsonSchema,
    computed_field,
    model_validator,
)
from pydantic.config import JsonDict

from app.cases.nip import validate_nip
from app.cases.workflow import SANCTIONED_ENDS, Action, ReopenReason, Stage
from app.core.actor import Agency
from app.core.schemas import (
    LINE_PATTERN,
    TEXT_PATTERN,
    Code,
    InputSchema,
    IsoDate,
    ReadSchema,
    SingleLine,
    Text200,
)
from app.ledger.schemas import Receipted
from app.reference import seed


class ElectionType(enum.StrEnum):
    PEMILU = "PEMILU"
    PILKADA = "PILKADA"


class Phase(enum.StrEnum):
    BAKAL_CALON = "BAKAL_CALON"
    """Before KPU fixes the candidates (code-of-ethics list)."""
    CALON = "CALON"
    """After the candidates are fixed (disciplinary list)."""


class ReportSource(enum.StrEnum):
    LAPORAN = "LAPORAN"
    TEMUAN = "TEMUAN"


class SanctionStatus(enum.StrEnum):
    RECOMMENDED = "RECOMMENDED"
    IMPOSED = "IMPOSED"


class SanctionLevel(enum.StrEnum):
    """The levels of the sanction catalogue (``/api/v1/reference/sanctions``), lightest first."""

    MORAL = "MORAL"
    RINGAN = "RINGAN"
    SEDANG = "SEDANG"
    BERAT = "BERAT"
    PTDH = "PTDH"


class SanctionReason(enum.StrEnum):
    """Why a sanction departs from the recommendation's level, or was corrected (the reopen reasons' spelling)."""

    KEBERATAN = "KEBERATAN"
    """The outcome of a keberatan (objection to the PPK's superior)."""
    BANDING = "BANDING"
    """The outcome of a banding (appeal)."""
    KEPUTUSAN_PPK = "KEPUTUSAN_PPK"
    """The PPK decided otherwise than recommended, and its decision (SK) says why."""
    SALAH_CATAT = "SALAH_CATAT"
    """Recorded in error (corrections only: it explains no departure from the recommendation)."""


DEPARTURE_REASONS = (SanctionReason.KEBERATAN, SanctionReason.BANDING, SanctionReason.KEPUTUSAN_PPK)
"""The reasons that allow an imposed sanction outside the recommendation's level."""
IMPOSING_ACTIONS = (Action.IMPOSE_SANCTION, Action.LIFT_BLOCK)
"""The steps that record the sanction the PPK imposed."""


def _null(field: str) -> JsonDict:
    return {"properties": {field: {"type": "null"}}}


def _transition_rules() -> list[JsonValue]:
    """The sanction rules of a step, stated in the contract (``TransitionCreate._sanction_fields`` enforces them)."""
    imposing: list[JsonValue] = [action.value for action in IMPOSING_ACTIONS]
    not_null: JsonDict = {"not": {"type": "null"}}
    return [
        {
            "if": {"properties": {"action": {"const": Action.RECOMMEND.value}}, "required": ["action"]},
            "then": {
                "required": ["reference_number"],
                "properties": {"reference_number": not_null},
                "anyOf": [
                    {"required": ["sanction_code"], "properties": {"sanction_code": not_null}},
                    {"required": ["sanction_level"], "properties": {"sanction_level": not_null}},
                ],
            },
            "else": _null("sanction_level"),
        },
        {
            "if": {"properties": {"action": {"enum": imposing}}, "required": ["action"]},
            "then": {
                "required": ["sanction_code"],
                "properties": {
                    "sanction_code": not_null,
                    "sanction_reason": {"enum": [*(reason.value for reason in DEPARTURE_REASONS), None]},
                },
            },
            "else": _null("sanction_reason"),
        },
    ]


NIP_DESCRIPTION = (
    "18-digit NIP (PNS) or NI PPPK as a JSON string: birth date, TMT CPNS year-month (PPPK: year, '2', contract "
    "count), gender digit 1/2, sequence 001+."
)
Nip = Annotated[
    str,
    Field(strict=True, description=NIP_DESCRIPTION, examples=["196608011988031001"]),
    StringConstraints(pattern=r"^[0-9]{18}$"),
    AfterValidator(validate_nip),
]
RecordedNip = Annotated[
    str,
    Field(
        strict=True,
        description="The NIP exactly as this agency recorded it (18 digits, string). Format errors "
        "within the digits are accepted here and flagged by reconciliation.",
        examples=["196608011988031001"],
    ),
    StringConstraints(pattern=r"^[0-9]{18}$"),
]


def _listed(table: str, reference_list: str) -> WithJsonSchema:
    """A reference code: the contract lists the seeded codes; the service still checks each against the database
    (422 naming the reference list)."""
    return WithJsonSchema({"type": "string", "enum": seed.codes(table), "description": f"Code from {reference_list}."})


PositionCategoryCode = Annotated[Code, _listed("position_category", "/api/v1/reference/position-categories")]
ProvinceCode = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{2}$"), _listed("province", "/api/v1/reference/provinces")
]
ViolationCode = Annotated[Code, _listed("violation_form", "/api/v1/reference/violation-forms")]
SanctionCode = Annotated[Code, _listed("sanction", "/api/v1/reference/sanctions")]
INSTANSI_CODE_PATTERN = r"^([0-9]{2}(\.[0-9]{2})?|[A-Z][A-Z0-9]{1,23})$"
InstansiCode = Annotated[
    str,
    Field(
        strict=True,
        description="Instansi code from /api/v1/reference/instansi: a pemerintah daerah's Kemendagri region code "
        "('73' provinsi, '73.71' kabupaten/kota) or a kementerian/lembaga's code ('KEMENAG'). An unknown code is 422.",
        examples=["73.71"],
    ),
    StringConstraints(pattern=INSTANSI_CODE_PATTERN),
]
EndedAgency = Annotated[
    Agency, WithJsonSchema({"type": "string", "enum": seed.ended_agencies(), "description": "An agency that ended."})
]
Regency = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=LINE_PATTERN), SingleLine]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=LINE_PATTERN), SingleLine]
REGISTER_NUMBER_DESCRIPTION = (
    "Bawaslu's nomor register (or the channel's nomor aduan) of the incident: one line, 1-100 characters. The cases "
    "of every ASN in one incident share it and form one report (GET /api/v1/reports/{register_number})."
)
RegisterNumber = Annotated[
    Reference, Field(description=REGISTER_NUMBER_DESCRIPTION, examples=["045/Reg/LP/PB/Kab/27.03/X/2024"])
]
ElectionYear = Annotated[int, Field(strict=True, ge=2004, le=2100)]
Notes = Annotated[str, StringConstraints(max_length=4000, pattern=TEXT_PATTERN)]


class CaseCreate(InputSchema):
    nip: Nip
    name: Text200
    instansi_code: InstansiCode
    instansi: Text200 | None = Field(
        default=None,
        description="The unit as reported (unit kerja, e.g. 'Dinas Pendidikan Kota Makassar'); defaults to the "
        "instansi's name.",
    )
    position_category: PositionCategoryCode = Field(description="Code from /api/v1/reference/position-categories.")
    province_code: ProvinceCode = Field(
        description="Province code from /api/v1/reference/provinces; a regional instansi's own province (422 "
        "otherwise).",
        examples=["73"],
    )
    regency: Regency | None = Field(default=None, description="Kabupaten/kota.")
    election_type: ElectionType
    election_year: ElectionYear
    violation_code: ViolationCode = Field(description="Code from /api/v1/reference/violation-forms.", examples=["D-6"])
    phase: Phase
    source: ReportSource
    incident_date: IsoDate
    reported_date: IsoDate
    known_date: IsoDate | None = Field(
        default=None,
        description="Day the incident became known to the reporter (on or after incident_date, on or before "
        "reported_date). A laporan's filing period (7 days for Pilkada) runs from it; absent, from incident_date.",
    )
    summary: Notes | None = None
    register_number: RegisterNumber | None = None
    reference_number: Reference | None = Field(
        default=None, description="The creating agency's own reference (e.g. Bawaslu register number)."
    )
    external_id: Reference | None = Field(default=None, description="The creating agency's own record id.")

    @model_validator(mode="after")
    def _dates_in_order(self) -> CaseCreate:
        if self.reported_date < self.incident_date:
            raise ValueError("reported_date cannot be before incident_date")
        if self.known_date is not None and not self.incident_date <= self.known_date <= self.reported_date:
            raise ValueError("known_date must be on or after incident_date and on or before reported_date")
        return self

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "example": {
                "nip": "196608011988031001",
                "name": "Drs. Amir Santoso, M.Si.",
                "instansi_code": "73.06",
                "instansi": "Kecamatan Somba Opu, Pemerintah Kabupaten Gowa",
                "position_category": "KEPALA_WILAYAH",
                "province_code": "73",
                "regency": "Kabupaten Gowa",
                "election_type": "PILKADA",
                "election_year": 2024,
                "violation_code": "D-6",
                "phase": "CALON",
                "source": "TEMUAN",
                "incident_date": "2024-10-02",
                "reported_date": "2024-10-04",
                "summary": "Membagikan unggahan akun pemenangan pasangan calon.",
            }
        },
    )


class CaseUpdate(InputSchema):
    """What may be set on a case after it was reported: its instansi (a case recorded before instansi became
    reference data, whose text matched no instansi, or an instansi reported wrongly) and its report (register
    number). Absent fields keep their value; ``register_number: null`` takes the case out of its report."""

    instansi_code: Annotated[
        InstansiCode | None,
        WithJsonSchema(
            {
                "type": "string",
                "pattern": INSTANSI_CODE_PATTERN,
                "description": "Instansi code from /api/v1/reference/instansi (a regional instansi in the case's "
                "province); cannot be cleared.",
            }
        ),
    ] = None
    register_number: RegisterNumber | None = None

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"minProperties": 1, "example": {"instansi_code": "73.71"}},
    )

    @model_validator(mode="after")
    def _instansi_kept(self) -> CaseUpdate:
        if "instansi_code" in self.model_fields_set and self.instansi_code is None:
            raise ValueError("instansi_code cannot be cleared")
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self


class CaseRead(ReadSchema, Receipted):
    id: uuid.UUID
    case_number: str
    nip: str
    name: str
    employee_kind: str
    instansi: str = Field(description="The instansi or its unit as reported.")
    instansi_code: str | None = Field(
        description="The instansi (/api/v1/reference/instansi); null only for a case recorded before instansi "
        "became reference data whose text matched no instansi (listed by migration 0009 when it ran)."
    )
    position_category: str
    province_code: str
    regency: str | None
    election_type: ElectionType
    election_year: int
    violation_code: str
    phase: Phase
    source: ReportSource
    incident_date: dt.date
    reported_date: dt.date
    known_date: dt.date | None
    summary: str | None
    register_number: str | None = Field(description="The report the case belongs to (its nomor register).")
    stage: Stage
    stage_entered_on: dt.date
    deadline_date: dt.date | None = Field(description="Last day (Asia/Jakarta) of the current stage's step.")
    overdue: bool = Field(description="True when today (Asia/Jakarta) is after deadline_date.")
    recommended_by: Agency | None
    recommendation_number: str | None
    recommendation_date: dt.date | None
    recommended_sanction_code: str | None
    recommended_sanction_level: SanctionLevel | None = Field(description="The level the recommendation names.")
    imposed_sanction_code: str | None
    imposed_sanction_reason: SanctionReason | None = Field(
        description="Why the imposed sanction departs from the recommendation's level, or why it was corrected."
    )
    sanction_date: dt.date | None
    decision_number: str | None = Field(description="Number of the PPK's decision (SK) imposing the sanction.")
    decision_date: dt.date | None = Field(description="Date of that decision (the step that recorded it).")
    blocked_on: dt.date | None = Field(description="Day BKN blocked the ASN's personnel data (SIASN).")
    block_lifted_on: dt.date | None = Field(description="Day the block was lifted.")
    created_by_agency: Agency
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    allowed_actions: list[Action] = Field(description="Workflow actions possible from the current stage.")


class ReportRead(ReadSchema):
    """One report (nomor register): the cases of every ASN in the incident, oldest case number first."""

    register_number: str
    cases: list[CaseRead] = Field(description="Every case carrying the register number, each with its stage.")


class TransitionCreate(InputSchema):
    action: Action
    effective_date: IsoDate | None = Field(
        default=None, description="Date the step took effect (Asia/Jakarta); defaults to today."
    )
    sanction_code: SanctionCode | None = Field(
        default=None,
        description="Required for impose_sanction and lift_block (imposed); for recommend, this or sanction_level. "
        "It must be one the sanction matrix allows for the case's violation form, the ASN's employee kind and the "
        "step's date (/api/v1/reference/sanction-matrix), else 422 sanction-not-allowed naming the allowed ones.",
    )
    sanction_level: SanctionLevel | None = Field(
        default=None,
        description="recommend only: the level the recommendation names when it names no concrete sanction "
        "('Disiplin Sedang'); with sanction_code, that sanction's level.",
    )
    sanction_reason: SanctionReason | None = Field(
        default=None,
        description="impose_sanction and lift_block only: required when the imposed sanction is outside the "
        "recommendation's level (else 422 sanction-reason-required); KEBERATAN, BANDING or KEPUTUSAN_PPK.",
    )
    reference_number: Reference | None = Field(
        default=None,
        description="Letter number, e.g. the recommendation number 'R-1194/KASN/4/2020'; for impose_sanction and "
        "lift_block, the number of the PPK's decision (SK).",
    )
    note: Notes | None = None

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"allOf": _transition_rules()}
    )

    @model_validator(mode="after")
    def _sanction_fields(self) -> TransitionCreate:
        if self.sanction_level is not None and self.action is not Action.RECOMMEND:
            raise ValueError("sanction_level is only for recommend")
        if self.sanction_reason is not None and self.action not in IMPOSING_ACTIONS:
            raise ValueError("sanction_reason is only for impose_sanction and lift_block")
        if self.sanction_reason is not None and self.sanction_reason not in DEPARTURE_REASONS:
            raise ValueError(f"sanction_reason of an imposed sanction is one of {', '.join(DEPARTURE_REASONS)}")
        return self


class SanctionCorrectionCreate(InputSchema):
    """A recorded sanction corrected (a wrong sanction recorded, or changed by a keberatan, banding or the PPK)."""

    sanction_code: SanctionCode = Field(
        description="The sanction as corrected; within the sanction matrix, and within the recommendation's level "
        "unless the reason is KEBERATAN, BANDING or KEPUTUSAN_PPK."
    )
    reason: SanctionReason
    reference_number: Reference = Field(description="The decision or letter the correction rests on.")
    effective_date: IsoDate | None = Field(
        default=None, description="Date the correction took effect (Asia/Jakarta); defaults to today."
    )
    note: Notes | None = None


class TransitionRead(ReadSchema):
    id: uuid.UUID
    case_id: uuid.UUID
    action: Action
    from_stage: Stage
    to_stage: Stage
    agency: Agency
    client_id: str
    effective_date: dt.date
    reference_number: str | None
    sanction_code: str | None
    sanction_level: SanctionLevel | None
    sanction_reason: SanctionReason | None
    reopen_reason: ReopenReason | None = Field(description="Why the case was reopened; only on `reopen` steps.")
    note: str | None
    created_at: dt.datetime


class ReopenCreate(InputSchema):
    """Return a case that ended (DITOLAK, TIDAK_TERBUKTI, SANKSI_DIJATUHKAN, BLOKIR_DIBUKA, DIBATALKAN,
    ASN_NONAKTIF) to the workflow. It returns to the stage it ended from; an annulled sanction (keberatan, banding)
    returns it to REKOMENDASI, where the PPK decides again. It is reopened by the agency that may take the step
    that ended it."""

    reason: ReopenReason = Field(
        description="KEBERATAN, BANDING: a sanction annulled (SANKSI_DIJATUHKAN, BLOKIR_DIBUKA); BUKTI_BARU, "
        "PENGHENTIAN_DIBATALKAN: a rejected, dismissed or cancelled case; STATUS_ASN_DIPULIHKAN: an ASN_NONAKTIF "
        "case; SALAH_CATAT (the ending step was recorded in error): any. Another reason for the stage is 422."
    )
    reference_number: Reference = Field(
        description="Number of the decision or letter behind the reopening (keberatan or banding decision, the "
        "letter bringing new evidence)."
    )
    effective_date: IsoDate | None = Field(
        default=None,
        description="Date the reopening took effect (Asia/Jakarta), not before the case ended; defaults to today.",
    )
    note: Notes | None = None


LEGACY_SANCTION_FIELDS = ("sanction_code", "sanction_level", "sanction_status", "sanction_reason")
"""The v1 record's single sanction (decision 0010 keeps the names): deprecated, mapped onto the recommended or the
imposed sanction by ``sanction_status``."""
SPLIT_SANCTION_FIELDS = (
    "recommended_sanction_code",
    "recommended_sanction_level",
    "imposed_sanction_code",
    "imposed_sanction_reason",
)
DEPRECATED: JsonDict = {"deprecated": True}
_LEGACY = " Deprecated: use the recommended_sanction_* and imposed_sanction_* fields."


def _legacy_sanction_rules() -> list[JsonValue]:
    """The deprecated single sanction's rules, stated in the contract (``AgencyRecordFields._legacy_sanction``)."""
    not_null: JsonDict = {"not": {"type": "null"}}

    def sent(names: Sequence[str]) -> JsonDict:
        options: list[JsonValue] = [{"required": [name]} for name in names]
        return {"anyOf": options}

    def status_is(status: SanctionStatus, field: str) -> JsonDict:
        return {
            "if": {"properties": {"sanction_status": {"const": status.value}}, "required": ["sanction_status"]},
            "then": _null(field),
        }

    return [
        {"if": sent(LEGACY_SANCTION_FIELDS), "then": {"not": sent(SPLIT_SANCTION_FIELDS)}},
        {
            "not": {
                "required": ["sanction_level", "sanction_reason"],
                "properties": {"sanction_level": not_null, "sanction_reason": not_null},
            }
        },
        status_is(SanctionStatus.RECOMMENDED, "sanction_reason"),
        status_is(SanctionStatus.IMPOSED, "sanction_level"),
    ]


class AgencyRecordFields(InputSchema):
    nip: RecordedNip | None = None
    name: Text200 | None = None
    position_category: PositionCategoryCode | None = None
    instansi_code: InstansiCode | None = None
    province_code: ProvinceCode | None = Field(default=None, description="The region: the case's province.")
    regency: Regency | None = Field(default=None, description="The region: the case's kabupaten/kota.")
    election_type: ElectionType | None = None
    election_year: ElectionYear | None = None
    phase: Phase | None = None
    violation_code: ViolationCode | None = None
    stage: Stage | None = None
    recommended_sanction_code: SanctionCode | None = Field(
        default=None, description="The sanction the recommendation names, as this agency recorded it."
    )
    recommended_sanction_level: SanctionLevel | None = Field(
        default=None, description="The level the recommendation names (alone, for a level-only recommendation)."
    )
    imposed_sanction_code: SanctionCode | None = Field(
        default=None, description="The sanction the PPK imposed, as this agency recorded it."
    )
    imposed_sanction_reason: SanctionReason | None = Field(
        default=None, description="Why the imposed sanction departs from the recommendation, or was corrected."
    )
    decision_number: Reference | None = Field(default=None, description="Number of the PPK's decision (SK).")
    decision_date: IsoDate | None = Field(default=None, description="Date of the PPK's decision (SK).")
    idis_reference: Reference | None = Field(default=None, description="The sanction's entry in BKN's I'DIS.")
    blocked_on: IsoDate | None = Field(default=None, description="Day the ASN's personnel data was blocked (SIASN).")
    block_lifted_on: IsoDate | None = Field(default=None, description="Day the block was lifted.")
    sanction_code: SanctionCode | None = Field(
        default=None,
        json_schema_extra=DEPRECATED,
        description="The recommended or imposed sanction, by sanction_status." + _LEGACY,
    )
    sanction_level: SanctionLevel | None = Field(
        default=None, json_schema_extra=DEPRECATED, description="With sanction_status RECOMMENDED: its level." + _LEGACY
    )
    sanction_status: SanctionStatus | None = Field(
        default=None,
        json_schema_extra=DEPRECATED,
        description="Which sanction sanction_code, sanction_level and sanction_reason are; without it, the imposed "
        "one with a sanction_reason, or when stage is SANKSI_DIJATUHKAN or BLOKIR_DIBUKA and no sanction_level is "
        "sent, else the recommended one." + _LEGACY,
    )
    sanction_reason: SanctionReason | None = Field(
        default=None, json_schema_extra=DEPRECATED, description="With sanction_status IMPOSED: its reason." + _LEGACY
    )
    reported_date: IsoDate | None = None
    recommendation_date: IsoDate | None = None
    sanction_date: IsoDate | None = None
    reference_number: Reference | None = None
    external_id: Reference | None = None
    notes: Notes | None = None

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"allOf": _legacy_sanction_rules()}
    )

    @model_validator(mode="after")
    def _legacy_sanction(self) -> AgencyRecordFields:
        """The deprecated single sanction, moved to the side its status names."""
        legacy = self.model_fields_set & set(LEGACY_SANCTION_FIELDS)
        if not legacy:
            return self
        if self.model_fields_set & set(SPLIT_SANCTION_FIELDS):  # stated in the contract by _legacy_sanction_rules
            raise ValueError("send the deprecated sanction_* fields or the recommended_/imposed_ ones, not both")
        status, code = self.sanction_status, self.sanction_code
        level, reason = self.sanction_level, self.sanction_reason
        if status is None and code is None and level is None and reason is None:
            return self  # nothing said of the sanction
        if status is None:  # as migration 0014 split the rows that had no status
            imposed = reason is not None or (self.stage in SANCTIONED_ENDS and level is None)
            status = SanctionStatus.IMPOSED if imposed else SanctionStatus.RECOMMENDED
        if status is SanctionStatus.RECOMMENDED:
            if reason is not None:
                raise ValueError("sanction_reason is the reason of an IMPOSED sanction")
            self.recommended_sanction_code, self.recommended_sanction_level = code, level
        else:
            if level is not None:
                raise ValueError("sanction_level is the level of a RECOMMENDED sanction")
            self.imposed_sanction_code, self.imposed_sanction_reason = code, reason
        return self

    def columns(self, *, only_sent: bool = False) -> dict[str, Any]:
        """The record's columns the body sets (``only_sent``: only the fields it sent, for an update)."""
        return self.model_dump(exclude_unset=only_sent, exclude=set(LEGACY_SANCTION_FIELDS))


class AgencyRecordCreate(AgencyRecordFields):
    """The calling agency's own view of the case; the agency comes from the token."""


class ArchivedRecordCreate(AgencyRecordFields):
    """A retired agency's own record of the case, imported from its archive by its successor (KASN's by BKN).

    The acting agency still comes from the token: it must be the successor of ``archive_of``. The record is
    attributed to ``archive_of`` and dated as it was recorded, so it raises no retired-agency finding."""

    archive_of: EndedAgency = Field(
        description="The retired agency whose record this is; the record is attributed to it."
    )
    recorded_on: IsoDate = Field(
        description="Day the retired agency recorded it (Asia/Jakarta): before its end date, and on or after every "
        "date in the record."
    )


class AgencyRecordUpdate(AgencyRecordFields):
    """Fields to change (absent fields keep their value; null clears)."""


class AgencyRecordRead(ReadSchema, Receipted):
    id: uuid.UUID
    case_id: uuid.UUID
    agency: Agency
    nip: str | None
    name: str | None
    position_category: str | None
    instansi_code: str | None
    province_code: str | None
    regency: str | None
    election_type: ElectionType | None
    election_year: int | None
    phase: Phase | None
    violation_code: str | None
    stage: Stage | None
    recommended_sanction_code: str | None
    recommended_sanction_level: SanctionLevel | None
    imposed_sanction_code: str | None
    imposed_sanction_reason: SanctionReason | None
    decision_number: str | None
    decision_date: dt.date | None
    idis_reference: str | None
    blocked_on: dt.date | None
    block_lifted_on: dt.date | None
    reported_date: dt.date | None
    recommendation_date: dt.date | None
    sanction_date: dt.date | None
    reference_number: str | None
    external_id: str | None
    notes: str | None
    recorded_on: dt.date | None = Field(
        description="The day the agency made this record when SBT received it later: imported from a retired "
        "agency's archive, or made by a workflow step (its effective date); otherwise null (from created_at)."
    )
    imported_by: Agency | None = Field(
        description="The successor agency that imported this record from the archive of `agency`; null for an "
        "agency's own record."
    )
    submitted_by_client: str
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @computed_field(
        json_schema_extra=DEPRECATED, description="The imposed sanction, else the recommended one." + _LEGACY
    )
    def sanction_code(self) -> str | None:
        return self.imposed_sanction_code or self.recommended_sanction_code

    @computed_field(
        json_schema_extra=DEPRECATED, description="The recommended level, while no sanction is imposed." + _LEGACY
    )
    def sanction_level(self) -> SanctionLevel | None:
        return None if self.imposed_sanction_code else self.recommended_sanction_level

    @computed_field(json_schema_extra=DEPRECATED, description="Which sanction sanction_code is." + _LEGACY)
    def sanction_status(self) -> SanctionStatus | None:
        if self.imposed_sanction_code is not None:
            return SanctionStatus.IMPOSED
        if self.recommended_sanction_code is not None or self.recommended_sanction_level is not None:
            return SanctionStatus.RECOMMENDED
        return None

    @computed_field(json_schema_extra=DEPRECATED, description="The imposed sanction's reason." + _LEGACY)
    def sanction_reason(self) -> SanctionReason | None:
        return self.imposed_sanction_reason
