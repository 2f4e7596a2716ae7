"""Labels of the vocabularies whose codes live in code, not in a reference table: workflow stages and violation
categories (``data/labels.json``, Indonesian ``title`` and English ``title_en``).

The stage codes are the cases domain's ``Stage`` enum and the categories the values of ``violation_form.category``;
their labels are text for people (exports, pages), read from the package like the seed files, so a wording change
needs no migration. ``tests/reference`` checks every stage and category has one.
"""

from __future__ import annotations

import json
from functools import cache

from app.reference.seed import DATA_DIR

LABELS_FILE = DATA_DIR / "labels.json"


@cache
def _vocabularies() -> dict[str, list[dict[str, str]]]:
    loaded: dict[str, list[dict[str, str]]] = json.loads(LABELS_FILE.read_text(encoding="utf-8"))
    return loaded


def titles(vocabulary: str, *, english: bool = False) -> dict[str, str]:
    """Code -> label of one vocabulary (``stage``, ``violation_category``), Indonesian unless ``english``."""
    key = "title_en" if english else "title"
    return {row["code"]: row[key] for row in _vocabularies()[vocabulary]}
