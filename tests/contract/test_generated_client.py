"""A partner's view: generate a Python client from the committed contract and run a whole case through it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.clock import today_in_jakarta
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PACKAGE = "sbt_client"


pytestmark = pytest.mark.slow  # generates a client with openapi-python-client first; left out by ./test --fast


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client exactly as README tells partners to generate it; any generator warning fails the test."""
    out = tmp_path_factory.mktemp("client")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            str(VENV_BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(ROOT / "openapi" / "openapi.json"),
            "--config",
            str(ROOT / "openapi" / "client-config.yaml"),
            "--output-path",
            str(out / PACKAGE),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _client_as(app: FastAPI, headers: dict[str, str]) -> Any:
    """The generated AuthenticatedClient, talking to the app in process (TestClient is an httpx.Client)."""
    client_module = _module("client")
    token = headers["Authorization"].removeprefix("Bearer ")
    transport = TestClient(app, base_url="http://testserver", headers=headers)
    return client_module.AuthenticatedClient(base_url="http://testserver", token=token).set_httpx_client(transport)


def test_case_lifecycle_through_the_generated_client(
    generated: ModuleType, app: FastAPI, auth_headers: AuthHeaders
) -> None:
    models = _module("models")
    create_case = _module("api.cases.create_case")
    transition_case = _module("api.cases.transition_case")
    get_case = _module("api.cases.get_case")
    list_case_transitions = _module("api.cases.list_case_transitions")
    list_agency_records = _module("api.cases.list_agency_records")
    bawaslu = _client_as(app, auth_headers("BAWASLU"))
    bkn = _client_as(app, auth_headers("BKN"))
    auditor = _client_as(app, auth_headers("auditor"))

    body = models.CaseCreate.from_dict(case_payload())
    created = create_case.sync_detailed(client=bawaslu, body=body, idempotency_key=str(uuid.uuid4()))
    assert created.status_code == 201
    case = created.parsed
    assert isinstance(case, models.CaseRead)
    assert case.stage == models.Stage.DITERIMA
    assert created.headers["ETag"] == f'"{case.version}"'

    today = today_in_jakarta().isoformat()
    steps = [
        (bawaslu, {"action": "verify"}),
        (bawaslu, {"action": "start_study"}),
        (bawaslu, {"action": "forward"}),
        (bkn, {"action": "recommend", "sanction_code": "BERAT_PENURUNAN_JABATAN", "reference_number": "R-1/BKN"}),
        (bkn, {"action": "impose_sanction", "sanction_code": "BERAT_PENURUNAN_JABATAN"}),
    ]
    for client, fields in steps:
        moved = transition_case.sync_detailed(
            case.id,
            client=client,
            body=models.TransitionCreate.from_dict({**fields, "effective_date": today}),
            if_match=f'"{case.version}"',
        )
        assert isinstance(moved.parsed, models.CaseRead), moved.content
        case = moved.parsed
    assert case.stage == models.Stage.SANKSI_DIJATUHKAN

    history = list_case_transitions.sync(case.id, client=auditor)
    assert [step.action.value for step in history] == [fields["action"] for _, fields in steps]
    records = list_agency_records.sync(case.id, client=auditor)
    assert sorted(record.agency.value for record in records) == ["BAWASLU", "BKN"]  # BKN's steps made its record
    fetched = get_case.sync(case.id, client=auditor)
    assert isinstance(fetched, models.CaseRead)
    assert fetched.version == case.version

    # Errors arrive as typed problem details: an illegal step, a stale ETag, an unknown case.
    illegal = transition_case.sync(
        case.id, client=bawaslu, body=models.TransitionCreate(action=models.Action.VERIFY), if_match=f'"{case.version}"'
    )
    assert isinstance(illegal, models.Problem)
    assert illegal.status == 409
    assert illegal.type_.endswith("/illegal-transition")
    stale = transition_case.sync_detailed(
        case.id, client=bkn, body=models.TransitionCreate(action=models.Action.DEACTIVATE), if_match='"1"'
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.Problem)
    missing = get_case.sync(uuid.uuid4(), client=auditor)
    assert isinstance(missing, models.Problem)
    assert missing.status == 404
