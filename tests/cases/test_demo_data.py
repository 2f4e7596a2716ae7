"""The demo loader produces a realistic, varied sample through the normal service layer."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cases.models import AgencyRecord, Case
from app.cli import cli
from app.core.config import Settings
from app.flows.demo import load_demo_data
from app.reconciliation.models import Finding, FindingState
from app.reference.instansi import InstansiKind
from app.reference.models import Instansi
from tests.auth_helpers import AuthHeaders

END_OF_KASN = dt.date(2024, 8, 24)
PEMILU_VOTING_DAY = dt.date(2024, 2, 14)
PILKADA_CANDIDATES_FIXED = dt.date(2024, 9, 22)
PILKADA_VOTING_DAY = dt.date(2024, 11, 27)


@pytest.mark.real_commits  # the demo loader opens its own engine
def test_demo_data_spans_stages_regions_agencies_and_disagreements(settings: Settings, session: Session) -> None:
    assert load_demo_data(settings, cases=60, seed=7).cases == 60
    cases = session.scalars(select(Case)).all()
    records = session.scalars(select(AgencyRecord)).all()
    assert len(cases) == 60
    assert len({case.stage for case in cases}) >= 6
    assert len({case.province_code for case in cases}) >= 5
    assert {record.agency for record in records} >= {"BAWASLU", "BKN"}
    assert "KASN" in {case.recommended_by for case in cases}  # history before 2024-08-24 stays KASN's
    # KASN's records are those its own steps made, dated as they were; records written today go to BKN.
    kasn_records = [record for record in records if record.agency == "KASN"]
    assert kasn_records
    assert all(record.recorded_on is not None and record.recorded_on < END_OF_KASN for record in kasn_records)
    by_id = {case.id: case for case in cases}
    disagreements = [
        record
        for record in records
        if record.nip != by_id[record.case_id].nip
        or record.name != by_id[record.case_id].name
        or record.stage != by_id[record.case_id].stage
    ]
    assert disagreements, "the demo sample must include agencies that disagree"
    retired = session.scalars(select(Finding).where(Finding.rule == "RETIRED_AGENCY_DATA")).all()
    assert retired == []  # no false alarm about KASN's history
    # Sanctions come from the matrix: some recommendations name only a level, and every imposed sanction is within
    # the recommended level (the write would refuse it otherwise), so none is reported as departing from it.
    assert any(case.recommended_sanction_level and not case.recommended_sanction_code for case in cases)
    assert any(case.imposed_sanction_code for case in cases)
    departing = session.scalars(select(Finding).where(Finding.rule == "SANCTION_NOT_PER_RECOMMENDATION")).all()
    assert departing == []


@pytest.mark.real_commits  # the demo loader opens its own engine
def test_demo_instansi_are_real_central_and_regional_and_supervised_by_the_right_ministry(
    settings: Settings, session: Session
) -> None:
    load_demo_data(settings, cases=80, seed=11)
    kinds = {row.code: row for row in session.scalars(select(Instansi))}
    cases = session.scalars(select(Case)).all()
    assert all(case.instansi_code in kinds for case in cases)
    central = [case for case in cases if not InstansiKind(kinds[str(case.instansi_code)].kind).regional]
    assert 0.1 <= len(central) / len(cases) <= 0.4  # about 23% of ASN are central (BKN 2022-2023)
    for case in cases:  # a pemerintah daerah's case is in its province; a kabupaten/kota's in its regency
        instansi = kinds[str(case.instansi_code)]
        if instansi.province_code is not None:
            assert instansi.province_code == case.province_code
        if instansi.kind in {"KABUPATEN", "KOTA"}:
            assert instansi.name == f"Pemerintah {case.regency}"
    by_id = {case.id: case for case in cases}
    records = session.scalars(select(AgencyRecord).where(AgencyRecord.agency.in_(["KEMENDAGRI", "KEMENPANRB"])))
    supervisors = {
        (record.agency, InstansiKind(kinds[str(by_id[record.case_id].instansi_code)].kind).ppk_supervisor.value)
        for record in records
    }
    assert supervisors == {("KEMENDAGRI", "KEMENDAGRI"), ("KEMENPANRB", "KEMENPANRB")}  # each only its own PPKs
    # the planted disagreement: a few records name the province's government instead, and reconciliation sees it
    flagged = session.scalars(select(Finding.case_id).where(Finding.rule == "INSTANSI_MISMATCH")).all()
    other = {
        record.case_id
        for record in session.scalars(select(AgencyRecord))
        if record.instansi_code not in {None, by_id[record.case_id].instansi_code}
    }
    assert other
    assert set(flagged) == other


MEDIUM_OR_ABOVE = ("MEDIUM", "HIGH", "CRITICAL")
PLANTED_KINDS = {
    "DEADLINE_EXCEEDED",  # a case left in an open stage since 2024
    "ELECTION_MISMATCH",
    "ENFORCEMENT_RECORD_MISMATCH",
    "INSTANSI_MISMATCH",
    "NAME_MISMATCH",
    "NIP_INVALID",  # some transposed NIPs are not valid NIPs any more
    "NIP_MISMATCH",
    "REGION_MISMATCH",
    "SANCTION_RECORD_MISMATCH",
    "STAGE_INCONSISTENT",
    "STAGE_REGRESSION",
}


def _open_findings(session: Session) -> list[Finding]:
    return list(session.scalars(select(Finding).where(Finding.state == FindingState.OPEN)))


@pytest.mark.real_commits  # the demo loader opens its own engine
def test_demo_data_without_disagreements_raises_no_finding_a_reviewer_would_dispute(
    cli_env: Settings, session: Session
) -> None:
    result = CliRunner().invoke(cli, ["demo-data", "--cases", "40", "--seed", "5", "--no-disagreements"])
    assert result.exit_code == 0, result.output
    assert "loaded 40 demo cases; planted disagreements: none" in result.stdout
    cases = session.scalars(select(Case)).all()
    assert len(cases) == 40
    # the 2024 calendar: Pemilu conduct up to voting day, Pilkada calon only once KPU had fixed them
    for case in cases:
        if case.election_type == "PEMILU":
            assert case.incident_date <= PEMILU_VOTING_DAY
        elif case.phase == "CALON":
            assert PILKADA_CANDIDATES_FIXED <= case.incident_date <= PILKADA_VOTING_DAY
        else:
            assert case.incident_date < PILKADA_CANDIDATES_FIXED
    elections_of: dict[str, set[str]] = {}
    for case in cases:
        elections_of.setdefault(case.nip, set()).add(case.election_type)
    assert any(len(elections) == 2 for elections in elections_of.values()), "a repeat offender across elections"
    serious = [(f.rule, f.severity, f.message_en) for f in _open_findings(session) if f.severity in MEDIUM_OR_ABOVE]
    assert serious == [], "\n".join(map(str, serious))


@pytest.mark.real_commits  # the demo loader opens its own engine
def test_demo_data_with_disagreements_raises_only_the_planted_ones(settings: Settings, session: Session) -> None:
    loaded = load_demo_data(settings, cases=80, seed=3)
    raised = {finding.rule for finding in _open_findings(session) if finding.severity in MEDIUM_OR_ABOVE}
    assert raised <= loaded.planted
    # 80 cases plant every kind the generator knows at least once, and reconciliation sees each of them
    assert loaded.planted == PLANTED_KINDS
    assert raised == loaded.planted


@pytest.mark.real_commits  # the demo loader opens its own engine
def test_demo_reports_name_several_asn_of_one_incident(
    settings: Settings, session: Session, client: TestClient, auth_headers: AuthHeaders
) -> None:
    load_demo_data(settings, cases=30, seed=9, disagreements=False)
    cases = session.scalars(select(Case)).all()
    by_report: dict[str, list[Case]] = {}
    for case in cases:
        assert case.register_number is not None  # every demo report is registered
        by_report.setdefault(case.register_number, []).append(case)
    first = min(cases, key=lambda case: case.case_number)
    incident = by_report[str(first.register_number)]
    assert len(incident) == 3  # the load's first report: three ASN of one office
    assert len({case.nip for case in incident}) == 3
    assert len({(case.incident_date, case.violation_code, case.instansi_code) for case in incident}) == 1
    response = client.get(f"/api/v1/reports/{first.register_number}", headers=auth_headers("auditor"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["register_number"] == first.register_number
    assert sorted(item["id"] for item in report["cases"]) == sorted(str(case.id) for case in incident)
    # colleagues reported together are three ASN, not duplicates of one another
    duplicates = session.scalars(select(Finding).where(Finding.rule == "DUPLICATE_CASE")).all()
    assert not {finding.case_id for finding in duplicates} & {case.id for case in incident}
