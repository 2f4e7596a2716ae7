"""What the rules read: reference lookups, each case's and record's comparison forms, and evaluations.

Every write stores the comparison forms (canonical values, fingerprints, duplicate keys, local-issue flags) of
the case and its agency records, so the SQL screen of a full run can find the cases a rule may fire on without
reading raw columns. ``evaluate_cases`` normalises cases as stored now and runs the rules on them, producing
drafts only: findings.py turns drafts into findings.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Row
from sqlalchemy.orm import Session

from app.cases.models import AgencyRecord, Case
from app.cases.workflow import Stage
from app.core.config import JAKARTA, Settings
from app.reconciliation import repository
from app.reconciliation.normalize import (
    KEY_CACHE_SIZE,
    NORMALIZER_VERSION,
    canonical_nip,
    canonical_stage,
    canonical_violation,
    clean_text,
    fingerprint,
    name_key,
    reference_key,
    stage_rank,
)
from app.reconciliation.rules import (
    CaseContext,
    CaseFacts,
    FindingDraft,
    RecordFacts,
    ReferenceData,
    Ruleset,
    SiblingCase,
    agency_mask,
    case_has_local_issue,
    duplicate_case,
    duplicate_window_days,
    evaluate,
    expected_agencies,
    live_deadline,
    record_has_local_issue,
)
from app.reference.instansi import InstansiKind, place_words
from app.reference.models import AgencyRef, Instansi, Sanction, ViolationForm

CaseRow = Case | Row[Any]
"""A case as an object (a write's) or as a row (``repository.load_cases_for_check``): same attribute names."""
RecordRow = AgencyRecord | Row[Any]
LIVE_EXCLUDED_STAGES = frozenset({Stage.DIBATALKAN.value, Stage.DITOLAK.value})
_REFERENCE_CACHE: dict[str, ReferenceData] = {}


def ruleset_of(settings: Settings) -> Ruleset:
    """The rules as configured; SBT_DUPLICATE_WINDOW_DAYS sets DUPLICATE_CASE's window unless
    SBT_RECONCILIATION_RULES names one itself."""
    overrides = dict(settings.reconciliation_rules)
    duplicate = dict(overrides.get(duplicate_case.code, {}))
    duplicate["params"] = {"window_days": settings.duplicate_window_days, **duplicate.get("params", {})}
    overrides[duplicate_case.code] = duplicate
    return Ruleset.with_overrides(overrides)


def jakarta_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(JAKARTA).date()


def build_reference(
    forms: Iterable[ViolationForm],
    sanctions: Iterable[Sanction],
    agencies: Iterable[AgencyRef],
    instansi: Iterable[Instansi],
) -> ReferenceData:
    """Lookups the rules need, from the reference tables (legacy sanctions map to the current code of equal
    weight, so PP 53/2010 and PP 94/2021 records compare equal)."""
    sanction_list = list(sanctions)
    # the PNS code in force names each weight: legacy (PP 53/2010) and PPPK codes map to it
    preferred = sorted(sanction_list, key=lambda s: (not s.legacy and s.employee_kind != "PPPK", s.code))
    current_by_rank = {s.severity_rank: s.code for s in preferred}
    level_rank: dict[str, int] = {}
    for s in sanction_list:
        level_rank[s.level] = min(level_rank.get(s.level, s.severity_rank), s.severity_rank)
    agency_list, form_list = list(agencies), list(forms)
    return ReferenceData(
        violation_category={form.code: form.category for form in form_list},
        violation_phase={form.code: form.phase for form in form_list},
        sanction_rank={s.code: s.severity_rank for s in sanction_list},
        sanction_level={s.code: s.level for s in sanction_list},
        level_rank=level_rank,
        canonical_sanction={s.code: current_by_rank[s.severity_rank] for s in sanction_list},
        agency_valid_to={agency.code: agency.valid_to for agency in agency_list},
        agency_successor={agency.code: agency.successor_code for agency in agency_list},
        ppk_supervisor={row.code: InstansiKind(row.kind).ppk_supervisor.value for row in instansi},
    )


def reference_data(session: Session) -> ReferenceData:
    """Reference tables are seeded by migration and never change at run time: read once per database."""
    cache_key = str(session.get_bind().engine.url)
    cached = _REFERENCE_CACHE.get(cache_key)
    if cached is None:
        cached = build_reference(
            repository.violation_forms(session),
            repository.sanctions(session),
            repository.agencies(session),
            repository.instansi(session),
        )
        _REFERENCE_CACHE[cache_key] = cached
    return cached


def canonical_sanction(raw: str | None, reference: ReferenceData) -> str | None:
    code = clean_text(raw)
    if code is None:
        return None
    code = code.upper()
    return reference.canonical_sanction.get(code, code)


def case_facts(case: CaseRow, reference: ReferenceData) -> CaseFacts:
    return CaseFacts(
        id=case.id,
        case_number=case.case_number,
        nip_raw=case.nip,
        nip=canonical_nip(case.nip),
        name_raw=case.name,
        name=name_key(case.name),
        violation_code=canonical_violation(case.violation_code),
        phase=case.phase,
        stage=case.stage,
        instansi_code=case.instansi_code,
        province_code=case.province_code,
        created_by_agency=case.created_by_agency,
        incident_date=case.incident_date,
        reported_date=case.reported_date,
        known_date=case.known_date,
        source=case.source,
        election_type=case.election_type,
        stage_entered_on=case.stage_entered_on,
        deadline_date=case.deadline_date,
        recommended_by=case.recommended_by,
        recommendation_date=case.recommendation_date,
        recommended_sanction_raw=case.recommended_sanction_code,
        recommended_sanction=canonical_sanction(case.recommended_sanction_code, reference),
        imposed_sanction_raw=case.imposed_sanction_code,
        imposed_sanction=canonical_sanction(case.imposed_sanction_code, reference),
        sanction_date=case.sanction_date,
        recommended_level=case.recommended_sanction_level,
        imposed_reason=case.imposed_sanction_reason,
        regency_raw=case.regency,
        regency=place_key(case.regency),
        election_year=case.election_year,
        decision_number_raw=case.decision_number,
        decision_number=reference_key(case.decision_number),
        decision_date=case.decision_date,
        blocked_on=case.blocked_on,
        block_lifted_on=case.block_lifted_on,
    )


def record_facts(record: RecordRow, reference: ReferenceData, high_water: int | None) -> RecordFacts:
    return RecordFacts(
        agency=record.agency,
        nip_raw=record.nip,
        nip=canonical_nip(record.nip),
        name_raw=record.name,
        name=name_key(record.name),
        violation_code_raw=record.violation_code,
        violation_code=canonical_violation(record.violation_code),
        instansi_code=record.instansi_code,
        stage_raw=record.stage,
        stage=canonical_stage(record.stage),
        stage_high_water=high_water,
        recommended_raw=record.recommended_sanction_code,
        recommended=canonical_sanction(record.recommended_sanction_code, reference),
        imposed_raw=record.imposed_sanction_code,
        imposed=canonical_sanction(record.imposed_sanction_code, reference),
        reported_date=record.reported_date,
        recommendation_date=record.recommendation_date,
        sanction_date=record.sanction_date,
        created_on=record.recorded_on or jakarta_day(record.created_at),
        recommended_level=record.recommended_sanction_level,
        imposed_reason=record.imposed_sanction_reason,
        province_code=record.province_code,
        regency_raw=record.regency,
        regency=place_key(record.regency),
        election_type=record.election_type,
        election_year=record.election_year,
        phase=record.phase,
        decision_number_raw=record.decision_number,
        decision_number=reference_key(record.decision_number),
        decision_date=record.decision_date,
        blocked_on=record.blocked_on,
        block_lifted_on=record.block_lifted_on,
    )


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def place_key(raw: str | None) -> str | None:
    """A kabupaten/kota compared by its words ("Kab. Bone" = "KABUPATEN BONE")."""
    text = clean_text(raw)
    return None if text is None else " ".join(place_words(text)) or None


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def compared_fingerprint(nip: str | None, name: str | None, violation: str | None, stage: str | None) -> int:
    """The fields every record must share with its case; equal fingerprints mean no cross-source rule fires
    on them."""
    return fingerprint([nip, name, violation, stage])


def _high_water(stored: int | None, stage: str | None) -> int | None:
    ranks = [rank for rank in (stored, stage_rank(stage)) if rank is not None]
    return max(ranks) if ranks else None


def note_stages_reached(session: Session, case_ids: Collection[uuid.UUID]) -> None:
    """Raise the ``stage_high_water`` of the cases' records to their stage now, in the write's own transaction.

    The outbox worker re-checks a case after its writes, possibly several at once, and sees only the last stage:
    a record moved up and back down between two rounds would otherwise never show the stage it left
    (``STAGE_REGRESSION``). One SELECT of the cases' records, and one UPDATE when a mark moved (not counted as a
    change of the agency's record: its version and ETag stay). A new case's records start at the lowest stage,
    so creating cases has nothing to note.
    """
    session.flush()
    changes: list[RecordChange] = []
    for record in repository.record_stages(session, case_ids):
        reached = _high_water(record.stage_high_water, canonical_stage(record.stage))
        if reached != record.stage_high_water:
            changes.append((record.id, {"stage_high_water": reached}))
    repository.update_record_columns(session, changes)


DuplicateKey = tuple[str, dt.date]
"""(canonical NIP, incident date), as stored in the case state: live cases of one NIP and one violation form whose
incident dates are within the duplicate window are duplicates of each other (``is_duplicate``)."""
RecordChange = tuple[uuid.UUID, dict[str, object]]
"""A record's id and its derived columns' new values."""


def is_duplicate(row: repository.DuplicateRow, key: DuplicateKey, violation: str | None, window_days: int) -> bool:
    """Same ASN, same violation form, incidents at most the window apart: one incident reported twice. Cases of one
    report (one register number) are different ASN, so sharing the incident alone never makes them duplicates."""
    nip, day = key
    return (
        row.nip_canonical == nip
        and canonical_violation(row.violation_code) == violation
        and abs((row.incident_date - day).days) <= window_days
    )


def duplicate_case_ids(session: Session, window_days: int) -> set[uuid.UUID]:
    """Every live case that has a duplicate (the full run's screen)."""
    by_nip: dict[str, list[repository.DuplicateRow]] = {}
    for row in repository.live_cases_sharing_a_nip(session):
        by_nip.setdefault(row.nip_canonical, []).append(row)
    return {
        row.case_id
        for rows in by_nip.values()
        for row in rows
        if any(
            other.case_id != row.case_id
            and is_duplicate(
                other, (row.nip_canonical, row.incident_date), canonical_violation(row.violation_code), window_days
            )
            for other in rows
        )
    }


def duplicate_key(nip: str | None, incident_date: dt.date) -> DuplicateKey | None:
    return None if nip is None else (nip, incident_date)


@dataclass(slots=True)
class Normalized:
    case: CaseFacts
    records: tuple[RecordFacts, ...]
    state: dict[str, Any]
    """The case state's columns as they are now."""
    stored: Literal["new", "changed", "same"]
    """How ``state`` compares with the stored row (the caller writes new and changed ones in one batch)."""
    previous_key: DuplicateKey | None
    """The duplicate key stored before this write (None for a case never checked, or without a NIP)."""
    evaluated_before: bool
    """A state row existed: only then can the case have findings (a re-check stores the state first)."""
    record_changes: list[RecordChange]
    """Records whose stored comparison forms are out of date, with the new values (written in one batch)."""

    @property
    def key(self) -> DuplicateKey | None:
        return duplicate_key(self.state["nip_canonical"], self.state["incident_date"])


def normalize_case(
    case: CaseRow,
    records: Sequence[RecordRow],
    state: Mapping[str, Any] | None,
    reference: ReferenceData,
    as_of: dt.date,
) -> Normalized:
    """Compute the comparison forms of the case and each record; list the records whose derived values changed
    and say whether the case state did, for the caller to write in one batch."""
    facts = case_facts(case, reference)
    previous_key = None if state is None else duplicate_key(state["nip_canonical"], state["incident_date"])
    record_list: list[RecordFacts] = []
    record_changes: list[RecordChange] = []
    for record in records:
        stage = canonical_stage(record.stage)
        item = record_facts(record, reference, _high_water(record.stage_high_water, stage))
        record_list.append(item)
        derived: dict[str, object] = {
            "nip_canonical": item.nip,
            "name_key": item.name.key,
            "violation_canonical": item.violation_code,
            "stage_canonical": item.stage,
            "stage_high_water": item.stage_high_water,
            "recommended_canonical": item.recommended,
            "imposed_canonical": item.imposed,
            "fingerprint": compared_fingerprint(item.nip, item.name.key, item.violation_code, item.stage),
            "local_issue": record_has_local_issue(item, facts, reference, as_of),
            "normalizer_version": NORMALIZER_VERSION,
        }
        if any(getattr(record, name) != value for name, value in derived.items()):
            record_changes.append((record.id, derived))
    values: dict[str, Any] = {
        "case_id": case.id,
        "nip_canonical": facts.nip,
        "name_key": facts.name.key,
        "incident_date": facts.incident_date,
        "live": facts.stage not in LIVE_EXCLUDED_STAGES,
        "deadline_date": live_deadline(facts),
        "recommended_canonical": facts.recommended_sanction,
        "imposed_canonical": facts.imposed_sanction,
        "fingerprint": compared_fingerprint(facts.nip, facts.name.key, facts.violation_code, facts.stage),
        "expected_mask": agency_mask(expected_agencies(facts, reference)),
        "local_issue": case_has_local_issue(facts, reference, as_of),
        "normalizer_version": NORMALIZER_VERSION,
    }
    if state is None:
        stored: Literal["new", "changed", "same"] = "new"
    else:
        stored = "changed" if any(state[name] != value for name, value in values.items()) else "same"
    return Normalized(facts, tuple(record_list), values, stored, previous_key, state is not None, record_changes)


@dataclass(frozen=True, slots=True)
class Evaluation:
    case: CaseFacts
    drafts: dict[str, FindingDraft]
    """finding_key -> draft"""
    deadline_date: dt.date | None
    evaluated_before: bool
    neighbours: frozenset[uuid.UUID]
    """Other live cases that were or are now its duplicates (before or after this write): their duplicate findings
    depend on this case."""


def evaluate_cases(
    session: Session, case_ids: Collection[uuid.UUID], as_of: dt.datetime, ruleset: Ruleset
) -> list[Evaluation]:
    """Normalise and evaluate the cases with the data as stored now (no findings are written)."""
    if not case_ids:
        return []
    session.flush()
    day = jakarta_day(as_of)
    reference = reference_data(session)
    loaded = repository.load_cases_for_check(session, case_ids)
    normalized = [
        normalize_case(item.case, item.records, item.state, reference, day) for _, item in sorted(loaded.items())
    ]
    repository.update_record_columns(session, [change for item in normalized for change in item.record_changes])
    repository.write_case_states(
        session,
        [item.state for item in normalized if item.stored == "new"],
        [item.state for item in normalized if item.stored == "changed"],
    )
    window = duplicate_window_days(ruleset)
    nips = {key[0] for item in normalized for key in (item.previous_key, item.key) if key is not None}
    by_nip: dict[str, list[repository.DuplicateRow]] = {}
    for row in sorted(repository.live_cases_of_nips(session, nips), key=lambda row: str(row.case_id)):
        by_nip.setdefault(row.nip_canonical, []).append(row)
    evaluations = []
    for item in normalized:
        current = item.key

        def near(key: DuplicateKey | None, case: CaseFacts = item.case) -> list[SiblingCase]:
            # a case's violation form never changes: its previous key is matched on the current one
            if key is None:
                return []
            return [
                SiblingCase(row.case_id, row.case_number)
                for row in by_nip.get(key[0], [])
                if row.case_id != case.id and is_duplicate(row, key, case.violation_code, window)
            ]

        duplicates = tuple(near(current)) if item.state["live"] else ()
        context = CaseContext(item.case, item.records, duplicates, reference, day)
        drafts = {draft.key(item.case.id): draft for draft in evaluate(context, ruleset)}
        neighbours = frozenset(sibling.id for key in {item.previous_key, current} for sibling in near(key))
        deadline = item.state["deadline_date"]
        evaluations.append(Evaluation(item.case, drafts, deadline, item.evaluated_before, neighbours))
    return evaluations
