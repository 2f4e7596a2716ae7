"""Cursor pagination and filters on the case list."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, make_nip


def test_pages_are_stable_with_no_duplicates_while_rows_are_inserted(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    writer, reader = auth_headers("BAWASLU"), auth_headers("BKN")
    initial = [create_case(client, writer)["id"] for _ in range(12)]
    seen: list[str] = []
    cursor: str | None = None
    inserted_during: list[str] = []
    while True:
        params: dict[str, str | int] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/cases", params=params, headers=reader).json()
        seen.extend(item["id"] for item in page["items"])
        inserted_during.append(create_case(client, writer)["id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert seen[: len(initial)] == initial
    assert set(seen) <= set(initial) | set(inserted_during)


def test_filters_and_cursor_bound_to_them(client: TestClient, auth_headers: AuthHeaders) -> None:
    writer, reader = auth_headers("BAWASLU"), auth_headers("KEMENDAGRI")
    nip = make_nip()
    create_case(client, writer, nip=nip, province_code="33", violation_code="KE-4", phase="BAKAL_CALON")
    create_case(client, writer, nip=nip, province_code="33")
    create_case(client, writer, province_code="73", election_type="PEMILU")
    by_nip = client.get("/api/v1/cases", params={"nip": nip}, headers=reader).json()["items"]
    assert len(by_nip) == 2
    ethics = client.get("/api/v1/cases", params={"category": "KODE_ETIK"}, headers=reader).json()["items"]
    assert [case["violation_code"] for case in ethics] == ["KE-4"]
    pemilu = client.get("/api/v1/cases", params={"election_type": "PEMILU"}, headers=reader).json()["items"]
    assert [case["province_code"] for case in pemilu] == ["73"]
    assert client.get("/api/v1/cases", params={"agency": "BKN"}, headers=reader).json()["items"] == []
    dated = client.get(
        "/api/v1/cases", params={"reported_from": "2024-01-04", "reported_to": "2024-01-04"}, headers=reader
    ).json()["items"]
    assert len(dated) == 3

    page = client.get("/api/v1/cases", params={"province_code": "33", "limit": 1}, headers=reader).json()
    assert page["next_cursor"]
    reused = client.get("/api/v1/cases", params={"province_code": "73", "cursor": page["next_cursor"]}, headers=reader)
    assert reused.status_code == 400
    tampered = client.get("/api/v1/cases", params={"cursor": page["next_cursor"][:-2] + "xx"}, headers=reader)
    assert tampered.status_code == 400
    assert tampered.headers["content-type"] == "application/problem+json"
