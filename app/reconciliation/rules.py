"""Reconciliation rules: small pure functions over one case and every agency's record of it.

``evaluate(context, ruleset)`` is the only entry point. It reads no database and no clock (``as_of`` is part of
the context), so an incremental re-check on write, a full sweep and a test all produce the same findings.
Every finding names its rule, the fields involved, each source's raw and normalised values, the evidence and a
message (a ``Message`` of the catalogue, ``app/core/i18n.py``: English with its Indonesian translation).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import itertools
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from app.cases.nip import NIP_LENGTH, InvalidNip, parse_nip
from app.cases.schemas import DEPARTURE_REASONS
from app.cases.workflow import HANDED_ON_AT, TERMINAL_STAGES, Stage
from app.core.actor import Agency
from app.core.i18n import N_, Language, Message, translate
from app.reconciliation.normalize import (
    KEY_CACHE_SIZE,
    MAIN_PATH_LAST_RANK,
    STAGE_RANK,
    NameKey,
    compact_json,
    is_scientific_notation,
    stage_rank,
)

CASE_SOURCE = "CASE"
"""Label of the shared case record among the sources; agencies are labelled by their code."""
LEGACY_NIP_LENGTH = 9
BIRTH_DATE_END = 8
"""Digits 1-8 of a NIP are the birth date."""
SEQUENCE_START = 15
"""Digits 16-18 (0-based 15-17) are the sequence number that tells apart people sharing the first 15."""
RECOMMENDATION_RANK = STAGE_RANK[Stage.REKOMENDASI]
"""No sanction can be recommended or imposed before this stage."""
SANCTIONED_STAGES = frozenset({Stage.SANKSI_DIJATUHKAN.value, Stage.BLOKIR_DIBUKA.value})
RECOMMENDED, IMPOSED = "RECOMMENDED", "IMPOSED"


class Severity(enum.StrEnum):
    INFO = "INFO"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


# ---------------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class CaseFacts:
    id: uuid.UUID
    case_number: str
    nip_raw: str | None
    nip: str | None
    name_raw: str | None
    name: NameKey
    violation_code: str | None
    phase: str
    stage: str
    instansi_code: str | None
    province_code: str
    created_by_agency: str
    incident_date: dt.date
    reported_date: dt.date
    known_date: dt.date | None
    source: str
    election_type: str
    stage_entered_on: dt.date
    deadline_date: dt.date | None
    recommended_by: str | None
    recommendation_date: dt.date | None
    recommended_sanction_raw: str | None
    recommended_sanction: str | None
    imposed_sanction_raw: str | None
    imposed_sanction: str | None
    sanction_date: dt.date | None
    recommended_level: str | None = None
    """The level the recommendation names (with or without a concrete sanction)."""
    imposed_reason: str | None = None
    """The coded reason recorded for the imposed sanction (keberatan, banding, the PPK's decision, a correction)."""
    regency_raw: str | None = None
    regency: str | None = None
    """The kabupaten/kota's comparison key (``place_key``)."""
    election_year: int | None = None
    decision_number_raw: str | None = None
    decision_number: str | None = None
    """The decision (SK) number's comparison key (``reference_key``)."""
    decision_date: dt.date | None = None
    blocked_on: dt.date | None = None
    block_lifted_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class RecordFacts:
    agency: str
    nip_raw: str | None
    nip: str | None
    name_raw: str | None
    name: NameKey
    violation_code_raw: str | None
    violation_code: str | None
    instansi_code: str | None
    stage_raw: str | None
    stage: str | None
    stage_high_water: int | None
    """Highest workflow rank this agency's record has reached, kept across writes."""
    recommended_raw: str | None
    recommended: str | None
    """The recommended sanction's canonical code."""
    imposed_raw: str | None
    imposed: str | None
    """The imposed sanction's canonical code."""
    reported_date: dt.date | None
    recommendation_date: dt.date | None
    sanction_date: dt.date | None
    created_on: dt.date
    """Day (Asia/Jakarta) the agency made this record: when it was submitted, or for a record imported from a
    retired agency's archive, the day that agency recorded it."""
    recommended_level: str | None = None
    imposed_reason: str | None = None
    province_code: str | None = None
    regency_raw: str | None = None
    regency: str | None = None
    election_type: str | None = None
    election_year: int | None = None
    phase: str | None = None
    decision_number_raw: str | None = None
    decision_number: str | None = None
    decision_date: dt.date | None = None
    blocked_on: dt.date | None = None
    block_lifted_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ReferenceData:
    violation_category: Mapping[str, str]
    violation_phase: Mapping[str, str]
    sanction_rank: Mapping[str, int]
    sanction_level: Mapping[str, str]
    """Sanction code -> its level (MORAL, RINGAN, SEDANG, BERAT, PTDH)."""
    level_rank: Mapping[str, int]
    """Level -> the rank of its lightest sanction: orders levels from lightest to heaviest."""
    canonical_sanction: Mapping[str, str]
    """Sanction code -> the current code of the same weight (legacy PP 53/2010 codes map to PP 94/2021)."""
    agency_valid_to: Mapping[str, dt.date | None]
    agency_successor: Mapping[str, str | None]
    ppk_supervisor: Mapping[str, str]
    """Instansi code -> the agency that sanctions its PPK (Kemendagri for a pemerintah daerah, else KemenPANRB)."""


@dataclass(frozen=True, slots=True)
class SiblingCase:
    id: uuid.UUID
    case_number: str


@dataclass(frozen=True, slots=True)
class CaseContext:
    case: CaseFacts
    records: tuple[RecordFacts, ...]
    """Sorted by agency."""
    duplicates: tuple[SiblingCase, ...]
    """Other live cases with the same NIP and violation form, incidents within the duplicate window, by id."""
    reference: ReferenceData
    as_of: dt.date
    """Evaluation day in Asia/Jakarta."""


# ---------------------------------------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True, slots=True)
class FindingDraft:
    rule: str
    severity: Severity
    fields: tuple[str, ...]
    agencies: tuple[str, ...]
    """Agencies whose records (or missing records) the finding is about; they can see and triage it."""
    observed: Mapping[str, Mapping[str, Any]]
    """source -> field -> {"raw": ..., "normalized": ...}; the key is computed over the normalised values."""
    evidence: Mapping[str, Any]
    message: Message
    """What the finding says, with its values; stored rendered in both languages (``message_en``, ``message_id``)."""
    hint: str | None = None

    @property
    def message_en(self) -> str:
        return self.message.render(Language.ENGLISH)

    @property
    def message_indonesian(self) -> str:
        return self.message.render(Language.INDONESIAN)

    def key(self, case_id: uuid.UUID) -> str:
        """Stable identity: case, rule, fields and every source's normalised values, JSON-encoded then hashed."""
        normalized = {
            source: {name: value.get("normalized") for name, value in values.items()}
            for source, values in self.observed.items()
        }
        return hashlib.sha256(compact_json([str(case_id), self.rule, list(self.fields), normalized])).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Rule registry and configuration


@dataclass(frozen=True, slots=True)
class RuleConfig:
    code: str
    """Code of the configured rule: every draft its check produces carries it."""
    enabled: bool
    severity: Severity
    params: Mapping[str, Any]


Check = Callable[[CaseContext, RuleConfig], list[FindingDraft]]
CaseScreen = Callable[[CaseFacts, ReferenceData, dt.date], bool]
RecordScreen = Callable[[RecordFacts, CaseFacts, ReferenceData, dt.date], bool]


@dataclass(frozen=True, slots=True)
class Local:
    """When a rule can fire on one source alone, without comparing agencies: on the case, on one agency record.

    Each write stores the OR of every rule's screens as the ``local_issue`` flag of the case state and of each
    record; the SQL screen of a full run reads those flags, since fingerprints only reveal cross-source
    differences. A screen may be broader than the rule, never narrower.
    """

    case: CaseScreen | None = None
    record: RecordScreen | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule's whole declaration: the check, its defaults, its locality and its catalogue texts."""

    code: str
    severity: Severity
    params: Mapping[str, Any]
    description: str
    """The catalogue text (English, the message id), marked with ``N_`` where the rule is declared."""
    check: Check
    local_screen: Local | None

    def describe(self, language: Language) -> str:
        return translate(language, self.description)

    @property
    def description_en(self) -> str:
        return self.describe(Language.ENGLISH)

    @property
    def description_indonesian(self) -> str:
        return self.describe(Language.INDONESIAN)

    @property
    def local(self) -> bool:
        """Can fire on one source alone (found by the SQL screen through the stored flag)."""
        return self.local_screen is not None


_DECLARED: list[Rule] = []


def rule(
    *,
    code: str,
    severity: Severity,
    description: str,
    params: Mapping[str, Any] | None = None,
    local: Local | None = None,
) -> Callable[[Check], Rule]:
    """Declare the decorated check as a rule; ``RULES`` lists the rules in declaration order."""

    def declare(check: Check) -> Rule:
        declared = Rule(code, severity, dict(params or {}), description, check, local)
        _DECLARED.append(declared)
        return declared

    return declare


@dataclass(frozen=True, slots=True)
class Ruleset:
    rules: tuple[Rule, ...]
    configs: Mapping[str, RuleConfig] = field(default_factory=dict)
    enabled: tuple[tuple[Check, RuleConfig], ...] = field(init=False, repr=False, compare=False)
    """The enabled rules' checks with their configuration, in order: resolved once, not per evaluated case."""

    def __post_init__(self) -> None:
        configured = ((rule.check, self.config(rule)) for rule in self.rules)
        object.__setattr__(self, "enabled", tuple((check, config) for check, config in configured if config.enabled))

    def config(self, rule: Rule) -> RuleConfig:
        return self.configs.get(rule.code) or RuleConfig(rule.code, True, rule.severity, rule.params)

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Mapping[str, Any]]) -> Ruleset:
        """Apply ``{"RULE_CODE": {"enabled": bool, "severity": "HIGH", "params": {...}}}`` to the defaults."""
        unknown = set(overrides) - {rule.code for rule in RULES}
        if unknown:
            raise ValueError(f"unknown reconciliation rule(s): {', '.join(sorted(unknown))}")
        configs: dict[str, RuleConfig] = {}
        for rule in RULES:
            override = overrides.get(rule.code, {})
            extra = set(override.get("params", {})) - set(rule.params)
            if extra:
                raise ValueError(f"{rule.code}: unknown parameter(s) {', '.join(sorted(extra))}")
            configs[rule.code] = RuleConfig(
                code=rule.code,
                enabled=bool(override.get("enabled", True)),
                severity=Severity(override.get("severity", rule.severity)),
                params={**rule.params, **override.get("params", {})},
            )
        return cls(RULES, configs)


def evaluate(context: CaseContext, ruleset: Ruleset) -> list[FindingDraft]:
    findings: list[FindingDraft] = []
    for check, config in ruleset.enabled:
        findings.extend(check(context, config))
    return findings


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the rules


def _value(raw: Any, normalized: Any) -> dict[str, Any]:
    return {"raw": _jsonable(raw), "normalized": _jsonable(normalized)}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _sources(context: CaseContext, records: Iterable[RecordFacts] | None = None) -> list[tuple[str, Any]]:
    chosen = context.records if records is None else tuple(records)
    return [(CASE_SOURCE, context.case), *((record.agency, record) for record in chosen)]


def _fmt(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{source}={value if value is not None else '∅'}" for source, value in values.items())


def _severity(config: RuleConfig, name: str) -> Severity:
    return Severity(config.params[name])


def recommender_of(case: CaseFacts, reference: ReferenceData) -> str:
    """Who issues (or issued) the recommendation: the recorded authority, else KASN until its dissolution."""
    if case.recommended_by:
        return case.recommended_by
    kasn_end = reference.agency_valid_to.get(Agency.KASN.value)
    if kasn_end is None or case.stage_entered_on < kasn_end:
        return Agency.KASN.value
    return reference.agency_successor.get(Agency.KASN.value) or Agency.BKN.value


def ppk_supervisor(case: CaseFacts, reference: ReferenceData) -> str | None:
    """Who sanctions the case's PPK, by its instansi's type; None for a case whose instansi has no code."""
    return reference.ppk_supervisor.get(case.instansi_code) if case.instansi_code else None


_AFTER_STUDY = frozenset({Stage.KAJIAN, Stage.DITERUSKAN, Stage.TIDAK_TERBUKTI})
_AFTER_RECOMMENDATION = frozenset({Stage.REKOMENDASI})
_AFTER_ENFORCEMENT = frozenset({Stage.TEGURAN_BKN, Stage.DIBLOKIR, Stage.SANKSI_DIJATUHKAN, Stage.BLOKIR_DIBUKA})


def expected_agencies(case: CaseFacts, reference: ReferenceData) -> frozenset[str]:
    """Agencies that must hold their own record of a case at its current stage (the presence matrix)."""
    expected = {case.created_by_agency}
    stage = Stage(case.stage) if case.stage in Stage.__members__ else None
    if stage in _AFTER_STUDY | _AFTER_RECOMMENDATION | _AFTER_ENFORCEMENT | {Stage.PPK_DISANKSI}:
        expected.add(Agency.BAWASLU.value)
    if stage in _AFTER_RECOMMENDATION | _AFTER_ENFORCEMENT | {Stage.PPK_DISANKSI}:
        expected.add(recommender_of(case, reference))
    if stage in _AFTER_ENFORCEMENT | {Stage.PPK_DISANKSI}:
        expected.add(Agency.BKN.value)
    supervisor = ppk_supervisor(case, reference)
    if stage is Stage.PPK_DISANKSI and supervisor is not None:
        expected.add(supervisor)
    return frozenset(expected)


AGENCY_BITS: Mapping[str, int] = {agency.value: 1 << index for index, agency in enumerate(Agency)}


def agency_mask(agencies: Iterable[str]) -> int:
    return sum(AGENCY_BITS.get(agency, 0) for agency in set(agencies))


# ---------------------------------------------------------------------------------------------------------
# Per-source checks (also used at write time to set the stored "local issue" flag of a row)


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def nip_issues(nip: str | None, as_of: dt.date) -> tuple[tuple[Message, ...], bool]:
    """Problems with one NIP and whether it is a legacy (pre-2009, 9-digit) number. Pure: recent answers are kept
    (every source of a case is checked, and they mostly record the same NIP)."""
    if nip is None:
        return (), False
    if nip.isdigit() and len(nip) == LEGACY_NIP_LENGTH:
        return (Message("legacy 9-digit NIP (before 2009); needs mapping to the 18-digit NIP"),), True
    if is_scientific_notation(nip):
        return (Message("{nip} is a number in scientific notation (a spreadsheet artefact); the digits are lost",
                        nip=nip),), False  # fmt: skip
    try:
        parsed = parse_nip(nip, today=as_of)
    except InvalidNip as exc:
        return (exc.message,), False
    return tuple(parsed.warnings), False


def in_english(issues: Iterable[Message]) -> list[str]:
    """Issues as the evidence keeps them: data for programs, in the catalogue's own language."""
    return [str(issue) for issue in issues]


def _ordered_dates(pairs: Sequence[tuple[str, dt.date | None]]) -> list[Message]:
    present = [(name, value) for name, value in pairs if value is not None]
    return [
        Message(
            "{later} {later_date} is before {earlier} {earlier_date}",
            later=later,
            later_date=later_value.isoformat(),
            earlier=earlier,
            earlier_date=earlier_value.isoformat(),
        )
        for (earlier, earlier_value), (later, later_value) in itertools.pairwise(present)
        if later_value < earlier_value
    ]


def case_timeline_issues(case: CaseFacts) -> list[Message]:
    return _ordered_dates(
        [
            ("incident_date", case.incident_date),
            ("reported_date", case.reported_date),
            ("recommendation_date", case.recommendation_date),
            ("sanction_date", case.sanction_date),
        ]
    )


def record_timeline_issues(record: RecordFacts, case: CaseFacts) -> list[Message]:
    return _ordered_dates(
        [
            ("case.incident_date", case.incident_date),
            ("reported_date", record.reported_date),
            ("recommendation_date", record.recommendation_date),
            ("sanction_date", record.sanction_date),
        ]
    )


def retired_agency_issues(agency: str, dates: Mapping[str, dt.date | None], reference: ReferenceData) -> list[Message]:
    valid_to = reference.agency_valid_to.get(agency)
    if valid_to is None:
        return []
    return [
        Message(
            "{field} {date} is on or after {agency}'s dissolution on {valid_to}",
            field=name,
            date=value.isoformat(),
            agency=agency,
            valid_to=valid_to.isoformat(),
        )
        for name, value in dates.items()
        if value is not None and value >= valid_to
    ]


def record_retired_dates(record: RecordFacts) -> dict[str, dt.date | None]:
    return {
        "created_on": record.created_on,
        "reported_date": record.reported_date,
        "recommendation_date": record.recommendation_date,
        "sanction_date": record.sanction_date,
    }


def record_sanction_status(record: RecordFacts) -> str | None:
    """How far the record's sanctions go: IMPOSED, RECOMMENDED (a sanction or a level), or None."""
    if record.imposed is not None:
        return IMPOSED
    if record.recommended is not None or record.recommended_level is not None:
        return RECOMMENDED
    return None


def record_stage_combination_issues(record: RecordFacts) -> list[Message]:
    """A sanction that the record's own stage cannot have reached yet."""
    status = record_sanction_status(record)
    rank = stage_rank(record.stage)
    if status is not None and rank is not None and rank < RECOMMENDATION_RANK:
        return [
            Message(
                "sanction status {status} while the record is still at stage {stage}",
                status=status,
                stage=record.stage,
            )
        ]
    return []


def is_regression(record: RecordFacts, case: CaseFacts) -> bool:
    """Back below the record's own highest stage, except back to the case's stage: following a reopened case, or
    correcting a record that ran ahead, is agreement, not regression."""
    rank = stage_rank(record.stage)
    return (
        rank is not None
        and record.stage_high_water is not None
        and rank < record.stage_high_water
        and record.stage != case.stage
    )


def phase_issue(case: CaseFacts, reference: ReferenceData) -> Message | None:
    if case.violation_code is None:
        return None
    expected = reference.violation_phase.get(case.violation_code)
    if expected is None or expected == case.phase:
        return None
    return Message(
        "violation {violation} applies to phase {expected}, the case is recorded in phase {phase}",
        violation=case.violation_code,
        expected=expected,
        phase=case.phase,
    )


def case_sanction_missing(case: CaseFacts) -> bool:
    """The case is at a sanctioned stage without an imposed sanction."""
    return case.stage in SANCTIONED_STAGES and case.imposed_sanction is None


def case_sanction_departs(case: CaseFacts, reference: ReferenceData) -> bool:
    """The case records an imposed sanction other than its recommended one, or outside the recommended level."""
    if case.imposed_sanction is None:
        return False
    if case.recommended_sanction is not None:
        return case.recommended_sanction != case.imposed_sanction
    level = reference.sanction_level.get(case.imposed_sanction)
    return case.recommended_level is not None and level != case.recommended_level


def _explains_departure(case: CaseFacts) -> bool:
    return case.imposed_reason in DEPARTURE_REASONS


def _case_retired_dates(case: CaseFacts) -> dict[str, dt.date | None]:
    return {"recommendation_date": case.recommendation_date}


# ---------------------------------------------------------------------------------------------------------
# The rules


@rule(
    code="CASE_MISSING_AT_AGENCY",
    severity=Severity.HIGH,
    params={"grace_days": 7},
    description=N_("An agency that must hold a record at the case's stage has none after the grace period."),
)
def case_missing_at_agency(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    expected = expected_agencies(case, context.reference)
    present = {record.agency for record in context.records}
    missing = sorted(expected - present)
    if not missing:
        return []
    grace_end = case.stage_entered_on + dt.timedelta(days=int(config.params["grace_days"]))
    if context.as_of <= grace_end:
        return []
    days = (context.as_of - case.stage_entered_on).days
    observed = {
        agency: {"agency_record": _value("present" if agency in present else None, agency in present)}
        for agency in sorted(expected | present)
    }
    observed[CASE_SOURCE] = {"stage": _value(case.stage, case.stage)}
    names = ", ".join(missing)
    return [
        FindingDraft(
            rule=config.code,
            severity=config.severity,
            fields=("agency_record",),
            agencies=tuple(sorted(expected | present)),
            observed=observed,
            evidence={
                "expected": sorted(expected),
                "present": sorted(present),
                "missing": missing,
                "stage_entered_on": case.stage_entered_on.isoformat(),
                "days_since_stage_entered": days,
                "grace_days": config.params["grace_days"],
            },
            message=Message(
                (
                    "Case {case_number} is at stage {stage} but has no record at {missing} ({days} "
                    "days since the stage was entered on {entered_on})."
                ),
                case_number=case.case_number,
                stage=case.stage,
                missing=names,
                days=days,
                entered_on=case.stage_entered_on.isoformat(),
            ),
        )
    ]


def orphan_records(context: CaseContext) -> list[RecordFacts]:
    """Records naming someone else: NIP (birth date included) and name differ from the case, and the NIP
    matches no other record."""
    case = context.case
    orphans = []
    for record in context.records:
        if record.nip is None or case.nip is None or record.nip == case.nip:
            continue
        others = {other.nip for other in context.records if other is not record}
        if record.nip in others or record.name.key is None or record.name.key == case.name.key:
            continue
        if record.nip[:BIRTH_DATE_END] == case.nip[:BIRTH_DATE_END]:
            continue  # same birth date: a typo or a sequence-number neighbour, left to the NIP comparison
        orphans.append(record)
    return orphans


def _linked_records(context: CaseContext) -> list[RecordFacts]:
    orphans = orphan_records(context)
    return [record for record in context.records if record not in orphans]


@rule(
    code="ORPHAN_AGENCY_RECORD",
    severity=Severity.HIGH,
    description=N_("An agency record names a different person (birth date in the NIP, and name) than its case."),
)
def orphan_agency_record(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    return [
        FindingDraft(
            rule=config.code,
            severity=config.severity,
            fields=("nip", "name"),
            agencies=(record.agency,),
            observed={
                CASE_SOURCE: {"nip": _value(case.nip_raw, case.nip), "name": _value(case.name_raw, case.name.key)},
                record.agency: {
                    "nip": _value(record.nip_raw, record.nip),
                    "name": _value(record.name_raw, record.name.key),
                },
            },
            evidence={
                "name_jaro_winkler": _rounded(
                    JaroWinkler.normalized_similarity(case.name.key or "", record.name.key or "")
                ),
            },
            message=Message(
                (
                    "The {agency} record attached to case {case_number} names another person (NIP "
                    "{record_nip}, {record_name}; the case has NIP {case_nip}, {case_name}): it "
                    "probably belongs to a different case."
                ),
                agency=record.agency,
                case_number=case.case_number,
                record_nip=record.nip,
                record_name=repr(record.name_raw),
                case_nip=case.nip,
                case_name=repr(case.name_raw),
            ),
        )
        for record in orphan_records(context)
    ]


def _rounded(value: float) -> str:
    """Scores as fixed-point strings: ledger payloads and finding keys carry no floats."""
    return f"{value:.3f}"


def nip_difference_hint(reference_nip: str, other: str, same_name: bool) -> tuple[str, dict[str, Any]]:
    """ "probable_typo" or "different_person_likely" for two different NIPs, with the reasoning."""
    distance = OSA.distance(reference_nip, other)
    evidence: dict[str, Any] = {"edit_distance": distance}
    if not (len(other) == NIP_LENGTH and other.isdigit()):
        evidence["reason"] = f"not an 18-digit NIP (see {nip_invalid.code})"
        return "invalid_nip", evidence
    same_length = len(reference_nip) == len(other) == NIP_LENGTH
    if same_length and reference_nip[:4] == other[:4] and reference_nip[4:6] == other[6:8] \
            and reference_nip[6:8] == other[4:6] and reference_nip[8:] == other[8:]:  # fmt: skip
        evidence["reason"] = "day and month of birth swapped"
        return "probable_typo", evidence
    if distance != 1 or not same_length:
        evidence["reason"] = "more than one digit differs"
        return "different_person_likely", evidence
    positions = [index for index in range(NIP_LENGTH) if reference_nip[index] != other[index]]
    evidence["positions"] = [index + 1 for index in positions]
    transposed = len(positions) == 2  # a swap touches two adjacent digits
    if min(positions) >= SEQUENCE_START:
        if transposed and same_name:
            evidence["reason"] = "sequence digits transposed and the names agree"
            return "probable_typo", evidence
        evidence["reason"] = "sequence number differs: two people can share the first 15 digits"
        return "different_person_likely", evidence
    if not same_name and min(positions) < BIRTH_DATE_END:
        evidence["reason"] = "birth date and name both differ"
        return "different_person_likely", evidence
    evidence["reason"] = "one digit differs in the birth date, appointment or gender part"
    return "probable_typo", evidence


@rule(
    code="NIP_MISMATCH",
    severity=Severity.CRITICAL,
    description=N_(
        "Normalised NIPs differ; hinted probable_typo or different_person_likely, never merged automatically."
    ),
)
def nip_mismatch(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    records = _linked_records(context)
    values = {source: item.nip for source, item in _sources(context, records)}
    if len(set(values.values())) <= 1:
        return []
    per_agency: dict[str, Any] = {}
    for record in records:
        if record.nip == case.nip:
            continue
        if record.nip is None or case.nip is None:
            per_agency[record.agency] = {"hint": "missing_value"}
            continue
        hint, evidence = nip_difference_hint(case.nip, record.nip, record.name.key == case.name.key)
        per_agency[record.agency] = {"hint": hint, **evidence}
    hints = {entry["hint"] for entry in per_agency.values()}
    hint = next(h for h in NIP_HINT_PRIORITY if h in hints)
    agencies = tuple(sorted(per_agency))
    return [
        FindingDraft(
            rule=config.code,
            severity=config.severity,
            fields=("nip",),
            agencies=agencies,
            observed={source: {"nip": _value(item.nip_raw, item.nip)} for source, item in _sources(context, records)},
            evidence={"per_agency": per_agency, "auto_merge": False},
            hint=hint,
            message=Message(
                "NIP differs for case {case_number}: {values} ({hint}). Records with different NIPs are never merged "
                "automatically.",
                case_number=case.case_number,
                values=_fmt(values),
                hint=_NIP_HINT_TEXT[hint],
            ),
        )
    ]


NIP_HINT_PRIORITY = ("different_person_likely", "probable_typo", "invalid_nip", "missing_value")
_NIP_HINT_TEXT = {
    "invalid_nip": Message("invalid NIP"),
    "probable_typo": Message("probable typo"),
    "different_person_likely": Message("different person likely"),
    "missing_value": Message("missing value"),
}


@rule(
    code="NIP_INVALID",
    severity=Severity.MEDIUM,
    params={"legacy_severity": "INFO"},
    local=Local(
        case=lambda case, _reference, as_of: bool(nip_issues(case.nip, as_of)[0]),
        record=lambda record, _case, _reference, as_of: bool(nip_issues(record.nip, as_of)[0]),
    ),
    description=N_("A NIP breaks the Perka BKN 22/2007 layout (length, birth date, appointment, gender, sequence)."),
)
def nip_invalid(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    findings = []
    for source, item in _sources(context):
        issues, legacy = nip_issues(item.nip, context.as_of)
        if not issues:
            continue
        findings.append(
            FindingDraft(
                rule=config.code,
                severity=_severity(config, "legacy_severity") if legacy else config.severity,
                fields=("nip",),
                agencies=(source,) if source != CASE_SOURCE else (context.case.created_by_agency,),
                observed={source: {"nip": _value(item.nip_raw, item.nip)}},
                evidence={"issues": in_english(issues), "legacy": legacy},
                hint="legacy_nip" if legacy else None,
                message=Message(
                    "NIP {nip} recorded by {source} is not valid: {issues}.",
                    nip=item.nip,
                    source=source,
                    issues=issues,
                ),
            )
        )
    return findings


def classify_names(first: str, second: str, config: RuleConfig) -> tuple[str, dict[str, Any]]:
    """How two different name keys relate: order, partial, spelling_variant or different."""
    jaro = JaroWinkler.normalized_similarity(first, second)
    edits = Levenshtein.distance(first, second)
    evidence: dict[str, Any] = {
        "jaro_winkler": _rounded(jaro),
        "token_sort_ratio": _rounded(fuzz.token_sort_ratio(first, second)),
        "levenshtein": edits,
    }
    first_tokens, second_tokens = set(first.split()), set(second.split())
    if sorted(first.split()) == sorted(second.split()):
        return "order", evidence
    if first_tokens < second_tokens or second_tokens < first_tokens:
        return "partial", evidence
    close = edits <= 1 or first.startswith(second) or second.startswith(first)
    if jaro >= float(config.params["variant_min_jaro_winkler"]) and close:
        return "spelling_variant", evidence
    return "different", evidence


_NAME_CLASS_TEXT = {
    "order": Message("order"),
    "partial": Message("partial"),
    "spelling_variant": Message("spelling variant"),
    "different": Message("different"),
    "missing_value": Message("missing name"),
}


@rule(
    code="NAME_MISMATCH",
    severity=Severity.HIGH,
    params={
        "variant_min_jaro_winkler": 0.92,
        "order_severity": "LOW",
        "partial_severity": "MEDIUM",
        "variant_severity": "MEDIUM",
        "missing_severity": "MEDIUM",
    },
    description=N_("Names for the same NIP differ after removing titles, case, punctuation and old spellings."),
)
def name_mismatch(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    records = _linked_records(context)
    sources = _sources(context, records)
    keys = {source: item.name.key for source, item in sources}
    if len(set(keys.values())) <= 1:
        return []
    severity_of = {
        "order": _severity(config, "order_severity"),
        "partial": _severity(config, "partial_severity"),
        "spelling_variant": _severity(config, "variant_severity"),
        "missing_value": _severity(config, "missing_severity"),
        "different": config.severity,
    }
    comparisons: dict[str, Any] = {}
    worst = "order"
    for source, key in keys.items():
        if source == CASE_SOURCE or key == case.name.key:
            continue
        evidence: dict[str, Any] = {}
        if key is None or case.name.key is None:
            kind = "missing_value"
        else:
            kind, evidence = classify_names(case.name.key, key, config)
        comparisons[source] = {"class": kind, **evidence}
        if severity_of[kind].rank > severity_of[worst].rank:
            worst = kind
    observed = {
        source: {"name": {**_value(item.name_raw, item.name.key), "normalizations": list(item.name.applied)}}
        for source, item in sources
    }
    return [
        FindingDraft(
            rule=config.code,
            severity=severity_of[worst],
            fields=("name",),
            agencies=tuple(sorted(comparisons)),
            observed=observed,
            evidence={"compared_with": CASE_SOURCE, "comparisons": comparisons},
            hint=worst,
            message=Message(
                "Names differ for NIP {case_nip} (case {case_number}) after normalisation: {values} ({kind}).",
                case_nip=case.nip,
                case_number=case.case_number,
                values=_fmt({s: i.name_raw for s, i in sources}),
                kind=_NAME_CLASS_TEXT[worst],
            ),
        )
    ]


@rule(
    code="CATEGORY_MISMATCH",
    severity=Severity.HIGH,
    params={"same_category_severity": "MEDIUM", "missing_severity": "LOW"},
    description=N_(
        "Agencies record different violation forms (HIGH when the category, kode etik vs disiplin, differs)."
    ),
)
def category_mismatch(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    categories = context.reference.violation_category
    codes = {source: item.violation_code for source, item in _sources(context)}
    if len(set(codes.values())) <= 1:
        return []
    case_category = categories.get(case.violation_code or "")
    severity = _severity(config, "missing_severity")
    kinds: dict[str, str] = {}
    for record in context.records:
        if record.violation_code == case.violation_code:
            continue
        if record.violation_code is None or case.violation_code is None:
            kinds[record.agency] = "missing_value"
            continue
        same_category = categories.get(record.violation_code) == case_category and case_category is not None
        kinds[record.agency] = "same_category" if same_category else "different_category"
        candidate = _severity(config, "same_category_severity") if same_category else config.severity
        severity = max(severity, candidate, key=lambda s: s.rank)
    observed = {
        source: {
            "violation_code": _value(
                item.violation_code_raw if isinstance(item, RecordFacts) else item.violation_code,
                item.violation_code,
            ),
            "category": _value(None, categories.get(item.violation_code or "")),
        }
        for source, item in _sources(context)
    }
    return [
        FindingDraft(
            rule=config.code,
            severity=severity,
            fields=("violation_code",),
            agencies=tuple(sorted(kinds)),
            observed=observed,
            evidence={"per_agency": kinds},
            message=Message(
                "Violation recorded differently for case {case_number}: {values}.",
                case_number=case.case_number,
                values=_fmt(codes),
            ),
        )
    ]


def instansi_differs(record: RecordFacts, case: CaseFacts) -> bool:
    """The agency names another instansi than the case (a record or case without one compares with nothing)."""
    return None not in (record.instansi_code, case.instansi_code) and record.instansi_code != case.instansi_code


@rule(
    code="INSTANSI_MISMATCH",
    severity=Severity.HIGH,
    params={"same_supervisor_severity": "MEDIUM"},
    local=Local(record=lambda record, case, _reference, _as_of: instansi_differs(record, case)),
    description=N_(
        "An agency records another instansi than the case (HIGH when that moves the PPK to another supervisor: "
        "Kemendagri for a pemerintah daerah, KemenPANRB for a kementerian/lembaga)."
    ),
)
def instansi_mismatch(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case, reference = context.case, context.reference
    differing = [record for record in context.records if instansi_differs(record, case)]
    if not differing:
        return []
    supervisor = ppk_supervisor(case, reference)
    supervisors = {record.agency: reference.ppk_supervisor.get(record.instansi_code or "") for record in differing}
    other_supervisor = any(value != supervisor for value in supervisors.values())
    codes = {CASE_SOURCE: case.instansi_code} | {record.agency: record.instansi_code for record in differing}
    return [
        FindingDraft(
            rule=config.code,
            severity=config.severity if other_supervisor else _severity(config, "same_supervisor_severity"),
            fields=("instansi_code",),
            agencies=tuple(sorted(supervisors)),
            observed={source: {"instansi_code": _value(code, code)} for source, code in codes.items()},
            evidence={"ppk_supervisor": {CASE_SOURCE: supervisor} | supervisors},
            message=Message(
                "Instansi recorded differently for case {case_number}: {values}.",
                case_number=case.case_number,
                values=_fmt(codes),
            ),
        )
    ]


@dataclass(frozen=True, slots=True)
class Compared:
    """A field an agency record holds beside the case, under the same attribute names on both facts: compared, by
    its normalised value, only where both hold a value."""

    name: str
    """The field, and the attribute of its normalised value."""
    raw: str | None = None
    """The attribute of its raw value, where normalising changes it."""

    def observed(self, facts: CaseFacts | RecordFacts) -> dict[str, Any]:
        """The field's raw and normalised value in one source, as a finding keeps them."""
        return _value(getattr(facts, self.raw or self.name), getattr(facts, self.name))


@dataclass(frozen=True, slots=True)
class RecordVsCase:
    """A rule comparing fields of every agency record with the case: one finding naming each differing agency."""

    compared: tuple[Compared, ...]
    what: str
    """What the compared fields are ("Region"), in the finding's message."""
    _normalized: Callable[[CaseFacts | RecordFacts], tuple[Any, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # every normalised value in one C call: each write screens every record, and most agree with their case
        getter = operator.attrgetter(*(item.name for item in self.compared))
        object.__setattr__(self, "_normalized", getter if len(self.compared) > 1 else lambda facts: (getter(facts),))

    def differing(self, record: RecordFacts, case: CaseFacts) -> list[str]:
        """The fields the record holds otherwise than the case; a field either side does not hold (yet) differs from
        nothing."""
        mine, shared = self._normalized(record), self._normalized(case)
        if mine == shared:
            return []
        return [
            item.name
            for item, own, theirs in zip(self.compared, mine, shared, strict=True)
            if own is not None and theirs is not None and own != theirs
        ]

    def screen(self, record: RecordFacts, case: CaseFacts, _reference: ReferenceData, _as_of: dt.date) -> bool:
        return bool(self.differing(record, case))

    def drafts(
        self, context: CaseContext, config: RuleConfig, severity: Callable[[set[str]], Severity]
    ) -> list[FindingDraft]:
        case = context.case
        per_agency = {record.agency: self.differing(record, case) for record in context.records}
        per_agency = {agency: fields for agency, fields in per_agency.items() if fields}
        if not per_agency:
            return []
        named = {name for fields in per_agency.values() for name in fields}
        fields = [item for item in self.compared if item.name in named]
        observed = {CASE_SOURCE: {item.name: item.observed(case) for item in fields}}
        for record in context.records:
            if record.agency in per_agency:
                observed[record.agency] = {item.name: item.observed(record) for item in fields}
        agencies = ", ".join(sorted(per_agency))
        names = ", ".join(item.name for item in fields)
        return [
            FindingDraft(
                rule=config.code,
                severity=severity(named),
                fields=tuple(item.name for item in fields),
                agencies=tuple(sorted(per_agency)),
                observed=observed,
                evidence={"per_agency": per_agency},
                message=Message(
                    "{what} recorded otherwise than case {case_number} by {agencies}: {fields}.",
                    what=self.what,
                    case_number=case.case_number,
                    agencies=agencies,
                    fields=names,
                ),
            )
        ]


REGION = RecordVsCase(
    (
        Compared("province_code"),
        Compared("regency", raw="regency_raw"),
    ),
    "Region",
)


@rule(
    code="REGION_MISMATCH",
    severity=Severity.HIGH,
    params={"regency_only_severity": "MEDIUM"},
    local=Local(record=REGION.screen),
    description=N_(
        "An agency records the case in another province (HIGH: it is counted in another province's figures) or "
        "another kabupaten/kota of the same province (MEDIUM)."
    ),
)
def region_mismatch(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    return REGION.drafts(
        context,
        config,
        lambda fields: config.severity if "province_code" in fields else _severity(config, "regency_only_severity"),
    )


ELECTION = RecordVsCase(
    (
        Compared("election_type"),
        Compared("election_year"),
        Compared("phase"),
    ),
    "Election",
)


@rule(
    code="ELECTION_MISMATCH",
    severity=Severity.HIGH,
    params={"phase_only_severity": "MEDIUM"},
    local=Local(record=ELECTION.screen),
    description=N_(
        "An agency records the case under another election or year (HIGH: it is counted in another election's "
        "figures) or another phase, bakal calon vs calon (MEDIUM: another list of violation forms applies)."
    ),
)
def election_mismatch(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    return ELECTION.drafts(
        context,
        config,
        lambda fields: config.severity if fields - {"phase"} else _severity(config, "phase_only_severity"),
    )


ENFORCEMENT = RecordVsCase(
    (
        Compared("decision_number", raw="decision_number_raw"),
        Compared("decision_date"),
        Compared("blocked_on"),
        Compared("block_lifted_on"),
    ),
    "Enforcement",
)


@rule(
    code="ENFORCEMENT_RECORD_MISMATCH",
    severity=Severity.MEDIUM,
    local=Local(record=ENFORCEMENT.screen),
    description=N_(
        "An agency records another decision (SK) number or date, or other block dates, than the steps recorded on "
        "the case: the same outcome, evidenced differently."
    ),
)
def enforcement_record_mismatch(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    return ENFORCEMENT.drafts(context, config, lambda _fields: config.severity)


@rule(
    code="PHASE_CATEGORY_INCONSISTENT",
    severity=Severity.MEDIUM,
    local=Local(case=lambda case, reference, _as_of: phase_issue(case, reference) is not None),
    description=N_("The violation form belongs to another phase (bakal calon vs calon) than the case records."),
)
def phase_category_inconsistent(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    issue = phase_issue(case, context.reference)
    if issue is None:
        return []
    expected = context.reference.violation_phase[case.violation_code or ""]
    return [
        FindingDraft(
            rule=config.code,
            severity=config.severity,
            fields=("phase", "violation_code"),
            agencies=(case.created_by_agency,),
            observed={
                CASE_SOURCE: {
                    "phase": _value(case.phase, case.phase),
                    "violation_code": _value(case.violation_code, case.violation_code),
                }
            },
            evidence={
                "expected_phase": expected,
                "category": context.reference.violation_category.get(case.violation_code or ""),
            },
            message=Message("Case {case_number}: {issue}.", case_number=case.case_number, issue=issue),
        )
    ]


def _sanctions(context: CaseContext, status: str) -> dict[str, tuple[str | None, str]]:
    """source -> (raw, canonical) for every recorded recommended or imposed sanction."""
    case = context.case
    found: dict[str, tuple[str | None, str]] = {}
    case_raw, case_value = (
        (case.recommended_sanction_raw, case.recommended_sanction)
        if status == RECOMMENDED
        else (case.imposed_sanction_raw, case.imposed_sanction)
    )
    if case_value is not None:
        found[CASE_SOURCE] = (case_raw, case_value)
    for record in context.records:
        raw, value = (
            (record.recommended_raw, record.recommended)
            if status == RECOMMENDED
            else (record.imposed_raw, record.imposed)
        )
        if value is not None:
            found[record.agency] = (raw, value)
    return found


@rule(
    code="SANCTION_NOT_PER_RECOMMENDATION",
    severity=Severity.HIGH,
    params={"heavier_severity": "MEDIUM"},
    local=Local(case=lambda case, reference, _as_of: case_sanction_departs(case, reference)),
    description=N_(
        "The imposed sanction is outside the recommendation's level, lighter (HIGH) or heavier (MEDIUM), "
        "with no reason recorded (keberatan, banding, the PPK's decision)."
    ),
)
def sanction_not_per_recommendation(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    departure = _departure(context)
    if departure is None or not departure.unexplained:
        return []
    lighter = departure.lighter(departure.unexplained)
    severity = config.severity if lighter else _severity(config, "heavier_severity")
    return [departure.draft(config.code, severity, departure.unexplained, context, explained=False)]


@rule(
    code="SANCTION_DEPARTURE_EXPLAINED",
    severity=Severity.LOW,
    params={"heavier_severity": "INFO"},
    local=Local(
        case=lambda case, reference, _as_of: _explains_departure(case) and case_sanction_departs(case, reference)
    ),
    description=N_(
        "The imposed sanction is outside the recommendation's level, lighter (LOW) or heavier (INFO), and "
        "the case records why (keberatan, banding, the PPK's decision): evidence to review, not a disagreement."
    ),
)
def sanction_departure_explained(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    departure = _departure(context)
    if departure is None or not departure.explained:
        return []
    lighter = departure.lighter(departure.explained)
    severity = config.severity if lighter else _severity(config, "heavier_severity")
    return [departure.draft(config.code, severity, departure.explained, context, explained=True)]


@dataclass(frozen=True, slots=True)
class _Departure:
    """Imposed sanctions outside the recommendation's level, split by whether the case's recorded reason covers
    them (the source records the case's own imposed sanction, and the reason is a departure reason)."""

    recommended: str
    """The recommended sanction, or the level when the recommendation names only a level."""
    level: str
    recommended_sources: Mapping[str, tuple[str | None, str]]
    imposed_sources: Mapping[str, tuple[str | None, str]]
    unexplained: Mapping[str, str]
    explained: Mapping[str, str]
    reference: ReferenceData

    def lighter(self, values: Mapping[str, str]) -> bool:
        ranks, levels = self.reference.level_rank, self.reference.sanction_level
        return any(ranks.get(levels.get(value, ""), 0) < ranks.get(self.level, 0) for value in values.values())

    def draft(
        self, code: str, severity: Severity, differing: Mapping[str, str], context: CaseContext, *, explained: bool
    ) -> FindingDraft:
        case = context.case
        lighter = self.lighter(differing)
        direction = "lighter" if lighter else "heavier"
        observed: dict[str, dict[str, Any]] = {}
        for source, (raw, value) in self.recommended_sources.items():
            observed.setdefault(source, {})["recommended_sanction"] = _value(raw, value)
        if case.recommended_sanction is None:
            observed.setdefault(CASE_SOURCE, {})["recommended_level"] = _value(self.level, self.level)
        for source, (raw, value) in self.imposed_sources.items():
            observed.setdefault(source, {})["imposed_sanction"] = _value(raw, value)
        if explained:
            observed.setdefault(CASE_SOURCE, {})["imposed_reason"] = _value(case.imposed_reason, case.imposed_reason)
        ranks = self.reference.sanction_rank
        imposed_text = _fmt(differing)
        agencies = {source for source in differing if source != CASE_SOURCE} | {recommender_of(case, self.reference)}
        said = {
            "case_number": case.case_number,
            "imposed": imposed_text,
            "direction": Message("lighter") if lighter else Message("heavier"),
            "recommended": self.recommended,
        }
        message = (
            Message(
                "Case {case_number}: sanction imposed ({imposed}) is {direction} than the recommended {recommended}, "
                "with reason {reason}.",
                **said,
                reason=case.imposed_reason,
            )
            if explained
            else Message(
                "Case {case_number}: sanction imposed ({imposed}) is {direction} than the recommended {recommended}.",
                **said,
            )
        )
        return FindingDraft(
            rule=code,
            severity=severity,
            fields=("sanction_code",),
            agencies=tuple(sorted(agencies)),
            observed=observed,
            evidence={
                "recommended": self.recommended,
                "recommended_level": self.level,
                "recommended_rank": ranks.get(self.recommended),
                "imposed_ranks": {source: ranks.get(value) for source, value in differing.items()},
                "imposed_levels": {
                    source: self.reference.sanction_level.get(value) for source, value in differing.items()
                },
                "direction": direction,
                "reason": case.imposed_reason if explained else None,
            },
            hint=direction,
            message=message,
        )


def _departure(context: CaseContext) -> _Departure | None:
    """The recommendation's level and the imposed sanctions outside it; None when nothing can be compared."""
    case, reference = context.case, context.reference
    recommended = _sanctions(context, RECOMMENDED)
    if case.recommended_sanction is not None:
        anchor = case.recommended_sanction
    elif case.recommended_level is not None:
        anchor = case.recommended_level
    elif len({value for _, value in recommended.values()}) == 1:
        anchor = next(iter(recommended.values()))[1]
    else:
        return None
    levels = reference.sanction_level
    level = levels.get(anchor, anchor)  # a level-only recommendation is its own level
    imposed = _sanctions(context, IMPOSED)
    differing = {source: value for source, (_, value) in imposed.items() if levels.get(value) != level}
    covered = _explains_departure(case) and case.imposed_sanction is not None
    explained = {source: value for source, value in differing.items() if covered and value == case.imposed_sanction}
    unexplained = {source: value for source, value in differing.items() if source not in explained}
    return _Departure(anchor, level, recommended, imposed, unexplained, explained, reference)


@rule(
    code="SANCTION_RECORD_MISMATCH",
    severity=Severity.HIGH,
    description=N_("Agencies record different recommended or imposed sanctions for the same case."),
)
def sanction_record_mismatch(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    findings = []
    for status, field_name, differs in (
        (RECOMMENDED, "recommended_sanction", N_("Agencies record different recommended sanctions for case "
                                                 "{case_number}: {values}.")),
        (IMPOSED, "imposed_sanction", N_("Agencies record different imposed sanctions for case {case_number}: "
                                         "{values}.")),
    ):  # fmt: skip
        values = _sanctions(context, status)
        if len({value for _, value in values.values()}) <= 1:
            continue
        text = _fmt({source: value for source, (_, value) in values.items()})
        findings.append(
            FindingDraft(
                rule=config.code,
                severity=config.severity,
                fields=(field_name,),
                agencies=tuple(sorted(source for source in values if source != CASE_SOURCE)),
                observed={source: {field_name: _value(raw, value)} for source, (raw, value) in values.items()},
                evidence={
                    "ranks": {source: context.reference.sanction_rank.get(v) for source, (_, v) in values.items()}
                },
                message=Message(differs, case_number=case.case_number, values=text),
            )
        )
    return findings


def _dissolved(agency: str, context: CaseContext) -> bool:
    valid_to = context.reference.agency_valid_to.get(agency)
    return valid_to is not None and context.as_of >= valid_to


@rule(
    code="STAGE_INCONSISTENT",
    severity=Severity.MEDIUM,
    params={"allowed_lag": 1},
    local=Local(
        case=lambda case, _reference, _as_of: case_sanction_missing(case),
        record=lambda record, _case, _reference, _as_of: bool(record_stage_combination_issues(record)),
    ),
    description=N_(
        "An agency's stage is ahead of, diverges from or lags the case by more than the allowed lag, or "
        "contradicts its sanction status."
    ),
)
def stage_inconsistent(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    allowed_lag = int(config.params["allowed_lag"])
    case_rank = stage_rank(case.stage)
    problems: dict[str, str] = {}
    for record in context.records:
        if record.stage == case.stage or record.stage is None:
            continue
        rank = stage_rank(record.stage)
        if rank is None:
            problems[record.agency] = "unknown stage"
        elif case_rank is not None and rank < case_rank <= MAIN_PATH_LAST_RANK and case_rank - rank <= allowed_lag:
            continue
        elif case_rank is not None and rank < case_rank and HANDED_ON_AT.get(record.agency) == record.stage:
            continue  # the agency's part ended when it handed the case on
        elif case_rank is not None and rank < case_rank and _dissolved(record.agency, context):
            continue  # a dissolved agency's record is its archive: it stays where its part ended (KASN -> BKN)
        elif case_rank is not None and rank < case_rank:
            problems[record.agency] = f"behind the case by {case_rank - rank} stage(s)"
        else:
            problems[record.agency] = "ahead of or diverging from the case"
    findings = []
    if problems:
        stages = {source: item.stage for source, item in _sources(context)}
        findings.append(
            FindingDraft(
                rule=config.code,
                severity=config.severity,
                fields=("stage",),
                agencies=tuple(sorted(problems)),
                observed={
                    source: {
                        "stage": _value(item.stage_raw if isinstance(item, RecordFacts) else item.stage, item.stage)
                    }
                    for source, item in _sources(context)
                },
                evidence={"per_agency": problems, "allowed_lag": allowed_lag},
                message=Message(
                    "Stages disagree for case {case_number}: {values}.",
                    case_number=case.case_number,
                    values=_fmt(stages),
                ),
            )
        )
    combos: list[tuple[str, Any, list[Message]]] = [
        (record.agency, record, record_stage_combination_issues(record)) for record in context.records
    ]
    if case_sanction_missing(case):
        combos.insert(
            0, (CASE_SOURCE, case, [Message("stage {stage} but no imposed sanction recorded", stage=case.stage)])
        )
    for source, item, issues in combos:
        if not issues:
            continue
        status = record_sanction_status(item) if isinstance(item, RecordFacts) else None
        sanction = (item.imposed or item.recommended) if isinstance(item, RecordFacts) else item.imposed_sanction
        findings.append(
            FindingDraft(
                rule=config.code,
                severity=config.severity,
                fields=("stage", "sanction_status"),
                agencies=(source,) if source != CASE_SOURCE else (case.created_by_agency,),
                observed={
                    source: {
                        "stage": _value(item.stage, item.stage),
                        "sanction_status": _value(status, status),
                        "sanction_code": _value(sanction, sanction),
                    }
                },
                evidence={"issues": in_english(issues)},
                message=Message(
                    "Case {case_number}, {source}: {issues}.",
                    case_number=case.case_number,
                    source=source,
                    issues=issues,
                ),
            )
        )
    return findings


@rule(
    code="STAGE_REGRESSION",
    severity=Severity.MEDIUM,
    local=Local(record=lambda record, case, _reference, _as_of: is_regression(record, case)),
    description=N_("An agency's record went back to an earlier workflow stage."),
)
def stage_regression(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    return [
        FindingDraft(
            rule=config.code,
            severity=config.severity,
            fields=("stage",),
            agencies=(record.agency,),
            observed={
                record.agency: {
                    "stage": _value(record.stage_raw, record.stage),
                    "highest_stage_rank": _value(None, record.stage_high_water),
                }
            },
            evidence={"stage_rank": stage_rank(record.stage), "highest_rank_reached": record.stage_high_water},
            message=Message(
                ("{agency} moved case {case_number} back to stage {stage} after it had reached a later stage."),
                agency=record.agency,
                case_number=case.case_number,
                stage=record.stage,
            ),
        )
        for record in context.records
        if is_regression(record, case)
    ]


@rule(
    code="TIMELINE_INVALID",
    severity=Severity.MEDIUM,
    local=Local(
        case=lambda case, _reference, _as_of: bool(case_timeline_issues(case)),
        record=lambda record, case, _reference, _as_of: bool(record_timeline_issues(record, case)),
    ),
    description=N_("Dates are in an impossible order (e.g. sanction before recommendation, report before incident)."),
)
def timeline_invalid(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    findings = []
    checks: list[tuple[str, list[Message], dict[str, dt.date | None]]] = [
        (
            CASE_SOURCE,
            case_timeline_issues(case),
            {
                "incident_date": case.incident_date,
                "reported_date": case.reported_date,
                "recommendation_date": case.recommendation_date,
                "sanction_date": case.sanction_date,
            },
        )
    ]
    checks += [
        (
            record.agency,
            record_timeline_issues(record, case),
            {
                "reported_date": record.reported_date,
                "recommendation_date": record.recommendation_date,
                "sanction_date": record.sanction_date,
            },
        )
        for record in context.records
    ]
    for source, issues, dates in checks:
        if not issues:
            continue
        observed = {source: {name: _value(value, value) for name, value in dates.items()}}
        if source != CASE_SOURCE:
            observed[CASE_SOURCE] = {"incident_date": _value(case.incident_date, case.incident_date)}
        findings.append(
            FindingDraft(
                rule=config.code,
                severity=config.severity,
                fields=tuple(sorted(name for name, value in dates.items() if value is not None)),
                agencies=(source,) if source != CASE_SOURCE else (case.created_by_agency,),
                observed=observed,
                evidence={"issues": in_english(issues)},
                message=Message(
                    "Dates in impossible order for case {case_number} at {source}: {issues}.",
                    case_number=case.case_number,
                    source=source,
                    issues=issues,
                ),
            )
        )
    return findings


def late_filing_days(case: CaseFacts, config_params: Mapping[str, Any]) -> int | None:
    """Days a laporan came in after the filing period (from the day the incident became known, else from the
    incident); None when it was on time, is a temuan, or its election has no such period."""
    if case.source != "LAPORAN" or case.election_type not in config_params["election_types"]:
        return None
    late = (case.reported_date - (case.known_date or case.incident_date)).days - int(config_params["filing_days"])
    return late if late > 0 else None


LATE_FILING_PARAMS: Mapping[str, Any] = {"filing_days": 7, "election_types": ["PILKADA"]}


@rule(
    code="LAPORAN_FILED_LATE",
    severity=Severity.LOW,
    params=LATE_FILING_PARAMS,
    # the screen uses the default period: a longer configured period only finds fewer
    local=Local(case=lambda case, _reference, _as_of: late_filing_days(case, LATE_FILING_PARAMS) is not None),
    description=N_(
        "A laporan was filed after the filing period (Pilkada: 7 days from the day the incident became known, "
        "else from the incident); Bawaslu registered it anyway."
    ),
)
def laporan_filed_late(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    late = late_filing_days(case, config.params)
    if late is None:
        return []
    counted_from = "known_date" if case.known_date is not None else "incident_date"
    start = case.known_date or case.incident_date
    return [
        FindingDraft(
            rule=config.code,
            severity=config.severity,
            fields=(counted_from, "reported_date"),
            agencies=(case.created_by_agency,),
            observed={
                CASE_SOURCE: {
                    counted_from: _value(start, start),
                    "reported_date": _value(case.reported_date, case.reported_date),
                }
            },
            evidence={
                "filing_days": int(config.params["filing_days"]),
                "days_late": late,
                "counted_from": counted_from,
            },
            message=Message(
                "Case {case_number}: the laporan was filed on {reported_date}, {late} day(s) after the "
                "{filing_days}-day period from {counted_from} {start}.",
                case_number=case.case_number,
                reported_date=case.reported_date.isoformat(),
                late=late,
                filing_days=config.params["filing_days"],
                counted_from=counted_from,
                start=start.isoformat(),
            ),
        )
    ]


def responsible_agencies(case: CaseFacts, reference: ReferenceData) -> tuple[str, ...]:
    stage = case.stage
    if stage == Stage.KAJIAN:
        return (Agency.BAWASLU.value,)
    if stage == Stage.REKOMENDASI:
        return tuple(sorted({Agency.BKN.value, recommender_of(case, reference)}))
    if stage == Stage.TEGURAN_BKN:
        supervisor = ppk_supervisor(case, reference)
        return tuple(sorted({Agency.BKN.value, supervisor} if supervisor else {Agency.BKN.value}))
    return (case.created_by_agency,)


def _deadline_finding(
    context: CaseContext, config: RuleConfig, severity: Severity, days: int, how_far: Message
) -> FindingDraft:
    """``how_far`` says how far the deadline is, in the wording of the calling rule."""
    case = context.case
    deadline = case.deadline_date
    assert deadline is not None
    observed = {CASE_SOURCE: {"stage": _value(case.stage, case.stage), "deadline_date": _value(deadline, deadline)}}
    responsible = responsible_agencies(case, context.reference)
    return FindingDraft(
        rule=config.code,
        severity=severity,
        fields=("deadline_date",),
        agencies=responsible,
        observed=observed,
        evidence={
            "deadline_date": deadline.isoformat(),
            "as_of": context.as_of.isoformat(),
            "days": days,
            "timezone": "Asia/Jakarta",
            "responsible": list(responsible),
        },
        message=Message(
            "Case {case_number}: the {stage} step was due on {deadline} (Asia/Jakarta); {how_far}. "
            "Responsible: {responsible}.",
            case_number=case.case_number,
            stage=case.stage,
            deadline=deadline.isoformat(),
            how_far=how_far,
            responsible=", ".join(responsible),
        ),
    )


_TERMINAL_STAGE_CODES = frozenset(stage.value for stage in TERMINAL_STAGES)
"""Built once: every re-checked case asks, several times (a set built per call was 4 % of evaluating a batch)."""


def live_deadline(case: CaseFacts) -> dt.date | None:
    """The deadline that still runs: none once the case reached a terminal stage."""
    return None if case.stage in _TERMINAL_STAGE_CODES else case.deadline_date


@rule(
    code="DEADLINE_EXCEEDED",
    severity=Severity.HIGH,
    params={"critical_after_days": 30},
    description=N_("The current stage's deadline (Asia/Jakarta) has passed; CRITICAL after the configured days."),
)
def deadline_exceeded(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    deadline = live_deadline(context.case)
    if deadline is None or context.as_of <= deadline:
        return []
    days = (context.as_of - deadline).days
    escalate = days > int(config.params["critical_after_days"])
    severity = Severity.CRITICAL if escalate else config.severity
    return [_deadline_finding(context, config, severity, days, Message("{days} day(s) overdue", days=days))]


@rule(
    code="DEADLINE_APPROACHING",
    severity=Severity.LOW,
    params={"days_before": 3},
    description=N_("The current stage's deadline (Asia/Jakarta) is within the configured number of days."),
)
def deadline_approaching(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    deadline = live_deadline(context.case)
    if deadline is None or context.as_of > deadline:
        return []
    days = (deadline - context.as_of).days
    if days > int(config.params["days_before"]):
        return []
    return [_deadline_finding(context, config, config.severity, days, Message("{days} day(s) left", days=days))]


@rule(
    code="DUPLICATE_CASE",
    severity=Severity.HIGH,
    params={"window_days": 3},
    description=N_(
        "Another live case has the same NIP and violation form, its incident within the configured days "
        "(SBT_DUPLICATE_WINDOW_DAYS): the same incident reported twice."
    ),
)
def duplicate_case(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    if not context.duplicates:
        return []
    numbers = [sibling.case_number for sibling in context.duplicates]
    window = int(config.params["window_days"])
    return [
        FindingDraft(
            rule=config.code,
            severity=config.severity,
            fields=("nip", "incident_date"),
            agencies=tuple(sorted({case.created_by_agency} | {record.agency for record in context.records})),
            observed={
                CASE_SOURCE: {
                    "nip": _value(case.nip_raw, case.nip),
                    "incident_date": _value(case.incident_date, case.incident_date),
                    "duplicates": _value(numbers, sorted(str(sibling.id) for sibling in context.duplicates)),
                }
            },
            evidence={"other_cases": numbers},
            message=Message(
                (
                    "Case {case_number} (incident {incident_date}) has the same NIP {case_nip} and "
                    "violation form {violation} as {others}, incidents within {window_days} day(s) of"
                    " each other."
                ),
                case_number=case.case_number,
                incident_date=case.incident_date.isoformat(),
                case_nip=case.nip,
                violation=case.violation_code,
                others=", ".join(numbers),
                window_days=window,
            ),
        )
    ]


def duplicate_window_days(ruleset: Ruleset) -> int:
    """Days apart two incidents of one ASN and one violation form may be and still count as one incident."""
    return int(ruleset.config(duplicate_case).params["window_days"])


@rule(
    code="RETIRED_AGENCY_DATA",
    severity=Severity.MEDIUM,
    local=Local(
        case=lambda case, reference, _as_of: bool(
            case.recommended_by and retired_agency_issues(case.recommended_by, _case_retired_dates(case), reference)
        ),
        record=lambda record, _case, reference, _as_of: bool(
            retired_agency_issues(record.agency, record_retired_dates(record), reference)
        ),
    ),
    description=N_("Data attributed to an agency dated on or after its dissolution (KASN: 2024-08-24, duties to BKN)."),
)
def retired_agency_data(context: CaseContext, config: RuleConfig) -> list[FindingDraft]:
    case = context.case
    reference = context.reference
    candidates: list[tuple[str, dict[str, dt.date | None]]] = [
        (record.agency, record_retired_dates(record)) for record in context.records
    ]
    if case.recommended_by:
        candidates.insert(0, (CASE_SOURCE, _case_retired_dates(case)))
    findings = []
    for source, dates in candidates:
        agency = case.recommended_by if source == CASE_SOURCE else source
        assert agency is not None
        issues = retired_agency_issues(agency, dates, reference)
        if not issues:
            continue
        successor = reference.agency_successor.get(agency) or "-"
        findings.append(
            FindingDraft(
                rule=config.code,
                severity=config.severity,
                fields=tuple(sorted(name for name, value in dates.items() if value is not None)),
                agencies=tuple(sorted({agency, successor} - {"-"})),
                observed={source: {name: _value(value, value) for name, value in dates.items()}},
                evidence={
                    "agency": agency,
                    "valid_to": _jsonable(reference.agency_valid_to.get(agency)),
                    "successor": successor,
                    "issues": in_english(issues),
                },
                message=Message(
                    (
                        "Case {case_number}: data attributed to {agency} after its dissolution "
                        "({issues}); its duties passed to {successor}."
                    ),
                    case_number=case.case_number,
                    agency=agency,
                    issues=issues,
                    successor=successor,
                ),
            )
        )
    return findings


RULES: tuple[Rule, ...] = tuple(_DECLARED)
"""Every rule, in declaration order (the order of evaluation and of the catalogue)."""
_CASE_SCREENS = tuple(r.local_screen.case for r in RULES if r.local_screen is not None and r.local_screen.case)
_RECORD_SCREENS = tuple(r.local_screen.record for r in RULES if r.local_screen is not None and r.local_screen.record)


def case_has_local_issue(case: CaseFacts, reference: ReferenceData, as_of: dt.date) -> bool:
    """Some rule fires on the case alone (the case state's stored ``local_issue`` flag)."""
    return any(screen(case, reference, as_of) for screen in _CASE_SCREENS)


def record_has_local_issue(record: RecordFacts, case: CaseFacts, reference: ReferenceData, as_of: dt.date) -> bool:
    """Some rule fires on this agency record alone (the record's stored ``local_issue`` flag)."""
    return any(screen(record, case, reference, as_of) for screen in _RECORD_SCREENS)
