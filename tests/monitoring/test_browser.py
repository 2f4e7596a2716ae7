"""The public monitoring page in a real headless browser (Debian's chromium and chromedriver, driven by Selenium).

The test starts ``sbt serve`` on demo data, opens ``/monitoring`` as the public would (no token), and checks what
the page shows against the auditor API: the statistics, the per-province statistics, the count bridge, and the PPK
compliance and weekly trend recomputed from the auditor's case export. It switches to English, saves a screenshot of
each language (``$SBT_TEST_ARTIFACTS``, default ``artifacts/`` in the repository, which git ignores) and checks from
the browser's network log (Chrome DevTools Protocol events) that no request went to any host but SBT.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from app.core.clock import today_in_jakarta
from app.core.config import Settings
from tests.servers import sbt_serve

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DEMO_CASES = 60
ARTIFACTS = Path(os.environ.get("SBT_TEST_ARTIFACTS", REPO_ROOT / "artifacts")) / "monitoring"


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("monitoring-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBT_")} | {
        "SBT_DATABASE_URL": f"sqlite:///{folder / 'sbt.db'}",
        "SBT_DATA_DIR": str(folder / "data"),
        "SBT_ENVIRONMENT": "development",
        "SBT_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO_ROOT),
    }
    subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "app.cli", "demo-data", "--cases", str(DEMO_CASES)],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    with sbt_serve(env, folder) as url:
        yield Server(url, folder / "data")


@pytest.fixture(scope="module")
def auditor(server: Server) -> Iterator[httpx.Client]:
    clients = json.loads((server.data_dir / "demo-clients.json").read_text())["clients"]
    secret = next(c["client_secret"] for c in clients if c["client_id"] == "demo-auditor")
    token = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("demo-auditor", secret),
        timeout=30,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "monitoring page browser test"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(
            "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2400"):
        options.add_argument(argument)
    # The public in Indonesia: the browser asks for Indonesian, as the page's default reader does.
    options.add_experimental_option("prefs", {"intl.accept_languages": "id"})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(browser: webdriver.Chrome, name: str) -> None:
    """The whole page, not only the window: the window is stretched to the page's height first."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, int(height) + 100)
    browser.save_screenshot(str(ARTIFACTS / name))


def _number(text: str) -> int:
    """A count as the page prints it, in either language (1.234 / 1,234; +3 / -2)."""
    return int(text.replace(".", "").replace(",", "").replace("+", "").strip())


def _counts(browser: webdriver.Chrome, table_id: str) -> dict[str, int]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tr[data-key]")
    return {
        row.get_attribute("data-key") or "": _number(row.find_element(By.CSS_SELECTOR, "td.n").text) for row in rows
    }


def _matrix(browser: webdriver.Chrome, table_id: str) -> dict[str, dict[str, int]]:
    table = browser.find_element(By.ID, table_id)
    keys = [cell.get_attribute("data-key") or "" for cell in table.find_elements(By.CSS_SELECTOR, "tr th[data-key]")]
    result = {}
    for row in table.find_elements(By.CSS_SELECTOR, "tr[data-key]"):
        cells: list[WebElement] = row.find_elements(By.CSS_SELECTOR, "td.n")
        result[row.get_attribute("data-key") or ""] = {
            key: _number(cell.text) for key, cell in zip(keys, cells, strict=True) if _number(cell.text)
        }
    return result


def _open_with_bridge(browser: webdriver.Chrome, url: str) -> None:
    """The count bridge totals are stored by the service's background job, which starts with it; reload until the
    page shows them."""
    deadline = time.monotonic() + 120
    browser.get(url)
    while True:
        try:
            browser.find_element(By.ID, "bridge-pending")
        except NoSuchElementException:
            return
        assert time.monotonic() < deadline, "the count bridge never appeared"
        time.sleep(0.5)
        browser.refresh()


def _as_counts(pairs: list[dict[str, Any]]) -> dict[str, int]:
    return {pair["key"]: pair["count"] for pair in pairs if pair["count"]}


def _requested_urls(browser: webdriver.Chrome) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):  # type: ignore[no-untyped-call]
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_page_shows_the_apis_numbers_in_both_languages_and_asks_only_sbt(
    server: Server, auditor: httpx.Client, browser: webdriver.Chrome
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _open_with_bridge(browser, f"{server.url}/monitoring")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "id"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Pemantauan nasional kasus netralitas ASN"
    _screenshot(browser, "monitoring-id.png")

    statistics = auditor.get("/api/v1/audit/statistics").json()
    assert _number(browser.find_element(By.ID, "total-cases").text) == statistics["total_cases"]
    assert _number(browser.find_element(By.ID, "overdue").text) == statistics["overdue_ppk_follow_ups"]
    assert _counts(browser, "table-stage") == _as_counts(statistics["by_stage"])
    assert _counts(browser, "table-category") == _as_counts(statistics["by_violation_category"])
    assert _counts(browser, "table-election") == _as_counts(statistics["by_election"])
    assert _counts(browser, "table-agency") == _as_counts(statistics["by_agency"])

    by_province = {name: _matrix(browser, f"province-{name}") for name in ("stage", "category", "election", "agency")}
    assert set(by_province["stage"]) == set(_as_counts(statistics["by_province"]))
    for province in by_province["stage"]:
        one = auditor.get("/api/v1/audit/statistics", params={"province_code": province}).json()
        assert by_province["stage"][province] == _as_counts(one["by_stage"]), province
        assert by_province["category"][province] == _as_counts(one["by_violation_category"]), province
        assert by_province["election"][province] == _as_counts(one["by_election"]), province
        assert by_province["agency"][province] == _as_counts(one["by_agency"]), province

    table = browser.find_element(By.ID, "table-bridge")
    bridge = auditor.get(
        "/api/v1/audit/count-bridge",
        params={
            "from": table.get_attribute("data-from"),
            "to": table.get_attribute("data-to"),
            "as_of": table.get_attribute("data-as-of"),
            "unit": "cases",
        },
    ).json()
    assert _number(browser.find_element(By.ID, "bridge-national").text) == bridge["national"]
    shown = _matrix(browser, "table-bridge")
    assert set(shown) == {agency["agency"] for agency in bridge["agencies"]}
    for agency in bridge["agencies"]:
        expected: Counter[str] = Counter(count=agency["count"], delta=agency["delta"])
        for cause in agency["causes"]:
            expected[cause["cause"]] += cause["count"]
        assert shown[agency["agency"]] == {key: value for key, value in expected.items() if value}, agency["agency"]

    _check_compliance_and_trend(browser, auditor)

    browser.find_element(By.ID, "switch-language").click()
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.TAG_NAME, "h1").text == "National monitoring of ASN neutrality cases"
    assert urlsplit(browser.current_url).query == "lang=en"
    assert _number(browser.find_element(By.ID, "total-cases").text) == statistics["total_cases"]
    assert _counts(browser, "table-stage") == _as_counts(statistics["by_stage"])
    _screenshot(browser, "monitoring-en.png")

    urls = _requested_urls(browser)
    assert f"{server.url}/monitoring/monitoring.css" in urls
    assert [url for url in urls if not url.startswith(f"{server.url}/")] == []


def _check_compliance_and_trend(browser: webdriver.Chrome, auditor: httpx.Client) -> None:
    """PPK compliance and the weekly trend have no statistics endpoint: recompute them from every case."""
    cases = [json.loads(line) for line in auditor.get("/api/v1/audit/exports/cases.ndjson").text.splitlines()]
    days: int = Settings.model_fields["ppk_follow_up_days"].default  # the server runs with the default
    today = today_in_jakarta()
    due = in_time = 0
    for case in cases:
        if not case["recommendation_date"]:
            continue
        deadline = dt.date.fromisoformat(case["recommendation_date"]) + dt.timedelta(days=days)
        imposed = case["imposed_sanction_code"] is not None
        closed = case["stage"] in {"TIDAK_TERBUKTI", "DIBATALKAN", "ASN_NONAKTIF"} and not imposed
        if closed or not (deadline < today or imposed):
            continue
        due += 1
        in_time += imposed and dt.date.fromisoformat(case["sanction_date"]) <= deadline
    assert f"{in_time} dari {due} rekomendasi" in browser.find_element(By.CSS_SELECTOR, ".key-figures").text
    weeks: Counter[str] = Counter()
    for case in cases:
        day = dt.date.fromisoformat(case["reported_date"])
        weeks[(day - dt.timedelta(days=day.weekday())).isoformat()] += 1
    browser.find_element(By.CSS_SELECTOR, "details summary").click()  # the weekly table is folded away
    shown = _counts(browser, "table-trend")
    assert shown
    assert shown == {week: weeks[week] for week in shown}
    assert max(shown) == max(weeks)
