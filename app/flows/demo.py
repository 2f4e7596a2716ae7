"""A realistic demo sample: cases across agencies, regions and stages, with deliberate disagreements.

Everything goes through the same write flows as the API, so the demo data has ledger entries, findings and
history like real data.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.cases import repository as case_repository
from app.cases.schemas import (
    AgencyRecordCreate,
    AgencyRecordUpdate,
    CaseCreate,
    CaseRead,
    ElectionType,
    Phase,
    ReportSource,
    SanctionLevel,
    SanctionStatus,
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


def _create(demo: _Demo) -> CaseRead:
    violation = demo.pick(VIOLATIONS)
    election = demo.rng.choice([ElectionType.PEMILU, ElectionType.PILKADA])
    earlier = [case for case in demo.created if case.election_type != election]
    if earlier and demo.rng.random() < REPEAT_SHARE:  # the same ASN again, in the other election
        person = demo.rng.choice(earlier)
        nip, name, position = person.nip, person.name, person.position_category
        instansi_code, unit = str(person.instansi_code), person.instansi
        province, regency = person.province_code, person.regency
    else:
        province = demo.pick(PROVINCES)
        regency = demo.rng.choice(REGENCIES[province])
        instansi_code, unit = _instansi(demo, province, regency)
        nip, name, position = demo.nip(), demo.name(), demo.pick(POSITIONS)
    phase = Phase.BAKAL_CALON if violation.startswith("KE") else Phase.CALON
    first, last = PHASE_WINDOWS[election, phase]
    incident = first + dt.timedelta(days=demo.rng.randint(0, (last - first).days))
    reported = incident + dt.timedelta(days=demo.rng.randint(0, 6))
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
        source=demo.rng.choice([ReportSource.LAPORAN, ReportSource.TEMUAN]),
        incident_date=incident,
        reported_date=reported,
    )
    case = cases.create_case(demo.factory, demo.settings, demo.context("BAWASLU"), data, None).body
    demo.created.append(case)
    return case


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
            reference_number=f"R-{demo.rng.randint(100, 9999)}/{agency}/{on.month}/{on.year}"
            if edge.requires_reference
            else None,
        )
        etag = etag_of(case.version)
        case = cases.transition_case(demo.factory, demo.settings, demo.context(agency), case.id, data, etag, None).body
    return case


def _allowed_sanctions(demo: _Demo, case: CaseRead, on: dt.date) -> list[tuple[str, str]]:
    """(code, level) of the sanctions the matrix allows for the case on ``on``, within the recommended level once
    there is one: the demo imposes only what the PPK may impose without a reason."""
    with transaction(demo.factory) as session:
        level = case.recommended_sanction_level
        levels = [level.value] if level is not None else reference.matrix_levels(session, case.violation_code)
        return [(row.code, row.level) for row in reference.sanctions_in_force(session, case.employee_kind, on, levels)]


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
        view: dict[str, Any] = {}
        sanction = case.imposed_sanction_code or case.recommended_sanction_code
        status = SanctionStatus.IMPOSED if case.imposed_sanction_code else SanctionStatus.RECOMMENDED
        flaw = demo.rng.random() if demo.disagreements else 1.0
        if flaw < 0.05:
            view["nip"] = case.nip[:10] + case.nip[11] + case.nip[10] + case.nip[12:]  # transposed digits
            demo.planted.add("NIP_MISMATCH")
            if nip_issues(view["nip"], demo.today)[0]:  # the swap can move the TMT past today or before birth
                demo.planted.add("NIP_INVALID")
        elif flaw < 0.09:  # titles dropped and upper case: the same name, which reconciliation rightly accepts
            view["name"] = case.name.split(",")[0].replace("Drs. ", "").replace("H. ", "").upper()
        elif flaw < 0.12:
            family = next(part for part in FAMILY if part in case.name)
            view["name"] = case.name.replace(family, OLD_SPELLINGS[family])
            demo.planted.add("NAME_MISMATCH")
        elif flaw < 0.16 and sanction is not None:  # another sanction of the same level keyed in (6 months for 12)
            others = [code for code, _ in _allowed_sanctions(demo, case, demo.today) if code != sanction]
            if others:
                view["sanction_code"], view["sanction_status"] = demo.rng.choice(others), status
                demo.planted.add("SANCTION_RECORD_MISMATCH")
        elif flaw < 0.22 and Stage(case.stage) not in TERMINAL_STAGES:
            view["stage"] = Stage.DITERIMA
            demo.planted.update({"STAGE_INCONSISTENT", "STAGE_REGRESSION"})
        elif flaw < 0.25 and case.instansi_code != case.province_code:
            view["instansi_code"] = case.province_code  # the province's government instead of the ASN's instansi
            demo.planted.add("INSTANSI_MISMATCH")
        context = demo.context(agency)
        if held_version is not None:
            if view:
                record_id, version = held_version
                update = AgencyRecordUpdate(**view)
                cases.update_record(demo.factory, demo.settings, context, case.id, record_id, update, etag_of(version))
            continue
        record = AgencyRecordCreate(
            **{
                "nip": case.nip,
                "name": case.name,
                "position_category": case.position_category,
                "instansi_code": case.instansi_code,
                "violation_code": case.violation_code,
                "stage": Stage(case.stage),
                "sanction_code": sanction,
                "reported_date": case.reported_date,
                "recommendation_date": case.recommendation_date,
                "reference_number": case.recommendation_number,
                "external_id": f"{agency}-{demo.rng.randint(10000, 99999)}",
                **view,
            }
        )
        cases.submit_record(demo.factory, demo.settings, context, case.id, record, None)


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
        for _ in range(cases):
            case = _create(demo)
            case = _advance(demo, case, Stage(demo.pick(targets)))
            if Stage(case.stage) not in TERMINAL_STAGES:
                demo.planted.add("DEADLINE_EXCEEDED")
            _agency_views(demo, case)
        outbox.drain(factory, settings)  # the findings of every demo case before the command ends
    finally:
        engine.dispose()
    return DemoLoad(cases, frozenset(demo.planted))
