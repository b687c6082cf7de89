"""The gettext catalogs (queues/locale) and queues.i18n: they parse, hold every text the code
and templates use, count in each language's plural forms, and fall back to English.

The extraction check runs Babel's extractor with babel.cfg, as `make messages` does: a text
added to a template without `make messages` fails here, not in front of a reader.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from queues import i18n, mailtemplates
from queues.i18n import (
    LANGUAGES,
    catalog_path,
    native_name,
    negotiate,
    parse_accept_language,
    translations,
    translator,
)

ROOT = Path(__file__).resolve().parents[3]
# The Makefile's `messages` target passes the same -k options.
EXTRA_KEYWORDS = ["lazy_gettext", "lazy_ngettext:1,2", "lazy_pgettext:1c,2"]
TICKETS = ("%(num)s ticket matches these filters.", "%(num)s tickets match these filters.")


def load(language: str) -> Catalog:
    with catalog_path(language).open("rb") as fh:
        return read_po(fh, locale=language, domain=i18n.DOMAIN)


def extracted() -> dict[str | tuple[str, ...], list[str]]:
    """msgid -> where it is used, as `make messages` extracts them."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(EXTRA_KEYWORDS)}
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def test_there_is_a_catalog_for_every_language_and_it_parses() -> None:
    for language in LANGUAGES:
        catalog = load(language)
        assert str(catalog.locale) == language
        assert catalog.plural_forms == get_plural(language).plural_forms
        # Babel's checks: the placeholders of each translation match its msgid's, and a
        # translated plural has every form its language needs.
        problems = [(m.id, errors) for m, errors in catalog.check()]
        assert problems == [], language


def test_every_text_in_code_and_templates_is_in_every_catalog() -> None:
    used = extracted()
    assert TICKETS in used  # the extraction really read the templates
    for language in LANGUAGES:
        have = {m.id for m in load(language) if m.id}
        missing = {str(msgid): where for msgid, where in used.items() if msgid not in have}
        assert not missing, f"{language}: run `make messages` and translate: {missing}"


def test_the_catalogs_ship_inside_the_package() -> None:
    # pyproject.toml builds the wheel from the `queues` package, files and all.
    assert i18n.LOCALE_DIR.parent == Path(i18n.__file__).parent
    assert all(catalog_path(language).is_file() for language in LANGUAGES)
    assert not list(i18n.LOCALE_DIR.rglob("*.mo")), "no compiled catalogs in the tree"


@pytest.mark.parametrize(
    ("language", "counts"),
    [
        # CLDR: English and German: one for 1, else other.
        ("en", {0: "0 tickets match", 1: "1 ticket matches", 2: "2 tickets match"}),
        ("de", {0: "0 Tickets passen", 1: "1 Ticket passt", 2: "2 Tickets passen"}),
        # French: 0 and 1 are singular; whole millions take "de".
        (
            "fr",
            {
                0: "0 ticket correspond",
                1: "1 ticket correspond",
                2: "2 tickets correspondent",
                1_000_000: "1\u202f000\u202f000 de tickets correspondent",
            },
        ),
        # Spanish: only 1 is singular; whole millions take "de".
        (
            "es",
            {
                0: "0 tickets coinciden",
                1: "1 ticket coincide",
                21: "21 tickets coinciden",
                1_000_000: "1.000.000 de tickets coinciden",
            },
        ),
    ],
)
def test_plural_forms_in_each_language(language: str, counts: dict[int, str]) -> None:
    t = translator(language)
    for n, wanted in counts.items():
        text = t.ngettext(*TICKETS, n, num=t.number(n))
        assert text.startswith(wanted), (n, text)


def test_num_defaults_to_the_count() -> None:
    assert translator("de").ngettext("%(num)s message", "%(num)s messages", 3) == "3 Nachrichten"


def test_unknown_languages_and_texts_read_in_english() -> None:
    assert translator("pt").language == "en"
    assert translator(None).ngettext(*TICKETS, 1) == "1 ticket matches these filters."
    # A text no catalog has (not extracted yet) is shown as written.
    assert translator("de").gettext("Not in any catalog, %(x)s", x="yet") == (
        "Not in any catalog, yet"
    )
    assert translations("xx") is translations("en")


def test_fuzzy_guesses_never_reach_a_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    po = tmp_path / "de" / "LC_MESSAGES" / "switchboard.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: de\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
        '#, fuzzy\nmsgid "Closed"\nmsgstr "Geschlossen"\n\nmsgid "Open"\nmsgstr "Offen"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._compiled.cache_clear()
    try:
        t = translator("de")
        assert t.gettext("Open") == "Offen"
        assert t.gettext("Closed") == "Closed"
    finally:
        i18n._compiled.cache_clear()


@pytest.mark.parametrize(
    ("header", "ranked"),
    [
        ("de-CH, fr;q=0.8, en;q=0.5", ["de-CH", "fr", "en"]),
        ("en;q=0.2, es-MX, *;q=0.1", ["es-MX", "en"]),
        ("fr;q=0, de", ["de"]),  # q=0: not acceptable (RFC 9110, 12.5.4)
        ("es;q=bogus, de;q=2, fr;q=0.5", ["fr"]),  # malformed weights count as 0
        ("de;q=0.5, fr;q=0.5", ["de", "fr"]),  # equal weights keep the header's order
        ("<script>, en", ["en"]),
        ("", []),
        (None, []),
        ("de," * 600, []),  # not a browser's header
    ],
)
def test_accept_language_is_ranked(header: str | None, ranked: list[str]) -> None:
    assert parse_accept_language(header) == ranked


def test_negotiation_takes_the_first_preference_we_have() -> None:
    assert negotiate("de-CH", "fr") == "de"
    assert negotiate(None, "", "pt_BR", "es-MX") == "es"
    assert negotiate("fr", choices=("en",)) == "en"
    assert negotiate() == "en"
    assert negotiate("ja", "zh") == "en"
    assert negotiate(*parse_accept_language("es-MX,es;q=0.9,en;q=0.5")) == "es"


def test_language_names_are_in_their_own_language() -> None:
    assert [native_name(language) for language in LANGUAGES] == [
        "English",
        "Deutsch",
        "français",
        "español",
    ]


def test_mail_templates_can_use_trans_blocks() -> None:
    template = (
        "{% trans num=n %}{{ num }} message{% pluralize %}{{ num }} messages{% endtrans %}"
        " / {{ ngettext('%(num)s ticket matches these filters.',"
        " '%(num)s tickets match these filters.', n) }}"
    )
    rendered = {
        language: mailtemplates._environment(language).from_string(template).render(n=2)
        for language in LANGUAGES
    }
    assert rendered["en"] == "2 messages / 2 tickets match these filters."
    assert rendered["de"] == "2 Nachrichten / 2 Tickets passen zu diesen Filtern."
    assert rendered["fr"].startswith("2 messages / 2 tickets correspondent")
    assert rendered["es"] == "2 mensajes / 2 tickets coinciden con estos filtros."
