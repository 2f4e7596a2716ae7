"""The language of a response, negotiated from ``Accept-Language`` (RFC 9110 §12.5.4) among SBT's two.

Problem details answer in English unless the client prefers Indonesian; the public monitoring page, whose readers
are the public in Indonesia, answers in Indonesian unless the client prefers English (or asks with ``?lang=``).
"""

from __future__ import annotations

from starlette.types import Scope

from app.core.i18n import Language

VARY = "Accept-Language"


def _weight(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def negotiate(accept_language: str | None, default: Language) -> Language:
    """The supported language the header weighs highest (``id-ID`` is ``id``); ``default`` when it names neither,
    or ``*`` only. Ties go to the earlier one, as the client listed them."""
    best: tuple[float, Language] | None = None
    for item in (accept_language or "").split(","):
        tag, *parameters = item.split(";")
        primary = tag.strip().lower().split("-", 1)[0]
        weight = _weight(parameters)
        language = next((lang for lang in Language if lang.value == primary), None)
        if language is not None and weight > 0 and (best is None or weight > best[0]):
            best = (weight, language)
    return best[1] if best else default


def requested_language(scope: Scope, default: Language = Language.ENGLISH) -> Language:
    header = next((value for name, value in scope.get("headers", []) if name == b"accept-language"), None)
    return negotiate(header.decode("latin-1") if header is not None else None, default)
