"""The demo loader produces a realistic, varied sample through the normal service layer."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases.models import AgencyRecord, Case
from app.core.config import Settings
from app.flows.demo import load_demo_data
from app.reconciliation.models import Finding

END_OF_KASN = dt.date(2024, 8, 24)


@pytest.mark.real_commits  # the demo loader opens its own engine
def test_demo_data_spans_stages_regions_agencies_and_disagreements(settings: Settings, session: Session) -> None:
    assert load_demo_data(settings, cases=60, seed=7) == 60
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
