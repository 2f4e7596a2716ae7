r"""Canonical JSON for ledger entries: the exact bytes that are hashed.

The output is RFC 8785 (JCS) for the value space the ledger accepts — objects with string keys, arrays,
strings, booleans, null and integers within the IEEE-754 safe range. Floats are refused outright: their
decimal rendering differs between languages and would make independent verifiers disagree.

orjson writes the bytes: for that value space its output is the JCS one (no whitespace, UTF-8, only ``"``, ``\``
and the control characters escaped, those below U+0020 as ``\b \t \n \f \r`` or lowercase ``\u00xx``;
``tests/ledger/test_canonical.py`` compares it with the standard library's over every code point). It sorts keys
by code point, which is the UTF-16 order RFC 8785 asks for when every key is ASCII; a value with another key, or
with a value orjson would take but the ledger refuses (floats, UUIDs, dates, tuples, other mappings), goes through
the general check, which names the path of what it refuses and sorts each object's members by UTF-16 code units.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

MAX_SAFE_INTEGER = 2**53 - 1


class NotCanonicalizable(ValueError):
    """The value cannot be represented as canonical ledger JSON."""


def _normalise(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise NotCanonicalizable(f"{path}: integer {value} is outside ±(2^53-1)")
        return int(value)
    if isinstance(value, float):
        raise NotCanonicalizable(f"{path}: floats are not allowed in ledger payloads")
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonicalizable(f"{path}: object key {key!r} is not a string")
            items.append((key, _normalise(item, f"{path}.{key}")))
        return sorted_members(dict(items))
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_normalise(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise NotCanonicalizable(f"{path}: {type(value).__name__} is not a JSON value (use str, int, bool, None)")


def sorted_members(members: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 8785 §3.2.3: members sorted by the UTF-16 code units of their names."""
    if "".join(members).isascii():  # the usual case: code unit order is then Python's own string order
        return dict(sorted(members.items()))
    return dict(sorted(members.items(), key=lambda pair: pair[0].encode("utf-16-be")))


def _plain(value: Any) -> bool:
    """Whether ``value`` is already in the ledger's value space as plain JSON types (no subclasses), with ASCII
    keys only: orjson's sorted output is then its canonical form as it stands."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is dict:
        for key, item in value.items():  # noqa: SIM110 - a generator in all() makes this walk half as slow again
            if type(key) is not str or not key.isascii() or not _plain(item):
                return False
        return True
    if kind is list:
        for item in value:  # noqa: SIM110 - as above
            if not _plain(item):
                return False
        return True
    return False


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` deterministically: sorted keys, no whitespace, UTF-8, no floats."""
    if _plain(value):
        return _dumps(value, orjson.OPT_SORT_KEYS)
    return encode_normalised(_normalise(value, "$"))


def encode_normalised(normalised: Any) -> bytes:
    """The canonical bytes of a value already in canonical form: parsed from canonical JSON, with any object
    whose members were added to passed through ``sorted_members`` again (the sequencer's leaves: it adds the
    position fields to a template the request already canonicalised, and checking every value again cost a
    third of a round)."""
    return _dumps(normalised, 0)


def encode_ascii_keyed(value: Any) -> bytes:
    """The canonical bytes of a value in the ledger's value space whose object keys are all ASCII, in any member
    order (orjson's key sort is then RFC 8785's): the sequencer's leaves from ASCII-only pending writes, sorted in
    C rather than member by member in Python."""
    return _dumps(value, orjson.OPT_SORT_KEYS)


def _dumps(value: Any, option: int) -> bytes:
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError:
        # a lone surrogate (no UTF-8), or nesting deeper than orjson goes: the standard library tells them apart
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=bool(option), allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotCanonicalizable(f"$: string is not valid Unicode ({exc.reason})") from exc
