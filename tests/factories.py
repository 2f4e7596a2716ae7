"""Factories for test data: valid NIPs and case payloads."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from fastapi.testclient import TestClient

_sequence = itertools.count(1)


def make_nip(
    birth: dt.date = dt.date(1980, 5, 17),
    appointed: tuple[int, int] = (2005, 3),
    gender: int = 1,
    seq: int | None = None,
) -> str:
    """A valid PNS NIP; distinct per call unless ``seq`` is given."""
    number = seq if seq is not None else next(_sequence) % 999 + 1
    return f"{birth:%Y%m%d}{appointed[0]:04d}{appointed[1]:02d}{gender}{number:03d}"


def make_pppk_nip(birth: dt.date = dt.date(1990, 12, 31), year: int = 2023, contracts: int = 1) -> str:
    return f"{birth:%Y%m%d}{year:04d}2{contracts}2{next(_sequence) % 999 + 1:03d}"


def case_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "nip": make_nip(),
        "name": "Drs. Amir Santoso, M.Si.",
        "instansi_code": "73.06",
        "instansi": "Dinas Pendidikan Kabupaten Gowa",
        "position_category": "KEPALA_WILAYAH",
        "province_code": "73",
        "regency": "Kabupaten Gowa",
        "election_type": "PILKADA",
        "election_year": 2024,
        "violation_code": "D-6",
        "phase": "CALON",
        "source": "TEMUAN",
        "incident_date": "2024-01-02",
        "reported_date": "2024-01-04",
        "summary": "Membagikan unggahan akun pemenangan pasangan calon.",
    }
    if "province_code" in overrides and "instansi_code" not in overrides:
        payload["instansi_code"] = overrides["province_code"]  # that province's government: the same province
    payload.update(overrides)
    return payload


def create_case(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/cases", json=case_payload(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def transition(
    client: TestClient, headers: dict[str, str], case: dict[str, Any], action: str, **fields: Any
) -> dict[str, Any]:
    """Apply one transition using the case's current version as If-Match; returns the updated case."""
    response = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": action, **fields},
        headers=headers | {"If-Match": f'"{case["version"]}"'},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
