"""What a finding stores of its draft's evidence: the standard library's JSON round trip, made with orjson."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from typing import Any

from app.reconciliation.findings import stored_json


class Kind(enum.StrEnum):
    ORDER = "order"


def test_the_evidence_is_stored_as_the_standard_library_would_round_trip_it() -> None:
    evidence: dict[Any, Any] = {
        "comparisons": {"BKN": {"class": Kind.ORDER, "jaro_winkler": 0.9133, "levenshtein": 3}},
        "dates": (dt.date(2024, 11, 27), dt.datetime(2024, 11, 27, 8, 30, tzinfo=dt.UTC)),
        "names": ["Siti Rahayu, S.Pd.", "Sïti\x7f", None, True],
        "duplicates": [uuid.UUID(int=7)],
        "set": {"only"},
        3: "an integer key",
    }

    stored = stored_json(evidence)

    assert stored == json.loads(json.dumps(evidence, default=str))
    assert stored["dates"] == ["2024-11-27", "2024-11-27 08:30:00+00:00"]
    assert stored["3"] == "an integer key"
