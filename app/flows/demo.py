"""A realistic demo sample: cases across agencies, regions and stages, with deliberate disagreements.

Everything goes through the same write flows as the API, so the demo data has ledger entries, findings and
history like real data.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.cases import repository as case_repository
from app.cases import service as case_service
from app.cases.schemas import (
    AgencyRecordCreate,
    AgencyRecordUpdate,
    CaseCreate,
    CaseRead,
    ElectionType,
    Phase,
    ReportSource,
    SanctionLevel,
    TransitionCreate,
)
from app.cases.workflow import TERMINAL_STAGES, Action, Stage, actions_from
from app.core.actor import AGENCY_SCOPES, Agency, Principal, Role, WriteContext
from app.core.clock import today_in_jakarta
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.core.etag import etag_of
from app.flows import cases
from app.reconciliation import outbox
from app.reconciliation.rules import nip_issues
from app.reference import repository as reference
from app.reference.instansi import InstansiKind
from app.reference.repository import agency_acting_for
from app.reference.seed import load_rows

# Weights follow the mixes KASN (top provinces) and Kemendagri (violations) published for 2024.
PROVINCES = {"73": 45, "74": 29, "33": 22, "76": 20, "72": 8, "35": 12, "32": 12, "12": 6, "64": 5, "52": 4}
REGENCIES = {
    "73": ["Kabupaten Gowa", "Kota Makassar", "Kabupaten Bone"],
    "74": ["Kota Kendari", "Kabupaten Konawe"],
    "33": ["Kota Semarang", "Kabupaten Klaten", "Kabupaten Jepara"],
    "76": ["Kabupaten Mamuju", "Kabupaten Polewali Mandar"],
    "72": ["Kota Palu", "Kabupaten Poso"],
    "35": ["Kota Surabaya", "Kabupaten Jember"],
    "32": ["Kota Bandung", "Kabupaten Karawang"],
    "12": ["Kota Medan", "Kabupaten Deli Serdang"],
    "64": ["Kabupaten Berau", "Kota Samarinda"],
    "52": ["Kota Mataram", "Kabupaten Lombok Timur"],
}
# About 23% of ASN work for central K/L (BKN 2022-2023), mostly in their regional offices.
CENTRAL_SHARE = 0.23
PROVINCIAL_SHARE = 0.2
"""Of regional ASN, those working for the province rather than a kabupaten/kota."""
CENTRAL_INSTANSI = {"KEMENAG": 40, "KEMENDIKBUDRISTEK": 15, "KEMENKEU": 15, "KEMENKES": 10, "KPU": 20}
REGIONAL_UNITS = ["Dinas Pendidikan", "Dinas Kesehatan", "RSUD", "Sekretariat Daerah", "Badan Kepegawaian Daerah"]
_INSTANSI = {str(row["name"]): row for row in load_rows("instansi")}
PROVINCE_NAMES = {str(row["code"]): str(row["name"]) for row in load_rows("province")}
PPK_SUPERVISOR = {str(row["code"]): InstansiKind(row["kind"]).ppk_supervisor.value for row in _INSTANSI.values()}
VIOLATIONS = {
    "D-6": 16,
    "D-4": 13,
    "D-2": 11,
    "D-8": 11,
    "D-5": 7,
    "D-7": 8,
    "D-12": 5,
    "KE-4": 9,
    "KE-5": 6,
    "KE-6": 5,
}
POSITIONS = {"FUNGSIONAL": 23, "JPT": 23, "PELAKSANA": 18, "KEPALA_WILAYAH": 17, "ADMINISTRATOR": 10, "PENGAWAS": 9}
REPEAT_SHARE = 0.1
"""Cases of an ASN already reported in the other election (Pemilu 2024, then the Pilkada, or the reverse)."""
MULTI_ASN_SHARE = 0.1
"""Reports naming several ASN of one office in one incident (one register number, one case each)."""
LEVEL_ONLY_SHARE = 0.3
"""Recommendations that name only a level, as KASN letters often do ("Disiplin Sedang")."""
GIVEN = ["Ahmad", "Siti", "Muhammad", "Nur", "Andi", "Dewi", "Budi", "Sri", "Agus", "Rina", "Hendra", "Wahyuni"]
FAMILY = ["Santoso", "Susanto", "Rahman", "Hidayat", "Pratama", "Saputra", "Lestari", "Hasanuddin", "Nasution"]
OLD_SPELLINGS = {
    "Santoso": "Santosa",
    "Susanto": "Soesanto",
    "Rahman": "Rachman",
    "Hidayat": "Hidajat",
    "Pratama": "Pratomo",
    "Saputra": "Saputro",
    "Lestari": "Lestary",
    "Hasanuddin": "Hasanudin",
    "Nasution": "Nasoetion",
}
"""The family name as another agency keyed it (pre-1972 spelling, Javanese vowel): a name mismatch to review."""
TITLES_BEFORE = ["", "", "Drs. ", "Dr. ", "Ir. ", "H. ", "Hj. "]
TITLES_AFTER = ["", "", ", S.Pd.", ", M.Si.", ", S.H.", ", M.Hum."]
# How far each case gets, roughly like the December 2024 status counts (many waiting, few sanctioned).
TARGET_STAGES = {
    Stage.DITERIMA: 20,
    Stage.TERVERIFIKASI: 8,
    Stage.DITOLAK: 6,
    Stage.KAJIAN: 8,
    Stage.DITERUSKAN: 8,
    Stage.TIDAK_TERBUKTI: 5,
    Stage.REKOMENDASI: 18,
    Stage.TEGURAN_BKN: 5,
    Stage.PPK_DISANKSI: 2,
    Stage.DIBLOKIR: 3,
    Stage.SANKSI_DIJATUHKAN: 12,
    Stage.BLOKIR_DIBUKA: 2,
    Stage.DIBATALKAN: 3,
}
# The 2024 calendar: KPU fixed the presidential candidates on 13 Nov 2023 (voting 14 Feb 2024) and the Pilkada
# candidates on 22 Sep 2024 (voting 27 Nov 2024). Kode etik forms concern bakal calon, before that day; disiplin
# forms concern calon, from it to voting day (a few days after it for reports of the quiet period).
PHASE_WINDOWS = {
    (ElectionType.PEMILU, Phase.BAKAL_CALON): (dt.date(2023, 8, 1), dt.date(2023, 11, 12)),
    (ElectionType.PEMILU, Phase.CALON): (dt.date(2023, 11, 13), dt.date(2024, 2, 14)),
    (ElectionType.PILKADA, Phase.BAKAL_CALON): (dt.date(2024, 5, 1), dt.date(2024, 9, 21)),
    (ElectionType.PILKADA, Phase.CALON): (dt.date(2024, 9, 22), dt.date(2024, 11, 27)),
}
HAPPY_PATH = [Action.VERIFY, Action.START_STUDY, Action.FORWARD, Action.RECOMMEND]
ROUTES: dict[Stage, list[Action]] = {
    Stage.DITERIMA: [],
    Stage.TERVERIFIKASI: HAPPY_PATH[:1],
    Stage.DITOLAK: [Action.REJECT],
    Stage.KAJIAN: HAPPY_PATH[:2],
    Stage.DITERUSKAN: HAPPY_PATH[:3],
    Stage.TIDAK_TERBUKTI: [*HAPPY_PATH[:2], Action.DISMISS],
    Stage.REKOMENDASI: HAPPY_PATH,
    Stage.TEGURAN_BKN: [*HAPPY_PATH, Action.REPRIMAND],
    Stage.PPK_DISANKSI: [*HAPPY_PATH, Action.REPRIMAND, Action.SANCTION_PPK],
    Stage.DIBLOKIR: [*HAPPY_PATH, Action.REPRIMAND, Action.BLOCK],
    Stage.SANKSI_DIJATUHKAN: [*HAPPY_PATH, Action.IMPOSE_SANCTION],
    Stage.BLOKIR_DIBUKA: [*HAPPY_PATH, Action.REPRIMAND, Action.BLOCK, Action.LIFT_BLOCK],
    Stage.DIBATALKAN: [Action.VERIFY, Action.CANCEL],
}


@dataclass
class _Demo:
    rng: random.Random
    settings: Settings
    factory: sessionmaker[Session]
    today: dt.date
    disagreements: bool
    planted: set[str]
    """The reconciliation rule each planted disagreement is meant to trigger."""
    created: list[CaseRead]
    flaws_planted: set[_Flaw] = field(default_factory=set)

    def pick(self, weights: dict[str, int]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def context(self, agency: str) -> WriteContext:
        principal = Principal(
            client_id=f"demo-{agency.lower()}", role=Role.AGENCY, agency=Agency(agency), scopes=AGENCY_SCOPES
        )
        return WriteContext(principal=principal, body_sha256="0" * 64, request_id="demo-data")

    def nip(self) -> str:
        birth = dt.date(self.rng.randint(1965, 1996), self.rng.randint(1, 12), self.rng.randint(1, 28))
        appointed = birth.year + self.rng.randint(22, 30)
        month, gender, sequence = self.rng.randint(1, 12), self.rng.randint(1, 2), self.rng.randint(1, 3)
        return f"{birth:%Y%m%d}{appointed}{month:02d}{gender}{sequence:03d}"

    def name(self) -> str:
        core = f"{self.rng.choice(GIVEN)} {self.rng.choice(FAMILY)}"
        return f"{self.rng.choice(TITLES_BEFORE)}{core}{self.rng.choice(TITLES_AFTER)}"


def _instansi(demo: _Demo, province: str, regency: str) -> tuple[str, str]:
    """An instansi code and the unit as reported: a K/L's office in the regency, a unit of the regency's
    government or, less often, of the province's."""
    if demo.rng.random() < CENTRAL_SHARE:
        code = demo.pick(CENTRAL_INSTANSI)
        name = next(name for name, row in _INSTANSI.items() if row["code"] == code)
        return code, f"{name}, kantor {regency}"
    unit = demo.rng.choice(REGIONAL_UNITS)
    if demo.rng.random() < PROVINCIAL_SHARE:
        return province, f"{unit} Provinsi {PROVINCE_NAMES[province]}"
    return str(_INSTANSI[f"Pemerintah {regency}"]["code"]), f"{unit} {regency}"


def _report(demo: _Demo, size: int) -> list[CaseRead]:
    """One incident reported with its register number: one case for each of its ``size`` ASN."""
    violation = demo.pick(VIOLATIONS)
    election = demo.rng.choice([ElectionType.PEMILU, ElectionType.PILKADA])
    earlier = [case for case in demo.created if case.election_type != election]
    if size == 1 and earlier and demo.rng.random() < REPEAT_SHARE:  # the same ASN again, in the other election
        person = demo.rng.choice(earlier)
        province, regency = person.province_code, str(person.regency)
        people = [(person.nip, person.name, person.position_category, str(person.instansi_code), person.instansi)]
    else:
        province = demo.pick(PROVINCES)
        regency = demo.rng.choice(REGENCIES[province])
        instansi_code, unit = _instansi(demo, province, regency)  # colleagues of one office, in one incident
        people = [(demo.nip(), demo.name(), demo.pick(POSITIONS), instansi_code, unit) for _ in range(size)]
    phase = Phase.BAKAL_CALON if violation.startswith("KE") else Phase.CALON
    first, last = PHASE_WINDOWS[election, phase]
    incident = first + dt.timedelta(days=demo.rng.randint(0, (last - first).days))
    reported = incident + dt.timedelta(days=demo.rng.randint(0, 6))
    source = demo.rng.choice([ReportSource.LAPORAN, ReportSource.TEMUAN])
    register = (
        f"{len(demo.created) + 1:03d}/Reg/{'LP' if source is ReportSource.LAPORAN else 'TM'}/{province}/{incident.year}"
    )
    reported_cases = []
    for nip, name, position, instansi_code, unit in people:
        data = CaseCreate(
            nip=nip,
            name=name,
            instansi_code=instansi_code,
            instansi=unit,
            position_category=position,
            province_code=province,
            regency=regency,
            election_type=election,
            election_year=2024,
            violation_code=violation,
            phase=phase,
            source=source,
            incident_date=incident,
            reported_date=reported,
            register_number=register,
        )
        case = cases.create_case(demo.factory, demo.settings, demo.context("BAWASLU"), data, None).body
        demo.created.append(case)
        reported_cases.append(case)
    return reported_cases


def _incident_size(demo: _Demo, remaining: int) -> int:
    """How many ASN the next report names: the load's first report three (one incident, three cases), later ones
    two or three in one of ten."""
    if not demo.created:
        return min(3, remaining)
    return min(demo.rng.choice([2, 3]), remaining) if demo.rng.random() < MULTI_ASN_SHARE else 1


def _advance(demo: _Demo, case: CaseRead, target: Stage) -> CaseRead:
    for action in ROUTES[target]:
        edge = next(t for t in actions_from(Stage(case.stage)) if t.action is action)
        gap = demo.rng.randint(1, 6)
        if edge.requires_deadline_passed and case.deadline_date is not None:
            gap = (case.deadline_date - case.stage_entered_on).days + demo.rng.randint(1, 5)
        on = case.stage_entered_on + dt.timedelta(days=gap)
        if on > demo.today:
            return case
        with transaction(demo.factory) as session:
            agency = sorted({agency_acting_for(session, a.value, on) for a in edge.agencies})[0]
        if edge.by_ppk_supervisor:
            agency = PPK_SUPERVISOR[str(case.instansi_code)]
        sanction, level = demo.rng.choice(_allowed_sanctions(demo, case, on))
        level_only = action is Action.RECOMMEND and demo.rng.random() < LEVEL_ONLY_SHARE
        data = TransitionCreate(
            action=action,
            effective_date=on,
            sanction_code=sanction if edge.requires_sanction and not level_only else None,
            sanction_level=SanctionLevel(level) if level_only else None,
            reference_number=_letter_number(demo, action, agency, on),
        )
        etag = etag_of(case.version)
        case = cases.transition_case(demo.factory, demo.settings, demo.context(agency), case.id, data, etag, None).body
    return case


def _letter_number(demo: _Demo, action: Action, agency: str, on: dt.date) -> str | None:
    """The recommendation's letter number, or the PPK's decision (SK) imposing the sanction."""
    if action is Action.RECOMMEND:
        return f"R-{demo.rng.randint(100, 9999)}/{agency}/{on.month}/{on.year}"
    if action in {Action.IMPOSE_SANCTION, Action.LIFT_BLOCK}:
        return f"800/{demo.rng.randint(100, 9999)}/BKPSDM/{on.year}"
    return None


def _allowed_sanctions(demo: _Demo, case: CaseRead, on: dt.date) -> list[tuple[str, str]]:
    """(code, level) of the sanctions the matrix allows for the case on ``on``, within the recommended level once
    there is one: the demo imposes only what the PPK may impose without a reason."""
    with transaction(demo.factory) as session:
        level = case.recommended_sanction_level
        levels = [level.value] if level is not None else reference.matrix_levels(session, case.violation_code)
        return [(row.code, row.level) for row in reference.sanctions_in_force(session, case.employee_kind, on, levels)]


@dataclass(frozen=True)
class _Flaw:
    """A planted disagreement: an agency keys one thing differently from the case. ``plant`` returns the record
    fields it keys otherwise, or None when the case gives it nothing to get wrong."""

    rules: frozenset[str]
    """The reconciliation rules it triggers."""
    plant: Callable[[_Demo, CaseRead], dict[str, Any] | None]
    share: float
    """How often an agency's record has this flaw."""
    held_only: bool = False
    """Only in a record the agency's own step made (keyed back: a regression below the stage it reached)."""


def _transposed_nip(_demo: _Demo, case: CaseRead) -> dict[str, Any] | None:
    swapped = case.nip[:10] + case.nip[11] + case.nip[10] + case.nip[12:]
    return {"nip": swapped} if swapped != case.nip else None


def _old_spelling(_demo: _Demo, case: CaseRead) -> dict[str, Any]:
    family = next(part for part in FAMILY if part in case.name)
    return {"name": case.name.replace(family, OLD_SPELLINGS[family])}


def _other_sanction(demo: _Demo, case: CaseRead) -> dict[str, Any] | None:
    """Another sanction of the same level keyed in (6 months for 12), as imposed or as recommended."""
    field, sanction = (
        ("imposed_sanction_code", case.imposed_sanction_code)
        if case.imposed_sanction_code
        else ("recommended_sanction_code", case.recommended_sanction_code)
    )
    others = [code for code, _ in _allowed_sanctions(demo, case, demo.today) if code != sanction]
    return {field: demo.rng.choice(others)} if sanction is not None and others else None


def _left_at_intake(_demo: _Demo, case: CaseRead) -> dict[str, Any] | None:
    open_after_intake = Stage(case.stage) not in {*TERMINAL_STAGES, Stage.DITERIMA}
    return {"stage": Stage.DITERIMA} if open_after_intake else None


def _recorded_rejected(_demo: _Demo, case: CaseRead) -> dict[str, Any] | None:
    """The agency records the report as rejected while the case went on: it does not count it among the cases it
    would publish (the count bridge's ``other_stage``)."""
    return {"stage": Stage.DITOLAK} if Stage(case.stage) not in {Stage.DITOLAK, Stage.DITERIMA} else None


def _province_government(_demo: _Demo, case: CaseRead) -> dict[str, Any] | None:
    """The province's government instead of the ASN's instansi."""
    return {"instansi_code": case.province_code} if case.instansi_code != case.province_code else None


def _neighbouring_regency(demo: _Demo, case: CaseRead) -> dict[str, Any] | None:
    others = [regency for regency in REGENCIES[case.province_code] if regency != case.regency]
    return {"regency": demo.rng.choice(others)} if others else None


def _other_election(_demo: _Demo, case: CaseRead) -> dict[str, Any]:
    other = ElectionType.PILKADA if case.election_type is ElectionType.PEMILU else ElectionType.PEMILU
    return {"election_type": other}


def _other_decision_number(_demo: _Demo, case: CaseRead) -> dict[str, Any] | None:
    return {"decision_number": f"{case.decision_number}-A"} if case.decision_number else None


FLAWS = (
    _Flaw(frozenset({"NIP_MISMATCH"}), _transposed_nip, 0.05),
    _Flaw(frozenset({"NAME_MISMATCH"}), _old_spelling, 0.03),
    _Flaw(frozenset({"SANCTION_RECORD_MISMATCH"}), _other_sanction, 0.04),
    _Flaw(frozenset({"STAGE_INCONSISTENT"}), _left_at_intake, 0.03),
    _Flaw(frozenset({"STAGE_INCONSISTENT", "STAGE_REGRESSION"}), _left_at_intake, 0.02, held_only=True),
    _Flaw(frozenset({"STAGE_INCONSISTENT"}), _recorded_rejected, 0.02),
    _Flaw(frozenset({"INSTANSI_MISMATCH"}), _province_government, 0.03),
    _Flaw(frozenset({"REGION_MISMATCH"}), _neighbouring_regency, 0.02),
    _Flaw(frozenset({"ELECTION_MISMATCH"}), _other_election, 0.02),
    _Flaw(frozenset({"ENFORCEMENT_RECORD_MISMATCH"}), _other_decision_number, 0.03),
)
"""Every kind of disagreement the demo plants: each at least once (the first record it can go wrong in), then at
its share."""


def _flawed_view(demo: _Demo, case: CaseRead, *, held: bool) -> dict[str, Any]:
    """The fields an agency keys otherwise than the case, and the rules that will see it (``held``: it corrects
    the record its own step made, rather than submitting one)."""
    if not demo.disagreements:
        return {}
    roll = demo.rng.random()
    pending = [flaw for flaw in FLAWS if flaw not in demo.flaws_planted]
    chosen: list[_Flaw] = []
    threshold = 0.0
    for flaw in FLAWS:
        threshold += flaw.share
        if roll < threshold:
            chosen.append(flaw)
            break
    for flaw in [*chosen, *pending]:
        view = flaw.plant(demo, case) if held or not flaw.held_only else None
        if view is None:
            continue
        demo.flaws_planted.add(flaw)
        demo.planted.update(flaw.rules)
        if "nip" in view and nip_issues(view["nip"], demo.today)[0]:
            demo.planted.add("NIP_INVALID")  # the swap can move the TMT past today or before birth
        if held and view.get("stage") == Stage.DITERIMA:
            demo.planted.add("STAGE_REGRESSION")  # back below the stage its own step had reached
        return view
    if roll < threshold + 0.04:  # titles dropped and upper case: the same name, which reconciliation rightly accepts
        return {"name": case.name.split(",")[0].replace("Drs. ", "").replace("H. ", "").upper()}
    return {}


def _agency_views(demo: _Demo, case: CaseRead) -> None:
    """Other agencies' own records; about one in five disagrees somewhere, as in 2024. An agency that took a step
    already holds a record (its step made it): a disagreement there is a later correction of it."""
    involved = ["BKN"]
    if case.recommended_by is not None:
        involved.append(case.recommended_by.value)
    if (Stage(case.stage) in {Stage.PPK_DISANKSI} or demo.rng.random() < 0.3) and case.instansi_code is not None:
        involved.append(PPK_SUPERVISOR[case.instansi_code])  # the PPK's supervisor follows its case
    with transaction(demo.factory) as session:  # records are written today: an ended agency's successor keeps them
        involved = [agency_acting_for(session, agency, demo.today) for agency in involved]
    for agency in dict.fromkeys(a for a in involved if a != "BAWASLU"):
        with transaction(demo.factory) as session:
            held = case_repository.get_record_of_agency(session, case.id, agency)
            held_version = (held.id, held.version) if held is not None else None
        if held_version is None and demo.rng.random() < 0.08:
            # Not a disagreement: an agency that must hold the case at its stage got its record from its own step.
            continue  # this agency keeps no record of it
        view = _flawed_view(demo, case, held=held_version is not None)
        context = demo.context(agency)
        if held_version is not None:
            if view:
                record_id, version = held_version
                update = AgencyRecordUpdate(**view)
                cases.update_record(demo.factory, demo.settings, context, case.id, record_id, update, etag_of(version))
            continue
        shared = case.model_dump(include=set(RECORDED_FROM_CASE))
        own = {
            "reference_number": case.recommendation_number,
            "external_id": f"{agency}-{demo.rng.randint(10000, 99999)}",
        }
        record = AgencyRecordCreate(**(shared | own | view))
        cases.submit_record(demo.factory, demo.settings, context, case.id, record, None)


RECORDED_FROM_CASE = frozenset(
    {
        *case_service.RECORD_FROM_CASE,
        "stage",
        "recommended_sanction_code",
        "recommended_sanction_level",
        "imposed_sanction_code",
        "imposed_sanction_reason",
        "decision_number",
        "decision_date",
        "blocked_on",
        "block_lifted_on",
        "recommendation_date",
        "sanction_date",
    }
)
"""What an agency following the case keys into its own record: the case's own values."""


@dataclass(frozen=True)
class DemoLoad:
    cases: int
    planted: frozenset[str]
    """The reconciliation rules the planted disagreements are meant to trigger (empty when switched off)."""


def load_demo_data(settings: Settings, *, cases: int, seed: int, disagreements: bool = True) -> DemoLoad:
    """Load ``cases`` demo cases through the same write flows as the API (so the ledger and findings follow).

    With ``disagreements`` off no agency record departs from the case and every case runs to a terminal stage: a
    2024 case still open on the load day is genuinely overdue (``DEADLINE_EXCEEDED``), so stalled cases are one of
    the planted disagreements.
    """
    engine = make_engine(settings.sqlalchemy_url)
    rng = random.Random(seed)  # noqa: S311 - demo data
    factory = make_sessionmaker(engine)
    demo = _Demo(rng, settings, factory, today_in_jakarta(), disagreements, set(), [])
    targets = {s.value: w for s, w in TARGET_STAGES.items() if disagreements or s in TERMINAL_STAGES}
    try:
        while len(demo.created) < cases:
            for reported in _report(demo, _incident_size(demo, cases - len(demo.created))):
                case = _advance(demo, reported, Stage(demo.pick(targets)))
                if Stage(case.stage) not in TERMINAL_STAGES:
                    demo.planted.add("DEADLINE_EXCEEDED")
                _agency_views(demo, case)
        outbox.drain(factory, settings)  # the findings of every demo case before the command ends
    finally:
        engine.dispose()
    return DemoLoad(cases, frozenset(demo.planted))
