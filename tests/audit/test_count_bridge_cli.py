"""``sbt audit count-bridge``: the API's answer, from the command line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings
from tests.audit.test_count_bridge import BRIDGE, JANUARY, assert_causes_add_up
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case

pytestmark = pytest.mark.real_commits  # the CLI opens its own engine


def test_cli_gives_the_api_answer_in_every_format(
    cli_env: Settings,
    client: TestClient,
    auth_headers: AuthHeaders,
    tmp_path: Path,
) -> None:
    bawaslu = auth_headers("BAWASLU")
    ids = sorted(create_case(client, bawaslu, reported_date="2024-01-09")["id"] for _ in range(2))
    as_of = "2030-01-01T00:00:00+07:00"
    runner = CliRunner()
    args = ["audit", "count-bridge", "--from", JANUARY["from"], "--to", JANUARY["to"], "--unit", "cases"]

    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.stdout)
    assert_causes_add_up(from_cli)
    from_api = client.get(BRIDGE, params={**JANUARY, "unit": "cases"}, headers=auth_headers("auditor")).json()
    assert from_cli["agencies"] == from_api["agencies"]
    assert from_cli["national"] == from_api["national"] == 2
    assert from_cli["consistent_with"]["tree_size"] == from_api["consistent_with"]["tree_size"]

    as_csv = runner.invoke(cli, [*args, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout_bytes.decode("utf-8-sig"))))
    assert sorted(row["case_id"] for row in rows if row["agency"] == "BKN") == [f'="{case_id}"' for case_id in ids]

    target = tmp_path / "bridge.xlsx"
    as_xlsx = runner.invoke(cli, [*args, "--format", "xlsx", "--output", str(target)])
    assert as_xlsx.exit_code == 0, as_xlsx.output
    sheet = load_workbook(target)["cases"]
    assert sorted(str(row[3]) for row in sheet.iter_rows(min_row=2, values_only=True) if row[0] == "BKN") == ids

    for wrong in (["--format", "xlsx"], ["--as-of", as_of], ["--format", "pdf"], ["--to", "2023-12-31"]):
        refused = runner.invoke(cli, [*args, *wrong])
        assert refused.exit_code == 2, refused.output
