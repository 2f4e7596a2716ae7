"""Canonical forms of what agencies record, used only for comparison (raw values are always kept).

Everything here is pure and deterministic: the same input gives the same key on every dialect and in every
process, which is what lets incremental and full runs agree and lets a stored fingerprint screen cases in SQL.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app.cases.workflow import Stage

NORMALIZER_VERSION = 3  # 2: the local screens of LAPORAN_FILED_LATE and STAGE_REGRESSION changed; 3: the recommended
# and the imposed sanction compared apart, and the region, election and decision rules screen records locally
"""Bump when a key below changes meaning; stored keys written by an older version must then be recomputed."""

_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_NIP_SEPARATORS = re.compile(r"[\s._/\-]+")
_SCIENTIFIC = re.compile(r"^\d+(\.\d+)?E\+?\d+$")
_VIOLATION = re.compile(r"^(KE|D)-?0*(\d{1,2})$")

# Honorific and academic titles (gelar) written before a name, compared without dots.
PREFIX_TITLES = frozenset(
    {"prof", "dr", "drs", "dra", "ir", "h", "hj", "kh", "ust", "ustadz", "ustaz", "r", "rr", "raden", "hc"}
)
# Academic titles written after a name (with or without a comma), compared without dots.
SUFFIX_TITLES = frozenset(
    {
        "spd", "spdi", "mpd", "mpdi", "mhum", "se", "mm", "sh", "mh", "skom", "mkom", "msi", "ssi", "st", "mt",
        "ssos", "msos", "map", "amd", "amdkep", "amdkeb", "phd", "sag", "mag", "sip", "mip", "skm", "mkes",
        "sked", "ak", "sfarm", "apt", "spsi", "mpsi", "sst", "ssn", "mkn", "ma", "msc", "mba", "llm", "se.ak",
        "shi", "sthi", "mhi", "sei", "mei", "ssy", "sp", "mp", "skep", "ns", "sgz", "sikom", "mikom", "shum",
    }
)  # fmt: skip
# Abbreviations and spellings of the same given name (compared after the spelling rules below).
NAME_VARIANTS: Mapping[str, str] = {
    "m": "muhamad", "mh": "muhamad", "mhd": "muhamad", "moh": "muhamad", "moch": "muhamad", "muh": "muhamad",
    "mokhamad": "muhamad", "mohamad": "muhamad", "mukhamad": "muhamad", "muhamat": "muhamad",
    "abd": "abdul", "akhmad": "ahmad", "ahmat": "ahmad", "nor": "nur", "liem": "lim", "cwan": "cuan",
}  # fmt: skip
# Pre-1972 (van Ophuijsen / Soewandi) spellings, applied in this order.
OLD_SPELLINGS: Sequence[tuple[str, str]] = (
    ("oe", "u"), ("dj", "j"), ("tj", "c"), ("nj", "ny"), ("sj", "sy"), ("ch", "kh"), ("j", "y"),
)  # fmt: skip
_DOUBLED = re.compile(r"([a-z])\1+")
_NAME_SEPARATORS = re.compile(r"[-_/]")
_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]")

# Agency vocabulary for stages, mapped to the workflow's codes.
STAGE_ALIASES: Mapping[str, Stage] = {
    "DILAPORKAN": Stage.DITERIMA,
    "DIREGISTER": Stage.TERVERIFIKASI,
    "VERIFIKASI": Stage.TERVERIFIKASI,
    "DIVERIFIKASI": Stage.TERVERIFIKASI,
    "TIDAK_DIREGISTER": Stage.DITOLAK,
    "KAJIAN_BAWASLU": Stage.KAJIAN,
    "DITERUSKAN_KE_KASN": Stage.DITERUSKAN,
    "DITERUSKAN_KE_BKN": Stage.DITERUSKAN,
    "REKOMENDASI_TERBIT": Stage.REKOMENDASI,
    "DIREKOMENDASIKAN": Stage.REKOMENDASI,
    "MENUNGGU_TINDAK_LANJUT_PPK": Stage.REKOMENDASI,
    "DIJATUHI_SANKSI": Stage.SANKSI_DIJATUHKAN,
    "DICATAT_IDIS": Stage.SANKSI_DIJATUHKAN,
    "DATA_DIBLOKIR": Stage.DIBLOKIR,
    "DIHENTIKAN": Stage.DIBATALKAN,
    "PENSIUN": Stage.ASN_NONAKTIF,
}

# Order along the workflow; side exits rank after every open stage, so leaving one is a regression.
STAGE_RANK: Mapping[Stage, int] = {
    Stage.DITERIMA: 1,
    Stage.TERVERIFIKASI: 2,
    Stage.KAJIAN: 3,
    Stage.DITERUSKAN: 4,
    Stage.REKOMENDASI: 5,
    Stage.TEGURAN_BKN: 6,
    Stage.PPK_DISANKSI: 7,
    Stage.DIBLOKIR: 8,
    Stage.SANKSI_DIJATUHKAN: 9,
    Stage.BLOKIR_DIBUKA: 10,
    Stage.DITOLAK: 20,
    Stage.TIDAK_TERBUKTI: 20,
    Stage.DIBATALKAN: 20,
    Stage.ASN_NONAKTIF: 20,
}
MAIN_PATH_LAST_RANK = 10
_RANK_BY_CODE = {stage.value: rank for stage, rank in STAGE_RANK.items()}


KEY_CACHE_SIZE = 16_384
"""Recent inputs whose comparison forms each process keeps (names, NIPs, codes, stages, places: pure functions of
one raw value; a case and its records mostly repeat the same values): a few MiB."""


def clean_text(value: str | None) -> str | None:
    """Remove invisible characters, fold every kind of whitespace to one space; empty means absent."""
    if value is None:
        return None
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", value))
    text = " ".join(text.split())
    return text or None


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def reference_key(raw: str | None) -> str | None:
    """A letter or decision number compared without its spacing and letter case ("800/ 12 /bkd" = "800/12/BKD")."""
    text = clean_text(raw)
    return None if text is None else text.replace(" ", "").upper()


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def canonical_nip(raw: str | None) -> str | None:
    """Digits only when the value is a NIP written with separators ("19860926 201505 1 001").

    Anything else (letters, scientific notation from a spreadsheet) is returned cleaned but not made valid,
    so that NIP validation can say what is wrong with it.
    """
    text = clean_text(raw)
    if text is None:
        return None
    if _SCIENTIFIC.match(text.upper()):
        return text.upper()
    compact = _NIP_SEPARATORS.sub("", text)
    return compact.upper() or None


def is_scientific_notation(value: str) -> bool:
    return bool(_SCIENTIFIC.match(value))


@dataclass(frozen=True, slots=True)
class NameKey:
    key: str | None
    applied: tuple[str, ...]
    """Normalisations that changed the value, in order (evidence for a reader)."""


def _dotless(token: str) -> str:
    return token.replace(".", "")


def _strip_titles(tokens: list[str], applied: list[str]) -> list[str]:
    while len(tokens) > 1 and _dotless(tokens[0]) in PREFIX_TITLES:
        applied.append(f"title:{tokens.pop(0)}")
    while len(tokens) > 1 and _dotless(tokens[-1]) in SUFFIX_TITLES:
        applied.append(f"title:{tokens.pop()}")
    return tokens


def _respell(token: str) -> str:
    for old, new in OLD_SPELLINGS:
        token = token.replace(old, new)
    return _DOUBLED.sub(r"\1", token)


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def name_key(raw: str | None) -> NameKey:
    """Comparison key of a person's name: no titles, case, punctuation, old spellings or odd whitespace.

    A name that is nothing but a title ("H.") keeps that token: an empty key would compare equal to nothing.
    Pure, and the costliest form to compute: the keys of recently seen names are kept (a case's records mostly
    spell its name the same way, and a sweep meets the cases still flagged since the last one again).
    """
    if raw is None:
        return NameKey(None, ())
    applied: list[str] = []
    text = _INVISIBLE.sub("", raw)
    if text != raw:
        applied.append("invisible_characters")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    if folded != unicodedata.normalize("NFKD", text):
        applied.append("accents")
    squashed = " ".join(folded.split())
    if squashed != folded:
        applied.append("whitespace")
    lowered = squashed.lower()
    if lowered != squashed:
        applied.append("case")

    head, _, tail = lowered.partition(",")
    tail_tokens = tail.replace(",", " ").split()
    if tail_tokens and all(_dotless(t) in SUFFIX_TITLES or "." in t for t in tail_tokens):
        applied.extend(f"title:{t}" for t in tail_tokens)
        lowered = head
    else:
        lowered = lowered.replace(",", " ")

    spaced = _NAME_SEPARATORS.sub(" ", lowered)
    tokens = _strip_titles(spaced.split(), applied)
    cleaned = [_NOT_ALPHANUMERIC.sub("", token) for token in tokens]
    if any(c != _dotless(t) for c, t in zip(cleaned, tokens, strict=True)):
        applied.append("punctuation")
    result: list[str] = []
    for token in filter(None, cleaned):
        canonical = NAME_VARIANTS.get(token)
        if canonical is None:
            respelled = _respell(token)
            canonical = NAME_VARIANTS.get(respelled) or respelled
        canonical = NAME_VARIANTS.get(canonical, canonical)
        if canonical != token:
            applied.append(f"spelling:{token}->{canonical}")
        result.append(canonical)
    key = " ".join(result)
    return NameKey(key or None, tuple(applied))


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def canonical_violation(raw: str | None) -> str | None:
    text = clean_text(raw)
    if text is None:
        return None
    upper = text.upper().replace(" ", "")
    match = _VIOLATION.match(upper)
    return f"{match.group(1)}-{int(match.group(2))}" if match else upper


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def canonical_stage(raw: str | None) -> str | None:
    text = clean_text(raw)
    if text is None:
        return None
    code = re.sub(r"[\s\-]+", "_", text.upper())
    if code in Stage.__members__:
        return code
    alias = STAGE_ALIASES.get(code)
    return alias.value if alias else code


def stage_rank(stage: str | None) -> int | None:
    return None if stage is None else _RANK_BY_CODE.get(stage)


_COMPACT_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def compact_json(value: Any) -> bytes:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)``, encoded, byte for byte: stored
    fingerprints and finding keys are hashes of it. orjson writes it in a fraction of the time where its bytes are
    the same, which is for ASCII output without DEL (the standard library escapes DEL and every non-ASCII character,
    orjson writes them as they are); the standard library writes the rest. Values hold no floats (orjson and the
    standard library render some differently)."""
    try:
        encoded = orjson.dumps(value, default=str, option=_COMPACT_JSON)
    except orjson.JSONEncodeError:  # an integer past 64 bits, a key that is not a string
        pass
    else:
        if encoded.isascii() and b"\x7f" not in encoded:
            return encoded
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def fingerprint(values: Sequence[str | int | None]) -> int:
    """Signed 64-bit hash of a JSON array, so ("1", "11") and ("11", "1") never collide by concatenation."""
    encoded = compact_json(list(values))
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=8).digest(), "big", signed=True)
