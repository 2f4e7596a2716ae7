"""Instansi reference data: every pemerintah daerah and the central K/L, searchable over HTTP; the free-text matcher
migration 0009 maps existing cases with."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.reference.instansi import InstansiKind, InstansiMatcher, InstansiName
from app.reference.seed import load_rows
from tests.auth_helpers import AuthHeaders

URL = "/api/v1/reference/instansi"
BRIEF_CENTRAL = {"KEMENDAGRI", "KEMENPANRB", "BKN", "BAWASLU", "KPU", "SETKAB", "POLRI", "KEMENAG"}


def _all_pages(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = client.get(
            URL, params={**params, "limit": 100} | ({"cursor": cursor} if cursor else {}), headers=headers
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_every_province_kabupaten_and_kota_and_the_central_kl_are_listed(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    rows = _all_pages(client, auth_headers("KEMENDAGRI"))
    assert Counter(row["kind"] for row in rows if InstansiKind(row["kind"]).regional) == {
        "PROVINSI": 38,
        "KABUPATEN": 416,
        "KOTA": 98,
    }
    assert {row["code"] for row in rows if row["region_code"] is None} >= BRIEF_CENTRAL
    provinces = {row["code"] for row in client.get("/api/v1/reference/provinces", headers=auth_headers("BKN")).json()}
    for row in rows:
        if InstansiKind(row["kind"]).regional:
            assert row["code"] == row["region_code"]
            assert row["province_code"] == row["code"][:2]
            assert row["province_code"] in provinces
        else:
            assert row["province_code"] is None
    assert [row["code"] for row in rows] == sorted(row["code"] for row in rows)  # no row twice across pages


def test_search_by_name_words_with_kind_and_province(client: TestClient, auth_headers: AuthHeaders) -> None:
    headers = auth_headers("BAWASLU")

    def codes(**params: Any) -> list[str]:
        return [row["code"] for row in _all_pages(client, headers, **params)]

    assert codes(q="kota makassar") == ["73.71"]
    assert codes(q="MAKASSAR") == ["73.71"]
    assert codes(q="Bone") == ["73.08", "75.03"]  # Kabupaten Bone, Kabupaten Bone Bolango
    assert codes(q="kementerian agama") == ["KEMENAG"]
    assert codes(q="kemenag") == ["KEMENAG"]  # a code
    assert codes(q="bandung", kind="KABUPATEN") == ["32.04", "32.17"]
    assert len(codes(province_code="73")) == 25  # the province and its 21 kabupaten and 3 kota
    assert codes(q="tidak ada instansi seperti ini") == []


def test_a_cursor_is_bound_to_its_filters_and_bad_parameters_are_refused(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    headers = auth_headers("auditor")
    first = client.get(URL, params={"q": "kabupaten", "limit": 2}, headers=headers).json()
    assert len(first["items"]) == 2
    other = client.get(URL, params={"q": "kota", "limit": 2, "cursor": first["next_cursor"]}, headers=headers)
    assert other.status_code == 400
    for params in ({"kind": "DESA"}, {"province_code": "7"}, {"q": ""}, {"q": "a\tb"}, {"name": "x"}):
        response = client.get(URL, params=params, headers=headers)
        assert response.status_code in {400, 422}, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture(scope="module")
def matcher() -> InstansiMatcher:
    return InstansiMatcher(
        InstansiName(code=row["code"], name=row["name"], kind=InstansiKind(row["kind"]))
        for row in load_rows("instansi")
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Dinas Pendidikan Kota Makassar", "73.71"),
        ("RSUD Kabupaten Bone", "73.08"),
        ("RSUD Kab. Bone", "73.08"),
        ("Pemerintah Daerah Provinsi Jawa Barat", "32"),
        ("Pemprov Jawa Barat", "32"),
        ("Pemkab Gowa", "73.06"),
        ("Pemerintah Kabupaten Gowa", "73.06"),
        ("Kabupaten Bandung Barat", "32.17"),  # the longest region named, not Kabupaten Bandung
        ("Sekretariat Daerah Kabupaten Bandung", "32.04"),
        ("Kota Bandung", "32.73"),
        ("Kantor Kementerian Agama Kabupaten Gowa", "KEMENAG"),  # a K/L's vertical office is the K/L
        ("Bawaslu Kabupaten Gowa", "BAWASLU"),
        ("Kementerian Agama", "KEMENAG"),
        ("Dinas Sosial", None),  # no instansi named
        ("Kota Makassar, Kabupaten Gowa", None),  # two of the same strength: no guess
        ("Pemerintah Aceh", None),  # a name the list does not hold
    ],
)
def test_free_text_matches_one_instansi_or_none(matcher: InstansiMatcher, text: str, code: str | None) -> None:
    assert matcher.match(text) == code
