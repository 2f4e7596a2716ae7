"""Loads the reference JSON files; used by the seeding migration."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).with_name("data")

# table name -> data file, in foreign-key order
SEED_FILES: dict[str, str] = {
    "agency": "agencies.json",
    "violation_form": "violation_forms.json",
    "sanction": "sanctions.json",
    "employee_kind": "employee_kinds.json",
    "position_category": "position_categories.json",
    "province": "provinces.json",
}
LATER_SEED_FILES: dict[str, str] = {"instansi": "instansi.json"}
"""Tables seeded by a later migration (0009 the instansi), not by 0001, which seeds SEED_FILES."""
DATE_FIELDS = {"valid_from", "valid_to"}


def load_rows(table: str) -> list[dict[str, Any]]:
    file = SEED_FILES.get(table) or LATER_SEED_FILES[table]
    rows: list[dict[str, Any]] = json.loads((DATA_DIR / file).read_text(encoding="utf-8"))
    for row in rows:
        for field in DATE_FIELDS & row.keys():
            if row[field] is not None:
                row[field] = dt.date.fromisoformat(row[field])
    # Rows naming a successor go last, so the successor already exists (self-referencing foreign key).
    rows.sort(key=lambda row: row.get("successor_code") is not None)
    return rows


def codes(table: str) -> list[str]:
    """The codes a reference table is seeded with: what the contract lists (reference data changes only with a
    migration, and so with a release)."""
    return sorted(str(row["code"]) for row in load_rows(table))


def ended_agencies() -> list[str]:
    """The agencies with an end date (KASN): those whose archive a successor may import."""
    return sorted(str(row["code"]) for row in load_rows("agency") if row.get("valid_to") is not None)
