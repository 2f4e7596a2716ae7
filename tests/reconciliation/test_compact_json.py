"""The bytes stored fingerprints and finding keys hash: the standard library's compact, sorted JSON, whoever
writes them (``normalize.compact_json``)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.reconciliation.normalize import compact_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text()
    | st.dates()
    | st.datetimes(timezones=st.just(dt.UTC))
    | st.uuids()
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


def _standard(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


@given(VALUES)
def test_the_bytes_are_those_of_the_standard_library(value: Any) -> None:
    assert compact_json(value) == _standard(value)


def test_text_the_two_libraries_write_otherwise_is_written_as_the_standard_library_does() -> None:
    identity = [str(uuid.UUID(int=1)), "NAME_MISMATCH", ["name"], {"BKN": {"name": "siti"}, "CASE": {"name": "síti"}}]
    for value in (identity, ["a\x7fb", None], ["\u2028", 1], [{"é": 1, "e": 2}], [2**65], {1: "integer key"}):
        assert compact_json(value) == _standard(value)
    assert compact_json(["19860926 201505 1 001", "siti rahayu", "D-6", None]) == (
        b'["19860926 201505 1 001","siti rahayu","D-6",null]'
    )
