"""Loads the reference JSON files; used by the seeding migration."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).with_name("data")

# table name -> data file, in foreign-key order
SEED_FILES: dict[str, str] = {
    "agency": "agencies.json",
    "violation_form": "violation_forms.json",
    "employee_kind": "employee_kinds.json",
    "sanction": "sanctions.json",
    "position_category": "position_categories.json",
    "province": "provinces.json",
    "violation_sanction_level": "sanction_matrix.json",
}
DATE_FIELDS = {"valid_from", "valid_to"}


def load_rows(table: str) -> list[dict[str, Any]]:
    loaded = json.loads((DATA_DIR / SEED_FILES[table]).read_text(encoding="utf-8"))
    # a file may be {"notes": [...], "rows": [...]}: the notes say where the sources are unsure
    rows: list[dict[str, Any]] = loaded["rows"] if isinstance(loaded, dict) else loaded
    for row in rows:
        for field in DATE_FIELDS & row.keys():
            if row[field] is not None:
                row[field] = dt.date.fromisoformat(row[field])
    # Rows naming a successor go last, so the successor already exists (self-referencing foreign key).
    rows.sort(key=lambda row: row.get("successor_code") is not None)
    return rows


def load_columns(table: str, columns: Collection[str]) -> list[dict[str, Any]]:
    """The rows of a table's file, restricted to ``columns``: a migration seeds the columns its table has then, and
    the revision that adds a column fills it in."""
    return [{name: value for name, value in row.items() if name in columns} for row in load_rows(table)]


def codes(table: str) -> list[str]:
    """The codes a reference table is seeded with: what the contract lists (reference data changes only with a
    migration, and so with a release)."""
    return sorted(str(row["code"]) for row in load_rows(table))


def ended_agencies() -> list[str]:
    """The agencies with an end date (KASN): those whose archive a successor may import."""
    return sorted(str(row["code"]) for row in load_rows("agency") if row.get("valid_to") is not None)
