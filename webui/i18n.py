"""The web edge's languages: Flask-Babel on queues.i18n's catalogs, and each page's language.

Templates use Jinja2's i18n extension as Flask-Babel installs it (newstyle: the call formats
its own variables, escaped), e.g. `{{ ngettext('%(num)s ticket', '%(num)s tickets', n,
num=n|numberformat) }}`; Python code uses flask_babel's gettext/ngettext/lazy_gettext.
The catalogs are the core's (queues.i18n.translations), compiled in memory on first use:
Flask-Babel's own loader, which wants `.mo` files on disk, is replaced.

The language of a request: one a view chose with `use_language` (a public page in the
reporter's language), else the best match of the browser's Accept-Language among the
app's AGENT_LANGUAGES (config key, default ("en",): the agents' pages are written in
English for now; plural forms still go through the catalogs). `<html lang>` says which.
"""

from __future__ import annotations

from functools import cached_property

from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, Domain, get_locale, refresh

from queues.i18n import DEFAULT_LANGUAGE, DOMAIN, negotiate, parse_accept_language, translations

_CHOSEN = "switchboard_language"


class CatalogDomain(Domain):  # type: ignore[misc]
    """Flask-Babel's message domain, reading the core's in-memory catalogs."""

    def get_translations(self) -> Translations | NullTranslations:
        return translations(page_language())


class CatalogBabel(Babel):  # type: ignore[misc]
    @cached_property
    def domain_instance(self) -> CatalogDomain:
        return CatalogDomain(domain=DOMAIN)


def page_language() -> str:
    """The language of the page being rendered ("en" outside a request)."""
    locale = get_locale() if has_request_context() else None
    return str(locale) if locale is not None else DEFAULT_LANGUAGE


def use_language(language: str | None) -> str:
    """Render the rest of this request in `language` (when supported); returns the one used."""
    setattr(g, _CHOSEN, negotiate(language))
    refresh()  # Flask-Babel keeps the locale it chose for the request: choose again
    return page_language()


def _select_locale() -> str:
    chosen: str | None = getattr(g, _CHOSEN, None)
    if chosen is not None:
        return chosen
    wanted = parse_accept_language(request.headers.get("Accept-Language"))
    return negotiate(*wanted, choices=current_app.config["AGENT_LANGUAGES"])


def init_app(app: Flask) -> None:
    app.config.setdefault("AGENT_LANGUAGES", (DEFAULT_LANGUAGE,))
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANGUAGE
    app.config["BABEL_DOMAIN"] = DOMAIN
    CatalogBabel(app, locale_selector=_select_locale)
    app.jinja_env.globals["page_language"] = page_language
