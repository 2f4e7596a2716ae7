"""Instansi: the ASN's employer, as reference data (``data/instansi.json``, seeded by migration 0009).

A regional instansi is the pemerintah daerah itself (provinsi, kabupaten, kota), coded by its Kemendagri region
code; the unit inside it ("Dinas Pendidikan", "RSUD") is free text on the case. Its type says who supervises its
PPK when the PPK ignores a recommendation: Kemendagri for a kepala daerah, KemenPANRB for a minister or agency head.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.core.actor import Agency


class InstansiKind(enum.StrEnum):
    KEMENTERIAN = "KEMENTERIAN"
    LEMBAGA = "LEMBAGA"
    PROVINSI = "PROVINSI"
    KABUPATEN = "KABUPATEN"
    KOTA = "KOTA"

    @property
    def regional(self) -> bool:
        return self in {InstansiKind.PROVINSI, InstansiKind.KABUPATEN, InstansiKind.KOTA}

    @property
    def ppk_supervisor(self) -> Agency:
        """Who sanctions this instansi's PPK for not following a recommendation (SKB 2022; UU 23/2014, PP 12/2017
        for kepala daerah)."""
        return Agency.KEMENDAGRI if self.regional else Agency.KEMENPANRB


@dataclass(frozen=True, slots=True)
class InstansiName:
    code: str
    name: str
    kind: InstansiKind


_ABBREVIATIONS = (
    (re.compile(r"\bpemprov\b\.?"), "pemerintah provinsi"),
    (re.compile(r"\bpemkab\b\.?"), "pemerintah kabupaten"),
    (re.compile(r"\bpemkot\b\.?"), "pemerintah kota"),
    (re.compile(r"\bkab\b\.?"), "kabupaten"),
    (re.compile(r"\bprov\b\.?"), "provinsi"),
)
_WORD = re.compile(r"[0-9a-z]+")


def place_words(text: str) -> list[str]:
    """The words of an instansi or place name, case folded, abbreviations written out ("Kab. Bone" → kabupaten
    bone): two spellings of one place have the same words."""
    folded = text.casefold()
    for pattern, replacement in _ABBREVIATIONS:
        folded = pattern.sub(replacement, folded)
    return _WORD.findall(folded)


class InstansiMatcher:
    """Maps a free-text instansi as agencies wrote it before migration 0009 to one reference instansi, or to none.

    A central K/L named in the text wins ("Kantor Kementerian Agama Kabupaten Gowa" is Kemenag's vertical office);
    otherwise the longest region named ("Dinas Pendidikan Kota Makassar" → Kota Makassar, "RSUD Kab. Bone" →
    Kabupaten Bone, "Pemerintah Daerah Provinsi Jawa Barat" → Provinsi Jawa Barat). Two candidates of the same
    strength, or none, leave the text unmapped: a guess would decide who may sanction the PPK.
    """

    def __init__(self, rows: Iterable[InstansiName]) -> None:
        self._central: dict[tuple[str, ...], set[str]] = {}
        self._regional: dict[tuple[str, ...], set[str]] = {}
        for row in rows:
            if row.kind.regional:
                key = tuple(place_words(row.name.removeprefix("Pemerintah ")))
                self._regional.setdefault(key, set()).add(row.code)
            else:
                for key in (tuple(place_words(row.name)), tuple(place_words(row.code))):
                    self._central.setdefault(key, set()).add(row.code)
        self._longest = max(len(key) for key in (*self._central, *self._regional))

    def _found(self, words: list[str], keys: Mapping[tuple[str, ...], set[str]]) -> set[str]:
        """The codes of the longest keys found as consecutive words in the text."""
        for size in range(min(self._longest, len(words)), 0, -1):
            spans = (tuple(words[start : start + size]) for start in range(len(words) - size + 1))
            codes = {code for span in spans for code in keys.get(span, ())}
            if codes:
                return codes
        return set()

    def match(self, text: str) -> str | None:
        words = place_words(text)
        codes = self._found(words, self._central) or self._found(words, self._regional)
        return codes.pop() if len(codes) == 1 else None
