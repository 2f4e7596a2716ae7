"""``sbt reconciliation run``: the sweep from cron, against the configured database."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings
from app.core.db import utcnow
from app.reconciliation.models import Finding, Run, RunMode, RunStatus
from app.reconciliation.service import on_case_written
from tests.reconciliation.builders import insert_case, insert_record, system_ctx

pytestmark = pytest.mark.real_commits  # the CLI opens its own engine


def test_deadline_sweep_from_the_command_line(cli_env: Settings, session: Session) -> None:
    case = insert_case(session)
    for agency in ("BAWASLU", "BKN"):
        insert_record(session, case, agency)
    on_case_written(session, cli_env, system_ctx(), case.id, as_of=dt.datetime(2024, 10, 5, tzinfo=dt.UTC))
    session.commit()

    result = CliRunner().invoke(
        cli, ["reconciliation", "run", "--mode", "DEADLINES", "--as-of", "2024-10-20T00:00:00+07:00"]
    )
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert (run["status"], run["stats"]["opened"], run["stats"]["produced_by_rule"]) == (
        "SUCCEEDED",
        1,
        {"DEADLINE_EXCEEDED": 1},
    )
    session.expire_all()
    assert session.scalars(select(Finding.rule)).all() == ["DEADLINE_EXCEEDED"]


def test_naive_as_of_is_refused(cli_env: Settings) -> None:
    del cli_env
    result = CliRunner().invoke(cli, ["reconciliation", "run", "--as-of", "2024-10-20T00:00:00"])
    assert result.exit_code == 2
    assert "UTC offset" in result.output


def test_a_full_run_while_another_is_active_is_a_clear_error(cli_env: Settings, session: Session) -> None:
    session.add(
        Run(
            id=uuid.uuid4(),
            mode=RunMode.FULL.value,
            status=RunStatus.RUNNING.value,
            as_of=utcnow(),
            use_screen=True,
            requested_by="test",
            requested_at=utcnow(),
            started_at=utcnow(),
            stats={},
        )
    )
    session.commit()
    result = CliRunner().invoke(cli, ["reconciliation", "run", "--mode", "FULL"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error:" in result.stderr
    assert "Traceback" not in result.output
