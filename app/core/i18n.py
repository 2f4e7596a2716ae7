"""Text for people in Indonesian or English, from one gettext message catalogue.

The message ids are the English texts; ``locale/id/LC_MESSAGES/sbt.po`` translates them, and its compiled
``sbt.mo`` is committed beside it (a fresh clone and the installed package need no build step;
``tests/core/test_catalogue.py`` fails when the two differ or when a marked text has no translation). Texts are
marked where they are written, ``N_("…")`` for a constant and ``Message("…", name=value)`` for a text with
parameters, and translated where they are shown (the web layer, for the language the client asked for).
"""

from __future__ import annotations

import enum
import gettext
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "sbt"


class Language(enum.StrEnum):
    INDONESIAN = "id"
    ENGLISH = "en"


def N_(text: str) -> str:
    """Marks a constant text for the catalogue; it is translated where it is shown."""
    return text


@cache
def translations(language: Language) -> gettext.NullTranslations:
    if language is Language.ENGLISH:
        return gettext.NullTranslations()  # the message ids are the English texts
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language.value])


def translate(language: Language, text: str) -> str:
    return translations(language).gettext(text)


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """A text with parameters, translated when shown: ``Message("{count} invalid input(s).", count=2)``."""

    msgid: str
    params: Mapping[str, object]

    def __init__(self, msgid: str, /, **params: object) -> None:
        object.__setattr__(self, "msgid", msgid)
        object.__setattr__(self, "params", params)

    def render(self, language: Language) -> str:
        """The translated text with its values; a value that is itself a ``Message`` (or a tuple of them, joined
        with "; ") is shown in the same language, so a text can be composed of translated parts."""
        return translate(language, self.msgid).format(
            **{name: _shown(value, language) for name, value in self.params.items()}
        )

    def __str__(self) -> str:
        return self.render(Language.ENGLISH)


def _shown(value: object, language: Language) -> object:
    if isinstance(value, Message):
        return value.render(language)
    if isinstance(value, tuple) and value and all(isinstance(item, Message) for item in value):
        return "; ".join(item.render(language) for item in value)
    return value
