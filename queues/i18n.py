"""Texts in the reader's language: the gettext catalogs, plural forms and language choice.

One set of catalogs serves the mail (queues.mailtemplates, Jinja2's i18n extension) and the
web edge (webui.i18n, Flask-Babel): `queues/locale/<lang>/LC_MESSAGES/switchboard.po`,
inside the package so that `pip install .` carries them. English is the source language:
a message that a catalog lacks, or has not translated yet, reads in English.

A `.po` file is compiled in memory on first use and the result kept for the life of the
process (Babel reads the `.po`, writes its binary `.mo` form into a buffer, and gettext
reads that). So `make run` needs no compile step, and there is no generated `.mo` in git
that could fall behind its `.po`. A catalog costs a few milliseconds, once per process.
Babel itself is imported on that first use only: commands that send no mail start faster.

    translations("de")                        babel.support.Translations, cached
    translator("fr").ngettext("%(num)s ticket", "%(num)s tickets", 2)
    negotiate("de-CH", "fr")                  "de": the first preference we support
    negotiate(*parse_accept_language("es-MX,es;q=0.9,en;q=0.5"))   "es"

Plural forms follow each catalog's `Plural-Forms` header, which `pybabel init` takes from
CLDR: French and Spanish have three forms (one, many for whole millions, other).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from babel.support import Translations

DOMAIN = "switchboard"
DEFAULT_LANGUAGE = "en"
# Every language the reporter's texts exist in; each has a catalog (tests check it).
LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# An Accept-Language header is short; anything longer is not a browser's.
_MAX_HEADER = 1000


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def supported(language: str | None) -> str:
    """`language` if we have texts in it, else the default ("en")."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def translations(language: str | None) -> Translations:
    """The compiled catalog of `language` (the default language's when unsupported)."""
    return _compiled(supported(language))


@cache
def _compiled(language: str) -> Translations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with catalog_path(language).open("rb") as fh:
        catalog = read_po(fh, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    # Fuzzy entries are guesses `pybabel update` made; they must not reach a reader.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@dataclass(frozen=True)
class Translator:
    """gettext bound to one language, for code that renders text outside a web request."""

    language: str

    def gettext(self, message: str, **variables: Any) -> str:
        text = translations(self.language).ugettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> str:
        """The form of `singular`/`plural` for `n`; `%(num)s` is `n` unless given."""
        variables.setdefault("num", n)
        return translations(self.language).ungettext(singular, plural, n) % variables

    def number(self, n: float) -> str:
        """`n` written the reader's way ("1,234", "1.234", "1 234")."""
        from babel.numbers import format_decimal

        return format_decimal(n, locale=self.language)


def translator(language: str | None) -> Translator:
    return Translator(supported(language))


def negotiate(*preferences: str | None, choices: Sequence[str] = LANGUAGES) -> str:
    """The first of `preferences` (language tags, best first) that we have texts in.

    A regional tag matches its language ("de-CH", "pt_BR" -> "pt"); empty preferences are
    skipped, so callers can pass what they know: a form's choice, a detected language,
    then the ranked tags of an Accept-Language header. Nothing matching: the default.
    """
    from babel.core import negotiate_locale

    tags = [p.replace("_", "-") for p in preferences if p]
    found = negotiate_locale(tags, list(choices), sep="-") if tags else None
    return found if found is not None and found in choices else DEFAULT_LANGUAGE


def parse_accept_language(header: str | None) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first.

    RFC 9110, section 12.5.4: comma-separated ranges with an optional weight `q` (0 to 1,
    default 1); q=0 means "not acceptable" and drops the range; "*" names no language we
    could choose, so it is dropped too. Equal weights keep the header's order.
    """
    if not header or len(header) > _MAX_HEADER:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not all(part.isalnum() for part in tag.split("-")):
            continue
        weight = _weight(params)
        if weight > 0:
            ranked.append((-weight, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def _weight(params: str) -> float:
    name, _, value = params.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        weight = float(value.strip())
    except ValueError:
        return 0.0
    return weight if 0.0 <= weight <= 1.0 else 0.0


def native_name(language: str) -> str:
    """A language's name in that language ("Deutsch", "français"), for language menus."""
    from babel.core import Locale

    return str(Locale.parse(language).get_display_name(language))
