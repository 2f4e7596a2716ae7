"""Every operation whose response carries personal data is in the read audit (UU PDP), found from the contract.

The operations are not listed by hand: they are read from ``app.openapi()`` (every 2xx response schema, with
``$ref``, arrays, pages and unions resolved), so a new route that returns a NIP or a name is checked the day it is
added. Each is called with data built by the authorization matrix's call builders, with an ``X-Request-ID``, and
must leave a ``read_audit`` row under that request id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import ReadAuditEntry
from app.audit.service import ReadAudit
from app.ledger.models import LedgerEntry
from tests.audit.test_auditor import _recommended_long_ago as overdue_case
from tests.auth_helpers import AuthHeaders
from tests.authz import IDENTITIES, Call, MatrixContext, Row
from tests.factories import create_case
from tests.reconciliation.authz import _shared as shared_finding
from tests.test_authorization_matrix import ROWS

pytestmark = pytest.mark.slow  # a hardening suite: run by ./test and CI; ./test --fast leaves it out

PERSONAL_PROPERTIES = frozenset({"nip", "name", "message_en", "message_id", "message", "observed", "evidence"})
"""Properties holding personal data: a person's NIP and name; a finding's messages quote both, and its observed
values and evidence hold each source's NIP and name."""
OPAQUE_PERSONAL_SCHEMAS = frozenset({"LedgerEntryRead", "CaseEvidenceRead"})
"""Schemas whose free-form members hold personal data the schema cannot show (a ledger entry's ``payload`` is the
recorded case and agency record; an evidence bundle holds the entries' leaves)."""
NOT_PERSONAL_SCHEMAS = frozenset({"AgencyRead", "ProvinceRead", "InstansiRead", "ClientRead", "ClientCredentialsRead"})
"""``name`` here is an institution's, a province's or an API client's, not a person's."""
STREAMED_ROWS = {
    ("GET", "/api/v1/audit/exports/cases.csv"): "CaseRead",
    ("GET", "/api/v1/audit/exports/cases.ndjson"): "CaseRead",
    ("GET", "/api/v1/audit/exports/cases.xlsx"): "CaseRead",
    ("GET", "/api/v1/reconciliation/findings.csv"): "FindingRead",
    ("GET", "/api/v1/ledger/export"): "LedgerEntryRead",
    ("GET", "/api/v1/ledger/export.bin"): "LedgerEntryRead",  # the same entries, length-prefixed
    ("GET", "/api/v1/audit/count-bridge"): "CountBridgeRead",  # CSV and XLSX: the same answer as tables
}
"""Streamed exports have no JSON schema in the contract: the schema of their rows, declared here (an export not
listed fails ``test_every_streamed_export_declares_its_rows``)."""
NOT_PERSONAL_TEXT = frozenset(
    {
        ("GET", "/metrics"),
        ("GET", "/api/v1/reference/import-template.csv"),
        ("GET", "/api/v1/reference/import-template.xlsx"),
    }
)
"""Non-JSON answers that are not exports: Prometheus metrics are counts by route template, stage and severity; the
import templates are a header row and the allowed codes."""
WRITES_RECORDED_IN_LEDGER = frozenset(
    {
        ("POST", "/api/v1/cases"),
        ("POST", "/api/v1/cases/{case_id}/transitions"),
        ("POST", "/api/v1/cases/{case_id}/sanction-corrections"),
        ("POST", "/api/v1/cases/{case_id}/reopen"),
        ("POST", "/api/v1/cases/{case_id}/records"),
        ("POST", "/api/v1/cases/{case_id}/archived-records"),
        ("PATCH", "/api/v1/cases/{case_id}/records/{record_id}"),
        ("POST", "/api/v1/reconciliation/findings/{finding_id}/transitions"),
    }
)
"""Writes that answer with the state the caller just wrote: the processing is recorded by the ledger entry the write
appends under the same request id (client, agency, request id, the state returned), which is what is checked."""
PREFERRED = ("auditor", "BAWASLU", "BKN", "KASN", "KEMENDAGRI", "KEMENPANRB", "admin", "anonymous")
JSON_MEDIA = ("application/json",)


def _schema_holds_personal_data(schema: dict[str, Any], components: dict[str, Any], seen: frozenset[str]) -> bool:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in OPAQUE_PERSONAL_SCHEMAS:
            return True
        if name in seen or name in NOT_PERSONAL_SCHEMAS:
            return False
        return _schema_holds_personal_data(components[name], components, seen | {name})
    properties: dict[str, Any] = schema.get("properties", {})
    if PERSONAL_PROPERTIES & set(properties):
        return True
    children = list(properties.values())
    children += [schema[key] for key in ("items", "additionalProperties") if isinstance(schema.get(key), dict)]
    children += [part for key in ("anyOf", "oneOf", "allOf") for part in schema.get(key, [])]
    return any(_schema_holds_personal_data(child, components, seen) for child in children)


def _success_contents(document: dict[str, Any]) -> Iterator[tuple[tuple[str, str], str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    for media, content in response.get("content", {}).items():
                        yield (method.upper(), path), media, content


def personal_data_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every operation whose 2xx response carries personal data, per the contract."""
    document = app.openapi()
    components = document["components"]["schemas"]
    found: set[tuple[str, str]] = set()
    for key, media, content in _success_contents(document):
        if media in JSON_MEDIA:
            schema = content.get("schema", {})
        elif key in STREAMED_ROWS:
            schema = {"$ref": f"#/components/schemas/{STREAMED_ROWS[key]}"}
        else:
            continue
        if _schema_holds_personal_data(schema, components, frozenset()):
            found.add(key)
    return sorted(found)


def test_every_streamed_export_declares_its_rows(app: FastAPI) -> None:
    streamed = {key for key, media, _ in _success_contents(app.openapi()) if media not in JSON_MEDIA}
    unknown = streamed - set(STREAMED_ROWS) - NOT_PERSONAL_TEXT
    assert unknown == set(), "a streamed export whose rows this test does not know"


def test_the_contract_walk_finds_the_known_personal_data_routes(app: FastAPI) -> None:
    """A guard on the walk itself: these must be among what it finds."""
    found = set(personal_data_operations(app))
    assert {
        ("GET", "/api/v1/cases/{case_id}"),
        ("GET", "/api/v1/reconciliation/findings"),
        ("GET", "/api/v1/reconciliation/findings/{finding_id}"),
        ("GET", "/api/v1/reconciliation/findings.csv"),
        ("POST", "/api/v1/reconciliation/cases/{case_id}/check"),
        ("GET", "/api/v1/ledger/export"),
        ("GET", "/api/v1/ledger/cases/{case_id}/evidence"),
        ("GET", "/api/v1/changes"),
    } <= found
    assert not {("GET", "/api/v1/reference/agencies"), ("GET", "/api/v1/clients")} & found


Checker = Callable[[], list[str]]


def _entry_about_a_person(context: MatrixContext, who: str) -> Call:
    """The matrix reads entry 1, which may be a client's registration; read the shared case's first entry."""
    case_id = shared_finding(context)["case"]["id"]
    entries = context.client.get(f"/api/v1/ledger/cases/{case_id}/entries", headers=context.headers(who)).json()
    return Call(f"/api/v1/ledger/entries/{entries['items'][0]['seq']}")


CALLS: dict[tuple[str, str], Callable[[MatrixContext, str], Call]] = {
    ("GET", "/api/v1/ledger/entries/{seq}"): _entry_about_a_person,
}
"""Where the matrix's request returns no personal data, one that does."""


@pytest.fixture
def unaudited(app: FastAPI, client: TestClient, auth_headers: AuthHeaders, session: Session) -> Checker:
    """Call every personal-data operation once; return those that left no record of the request."""
    rows: dict[tuple[str, str], Row] = {row.key: row for row in ROWS}

    def check() -> list[str]:
        context = MatrixContext(app=app, client=client, auth_headers=auth_headers)
        shared_finding(context)  # a case whose records disagree: findings with NIPs and names
        create_case(client, auth_headers("BAWASLU"))
        overdue_case(client, auth_headers)  # for the overdue follow-ups
        missing: list[str] = []
        for number, key in enumerate(personal_data_operations(app)):
            row = rows[key]
            who = next(w for w in PREFERRED if w in IDENTITIES and 200 <= row.expected[w] < 300)
            build = CALLS.get(key, row.call)
            call = build(context, who) if build else Call(row.route)
            request_id = f"personal-data-{number}-{key[0]}-{key[1]}"[:128]
            response = client.request(
                key[0],
                call.path,
                json=call.json,
                data=call.data,
                headers={**context.headers(who), **call.headers, "X-Request-ID": request_id},
            )
            assert 200 <= response.status_code < 300, (key, who, response.text)
            assert response.content, key  # the stream was read to its end
            session.rollback()  # see what the request committed
            table = LedgerEntry if key in WRITES_RECORDED_IN_LEDGER else ReadAuditEntry
            count = session.scalar(select(func.count()).select_from(table).where(table.request_id == request_id))
            if not count:
                missing.append(f"{key[0]} {key[1]}")
        return missing

    return check


@pytest.mark.real_commits  # the ledger export keeps its read session open while each batch's read audit commits
def test_every_response_with_personal_data_is_recorded(unaudited: Checker) -> None:
    assert unaudited() == []


# One route per way of auditing: a list, a single object, a stream batch, a write flow's own transaction.
BITES = [
    ("findings", "list_reconciliation_findings", "GET /api/v1/reconciliation/findings"),
    ("findings", "get_reconciliation_finding", "GET /api/v1/reconciliation/findings/{finding_id}"),
    ("findings", "export_reconciliation_findings", "GET /api/v1/reconciliation/findings.csv"),
    ("findings", "check_reconciliation_case", "POST /api/v1/reconciliation/cases/{case_id}/check"),
    ("cases", "export_cases_ndjson", "GET /api/v1/audit/exports/cases.ndjson"),
    ("entries", "export_ledger", "GET /api/v1/ledger/export"),
]


@pytest.mark.real_commits  # as above
@pytest.mark.parametrize(("method", "operation", "route"), BITES, ids=[bite[1] for bite in BITES])
def test_the_check_reports_a_route_that_stops_auditing(
    unaudited: Checker, monkeypatch: pytest.MonkeyPatch, method: str, operation: str, route: str
) -> None:
    original = getattr(ReadAudit, method)

    def skipped_for_one_route(self: ReadAudit, items: Any) -> None:
        if self.operation != operation:
            original(self, items)

    monkeypatch.setattr(ReadAudit, method, skipped_for_one_route)
    assert unaudited() == [route]
