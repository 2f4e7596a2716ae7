"""``GET /monitoring`` over HTTP: public, self-contained, strict about what it loads, and exact about its figures.

The browser test (``test_browser.py``) checks the same page against the auditor API in a real browser; these
build the cases by hand and check the figures they must give.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.api.security_headers import MONITORING_POLICY
from app.cases.models import AgencyRecord, Case
from app.core.db import transaction
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, transition

SANCTION = "BERAT_PENURUNAN_JABATAN"


def _recommended(client: TestClient, auth_headers: AuthHeaders, reported: str) -> dict[str, Any]:
    """A case recommended 2024-09-10: its PPK follow-up deadline (10 days) was 2024-09-20."""
    bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
    case = create_case(client, bawaslu, reported_date=reported, incident_date="2024-08-30")
    for action, day in (("verify", "2024-09-02"), ("start_study", "2024-09-03"), ("forward", "2024-09-04")):
        case = transition(client, bawaslu, case, action, effective_date=day)
    return transition(
        client, bkn, case, "recommend", effective_date="2024-09-10", sanction_code=SANCTION, reference_number="R-1"
    )


def _figure(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert match, element_id
    return match.group(1)


def _counts(page: str, table_id: str) -> dict[str, int]:
    table = page[page.index(f'id="{table_id}"') :]
    table = table[: table.index("</table>")]
    return {
        key: int(n)
        for key, n in re.findall(r'<tr data-key="([^"]+)"><th scope="row">[^<]*</th><td class="n">(\d+)<', table)
    }


def test_the_page_is_public_self_contained_and_runs_no_script(client: TestClient) -> None:
    response = client.get("/monitoring")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-language"] == "id"
    assert response.headers["vary"] == "Accept-Language"
    assert response.headers["content-security-policy"] == MONITORING_POLICY
    page = response.text
    assert "<script" not in page
    assert re.findall(r"https?://", page) == []
    assert set(re.findall(r'(?:src|href)="([^"]*)"', page)) == {"/monitoring/monitoring.css", "?lang=en"}
    style = client.get("/monitoring/monitoring.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert "url(" not in style.text
    assert "@import" not in style.text


def test_compliance_overdue_and_provinces_from_hand_built_cases(client: TestClient, auth_headers: AuthHeaders) -> None:
    bkn = auth_headers("BKN")
    in_time = _recommended(client, auth_headers, "2024-09-01")
    transition(client, bkn, in_time, "impose_sanction", effective_date="2024-09-15", sanction_code=SANCTION)
    late = _recommended(client, auth_headers, "2024-09-01")
    transition(client, bkn, late, "impose_sanction", effective_date="2024-10-01", sanction_code=SANCTION)
    _recommended(client, auth_headers, "2024-09-01")  # still awaiting the PPK: overdue
    create_case(client, auth_headers("BAWASLU"), province_code="31", reported_date="2024-09-04")

    page = client.get("/monitoring?lang=en").text
    assert _figure(page, "total-cases") == "4"
    assert _figure(page, "overdue") == "1"
    assert _figure(page, "compliance-rate") == "33.3%"
    assert "PPK compliance: 1 of 3 recommendations followed up in time" in page
    rows = re.findall(r'<tr data-key="(\d+)"><th scope="row">([^<]+)</th>((?:<td class="n">[^<]*</td>)+)</tr>', page)
    compliance = {code: re.findall(r">([^<]*)</td>", cells) for code, _, cells in rows[:2]}
    # province: cases, due, in time, compliance, overdue
    assert compliance == {"31": ["1", "0", "0", "–", "0"], "73": ["3", "3", "1", "33.3%", "1"]}
    # three cases were reported in the week of Monday 2024-08-26, one in the week of 2024-09-02
    trend = dict(re.findall(r'<tr data-key="(\d{4}-\d\d-\d\d)"><td>[^<]*</td><td class="n">(\d+)</td>', page))
    assert trend == {"2024-08-26": "3", "2024-09-02": "1"}

    statistics = client.get("/api/v1/audit/statistics", headers=auth_headers("auditor")).json()
    for table, field in (("stage", "by_stage"), ("category", "by_violation_category"), ("election", "by_election"),
                         ("agency", "by_agency")):  # fmt: skip
        assert _counts(page, f"table-{table}") == {pair["key"]: pair["count"] for pair in statistics[field]}, table

    indonesian = client.get("/monitoring").text
    assert _figure(indonesian, "compliance-rate") == "33,3 %"
    assert "Kepatuhan PPK: 1 dari 3 rekomendasi ditindaklanjuti tepat waktu" in indonesian


def _bridge(client: TestClient, auth_headers: AuthHeaders, page: str, *, as_of: bool) -> dict[str, Any]:
    """The count bridge API for the page's period, as of the moment the page names (or now), checked against the
    page's table."""
    table = re.search(r'id="table-bridge" data-from="([\d-]+)" data-to="([\d-]+)" data-as-of="([^"]+)"', page)
    assert table
    params = {"from": table.group(1), "to": table.group(2), "unit": "cases"} | (
        {"as_of": table.group(3)} if as_of else {}
    )
    bridge: dict[str, Any] = client.get(
        "/api/v1/audit/count-bridge", params=params, headers=auth_headers("auditor")
    ).json()
    assert _figure(page, "bridge-national") == str(bridge["national"])
    rows = page[table.start() :]
    for agency in bridge["agencies"]:
        row = re.search(rf'<tr data-key="{agency["agency"]}"><th[^>]*>[^<]+</th>((?:<td class="n">[^<]*</td>)+)', rows)
        assert row, agency["agency"]
        count, delta, *causes = re.findall(r">([^<]*)</td>", row.group(1))
        assert (int(count), int(delta)) == (agency["count"], agency["delta"])
        assert sum(int(cause) for cause in causes) == agency["delta"]
    return bridge


def test_the_count_bridge_totals_are_the_apis_as_of_the_moment_they_name(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    """The totals are stored by the background job (run here by hand: the test app has no threads) and read by
    every view: before the job's next round they are the API's as of the moment they name, after it the API's now."""
    job = client.app.state.monitoring_bridge  # type: ignore[attr-defined]
    for _ in range(2):
        _recommended(client, auth_headers, "2024-09-01")
    assert 'id="bridge-pending"' in client.get("/monitoring?lang=en").text  # not computed yet
    job.step()
    page = client.get("/monitoring?lang=en").text
    assert _bridge(client, auth_headers, page, as_of=True)["national"] == 2
    assert _bridge(client, auth_headers, page, as_of=False)["national"] == 2

    _recommended(client, auth_headers, "2024-09-02")  # a write: the stored totals are now one round behind
    lagging = client.get("/monitoring?lang=en").text
    assert _bridge(client, auth_headers, lagging, as_of=True)["national"] == 2
    job.step()
    current = client.get("/monitoring?lang=en").text
    assert _bridge(client, auth_headers, current, as_of=False)["national"] == 3
    size = re.search(r'data-ledger-size="(\d+)">', current)
    assert size
    assert (
        int(size.group(1))
        == client.get("/api/v1/ledger/checkpoint?fresh=true", headers=auth_headers("auditor")).json()["tree_size"]
    )


def test_language_follows_the_toggle_then_accept_language_then_indonesian(client: TestClient) -> None:
    def heading(response: Any) -> str:
        match = re.search(r"<h1>([^<]+)</h1>", response.text)
        assert match
        return match.group(1)

    assert heading(client.get("/monitoring")) == "Pemantauan nasional kasus netralitas ASN"
    english = client.get("/monitoring", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert (heading(english), english.headers["content-language"]) == (
        "National monitoring of ASN neutrality cases",
        "en",
    )
    assert heading(client.get("/monitoring", headers={"Accept-Language": "fr, id;q=0.5"})) == (
        "Pemantauan nasional kasus netralitas ASN"
    )
    toggled = client.get("/monitoring?lang=id", headers={"Accept-Language": "en"})
    assert toggled.headers["content-language"] == "id"
    assert 'href="?lang=en"' in toggled.text


def test_unknown_or_invalid_parameters_are_problems(client: TestClient) -> None:
    unknown = client.get("/monitoring?bahasa=en")
    assert unknown.status_code == 400
    assert unknown.headers["content-type"] == "application/problem+json"
    assert client.get("/monitoring?lang=fr").status_code == 422


def test_the_view_right_after_a_write_shows_it_and_names_the_ledger_size(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    """Nothing is kept between views: each reads the current rows, so the page equals the API after every write and
    names the ledger size its figures were read at."""
    bawaslu, auditor = auth_headers("BAWASLU"), auth_headers("auditor")
    for expected in (1, 2):
        create_case(client, bawaslu)
        page = client.get("/monitoring").text
        statistics = client.get("/api/v1/audit/statistics", headers=auditor).json()
        assert _figure(page, "total-cases") == str(statistics["total_cases"]) == str(expected)
        assert _counts(page, "table-stage") == {pair["key"]: pair["count"] for pair in statistics["by_stage"]}
        size = re.search(r'id="consistent-with" data-ledger-size="(\d+)"', page)
        assert size
        assert (
            int(size.group(1))
            == client.get("/api/v1/ledger/checkpoint?fresh=true", headers=auditor).json()["tree_size"]
        )


def test_records_carry_their_cases_province_for_the_agency_counts(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    """Migration 0020's triggers: a record takes its case's province as it is inserted, and follows the case's
    province if that ever changes (no API changes it; a correction in SQL must not leave the counts wrong)."""
    case = _recommended(client, auth_headers, "2024-09-01")  # records of Bawaslu and BKN
    factory = client.app.state.sessionmaker  # type: ignore[attr-defined]
    copies = select(AgencyRecord.agency, AgencyRecord.case_province_code).where(AgencyRecord.case_id == case["id"])
    with transaction(factory) as session:
        assert dict(session.execute(copies).all()) == {"BAWASLU": "73", "BKN": "73"}
        session.execute(update(Case).where(Case.id == case["id"]).values(province_code="31"))
        assert dict(session.execute(copies).all()) == {"BAWASLU": "31", "BKN": "31"}
    page = client.get("/monitoring").text
    agency_by_province = page[page.index('id="province-agency"') :]
    assert re.search(
        r'<tr data-key="31"><th scope="row">[^<]+</th><td class="n">1</td><td class="n">1</td>', agency_by_province
    )
