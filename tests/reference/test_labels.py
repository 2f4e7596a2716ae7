"""Every stage and violation category has a label in both languages (app/reference/data/labels.json)."""

from __future__ import annotations

from app.cases.workflow import Stage
from app.reference.labels import titles
from app.reference.seed import load_rows


def test_every_stage_and_category_has_an_indonesian_and_an_english_label() -> None:
    categories = {row["category"] for row in load_rows("violation_form")}
    for vocabulary, codes in (("stage", {stage.value for stage in Stage}), ("violation_category", categories)):
        for english in (False, True):
            labels = titles(vocabulary, english=english)
            assert set(labels) == codes
            assert all(label.strip() for label in labels.values())
    assert titles("stage")["REKOMENDASI"] != titles("stage", english=True)["REKOMENDASI"]
