"""Canonical JSON: the bytes every verifier must reproduce exactly."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger.canonical import MAX_SAFE_INTEGER, NotCanonicalizable, canonical_json


def test_keys_sorted_no_whitespace_utf8() -> None:
    value = {"b": [1, True, None], "a": {"z": "Jakarta", "é": "ü"}, "A": -3}
    assert canonical_json(value) == '{"A":-3,"a":{"z":"Jakarta","é":"ü"},"b":[1,true,null]}'.encode()


def test_keys_sort_by_utf16_code_units_as_rfc8785_requires() -> None:
    # U+1F600 is D83D DE00 in UTF-16, which sorts before U+FB01 although its code point is larger.
    assert canonical_json({"\ufb01": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb01":1}'.encode()


def test_control_characters_escaped_like_json_stringify() -> None:
    assert canonical_json('line\nbreak\x1f"\\') == b'"line\\nbreak\\u001f\\"\\\\"'


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"amount": 1.5}, "floats"),
        ({"amount": float("nan")}, "floats"),
        ({"n": MAX_SAFE_INTEGER + 1}, "outside"),
        ({1: "x"}, "not a string"),
        ({"when": object()}, "not a JSON value"),
        ({"raw": b"bytes"}, "not a JSON value"),
        ("\ud800", "not valid Unicode"),
    ],
)
def test_values_that_would_make_verifiers_disagree_are_refused(value: Any, reason: str) -> None:
    with pytest.raises(NotCanonicalizable, match=reason):
        canonical_json(value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_is_stable_and_independent_of_key_order(value: Any) -> None:
    encoded = canonical_json(value)
    decoded = json.loads(encoded)
    assert decoded == value
    assert canonical_json(decoded) == encoded
    if isinstance(value, dict):
        assert canonical_json(dict(reversed(list(value.items())))) == encoded


def test_every_code_point_is_written_as_the_standard_library_writes_it() -> None:
    """orjson writes the bytes; JCS strings are what ``json.dumps(ensure_ascii=False)`` writes (RFC 8785 §3.2.2.2),
    for every character, in a value and in a key (ASCII keys take orjson's own sort, others the UTF-16 one)."""
    characters = [chr(point) for point in range(0x110000) if not 0xD800 <= point <= 0xDFFF]
    for start in range(0, len(characters), 4096):
        chunk = characters[start : start + 4096]
        value = {
            "text": "".join(chunk),
            "each": chunk,
            **{f"k{point}{char}": point for point, char in enumerate(chunk)},
        }
        expected = {key: value[key] for key in sorted(value, key=lambda key: key.encode("utf-16-be"))}
        assert canonical_json(value) == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()


def test_deep_nesting_and_subclasses_are_written_like_plain_values() -> None:
    deep: Any = "x"
    for _ in range(300):  # deeper than orjson nests (254)
        deep = [deep]
    assert canonical_json({"deep": deep}) == b'{"deep":' + b"[" * 300 + b'"x"' + b"]" * 300 + b"}"
    assert (
        canonical_json({"t": (1, "a"), "m": MappingProxyType({"b": 2, "a": 1})}) == b'{"m":{"a":1,"b":2},"t":[1,"a"]}'
    )
