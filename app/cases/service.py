"""Business rules of the cases domain: creation, agency records, workflow transitions.

Each write flushes its rows and returns the ``LedgerChange`` describing it; the write flow of the use case
(``app.flows.cases``) reconciles, appends the ledger entries and commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy.orm import Session

from app.cases import repository, sanctions
from app.cases.models import AgencyRecord, Case, CaseTransition
from app.cases.nip import parse_nip
from app.cases.schemas import (
    IMPOSING_ACTIONS,
    LEGACY_SANCTION_FIELDS,
    AgencyRecordCreate,
    AgencyRecordFields,
    AgencyRecordRead,
    AgencyRecordUpdate,
    ArchivedRecordCreate,
    CaseCreate,
    CaseRead,
    CaseUpdate,
    ElectionType,
    ReopenCreate,
    SanctionCorrectionCreate,
    TransitionCreate,
    TransitionRead,
)
from app.cases.workflow import (
    REOPENINGS,
    SANCTION_CORRECTIONS,
    SANCTIONED_ENDS,
    STAGE_DEADLINES,
    TRANSITIONS,
    Action,
    DayCount,
    DeadlineKind,
    Stage,
    Transition,
    actions_from,
    find_transition,
    sources_of,
)
from app.core.actor import Agency, Principal, WriteContext
from app.core.clock import add_working_days, today_in_jakarta
from app.core.config import Settings
from app.core.db import utcnow
from app.core.etag import check_if_match
from app.core.problems import (
    AgencyNotPermitted,
    Conflict,
    Forbidden,
    IllegalTransition,
    InvalidParam,
    NotFound,
    ProblemError,
    ValidationProblem,
)
from app.ledger.schemas import LedgerChange
from app.reference import repository as reference
from app.reference.instansi import InstansiKind
from app.reference.models import Instansi, PositionCategory, Province, Sanction, ViolationForm


def _acting_agency(session: Session, principal: Principal, on: dt.date) -> str:
    """The calling agency, if it still exists on ``on``, the date the write takes effect.

    An agency that has ended (KASN, from 2024-08-24) writes nothing dated on or after its end: its successor does.
    Writes dated before the end (history) stay possible.
    """
    if principal.agency is None:
        raise Forbidden("Only agency clients may write cases.")
    agency = principal.agency.value
    ended = reference.retirement(session, agency, on)
    if ended is not None:
        raise AgencyNotPermitted(
            f"{ended.describe()}. It may not write with a date of {on.isoformat()}; "
            f"only writes dated before {ended.ended_on.isoformat()} are accepted from {agency}."
        )
    return agency


def _invalid(field: str, reason: str) -> ValidationProblem:
    return ValidationProblem(reason, invalid_params=[InvalidParam(name=f"body.{field}", reason=reason)])


def _check_codes(session: Session, **codes: str | None) -> None:
    tables: dict[str, Any] = {
        "position_category": PositionCategory,
        "province_code": Province,
        "violation_code": ViolationForm,
        "sanction_code": Sanction,
        "recommended_sanction_code": Sanction,
        "imposed_sanction_code": Sanction,
        "instansi_code": Instansi,
    }
    for field, code in codes.items():
        if code is not None and reference.get(session, tables[field], code) is None:
            raise _invalid(field, f"unknown code {code!r}; see /api/v1/reference")


def _check_instansi(session: Session, code: str, province_code: str) -> Instansi:
    """The case's instansi; a pemerintah daerah's ASN are reported in its own province."""
    _check_codes(session, instansi_code=code)
    instansi = reference.get(session, Instansi, code)
    assert instansi is not None  # checked just above
    if instansi.province_code is not None and instansi.province_code != province_code:
        reason = (
            f"{instansi.name} ({instansi.code}) is in province {instansi.province_code}, not {province_code}: "
            "a regional instansi's case is in its own province"
        )
        raise ValidationProblem(
            reason,
            invalid_params=[
                InvalidParam(name="body.province_code", reason=reason),
                InvalidParam(name="body.instansi_code", reason=reason),
            ],
        )
    return instansi


def _deadline_days(kind: DeadlineKind, settings: Settings, election_type: str) -> int:
    if kind is DeadlineKind.STUDY:
        per_election = {
            ElectionType.PEMILU.value: settings.study_working_days_pemilu,
            ElectionType.PILKADA.value: settings.study_working_days_pilkada,
        }[election_type]
        return per_election or settings.study_working_days
    return {
        DeadlineKind.VERIFICATION: settings.verification_days,
        DeadlineKind.REGISTRATION_FOLLOW_UP: settings.registration_follow_up_days,
        DeadlineKind.RECOMMENDATION: settings.recommendation_ageing_days,
        DeadlineKind.PPK_FOLLOW_UP: settings.ppk_follow_up_days,
        DeadlineKind.REPRIMAND_COMPLIANCE: settings.reprimand_compliance_days,
        DeadlineKind.PPK_SANCTION_AGEING: settings.ppk_sanction_ageing_days,
        DeadlineKind.BLOCK_AGEING: settings.block_ageing_days,
    }[kind]


def deadline_for(stage: Stage, entered_on: dt.date, settings: Settings, election_type: str) -> dt.date | None:
    """Last day of ``stage`` entered on ``entered_on`` (Asia/Jakarta); None for a terminal stage."""
    deadline = STAGE_DEADLINES.get(stage)
    if deadline is None:
        return None
    days = _deadline_days(deadline.kind, settings, election_type)
    if deadline.unit is DayCount.WORKING:
        return add_working_days(entered_on, days, settings.extra_holidays)
    return entered_on + dt.timedelta(days=days)


def to_read(case: Case) -> CaseRead:
    return _read_of(
        {column: getattr(case, column) for column in _CASE_COLUMNS if hasattr(case, column)}, today_in_jakarta()
    )


_CASE_COLUMNS = CaseRead.state_fields()
"""What a case's representation reads from its row (``overdue`` and ``allowed_actions`` are derived)."""


def _read_of(columns: Mapping[str, Any], today: dt.date) -> CaseRead:
    """A case's representation from its columns, on ``today`` (Asia/Jakarta)."""
    deadline = columns["deadline_date"]
    return CaseRead.model_validate(
        {
            **columns,
            "overdue": deadline is not None and today > deadline,
            "allowed_actions": _allowed_actions(Stage(columns["stage"])),
        }
    )


@functools.cache
def _allowed_actions(stage: Stage) -> tuple[Action, ...]:
    reopen = {Action.REOPEN} if stage in REOPENINGS else set()
    return tuple(sorted({t.action for t in actions_from(stage)} | reopen))


_CASE_PAYLOAD_EXCLUDED = {"overdue", "allowed_actions", "updated_at"}


def _case_payload(case: Case) -> dict[str, Any]:
    return to_read(case).model_dump(mode="json", exclude=_CASE_PAYLOAD_EXCLUDED)


_RECORD_PAYLOAD_EXCLUDED = {"updated_at", *LEGACY_SANCTION_FIELDS}
"""updated_at is bookkeeping (the row's last flush); everything else is replayed by app.ledger.replay; the deprecated
single sanction is derived from the two the entry carries."""


def _record_payload(record: AgencyRecord | Mapping[str, Any]) -> dict[str, Any]:
    return AgencyRecordRead.model_validate(record).model_dump(mode="json", exclude=_RECORD_PAYLOAD_EXCLUDED)


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case a write created: as read back (the single create's reply) and its ``case.created`` change."""

    read: CaseRead
    created: LedgerChange


def create_case(session: Session, settings: Settings, ctx: WriteContext, data: CaseCreate) -> NewCase:
    """One new case: the batch of one (``create_cases``), its refusal raised."""
    created, refused = create_cases(session, settings, ctx, [data])
    for _, problem in refused:
        raise problem
    return created[0]


def create_cases(
    session: Session, settings: Settings, ctx: WriteContext, items: Sequence[CaseCreate]
) -> tuple[list[NewCase], list[tuple[int, ProblemError]]]:
    """New cases, each with its creator's agency record and one ``case.created`` change, written set-based.

    Every item is checked as a single create checks it (reference codes, the instansi's province, no future
    reported date, an agency that exists on that date); each refused item comes back with its index and its
    problem, and then nothing is written. Otherwise the case numbers are taken in one statement and the cases and
    records are written with one multi-row INSERT per table (``repository.insert_cases``); each change carries the
    rows exactly as written, as the ledger's replay and the state audit read them.
    """
    today = today_in_jakarta()
    checks = _CreateChecks(session, settings, ctx.principal, today)
    accepted: list[tuple[CaseCreate, dict[str, Any]]] = []
    refused: list[tuple[int, ProblemError]] = []
    for index, data in enumerate(items):
        try:
            accepted.append((data, checks.derived(data)))
        except ProblemError as problem:
            refused.append((index, problem))
    if refused or not accepted:
        return [], refused
    numbers = repository.next_case_numbers(session, today.year, len(accepted))
    client = ctx.principal.client_id
    case_rows: list[dict[str, Any]] = []
    record_rows: list[dict[str, Any]] = []
    created: list[NewCase] = []
    for (data, derived), number in zip(accepted, numbers, strict=True):
        now = utcnow()
        case_id = uuid.uuid4()
        case = {
            **{name: getattr(data, name) for name in _REPORTED},
            **derived,
            "id": case_id,
            "case_number": number,
            "stage": Stage.DITERIMA.value,
            "stage_entered_on": data.reported_date,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        record = {
            "id": uuid.uuid4(),
            "case_id": case_id,
            "agency": derived["created_by_agency"],
            **{name: case[name] for name in RECORD_FROM_CASE},
            "stage": Stage.DITERIMA.value,
            "reference_number": data.reference_number,
            "external_id": data.external_id,
            "submitted_by_client": client,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        case_rows.append(case)
        record_rows.append(record)
        read = _read_of(_NEW_CASE | case, today)
        payload = {
            "case": read.model_dump(mode="json", exclude=_CASE_PAYLOAD_EXCLUDED),
            "agency_record": _record_payload(_NEW_RECORD | record),
        }
        created.append(NewCase(read, LedgerChange("case.created", payload, case_id)))
    repository.insert_cases(session, case_rows, record_rows)
    return created, []


_T = TypeVar("_T")
_REPORTED = tuple(
    name for name in CaseCreate.model_fields if name not in {"reference_number", "external_id", "instansi"}
)
"""What a new case takes from its report as sent; the reference number and external id are its creator's record's."""
_NEW_CASE = dict.fromkeys(_CASE_COLUMNS)
"""A new case's columns before it is filled in: the workflow's fields start empty."""
_NEW_RECORD = dict.fromkeys(AgencyRecordRead.state_fields())


class _Checks:
    """A write's checks, each run once per write for each value it meets (a batch holds many items of one instansi,
    day, election or agency)."""

    def __init__(self, session: Session, principal: Principal, today: dt.date) -> None:
        self._session, self._principal, self._today = session, principal, today
        self._outcomes: dict[Hashable, Any] = {}

    def _once(self, key: Hashable, check: Callable[[], _T]) -> _T:
        """``check()``, run the first time ``key`` is met; its problem is raised again for every later item."""
        if key not in self._outcomes:
            try:
                self._outcomes[key] = check()
            except ProblemError as problem:
                self._outcomes[key] = problem
        outcome = self._outcomes[key]
        if isinstance(outcome, ProblemError):
            raise outcome
        return cast(_T, outcome)

    def _acting_agency(self, on: dt.date) -> str:
        return self._once(("agency", on), lambda: _acting_agency(self._session, self._principal, on))


class _CreateChecks(_Checks):
    """The checks of a new case and the columns they derive."""

    def __init__(self, session: Session, settings: Settings, principal: Principal, today: dt.date) -> None:
        super().__init__(session, principal, today)
        self._settings = settings

    def derived(self, data: CaseCreate) -> dict[str, Any]:
        """The columns the service adds to a report (raising the problem a single create would answer)."""
        session, on = self._session, data.reported_date
        codes = (data.position_category, data.province_code, data.violation_code)
        self._once(
            ("codes", *codes),
            lambda: _check_codes(session, position_category=codes[0], province_code=codes[1], violation_code=codes[2]),
        )
        place = (data.instansi_code, data.province_code)
        instansi = self._once(("instansi", *place), lambda: _check_instansi(session, *place))
        if on > self._today:
            raise _invalid("reported_date", "reported_date cannot be in the future (Asia/Jakarta)")
        agency = self._acting_agency(on)
        election = data.election_type.value
        deadline = self._once(
            ("deadline", on, election), lambda: deadline_for(Stage.DITERIMA, on, self._settings, election)
        )
        return {
            "instansi": data.instansi or instansi.name,
            "employee_kind": parse_nip(data.nip).kind.value,
            "deadline_date": deadline,
            "created_by_agency": agency,
        }


CASE_EDITORS = frozenset({Agency.BKN.value})
"""Besides the agency that reported the case: BKN, which keeps the ASN's personnel data (SIASN), sets its instansi."""


def update_case(
    session: Session, ctx: WriteContext, case: Case, data: CaseUpdate, if_match: str | None
) -> tuple[Case, list[LedgerChange]]:
    """Set a case's instansi or register number: by the agency that reported it, or BKN; one ``case.updated``
    entry with the case as it now is."""
    agency = _acting_agency(session, ctx.principal, today_in_jakarta())
    if agency != case.created_by_agency and agency not in CASE_EDITORS:
        editors = ", ".join(sorted({case.created_by_agency, *CASE_EDITORS}))
        raise AgencyNotPermitted(f"Case {case.case_number} is changed by {editors}, not {agency}.")
    check_if_match(if_match, case.version)
    changes = data.model_dump(exclude_unset=True)
    if "instansi_code" in changes:
        _check_instansi(session, changes["instansi_code"], case.province_code)
    for field, value in changes.items():
        setattr(case, field, value)
    session.flush()
    entry = {"case_id": str(case.id), "changed": sorted(changes), "case": _case_payload(case)}
    updated = [LedgerChange("case.updated", entry, case.id)]
    own = repository.get_record_of_agency(session, case.id, agency)
    if "instansi_code" in changes and own is not None and own.instansi_code != case.instansi_code:
        # the acting agency's own record follows what it just set, like a workflow step
        own.instansi_code = case.instansi_code
        own.submitted_by_client = ctx.principal.client_id
        session.flush()
        record_changes = _record_payload(own) | {"changed": ["instansi_code"]}
        updated.append(
            LedgerChange("agency_record.updated", {"record_id": str(own.id), "changes": record_changes}, case.id)
        )
    return case, updated


def lock_cases(session: Session, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Case]:
    """Every write to cases or their records starts here (``repository.lock_cases``); the cases found, by id."""
    return repository.lock_cases(session, case_ids)


def lock_case_numbers(session: Session, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``lock_cases`` for a write that only adds records (``submit_records``): the numbers of the cases found."""
    return repository.lock_case_numbers(session, case_ids)


def require_case(session: Session, case_id: uuid.UUID) -> Case:
    case = repository.get_case(session, case_id)
    if case is None:
        raise _no_case(case_id)
    return case


def _no_case(case_id: uuid.UUID) -> NotFound:
    return NotFound(f"No case with id {case_id}.")


def require_report(session: Session, register_number: str) -> Sequence[Case]:
    """The cases of a report; a register number no case carries is no report (404)."""
    cases = repository.report_cases(session, register_number)
    if not cases:
        raise NotFound(f"No case carries the register number {register_number!r}.")
    return cases


def _allowed_agencies(session: Session, transition: Transition, on: dt.date) -> set[str]:
    return {reference.agency_acting_for(session, agency.value, on) for agency in transition.agencies}


def _effective_step(session: Session, ctx: WriteContext, case: Case, requested: dt.date | None) -> tuple[dt.date, str]:
    """The day a step takes effect (default today; never in the future, nor before the case entered its stage) and
    the agency taking it (one that still exists on that day)."""
    today = today_in_jakarta()
    effective = requested or today
    if effective > today:
        raise _invalid("effective_date", "effective_date cannot be in the future (Asia/Jakarta)")
    agency = _acting_agency(session, ctx.principal, effective)
    if effective < case.stage_entered_on:
        raise _invalid(
            "effective_date",
            f"effective_date cannot precede the day the case entered {case.stage} ({case.stage_entered_on})",
        )
    return effective, agency


def _find_or_refuse(case: Case, action: Action) -> Transition:
    stage = Stage(case.stage)
    transition = find_transition(action, stage)
    if transition is None:
        sources = ", ".join(sorted(sources_of(action))) or "nowhere"
        if action is Action.REOPEN:
            sources = f"{', '.join(sorted(REOPENINGS))}, with POST /api/v1/cases/{case.id}/reopen"
        raise IllegalTransition(
            f"Cannot '{action}' case {case.case_number} in stage {stage}; '{action}' is allowed from: {sources}.",
            extra={"current_stage": stage.value, "action": action.value},
        )
    return transition


def transition_case(
    session: Session,
    settings: Settings,
    ctx: WriteContext,
    case: Case,
    data: TransitionCreate,
    if_match: str | None,
) -> tuple[Case, list[LedgerChange]]:
    check_if_match(if_match, case.version)
    transition = _find_or_refuse(case, data.action)
    effective, agency = _effective_step(session, ctx, case, data.effective_date)
    allowed = _allowed_agencies(session, transition, effective)
    if agency not in allowed:
        raise AgencyNotPermitted(
            f"'{data.action}' from {case.stage} on {effective} is done by {', '.join(sorted(allowed))}, not {agency}."
        )
    if transition.by_ppk_supervisor:
        _require_ppk_supervisor(session, case, agency, data.action)
    if transition.requires_deadline_passed and (case.deadline_date is None or effective <= case.deadline_date):
        raise IllegalTransition(
            f"'{data.action}' is an escalation and needs the deadline of stage {case.stage} "
            f"({case.deadline_date}) to have passed on {effective}."
        )
    if transition.requires_sanction and data.sanction_code is None and data.sanction_level is None:
        raise _invalid("sanction_code", f"'{data.action}' needs sanction_code")
    if transition.requires_reference and data.reference_number is None:
        raise _invalid("reference_number", f"'{data.action}' needs the letter's reference_number")
    _check_codes(session, sanction_code=data.sanction_code)
    level = _check_sanction(session, case, transition, data, effective)

    from_stage = case.stage
    _apply_effects(case, transition, data, agency, effective)
    _apply_sanction_fields(case, transition, data, level)
    case.stage = transition.target.value
    case.stage_entered_on = effective
    case.deadline_date = deadline_for(transition.target, effective, settings, case.election_type)
    return case, _step_taken(
        session,
        ctx,
        case,
        agency,
        action=data.action.value,
        from_stage=from_stage,
        effective_date=effective,
        reference_number=data.reference_number,
        sanction_code=data.sanction_code,
        sanction_level=level,
        sanction_reason=data.sanction_reason,
        note=data.note,
    )


def _step_taken(
    session: Session,
    ctx: WriteContext,
    case: Case,
    agency: str,
    entry_extra: dict[str, str | None] | None = None,
    **step: Any,
) -> list[LedgerChange]:
    """A step into the case's history (``step``: its own columns), the acting agency's record following it, and the
    ledger entries of both."""
    history = CaseTransition(
        case_id=case.id, to_stage=case.stage, agency=agency, client_id=ctx.principal.client_id, **step
    )
    session.add(history)
    recorded = _record_the_step(session, ctx, case, agency, history)
    session.flush()
    return [_transitioned(case, history, **(entry_extra or {})), recorded]


def _transitioned(case: Case, step: CaseTransition, **extra: str | None) -> LedgerChange:
    """The ledger entry of a workflow step: the step as recorded in the history, and the case after it."""
    reopened = {"reopen_reason": step.reopen_reason} if step.reopen_reason is not None else {}
    return LedgerChange(
        "case.transitioned",
        {
            "case_id": str(case.id),
            "case_number": case.case_number,
            "action": step.action,
            "from_stage": step.from_stage,
            "to_stage": step.to_stage,
            "effective_date": step.effective_date.isoformat(),
            "sanction_code": step.sanction_code,
            "sanction_level": step.sanction_level,
            "sanction_reason": step.sanction_reason,
            "reference_number": step.reference_number,
            "note": step.note,
            **reopened,
            **extra,
            "case_version": case.version,
            "case": _case_payload(case),
            "transition": TransitionRead.model_validate(step).model_dump(mode="json"),
        },
        case.id,
    )


def _require_ppk_supervisor(session: Session, case: Case, agency: str, action: Action) -> None:
    """Of the agencies that may act, only the one supervising the case's PPK: the instansi's type decides."""
    instansi = reference.get(session, Instansi, case.instansi_code) if case.instansi_code else None
    if instansi is None:
        raise IllegalTransition(
            f"Case {case.case_number} has no instansi code (its instansi {case.instansi!r} matched no reference "
            f"instansi when instansi became reference data), so who supervises its PPK is unknown; '{action}' needs it."
        )
    kind = InstansiKind(instansi.kind)
    supervisor = kind.ppk_supervisor.value
    why = (
        "a kepala daerah as PPK is supervised by the Minister of Home Affairs"
        if kind.regional
        else "a minister or head of a central agency as PPK is supervised by the Minister of PANRB"
    )
    if agency != supervisor:
        raise AgencyNotPermitted(
            f"The PPK of {instansi.name} ({instansi.code}, {kind.value}) is sanctioned by {supervisor}, not {agency}: "
            f"{why}.",
            extra={"instansi_code": instansi.code, "instansi_kind": kind.value, "ppk_supervisor": supervisor},
        )


RECORD_FROM_CASE = (
    "nip",
    "name",
    "position_category",
    "instansi_code",
    "province_code",
    "regency",
    "election_type",
    "election_year",
    "phase",
    "violation_code",
    "reported_date",
)
"""What an agency's new record holds of the shared case: the ASN and the report."""


def _record_of(case: Case, agency: str, ctx: WriteContext, **fields: Any) -> AgencyRecord:
    """A new record of ``agency`` holding what the shared case says of the ASN and the report."""
    return AgencyRecord(
        case_id=case.id,
        agency=agency,
        **{name: getattr(case, name) for name in RECORD_FROM_CASE},
        submitted_by_client=ctx.principal.client_id,
        **fields,
    )


def _record_the_step(
    session: Session, ctx: WriteContext, case: Case, agency: str, step: CaseTransition
) -> LedgerChange:
    """The acting agency's own record follows the step it just took (created if it had none), in the same
    transaction: no agency is reported as missing the case or lagging behind for what it did itself."""
    record = repository.get_record_of_agency(session, case.id, agency)
    created = record is None
    if record is None:
        # the agency recorded its step on the day it took effect
        record = _record_of(case, agency, ctx, recorded_on=step.effective_date)
        session.add(record)
    changed: dict[str, object] = {"stage": case.stage}
    action = Action(step.action)
    if action is Action.RECOMMEND:
        changed |= {
            "recommended_sanction_code": step.sanction_code,
            "recommended_sanction_level": step.sanction_level,
            "recommendation_date": step.effective_date,
        }
    elif action in IMPOSING_ACTIONS:
        changed |= {
            "imposed_sanction_code": step.sanction_code,
            "imposed_sanction_reason": step.sanction_reason,
            "sanction_date": step.effective_date,
            "decision_number": step.reference_number,
            "decision_date": step.effective_date,
        }
        if action is Action.LIFT_BLOCK:
            changed["block_lifted_on"] = step.effective_date
    elif action is Action.BLOCK:
        changed["blocked_on"] = step.effective_date
    elif action is Action.CORRECT_SANCTION:  # the sanction as corrected; its decision stays the PPK's
        changed |= {"imposed_sanction_code": step.sanction_code, "imposed_sanction_reason": step.sanction_reason}
    elif action is Action.REOPEN and Stage(step.from_stage) in SANCTIONED_ENDS:
        # the imposed sanction was annulled: the record keeps the recommendation, if it holds one
        changed |= dict.fromkeys(
            ("imposed_sanction_code", "imposed_sanction_reason", "sanction_date", "decision_number", "decision_date")
        )
    if step.reference_number is not None and action not in {*IMPOSING_ACTIONS, Action.CORRECT_SANCTION}:
        changed["reference_number"] = step.reference_number  # the agency's own letter (recommendation, reprimand)
    for field, value in changed.items():
        setattr(record, field, value)
    record.submitted_by_client = ctx.principal.client_id
    session.flush()
    if created:
        return LedgerChange("agency_record.submitted", _record_payload(record), case.id)
    return LedgerChange(
        "agency_record.updated",
        {"record_id": str(record.id), "changes": _record_payload(record) | {"changed": sorted(changed)}},
        case.id,
    )


def _apply_effects(case: Case, transition: Transition, data: TransitionCreate, agency: str, on: dt.date) -> None:
    if transition.action is Action.RECOMMEND:
        case.recommended_by = agency
        case.recommendation_number = data.reference_number
        case.recommendation_date = on
        case.recommended_sanction_code = data.sanction_code
    elif transition.action in IMPOSING_ACTIONS:
        case.imposed_sanction_code = data.sanction_code
        case.sanction_date = on
        case.decision_number, case.decision_date = data.reference_number, on
        if transition.action is Action.LIFT_BLOCK:
            case.block_lifted_on = on
    elif transition.action is Action.BLOCK:
        case.blocked_on = on


def _check_sanction(
    session: Session, case: Case, transition: Transition, data: TransitionCreate, on: dt.date
) -> str | None:
    """The step's sanction against the sanction matrix; returns the level a recommendation names."""
    if transition.action is Action.RECOMMEND:
        return sanctions.recommended_level(session, case, data.sanction_code, data.sanction_level, on)
    if transition.action in IMPOSING_ACTIONS and data.sanction_code is not None:
        sanctions.check_imposed(session, case, data.sanction_code, data.sanction_reason, on)
    return None


def _apply_sanction_fields(case: Case, transition: Transition, data: TransitionCreate, level: str | None) -> None:
    if transition.action is Action.RECOMMEND:
        case.recommended_sanction_level = level
    elif transition.action in IMPOSING_ACTIONS:
        case.imposed_sanction_reason = data.sanction_reason


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record a write created: as read back (the single submit's reply) and its ``agency_record.submitted``
    change."""

    read: AgencyRecordRead
    submitted: LedgerChange


RecordItem = tuple[uuid.UUID, AgencyRecordCreate | ArchivedRecordCreate]
"""A new record and the case it is of: the calling agency's own (``AgencyRecordCreate``) or, imported by its
successor, a retired agency's from its archive (``ArchivedRecordCreate``)."""


def submit_record(session: Session, ctx: WriteContext, cases: Mapping[uuid.UUID, str], item: RecordItem) -> NewRecord:
    """One new record: the batch of one (``submit_records``), its refusal raised."""
    created, refused = submit_records(session, ctx, cases, [item])
    for _, problem in refused:
        raise problem
    return created[0]


def submit_records(
    session: Session, ctx: WriteContext, cases: Mapping[uuid.UUID, str], items: Sequence[RecordItem]
) -> tuple[list[NewRecord], list[tuple[int, ProblemError]]]:
    """New agency records, each with one ``agency_record.submitted`` change, written set-based.

    ``cases``: the numbers of the items' cases as locked (``lock_case_numbers``); an item of another case is not
    found. Every item is
    checked as a single submit checks it, in request order, so that a later item sees the earlier accepted ones
    (a second record of one agency on one case is a conflict): the acting agency on the day of the write; for an
    archived record, that its agency has ended and the acting agency succeeds it; one record per agency and case;
    the reference codes; an archived record's dates against the day it was recorded and the agency's end. Each
    refused item comes back with its index and its problem, and then nothing is written. Otherwise the records are
    written with one multi-row INSERT (``repository.insert_records``; the case's province is copied by the trigger
    of migration 0020), each change carrying the row exactly as written, as the ledger's replay and the state audit
    read it.
    """
    checks = _RecordChecks(session, ctx.principal, today_in_jakarta())
    taken = repository.agencies_with_records(session, {case_id for case_id, _ in items})
    rows: list[dict[str, Any]] = []
    refused: list[tuple[int, ProblemError]] = []
    for index, (case_id, data) in enumerate(items):
        try:
            row = checks.row(cases.get(case_id), case_id, data, taken)
        except ProblemError as problem:
            refused.append((index, problem))
            continue
        taken.add((case_id, row["agency"]))
        rows.append(row)
    if refused or not rows:
        return [], refused
    created: list[NewRecord] = []
    for row in rows:
        read = AgencyRecordRead.model_validate(_NEW_RECORD | row)
        payload = read.model_dump(mode="json", exclude=_RECORD_PAYLOAD_EXCLUDED)
        created.append(NewRecord(read, LedgerChange("agency_record.submitted", payload, row["case_id"])))
    repository.insert_records(session, rows)
    return created, []


class _RecordChecks(_Checks):
    """The checks of a new record, in the order a single submit makes them, and the row it becomes."""

    def row(
        self,
        case_number: str | None,
        case_id: uuid.UUID,
        data: AgencyRecordFields,
        taken: Collection[tuple[uuid.UUID, str]],
    ) -> dict[str, Any]:
        """The record's row (raising the problem a single submit would answer); ``case_number`` None: no such
        case."""
        if case_number is None:
            raise _no_case(case_id)
        acting = self._acting_agency(self._today)  # a record is written (an archive imported) as of today
        columns = data.columns()
        if isinstance(data, ArchivedRecordCreate):
            original = columns.pop("archive_of").value
            ended = self._once(("ended", original), lambda: reference.retirement(self._session, original, self._today))
            if ended is None:
                raise _invalid("archive_of", f"{original} has not ended: its own clients record its view of a case")
            if ended.successor != acting:
                raise AgencyNotPermitted(
                    f"{ended.describe()}. Only {ended.successor or 'its successor'} imports {original}'s archive, "
                    f"not {acting}."
                )
            agency, imported_by, fix = original, acting, "correct it with PATCH"
        else:
            agency, imported_by, fix, ended = acting, None, "update it with PATCH and If-Match", None
        if (case_id, agency) in taken:
            raise Conflict(f"{agency} already has a record of case {case_number}; {fix}.")
        for field, code in _record_codes(data).items():
            self._once(("code", field, code), functools.partial(_check_codes, self._session, **{field: code}))
        now = utcnow()
        row = {
            "id": uuid.uuid4(),
            "case_id": case_id,
            "agency": agency,
            "recorded_on": None,
            **columns,
            "imported_by": imported_by,
            "submitted_by_client": self._principal.client_id,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        if ended is not None:
            _check_archive_dates(row, ended.ended_on)
        return row


_ARCHIVE_DATES = (
    "reported_date",
    "recommendation_date",
    "sanction_date",
    "decision_date",
    "blocked_on",
    "block_lifted_on",
)
"""The dates an archived record holds, none after the day it was recorded."""


def _check_archive_dates(record: Mapping[str, Any], ended_on: dt.date) -> None:
    """An archive holds what the agency recorded before it ended, and nothing it recorded before it happened
    (``record``: its columns)."""
    recorded_on = record["recorded_on"]
    assert recorded_on is not None  # every archived record has one (ArchivedRecordCreate requires it)
    if recorded_on >= ended_on:
        raise _invalid(
            "recorded_on",
            f"{record['agency']} ended on {ended_on.isoformat()}: its archive holds only records made before, "
            f"not on {recorded_on.isoformat()}",
        )
    for field in _ARCHIVE_DATES:
        value: dt.date | None = record[field]
        if value is not None and value > recorded_on:
            raise _invalid(
                field,
                f"{field} {value.isoformat()} is after the day the record was made ({recorded_on.isoformat()})",
            )


def _record_codes(data: AgencyRecordFields) -> dict[str, str | None]:
    """A record's reference codes, in the order they are checked."""
    return {
        "position_category": data.position_category,
        "violation_code": data.violation_code,
        "recommended_sanction_code": data.recommended_sanction_code,
        "imposed_sanction_code": data.imposed_sanction_code,
        "instansi_code": data.instansi_code,
        "province_code": data.province_code,
    }


def _check_record_codes(session: Session, data: AgencyRecordFields) -> None:
    _check_codes(session, **_record_codes(data))


def require_own_record(
    session: Session, principal: Principal, case_id: uuid.UUID, record_id: uuid.UUID
) -> AgencyRecord:
    """Another agency's record is not found for writing: agencies change only their own view, and a successor the
    records it imported from a retired agency's archive."""
    record = repository.get_record(session, case_id, record_id)
    if record is None or principal.agency is None or principal.agency.value not in {record.agency, record.imported_by}:
        raise NotFound(f"No record {record_id} of your agency on case {case_id}.")
    return record


def require_record(session: Session, case_id: uuid.UUID, record_id: uuid.UUID) -> AgencyRecord:
    record = repository.get_record(session, case_id, record_id)
    if record is None:
        raise NotFound(f"No record {record_id} on case {case_id}.")
    return record


def update_record(
    session: Session,
    ctx: WriteContext,
    record: AgencyRecord,
    data: AgencyRecordUpdate,
    if_match: str | None,
) -> tuple[AgencyRecord, LedgerChange]:
    _acting_agency(session, ctx.principal, today_in_jakarta())  # a record is changed as of today
    check_if_match(if_match, record.version)
    _check_record_codes(session, data)
    changes = data.columns(only_sent=True)
    if not changes:
        raise _invalid("body", "send at least one field to change")
    for field, value in changes.items():
        setattr(record, field, value)
    if record.imported_by is not None:  # a correction of an archived record stays within the archive's dates
        ended = reference.retirement(session, record.agency, today_in_jakarta())
        assert ended is not None  # only a retired agency's records are imported
        dated = {name: getattr(record, name) for name in ("agency", "recorded_on", *_ARCHIVE_DATES)}
        _check_archive_dates(dated, ended.ended_on)
    record.submitted_by_client = ctx.principal.client_id
    session.flush()
    return record, LedgerChange(
        "agency_record.updated",
        {"record_id": str(record.id), "changes": _record_payload(record) | {"changed": sorted(changes)}},
        record.case_id,
    )


def correct_sanction(
    session: Session,
    ctx: WriteContext,
    case: Case,
    data: SanctionCorrectionCreate,
    if_match: str | None,
) -> tuple[Case, list[LedgerChange]]:
    """A recorded sanction corrected, with a coded reason and the decision it rests on: the case keeps its stage,
    the history and the ledger keep the step (``correct_sanction``, the sanction before and after), and the acting
    agency's record follows, so other agencies still holding the old sanction are reported by reconciliation."""
    check_if_match(if_match, case.version)
    stage = Stage(case.stage)
    recorded_by = SANCTION_CORRECTIONS.get(stage)
    if recorded_by is None or case.imposed_sanction_code is None:
        stages = ", ".join(sorted(SANCTION_CORRECTIONS))
        raise IllegalTransition(
            f"Case {case.case_number} in stage {stage} has no imposed sanction to correct; corrections are made in: "
            f"{stages}.",
            extra={"current_stage": stage.value, "action": Action.CORRECT_SANCTION.value},
        )
    effective, agency = _effective_step(session, ctx, case, data.effective_date)
    edge = next(t for t in TRANSITIONS if t.action is recorded_by)
    allowed = _allowed_agencies(session, edge, effective)
    if agency not in allowed:
        raise AgencyNotPermitted(
            f"A sanction recorded by '{recorded_by}' is corrected by {', '.join(sorted(allowed))}, not {agency}."
        )
    if data.sanction_code == case.imposed_sanction_code:
        raise _invalid("sanction_code", f"{data.sanction_code} is already the recorded sanction")
    sanctions.check_imposed(session, case, data.sanction_code, data.reason, effective)
    previous = case.imposed_sanction_code
    case.imposed_sanction_code = data.sanction_code
    case.imposed_sanction_reason = data.reason.value
    return case, _step_taken(
        session,
        ctx,
        case,
        agency,
        {"previous_sanction_code": previous},
        action=Action.CORRECT_SANCTION.value,
        from_stage=case.stage,
        effective_date=effective,
        reference_number=data.reference_number,
        sanction_code=data.sanction_code,
        sanction_reason=data.reason.value,
        note=data.note,
    )


# ---------------------------------------------------------------------------------------------------------
# Reopening a case that ended (workflow.REOPENINGS)


def reopen_case(
    session: Session,
    settings: Settings,
    ctx: WriteContext,
    case: Case,
    data: ReopenCreate,
    if_match: str | None,
) -> tuple[Case, list[LedgerChange]]:
    """Return a case that ended to the workflow, for a coded reason with the reference of the decision behind it.

    One ``case.transitioned`` entry (action ``reopen``, its ``reopen_reason``) and the acting agency's record
    following it, like any step; an annulled sanction leaves the case (``imposed_sanction_code``) with none."""
    check_if_match(if_match, case.version)
    stage = Stage(case.stage)
    reopening = REOPENINGS.get(stage)
    if reopening is None:
        raise IllegalTransition(
            f"Case {case.case_number} is in stage {stage}, which has not ended; only a case in "
            f"{', '.join(sorted(REOPENINGS))} is reopened.",
            extra={"current_stage": stage.value, "action": Action.REOPEN.value},
        )
    if data.reason not in reopening.reasons:
        raise _invalid(
            "reason",
            f"a case in {stage} is reopened for {', '.join(sorted(reopening.reasons))}, not {data.reason}",
        )
    effective, agency = _effective_step(session, ctx, case, data.effective_date)
    # a case ends only by a transition; a sanction correction after it keeps the stage
    ending = [step for step in repository.list_transitions(session, case.id) if step.from_stage != step.to_stage][-1]
    ended_by = find_transition(Action(ending.action), Stage(ending.from_stage))
    allowed = _allowed_agencies(session, ended_by, effective) if ended_by is not None else set()
    if agency not in allowed:
        raise AgencyNotPermitted(
            f"A case ended by '{ending.action}' from {ending.from_stage} is reopened by the agency that may take "
            f"that step on {effective}: {', '.join(sorted(allowed)) or 'none'}, not {agency}."
        )
    target = reopening.target or Stage(ending.from_stage)
    if stage in SANCTIONED_ENDS:
        case.imposed_sanction_code = None
        case.imposed_sanction_reason = None
        case.sanction_date = None
        case.decision_number = case.decision_date = None
    case.stage = target.value
    case.stage_entered_on = effective
    case.deadline_date = deadline_for(target, effective, settings, case.election_type)
    return case, _step_taken(
        session,
        ctx,
        case,
        agency,
        action=Action.REOPEN.value,
        from_stage=stage.value,
        effective_date=effective,
        reference_number=data.reference_number,
        reopen_reason=data.reason.value,
        note=data.note,
    )
