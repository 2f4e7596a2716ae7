"""Comparison keys: what two agencies' spellings of the same value must reduce to (and what must stay apart)."""

from __future__ import annotations

import pytest

from app.reconciliation.normalize import (
    canonical_nip,
    canonical_stage,
    canonical_violation,
    clean_text,
    fingerprint,
    name_key,
)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Drs. H. Budi Santoso, M.Hum.", "BUDI SANTOSO"),
        ("Dra. Hj. Siti Noerhajati, S.E., M.M.", "Siti Nurhayati"),
        ("Ir. Tjahjo Koemolo", "Cahyo Kumolo"),
        ("Moch. Soedjarwo, S.Pd.", "Mohammad Sujarwo"),
        ("M. Sujarwo", "Muhammad Sujarwo"),
        ("Liem Sing Tjwan", "Lim Sing Cuan"),
        ("Budi Santoso SPd", "Budi Santoso"),
        ("Budi Santoso S.Pd.I", "Budi Santoso"),
        ("H. Hasan", "Hasan"),
        ("Siti  Aminah", "Siti Aminah"),
        ("Siti\u00a0Aminah", "Siti Aminah"),
        ("Siti\u200bAminah ", "SitiAminah"),
        ("Siti Aminah\n", "Siti Aminah"),
        ("Jose\u0301 Rizal", "Jose Rizal"),
        ("Abdul-Rahman", "Abdul Rahman"),
        ("Ma'ruf Amin", "Maruf Amin"),
    ],
)
def test_variants_of_one_name_share_a_key(first: str, second: str) -> None:
    assert name_key(first).key == name_key(second).key


@pytest.mark.parametrize(
    ("first", "second"),
    [("Budi Santoso", "Budi Susanto"), ("Eko Prasetyo", "Joko Prasetyo"), ("Sri Rahayu", "Sri Rahayu Ningsih")],
)
def test_different_names_keep_different_keys(first: str, second: str) -> None:
    assert name_key(first).key != name_key(second).key


def test_raw_value_is_untouched_and_normalisations_are_listed() -> None:
    raw = "Drs. H. Budi\u200b  Santoso, M.Hum."
    key = name_key(raw)
    assert key.key == "budi santoso"
    assert {"invisible_characters", "whitespace", "case", "title:drs.", "title:h.", "title:m.hum."} <= set(key.applied)
    assert raw == "Drs. H. Budi\u200b  Santoso, M.Hum."


@pytest.mark.parametrize("lone_title", ["H.", "Hj", "Dr."])
def test_a_name_that_is_only_a_title_is_not_stripped_to_empty(lone_title: str) -> None:
    key = name_key(lone_title).key
    assert key
    assert key != name_key("").key


def test_null_empty_and_blank_names_are_all_absent() -> None:
    assert name_key(None).key is None
    assert name_key("").key is None
    assert name_key(" \u200b ").key is None


@pytest.mark.parametrize(
    "written",
    [
        "19860926 201505 1 001",
        "198609262015051001",
        "19860926.201505.1.001",
        "19860926-201505-1-001",
        "\u00a0198609262015051001\u200b",
    ],
)
def test_nip_separators_are_removed(written: str) -> None:
    assert canonical_nip(written) == "198609262015051001"


def test_nip_in_scientific_notation_is_kept_recognisably_invalid() -> None:
    assert canonical_nip("1.98609262015051E+17") == "1.98609262015051E+17"
    assert canonical_nip("") is None
    assert canonical_nip(None) is None


def test_codes_map_to_common_forms() -> None:
    assert canonical_violation(" d6 ") == "D-6"
    assert canonical_violation("KE-04") == "KE-4"
    assert canonical_stage("rekomendasi terbit") == "REKOMENDASI"
    assert canonical_stage("Sanksi Dijatuhkan") == "SANKSI_DIJATUHKAN"
    assert canonical_stage("dicatat idis") == "SANKSI_DIJATUHKAN"
    assert clean_text("  ") is None


def test_fingerprints_do_not_collide_on_concatenation() -> None:
    assert fingerprint(["1", "11"]) != fingerprint(["11", "1"])
    assert fingerprint(["a|b", "c"]) != fingerprint(["a", "b|c"])
    assert fingerprint([None, "x"]) != fingerprint(["", "x"])
    assert fingerprint(["a", None]) == fingerprint(["a", None])
