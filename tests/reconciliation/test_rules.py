"""Each rule fires on the disagreement it describes and stays silent on the baseline (pure, no database)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

import pytest

from app.reconciliation.rules import (
    RULES,
    FindingDraft,
    Ruleset,
    Severity,
    SiblingCase,
    case_has_local_issue,
    nip_difference_hint,
    record_has_local_issue,
)
from tests.reconciliation.builders import NIP, by_rule, context, findings


def test_baseline_has_no_finding() -> None:
    assert findings(context()) == []


def test_every_rule_has_both_languages_and_a_severity() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes)) >= 15
    for rule in RULES:
        assert rule.description_en
        assert rule.description_indonesian
        assert isinstance(rule.severity, Severity)


def test_catalogue_locality_is_the_declared_screens() -> None:
    """Rules that can fire on one source alone are the ones setting the stored flags the SQL screen reads."""
    local = {rule.code for rule in RULES if rule.local}
    assert local == {
        "NIP_INVALID",
        "INSTANSI_MISMATCH",
        "REGION_MISMATCH",
        "ELECTION_MISMATCH",
        "ENFORCEMENT_RECORD_MISMATCH",
        "PHASE_CATEGORY_INCONSISTENT",
        "LAPORAN_FILED_LATE",
        "SANCTION_NOT_PER_RECOMMENDATION",
        "SANCTION_DEPARTURE_EXPLAINED",
        "STAGE_INCONSISTENT",
        "STAGE_REGRESSION",
        "TIMELINE_INVALID",
        "RETIRED_AGENCY_DATA",
    }


def test_local_flags_are_set_exactly_when_a_local_rule_fires_on_one_source() -> None:
    baseline = context()
    assert not case_has_local_issue(baseline.case, baseline.reference, baseline.as_of)
    sanctioned = {"stage": "SANKSI_DIJATUHKAN", "sanction_date": "2024-10-04", "deadline_date": None}
    lighter = context(case={**sanctioned, "imposed_sanction_code": "RINGAN_TEGURAN_LISAN"})
    assert by_rule(lighter, "SANCTION_NOT_PER_RECOMMENDATION")
    assert case_has_local_issue(lighter.case, lighter.reference, lighter.as_of)
    nothing_imposed = context(case=sanctioned)
    assert any(f.agencies == ("BAWASLU",) for f in by_rule(nothing_imposed, "STAGE_INCONSISTENT"))
    assert case_has_local_issue(nothing_imposed.case, nothing_imposed.reference, nothing_imposed.as_of)
    premature = context(
        records={"BAWASLU": {"stage": "KAJIAN", "imposed_sanction_code": "SEDANG_TUKIN_25_6"}, "BKN": {}}
    )
    record = next(r for r in premature.records if r.agency == "BAWASLU")
    assert record_has_local_issue(record, premature.case, premature.reference, premature.as_of)


def test_indonesian_texts_call_an_agency_lembaga() -> None:
    """ "Instansi" is the ASN's employer only; the five agencies using SBT are "lembaga"."""
    for rule in RULES:
        assert "instansi" not in rule.description_indonesian.lower()


class TestPresence:
    def test_agency_required_at_stage_missing_after_grace(self) -> None:
        ctx = context(records={"BAWASLU": {}}, as_of=dt.date(2024, 10, 9))
        (finding,) = by_rule(ctx, "CASE_MISSING_AT_AGENCY")
        assert finding.severity is Severity.HIGH
        assert finding.evidence["missing"] == ["BKN"]
        assert "BKN" in finding.agencies

    def test_inside_grace_period_nothing(self) -> None:
        assert by_rule(context(records={"BAWASLU": {}}, as_of=dt.date(2024, 10, 8)), "CASE_MISSING_AT_AGENCY") == []

    def test_agency_not_required_at_stage_is_not_missing(self) -> None:
        ctx = context(case={"stage": "DITERIMA", "stage_entered_on": "2024-09-04"}, records={"BAWASLU": {}})
        assert by_rule(ctx, "CASE_MISSING_AT_AGENCY") == []

    def test_kasn_recommendation_requires_kasn_not_bkn(self) -> None:
        ctx = context(
            case={"recommended_by": "KASN", "recommendation_date": "2024-07-01", "stage_entered_on": "2024-07-01"},
            records={"BAWASLU": {}},
        )
        (finding,) = by_rule(ctx, "CASE_MISSING_AT_AGENCY")
        assert finding.evidence["missing"] == ["KASN"]


class TestOrphan:
    def test_record_of_another_person(self) -> None:
        ctx = context(records={"BAWASLU": {}, "BKN": {"nip": "197512312001122001", "name": "Rina Wati"}})
        (finding,) = by_rule(ctx, "ORPHAN_AGENCY_RECORD")
        assert finding.agencies == ("BKN",)
        assert by_rule(ctx, "NIP_MISMATCH") == []  # the orphan is not also reported as a NIP typo

    def test_same_person_with_typo_is_not_orphan(self) -> None:
        ctx = context(records={"BAWASLU": {}, "BKN": {"nip": NIP[:16] + "20"}})
        assert by_rule(ctx, "ORPHAN_AGENCY_RECORD") == []


class TestNip:
    def test_separators_are_not_a_mismatch(self) -> None:
        ctx = context(records={"BAWASLU": {"nip": "19800517 200503 1 002"}, "BKN": {"nip": "19800517.200503.1.002"}})
        assert by_rule(ctx, "NIP_MISMATCH") == []

    def test_transposed_sequence_digits_with_same_name_is_probable_typo(self) -> None:
        (finding,) = by_rule(context(records={"BAWASLU": {}, "BKN": {"nip": NIP[:16] + "20"}}), "NIP_MISMATCH")
        assert finding.severity is Severity.CRITICAL
        assert finding.hint == "probable_typo"
        assert finding.evidence["auto_merge"] is False

    def test_sequence_collision_with_other_name_is_different_person(self) -> None:
        other = NIP[:17] + "3"  # ...1002 vs ...1003: two real people can share the first 15 digits
        ctx = context(records={"BAWASLU": {}, "BKN": {"nip": other, "name": "Budi Santosa"}})
        (finding,) = by_rule(ctx, "NIP_MISMATCH")
        assert finding.hint == "different_person_likely"

    def test_hint_rules(self) -> None:
        assert nip_difference_hint("198609262015051001", "198626092015051001", True)[0] == "probable_typo"
        assert nip_difference_hint("198609262015051001", "198609262015051010", True)[0] == "probable_typo"
        assert nip_difference_hint("198609262015051001", "198609262015051002", True)[0] == "different_person_likely"
        assert nip_difference_hint("198609262015051001", "198609272015051001", False)[0] == "different_person_likely"
        assert nip_difference_hint("198609262015051001", "198609262016051001", True)[0] == "probable_typo"
        assert nip_difference_hint("198609262015051001", "197009262016051001", True)[0] == "different_person_likely"

    def test_missing_nip_at_one_agency(self) -> None:
        (finding,) = by_rule(context(records={"BAWASLU": {}, "BKN": {"nip": ""}}), "NIP_MISMATCH")
        assert finding.hint == "missing_value"

    @pytest.mark.parametrize(
        ("nip", "issue"),
        [
            ("198013172005031002", "calendar date"),
            ("19800517200503100", "exactly 18 digits"),
            ("198005172005033002", "gender"),
            ("198005171990031002", "younger than 18"),
            ("1.98609262015051E+17", "scientific notation"),
        ],
    )
    def test_invalid_nip_names_the_problem(self, nip: str, issue: str) -> None:
        ctx = context(records={"BAWASLU": {}, "BKN": {"nip": nip, "name": "Budi Santoso"}})
        (finding,) = by_rule(ctx, "NIP_INVALID")
        assert finding.severity is Severity.MEDIUM
        assert issue in " ".join(finding.evidence["issues"])

    def test_legacy_nine_digit_nip_is_info(self) -> None:
        (finding,) = by_rule(context(records={"BAWASLU": {}, "BKN": {"nip": "130512345"}}), "NIP_INVALID")
        assert finding.severity is Severity.INFO
        assert finding.hint == "legacy_nip"

    def test_valid_nip_is_silent(self) -> None:
        assert by_rule(context(), "NIP_INVALID") == []


class TestNames:
    @pytest.mark.parametrize(
        ("bkn_name", "severity", "hint"),
        [
            ("Budi Susanto", Severity.HIGH, "different"),
            ("Santoso Budi", Severity.LOW, "order"),
            ("Budi Santoso Wibowo", Severity.MEDIUM, "partial"),
            ("Budi Santosa", Severity.MEDIUM, "spelling_variant"),
            ("", Severity.MEDIUM, "missing_value"),
        ],
    )
    def test_classes(self, bkn_name: str, severity: Severity, hint: str) -> None:
        (finding,) = by_rule(context(records={"BAWASLU": {}, "BKN": {"name": bkn_name}}), "NAME_MISMATCH")
        assert (finding.severity, finding.hint) == (severity, hint)
        if hint != "missing_value":
            assert {"jaro_winkler", "token_sort_ratio", "levenshtein"} <= set(finding.evidence["comparisons"]["BKN"])

    def test_santoso_susanto_is_a_mismatch_despite_high_similarity(self) -> None:
        (finding,) = by_rule(context(records={"BAWASLU": {}, "BKN": {"name": "Budi Susanto"}}), "NAME_MISMATCH")
        assert float(finding.evidence["comparisons"]["BKN"]["jaro_winkler"]) > 0.9
        assert finding.severity is Severity.HIGH

    def test_titles_case_and_invisible_characters_are_not_a_mismatch(self) -> None:
        ctx = context(
            records={"BAWASLU": {"name": "Drs. H. BUDI\u200b  SANTOSO, M.Hum."}, "BKN": {"name": "budi santoso\n"}}
        )
        assert by_rule(ctx, "NAME_MISMATCH") == []

    def test_null_vs_null_and_empty_vs_null_are_equal(self) -> None:
        ctx = context(records={"BAWASLU": {"name": None}, "BKN": {"name": ""}})
        (finding,) = by_rule(ctx, "NAME_MISMATCH")  # both differ from the case, not from each other
        assert finding.observed["BAWASLU"]["name"]["normalized"] is None
        assert finding.observed["BKN"]["name"]["normalized"] is None

    def test_thresholds_are_configurable(self) -> None:
        strict = Ruleset.with_overrides({"NAME_MISMATCH": {"params": {"variant_min_jaro_winkler": 0.99}}})
        (finding,) = by_rule(context(records={"BAWASLU": {}, "BKN": {"name": "Budi Santosa"}}), "NAME_MISMATCH", strict)
        assert finding.hint == "different"


class TestViolation:
    def test_different_category_is_high(self) -> None:
        (finding,) = by_rule(context(records={"BAWASLU": {}, "BKN": {"violation_code": "KE-4"}}), "CATEGORY_MISMATCH")
        assert finding.severity is Severity.HIGH

    def test_same_category_other_form_is_medium(self) -> None:
        (finding,) = by_rule(context(records={"BAWASLU": {}, "BKN": {"violation_code": "D-2"}}), "CATEGORY_MISMATCH")
        assert finding.severity is Severity.MEDIUM

    def test_same_code_is_silent(self) -> None:
        assert by_rule(context(records={"BAWASLU": {"violation_code": "d-6"}, "BKN": {}}), "CATEGORY_MISMATCH") == []

    def test_another_instansi_is_high_when_the_ppk_supervisor_changes_too(self) -> None:
        regional = context(records={"BAWASLU": {}, "BKN": {"instansi_code": "KEMENAG"}})
        (finding,) = by_rule(regional, "INSTANSI_MISMATCH")
        assert (finding.severity, finding.agencies) == (Severity.HIGH, ("BKN",))
        assert finding.evidence["ppk_supervisor"] == {"CASE": "KEMENDAGRI", "BKN": "KEMENPANRB"}
        assert "CASE=73.06, BKN=KEMENAG" in finding.message_en
        record = next(r for r in regional.records if r.agency == "BKN")
        assert record_has_local_issue(record, regional.case, regional.reference, regional.as_of)

    def test_another_pemerintah_daerah_is_medium_and_no_code_compares_with_nothing(self) -> None:
        (finding,) = by_rule(context(records={"BKN": {"instansi_code": "73.71"}}), "INSTANSI_MISMATCH")
        assert finding.severity is Severity.MEDIUM  # Kemendagri supervises both
        assert by_rule(context(records={"BKN": {"instansi_code": "73.06"}}), "INSTANSI_MISMATCH") == []
        assert by_rule(context(case={"instansi_code": None}, records={"BKN": {"instansi_code": "73.71"}}),
                       "INSTANSI_MISMATCH") == []  # fmt: skip

    def test_phase_inconsistent_with_category(self) -> None:
        (finding,) = by_rule(context(case={"phase": "BAKAL_CALON"}), "PHASE_CATEGORY_INCONSISTENT")
        assert finding.evidence["expected_phase"] == "CALON"
        assert by_rule(context(), "PHASE_CATEGORY_INCONSISTENT") == []


class TestSanctions:
    def _imposed(self, code: str) -> list[object]:
        case = {
            "stage": "SANKSI_DIJATUHKAN",
            "imposed_sanction_code": code,
            "sanction_date": "2024-10-04",
            "deadline_date": None,
        }
        return by_rule(context(case=case), "SANCTION_NOT_PER_RECOMMENDATION")  # type: ignore[return-value]

    def test_lighter_is_high_heavier_is_medium_equal_is_silent(self) -> None:
        (lighter,) = self._imposed("RINGAN_TEGURAN_LISAN")
        (heavier,) = self._imposed("BERAT_PDHTAPS")
        assert (lighter.severity, lighter.hint) == (Severity.HIGH, "lighter")  # type: ignore[attr-defined]
        assert (heavier.severity, heavier.hint) == (Severity.MEDIUM, "heavier")  # type: ignore[attr-defined]
        assert self._imposed("SEDANG_TUKIN_25_6") == []

    def test_nothing_imposed_yet_is_silent(self) -> None:
        assert by_rule(context(), "SANCTION_NOT_PER_RECOMMENDATION") == []

    def test_agencies_recording_different_sanctions(self) -> None:
        ctx = context(
            records={
                "BAWASLU": {
                    "recommended_sanction_code": "BERAT_PDHTAPS",
                    "recommendation_date": "2024-10-01",
                },
                "BKN": {},
            }
        )
        (finding,) = by_rule(ctx, "SANCTION_RECORD_MISMATCH")
        assert finding.fields == ("recommended_sanction",)
        assert finding.message_indonesian.startswith("Lembaga mencatat rekomendasi sanksi yang berbeda")

    def test_legacy_code_of_equal_weight_is_the_same_sanction(self) -> None:
        ctx = context(
            records={
                "BAWASLU": {
                    "recommended_sanction_code": "LEGACY_PENUNDAAN_KGB",
                    "recommendation_date": "2024-10-01",
                },
                "BKN": {},
            }
        )
        assert by_rule(ctx, "SANCTION_RECORD_MISMATCH") == []


class TestRecordFieldsBesideTheCase:
    """Region, election, phase and the enforcement evidence: compared with the case where the record holds them."""

    def _only(
        self, records: Mapping[str, Mapping[str, object]], rule: str, case: Mapping[str, object] | None = None
    ) -> list[FindingDraft]:
        """The rule's findings; the local screen flags exactly the records they name."""
        ctx = context(case, {"BAWASLU": {}, **records})
        found = by_rule(ctx, rule)
        named = {agency for finding in found for agency in finding.agencies}
        for record in ctx.records:
            assert record_has_local_issue(record, ctx.case, ctx.reference, ctx.as_of) == (record.agency in named)
        return found

    def test_a_record_without_them_disagrees_with_nothing(self) -> None:
        for rule in ("REGION_MISMATCH", "ELECTION_MISMATCH", "ENFORCEMENT_RECORD_MISMATCH"):
            assert by_rule(context(), rule) == []

    def test_region(self) -> None:
        same = {"province_code": "73", "regency": "KAB. GOWA"}  # "Kabupaten Gowa" written otherwise
        assert self._only({"BKN": same}, "REGION_MISMATCH") == []
        (neighbour,) = self._only({"BKN": {"province_code": "73", "regency": "Kabupaten Bone"}}, "REGION_MISMATCH")
        assert (neighbour.severity, neighbour.fields, neighbour.agencies) == (Severity.MEDIUM, ("regency",), ("BKN",))
        assert neighbour.observed["CASE"]["regency"] == {"raw": "Kabupaten Gowa", "normalized": "kabupaten gowa"}
        (other,) = self._only({"BKN": {"province_code": "74"}}, "REGION_MISMATCH")
        assert (other.severity, other.fields, other.evidence) == (
            Severity.HIGH,
            ("province_code",),
            {"per_agency": {"BKN": ["province_code"]}},
        )

    def test_election_and_phase(self) -> None:
        agreeing = {"election_type": "PILKADA", "election_year": 2024, "phase": "CALON"}
        assert self._only({"BKN": agreeing}, "ELECTION_MISMATCH") == []
        (year,) = self._only({"BKN": agreeing | {"election_year": 2020}}, "ELECTION_MISMATCH")
        assert (year.severity, year.fields) == (Severity.HIGH, ("election_year",))
        (phase,) = self._only({"KEMENDAGRI": {"phase": "BAKAL_CALON"}, "BKN": {}}, "ELECTION_MISMATCH")
        assert (phase.severity, phase.fields, phase.agencies) == (Severity.MEDIUM, ("phase",), ("KEMENDAGRI",))
        assert "dicatat berbeda dari kasus" in phase.message_indonesian

    def test_decision_and_block_dates(self) -> None:
        sanctioned = {
            "stage": "BLOKIR_DIBUKA",
            "deadline_date": None,
            "imposed_sanction_code": "SEDANG_TUKIN_25_6",
            "sanction_date": "2024-10-04",
            "decision_number": "800/12/BKPSDM/2024",
            "decision_date": "2024-10-04",
            "blocked_on": "2024-10-02",
            "block_lifted_on": "2024-10-04",
        }
        same = {"decision_number": "800/ 12 /bkpsdm/2024", "decision_date": "2024-10-04", "blocked_on": "2024-10-02"}
        assert self._only({"BKN": same}, "ENFORCEMENT_RECORD_MISMATCH", sanctioned) == []
        (found,) = self._only(
            {"BKN": same | {"decision_number": "800/13/BKPSDM/2024", "block_lifted_on": "2024-10-05"}},
            "ENFORCEMENT_RECORD_MISMATCH",
            sanctioned,
        )
        assert (found.severity, found.fields) == (Severity.MEDIUM, ("decision_number", "block_lifted_on"))
        # the case records no decision yet: an agency holding one disagrees with nothing
        assert self._only({"BKN": same}, "ENFORCEMENT_RECORD_MISMATCH") == []

    def test_recommended_and_imposed_sanctions_are_compared_apart(self) -> None:
        sanctioned = {
            "stage": "SANKSI_DIJATUHKAN",
            "deadline_date": None,
            "imposed_sanction_code": "SEDANG_TUKIN_25_6",
            "sanction_date": "2024-10-04",
        }
        # KEMENDAGRI holds the recommendation the case holds, and another imposed sanction
        other_imposed = {
            "recommended_sanction_code": "SEDANG_TUKIN_25_6",
            "imposed_sanction_code": "SEDANG_TUKIN_25_12",
        }
        (finding,) = by_rule(context(sanctioned, {"BKN": {}, "KEMENDAGRI": other_imposed}), "SANCTION_RECORD_MISMATCH")
        assert (finding.fields, finding.agencies) == (("imposed_sanction",), ("BKN", "KEMENDAGRI"))
        # holding only the recommendation, without the imposed sanction it has not recorded yet, is no disagreement
        recommendation_only = {"recommended_sanction_code": "SEDANG_TUKIN_25_6"}
        assert (
            by_rule(context(sanctioned, {"BKN": {}, "KEMENDAGRI": recommendation_only}), "SANCTION_RECORD_MISMATCH")
            == []
        )


class TestStages:
    def test_record_far_behind_the_case(self) -> None:
        (finding,) = by_rule(context(records={"BAWASLU": {"stage": "TERVERIFIKASI"}, "BKN": {}}), "STAGE_INCONSISTENT")
        assert finding.agencies == ("BAWASLU",)

    def test_one_stage_lag_is_allowed(self) -> None:
        assert by_rule(context(records={"BAWASLU": {"stage": "DITERUSKAN"}, "BKN": {}}), "STAGE_INCONSISTENT") == []

    def test_dissolved_agency_record_stays_where_its_part_ended(self) -> None:
        # KASN recommended in July 2024 and ceased on 2024-08-24; the PPK's sanction was recorded by BKN in August
        case = {
            "stage": "SANKSI_DIJATUHKAN",
            "recommended_by": "KASN",
            "recommendation_number": "R-12/KASN/7/2024",
            "recommendation_date": "2024-07-10",
            "stage_entered_on": "2024-08-20",
            "deadline_date": None,
            "imposed_sanction_code": "SEDANG_TUKIN_25_6",
            "sanction_date": "2024-08-20",
        }
        records = {"BAWASLU": {"stage": "DITERUSKAN"}, "BKN": {}, "KASN": {"stage": "REKOMENDASI"}}
        assert by_rule(context(case, records), "STAGE_INCONSISTENT") == []  # after 2024-08-24: KASN's archive
        (finding,) = by_rule(context(case, records, as_of=dt.date(2024, 8, 22)), "STAGE_INCONSISTENT")
        assert finding.agencies == ("KASN",)  # while KASN still worked, its record lagged the case
        lagging = {**records, "BKN": {"stage": "REKOMENDASI"}}  # a working agency behind is still reported
        (finding,) = [f for f in by_rule(context(case, lagging), "STAGE_INCONSISTENT") if f.fields == ("stage",)]
        assert finding.agencies == ("BKN",)

    def test_record_ahead_of_the_case(self) -> None:
        ctx = context(records={"BAWASLU": {}, "BKN": {"stage": "SANKSI_DIJATUHKAN"}})
        assert [f.fields for f in by_rule(ctx, "STAGE_INCONSISTENT")] == [("stage",)]

    def test_sanction_status_before_recommendation_stage(self) -> None:
        ctx = context(records={"BAWASLU": {}, "BKN": {"stage": "DITERUSKAN"}})  # still RECOMMENDED
        assert [f.fields for f in by_rule(ctx, "STAGE_INCONSISTENT")] == [("stage", "sanction_status")]

    def test_regression_against_the_highest_stage_reached(self) -> None:
        ctx = context(records={"BAWASLU": {"stage": "KAJIAN"}, "BKN": {}}, high_water={"BAWASLU": 5})
        (finding,) = by_rule(ctx, "STAGE_REGRESSION")
        assert finding.agencies == ("BAWASLU",)
        assert by_rule(context(high_water={"BAWASLU": 5}), "STAGE_REGRESSION") == []

    def test_back_to_the_case_stage_is_no_regression(self) -> None:
        # the case was reopened from SANKSI_DIJATUHKAN (rank 9) to REKOMENDASI, and Bawaslu's record followed it
        assert by_rule(context(high_water={"BAWASLU": 9}), "STAGE_REGRESSION") == []
        behind = context(records={"BAWASLU": {"stage": "KAJIAN"}, "BKN": {}}, high_water={"BAWASLU": 9})
        assert [f.agencies for f in by_rule(behind, "STAGE_REGRESSION")] == [("BAWASLU",)]


LAPORAN = {"source": "LAPORAN", "incident_date": dt.date(2024, 9, 2), "reported_date": dt.date(2024, 9, 12)}


class TestLateLaporan:
    def test_a_pilkada_laporan_after_seven_days_from_the_incident_is_flagged(self) -> None:
        (finding,) = by_rule(context(case=LAPORAN), "LAPORAN_FILED_LATE")
        assert finding.evidence == {"filing_days": 7, "days_late": 3, "counted_from": "incident_date"}
        assert finding.severity == "LOW"

    def test_the_period_runs_from_the_day_the_incident_became_known(self) -> None:
        known = context(case=LAPORAN | {"known_date": dt.date(2024, 9, 5)})
        assert by_rule(known, "LAPORAN_FILED_LATE") == []
        (late,) = by_rule(context(case=LAPORAN | {"known_date": dt.date(2024, 9, 4)}), "LAPORAN_FILED_LATE")
        assert late.evidence["counted_from"] == "known_date"
        assert late.evidence["days_late"] == 1

    def test_temuan_and_pemilu_have_no_filing_period_by_default(self) -> None:
        assert by_rule(context(case=LAPORAN | {"source": "TEMUAN"}), "LAPORAN_FILED_LATE") == []
        assert by_rule(context(case=LAPORAN | {"election_type": "PEMILU"}), "LAPORAN_FILED_LATE") == []


class TestDates:
    def test_recommendation_before_report(self) -> None:
        ctx = context(records={"BAWASLU": {}, "BKN": {"recommendation_date": "2024-08-01"}})
        (finding,) = by_rule(ctx, "TIMELINE_INVALID")
        assert "recommendation_date 2024-08-01 is before reported_date" in finding.evidence["issues"][0]

    def test_case_report_before_incident(self) -> None:
        ctx = context(case={"reported_date": "2024-09-01"}, records={"BAWASLU": {"reported_date": "2024-09-03"}})
        (finding,) = by_rule(ctx, "TIMELINE_INVALID")
        assert finding.observed.keys() == {"CASE"}
        assert finding.agencies == ("BAWASLU",)

    def test_ordered_dates_are_silent(self) -> None:
        assert by_rule(context(), "TIMELINE_INVALID") == []


class TestDeadlines:
    def test_due_today_is_not_exceeded_due_yesterday_is(self) -> None:
        assert by_rule(context(as_of=dt.date(2024, 10, 11)), "DEADLINE_EXCEEDED") == []
        (finding,) = by_rule(context(as_of=dt.date(2024, 10, 12)), "DEADLINE_EXCEEDED")
        assert finding.evidence["days"] == 1
        assert finding.severity is Severity.HIGH

    def test_escalates_after_configured_days(self) -> None:
        (finding,) = by_rule(context(as_of=dt.date(2024, 11, 30)), "DEADLINE_EXCEEDED")
        assert finding.severity is Severity.CRITICAL

    def test_approaching_window_is_configurable(self) -> None:
        assert by_rule(context(as_of=dt.date(2024, 10, 7)), "DEADLINE_APPROACHING") == []
        (finding,) = by_rule(context(as_of=dt.date(2024, 10, 8)), "DEADLINE_APPROACHING")
        assert finding.evidence["days"] == 3
        wide = Ruleset.with_overrides({"DEADLINE_APPROACHING": {"params": {"days_before": 10}}})
        assert len(by_rule(context(), "DEADLINE_APPROACHING", wide)) == 1

    def test_terminal_case_has_no_running_deadline(self) -> None:
        ctx = context(case={"stage": "TIDAK_TERBUKTI"}, records={}, as_of=dt.date(2025, 1, 1))
        assert by_rule(ctx, "DEADLINE_EXCEEDED") == []


def test_duplicate_case_names_the_other_case() -> None:
    sibling = SiblingCase(uuid.UUID(int=2), "SBT-2024-000002")
    (finding,) = by_rule(context(duplicates=[sibling]), "DUPLICATE_CASE")
    assert finding.evidence["other_cases"] == ["SBT-2024-000002"]
    assert by_rule(context(), "DUPLICATE_CASE") == []


class TestRetiredAgency:
    def test_kasn_record_after_dissolution(self) -> None:
        ctx = context(records={"BAWASLU": {}, "BKN": {}, "KASN": {"created_at": "2024-09-02T10:00:00+07:00"}})
        (finding,) = by_rule(ctx, "RETIRED_AGENCY_DATA")
        assert finding.evidence["successor"] == "BKN"
        assert set(finding.agencies) == {"KASN", "BKN"}

    def test_kasn_record_before_dissolution_is_silent(self) -> None:
        ctx = context(
            records={
                "BAWASLU": {},
                "BKN": {},
                "KASN": {"created_at": "2024-08-23T10:00:00+07:00", "reported_date": "2024-08-20"},
            }
        )
        assert by_rule(ctx, "RETIRED_AGENCY_DATA") == []


def test_rule_can_be_disabled_and_severity_overridden() -> None:
    ctx = context(records={"BAWASLU": {}, "BKN": {"name": "Budi Susanto"}})
    off = Ruleset.with_overrides({"NAME_MISMATCH": {"enabled": False}})
    assert by_rule(ctx, "NAME_MISMATCH", off) == []
    louder = Ruleset.with_overrides({"NAME_MISMATCH": {"severity": "CRITICAL"}})
    assert by_rule(ctx, "NAME_MISMATCH", louder)[0].severity is Severity.CRITICAL
    with pytest.raises(ValueError, match="unknown"):
        Ruleset.with_overrides({"NO_SUCH_RULE": {}})


def test_finding_keys_change_with_the_data_and_only_with_it() -> None:
    first = by_rule(context(records={"BAWASLU": {}, "BKN": {"name": "Budi Susanto"}}), "NAME_MISMATCH")[0]
    again = by_rule(context(records={"BAWASLU": {}, "BKN": {"name": "BUDI  SUSANTO"}}), "NAME_MISMATCH")[0]
    other = by_rule(context(records={"BAWASLU": {}, "BKN": {"name": "Budi Sutanto"}}), "NAME_MISMATCH")[0]
    case_id = uuid.UUID(int=1)
    assert first.key(case_id) == again.key(case_id)
    assert first.key(case_id) != other.key(case_id)
    assert first.key(case_id) != first.key(uuid.UUID(int=2))
