"""The message catalogue is complete and its committed compiled form is current.

Every text marked in the code and the templates (the extraction ``babel.cfg`` configures, as ``pybabel extract``
runs it) has an Indonesian translation, the catalogue holds no text that is no longer marked, every translation
keeps its placeholders, and the committed ``sbt.mo`` says what ``sbt.po`` says (rebuild it with
``pybabel compile``, see CONTRIBUTING.md).
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app.core.i18n import DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
PO = LOCALE_DIR / "id" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "gettext": None, "N_": None, "Message": None}
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def _marked_texts() -> set[str]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    return {
        message
        for _, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map, keywords=KEYWORDS)
        if isinstance(message, str)
    }


def _catalogue() -> dict[str, str]:
    with PO.open("rb") as file:
        return {str(message.id): str(message.string) for message in read_po(file) if message.id}


def test_every_marked_text_is_translated_and_nothing_else_is_in_the_catalogue() -> None:
    marked, catalogue = _marked_texts(), _catalogue()
    assert sorted(marked - set(catalogue)) == [], "marked but not in sbt.po: pybabel extract + update"
    assert sorted(set(catalogue) - marked) == [], "in sbt.po but no longer marked"
    assert sorted(text for text, translation in catalogue.items() if not translation) == []


def test_translations_keep_their_placeholders() -> None:
    for text, translation in _catalogue().items():
        assert sorted(PLACEHOLDER.findall(translation)) == sorted(PLACEHOLDER.findall(text)), text


def test_the_committed_compiled_catalogue_matches_the_source() -> None:
    with MO.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    assert {text: compiled.gettext(text) for text in _catalogue()} == _catalogue()
    assert compiled.info()["language"] == "id"
