"""The write hook: normalised columns stored with each agency record, without touching the agency's own data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.reconciliation.models import CaseState
from app.reconciliation.normalize import NORMALIZER_VERSION
from app.reconciliation.service import on_case_written
from tests.reconciliation.builders import AS_OF, insert_case, insert_record, system_ctx


def test_normalised_columns_are_stored_and_the_record_keeps_its_version_and_time(
    session: Session, settings: Settings
) -> None:
    case = insert_case(session)
    record = insert_record(
        session, case, "BKN", name="Drs. H. Budi\u200b  Santoso, M.Hum.", nip="19800517 200503 1 002"
    )
    insert_record(session, case, "BAWASLU")
    session.commit()
    version, updated_at = record.version, record.updated_at

    on_case_written(session, settings, system_ctx(), case.id, as_of=AS_OF)
    session.commit()
    session.expire_all()

    assert (record.nip, record.name) == ("19800517 200503 1 002", "Drs. H. Budi\u200b  Santoso, M.Hum.")
    assert (record.nip_canonical, record.name_key, record.stage_canonical) == (
        "198005172005031002",
        "budi santoso",
        "REKOMENDASI",
    )
    assert (record.local_issue, record.normalizer_version, record.stage_high_water) == (False, NORMALIZER_VERSION, 5)
    assert (record.version, record.updated_at) == (version, updated_at)
    state = session.get(CaseState, case.id)
    assert state is not None
    assert state.fingerprint == record.fingerprint  # agrees with the case: the screen will not flag it


def test_high_water_mark_survives_a_step_back(session: Session, settings: Settings) -> None:
    case = insert_case(session)
    record = insert_record(session, case, "BAWASLU")
    on_case_written(session, settings, system_ctx(), case.id, as_of=AS_OF)
    record.stage = "KAJIAN"
    session.flush()
    on_case_written(session, settings, system_ctx(), case.id, as_of=AS_OF + dt.timedelta(days=1))
    session.expire_all()
    assert (record.stage_canonical, record.stage_high_water, record.local_issue) == ("KAJIAN", 5, True)
