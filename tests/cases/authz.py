"""Authorization matrix rows: cases, workflow transitions and agency records.

Written by the auth domain from app/cases/router.py and app/cases/workflow.py; the cases domain owns it from here.
Agencies write only their own view: another agency's record is 404 for writing; a retired agency's archive is
imported by its successor only. Transitions follow the workflow's
agency rules (``verify`` from DITERIMA: Bawaslu or BKN; KASN's duties passed to BKN on 2024-08-24).
"""

from __future__ import annotations

from typing import Any

from tests.authz import READERS, Call, MatrixContext, Row, statuses
from tests.factories import case_payload

CASES = "/api/v1/cases"
WRITERS = statuses(anonymous=401, agencies=201, auditor=403, admin=403)


def _new_case(context: MatrixContext) -> dict[str, Any]:
    return _new_case_on(context)


def _new_case_on(context: MatrixContext, **overrides: Any) -> dict[str, Any]:
    response = context.client.post(CASES, json=case_payload(**overrides), headers=context.auth_headers("BAWASLU"))
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


def _bawaslu_case(context: MatrixContext) -> dict[str, Any]:
    case: dict[str, Any] = context.remember("case", lambda: _new_case(context))
    return case


def _bawaslu_record(context: MatrixContext) -> dict[str, Any]:
    def find() -> dict[str, Any]:
        case = _bawaslu_case(context)
        records = context.client.get(f"{CASES}/{case['id']}/records", headers=context.auth_headers("BAWASLU"))
        record: dict[str, Any] = records.json()[0]
        return record

    record: dict[str, Any] = context.remember("record", find)
    return record


def _case_path(suffix: str = "") -> Any:
    def call(context: MatrixContext, who: str) -> Call:
        del who
        return Call(f"{CASES}/{_bawaslu_case(context)['id']}{suffix}")

    return call


def _report_path(context: MatrixContext, who: str) -> Call:
    del who
    case = context.remember("report", lambda: _new_case_on(context, register_number="045/Reg/LP/PB/Kab/73.06/X/2024"))
    return Call(f"/api/v1/reports/{case['register_number']}")


def _create(context: MatrixContext, who: str) -> Call:
    del context, who
    return Call(CASES, json=case_payload())


def _verify_fresh_case(context: MatrixContext, who: str) -> Call:
    """Each identity gets its own case in DITERIMA, so one success does not change the next answer."""
    del who
    case = _new_case(context)
    return Call(
        f"{CASES}/{case['id']}/transitions",
        json={"action": "verify"},
        headers={"If-Match": f'"{case["version"]}"'},
    )


def _sanctioned_case(context: MatrixContext) -> dict[str, Any]:
    """A fresh case taken to SANKSI_DIJATUHKAN after KASN's end (BKN recommends and records the sanction)."""
    case = _new_case_on(context, incident_date="2024-09-03", reported_date="2024-09-05")
    steps = [
        ("BAWASLU", {"action": "verify", "effective_date": "2024-09-06"}),
        ("BAWASLU", {"action": "start_study", "effective_date": "2024-09-09"}),
        ("BAWASLU", {"action": "forward", "effective_date": "2024-09-10"}),
        (
            "BKN",
            {
                "action": "recommend",
                "effective_date": "2024-09-11",
                "sanction_level": "BERAT",
                "reference_number": "R-1/BKN/9/2024",
            },
        ),
        ("BKN", {"action": "impose_sanction", "effective_date": "2024-09-20", "sanction_code": "BERAT_PDHTAPS"}),
    ]
    for agency, body in steps:
        response = context.client.post(
            f"{CASES}/{case['id']}/transitions",
            json=body,
            headers=context.auth_headers(agency) | {"If-Match": f'"{case["version"]}"'},
        )
        assert response.status_code == 200, response.text
        case = response.json()
    return case


def _correct_fresh_sanction(context: MatrixContext, who: str) -> Call:
    """Each identity corrects its own sanctioned case: BKN records the PPK's sanction, so BKN corrects it."""
    del who
    case = _sanctioned_case(context)
    return Call(
        f"{CASES}/{case['id']}/sanction-corrections",
        json={"sanction_code": "BERAT_PENURUNAN_JABATAN", "reason": "SALAH_CATAT", "reference_number": "800/1/2024"},
        headers={"If-Match": f'"{case["version"]}"'},
    )


def _reopen_rejected_case(context: MatrixContext, who: str) -> Call:
    """Each identity gets its own case rejected at verification (by Bawaslu), which Bawaslu or BKN may reopen."""
    del who
    case = _new_case(context)
    rejected = context.client.post(
        f"{CASES}/{case['id']}/transitions",
        json={"action": "reject"},
        headers=context.auth_headers("BAWASLU") | {"If-Match": f'"{case["version"]}"'},
    )
    assert rejected.status_code == 200, rejected.text
    return Call(
        f"{CASES}/{case['id']}/reopen",
        json={"reason": "BUKTI_BARU", "reference_number": "001/LP/PB/Kab/27.01/X/2024"},
        headers={"If-Match": rejected.headers["ETag"]},
    )


def _submit_record(context: MatrixContext, who: str) -> Call:
    del who
    return Call(f"{CASES}/{_bawaslu_case(context)['id']}/records", json={"notes": "Dicatat oleh instansi"})


def _import_kasn_archive(context: MatrixContext, who: str) -> Call:
    del who
    body = {"archive_of": "KASN", "recorded_on": "2024-08-20", "stage": "DITERUSKAN", "notes": "Arsip KASN"}
    return Call(f"{CASES}/{_bawaslu_case(context)['id']}/archived-records", json=body)


def _bawaslu_record_path(context: MatrixContext, who: str) -> Call:
    del who
    record = _bawaslu_record(context)
    return Call(f"{CASES}/{record['case_id']}/records/{record['id']}")


def _update_bawaslu_record(context: MatrixContext, who: str) -> Call:
    del who
    record = _bawaslu_record(context)
    current = context.client.get(
        f"{CASES}/{record['case_id']}/records/{record['id']}", headers=context.auth_headers("BAWASLU")
    )
    return Call(
        f"{CASES}/{record['case_id']}/records/{record['id']}",
        json={"notes": "Diperbarui"},
        headers={"If-Match": current.headers["ETag"]},
    )


def _set_register_number(context: MatrixContext, who: str) -> Call:
    """Each identity on its own fresh case (reported by Bawaslu): Bawaslu and BKN may set it."""
    del who
    case = _new_case(context)
    return Call(
        f"{CASES}/{case['id']}",
        json={"register_number": "045/Reg/LP/PB/Kab/73.06/X/2024"},
        headers={"If-Match": f'"{case["version"]}"'},
    )


def _batch_of(single: Any) -> Any:
    """The single operation's request as the one item of its batch operation."""

    def call(context: MatrixContext, who: str) -> Call:
        one = single(context, who)
        case_id = one.path.removeprefix(f"{CASES}/").split("/")[0]
        if one.path.endswith("/transitions"):
            item = {"case_id": case_id, "if_match": one.headers["If-Match"], "transition": one.json}
        else:
            item = {"case_id": case_id, "record": one.json}
        suffix = one.path.rsplit("/", 1)[1]
        return Call(f"{CASES}/-/{suffix}:batch", json={"items": [item]})

    return call


def _create_batch(context: MatrixContext, who: str) -> Call:
    del context, who
    return Call(f"{CASES}:batch", json={"items": [case_payload()]})


BATCH_WRITERS = statuses(anonymous=401, agencies=200, auditor=403, admin=403)
"""A batch answers 200, or 422 naming each refused item with its own problem (the single operation's 403/409)."""

ROWS = [
    Row("POST", CASES, WRITERS, _create),
    Row("GET", CASES, READERS),
    Row("GET", f"{CASES}/{{case_id}}", READERS, _case_path()),
    Row(
        "PATCH",
        f"{CASES}/{{case_id}}",
        statuses(anonymous=401, agencies=403, auditor=403, admin=403, BAWASLU=200, BKN=200),  # KASN: 401 (ended)
        _set_register_number,
    ),
    Row("GET", "/api/v1/reports/{register_number}", READERS, _report_path),
    Row(
        "POST",
        f"{CASES}/{{case_id}}/transitions",
        statuses(
            anonymous=401, agencies=403, auditor=403, admin=403, BAWASLU=200, BKN=200
        ),  # Kemendagri, KemenPANRB: 403 agency-not-permitted; KASN: 401 (ended)
        _verify_fresh_case,
    ),
    Row(
        "POST",
        f"{CASES}/{{case_id}}/sanction-corrections",
        statuses(anonymous=401, agencies=403, auditor=403, admin=403, BKN=200),  # KASN: 401 (ended)
        _correct_fresh_sanction,
    ),
    Row(
        "POST",
        f"{CASES}/{{case_id}}/reopen",
        statuses(
            anonymous=401, agencies=403, auditor=403, admin=403, BAWASLU=200, BKN=200
        ),  # a rejection is reopened by the agencies that may reject: Bawaslu, BKN; KASN: 401 (ended)
        _reopen_rejected_case,
    ),
    Row("GET", f"{CASES}/{{case_id}}/transitions", READERS, _case_path("/transitions")),
    Row("GET", f"{CASES}/{{case_id}}/records", READERS, _case_path("/records")),
    Row(
        "POST",
        f"{CASES}/{{case_id}}/records",
        {**WRITERS, "BAWASLU": 409},  # Bawaslu reported the case, so its record exists already
        _submit_record,
    ),
    Row(
        "POST",
        f"{CASES}/{{case_id}}/archived-records",
        statuses(anonymous=401, agencies=403, auditor=403, admin=403, BKN=201),  # KASN's successor only
        _import_kasn_archive,
    ),
    Row("GET", f"{CASES}/{{case_id}}/records/{{record_id}}", READERS, _bawaslu_record_path),
    Row(
        "PATCH",
        f"{CASES}/{{case_id}}/records/{{record_id}}",
        statuses(anonymous=401, agencies=404, auditor=403, admin=403, BAWASLU=200),  # others' record: 404
        _update_bawaslu_record,
    ),
    Row("POST", f"{CASES}:batch", BATCH_WRITERS, _create_batch),
    Row(
        "POST",
        f"{CASES}/-/transitions:batch",
        statuses(anonymous=401, agencies=422, auditor=403, admin=403, BAWASLU=200, BKN=200),
        _batch_of(_verify_fresh_case),
    ),
    Row("POST", f"{CASES}/-/records:batch", {**BATCH_WRITERS, "BAWASLU": 422}, _batch_of(_submit_record)),
    Row(
        "POST",
        f"{CASES}/-/archived-records:batch",
        statuses(anonymous=401, agencies=422, auditor=403, admin=403, BKN=200),
        _batch_of(_import_kasn_archive),
    ),
]
