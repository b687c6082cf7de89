"""webui.i18n: pages count in proper plural forms through the shared catalogs, in the page's
language (Accept-Language among AGENT_LANGUAGES, or a view's choice), English otherwise."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_babel import gettext, ngettext
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Role, TicketState
from webui.i18n import page_language, use_language

from .conftest import Auth, add_ticket, make_app, new_client


def summary(page: str) -> str:
    found = re.search(r'<p class="list-summary" role="status">(.*?)</p>', page, re.S)
    assert found, "no list summary on the page"
    return " ".join(found.group(1).split())


def test_one_ticket_is_one_ticket(auth: Auth, client: FlaskClient, tickets: dict[str, str]) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/queues/general-help").get_data(as_text=True)
    assert summary(page) == "1 ticket matches these filters."
    page = client.get("/search?q=secret+subject").get_data(as_text=True)
    assert summary(page) == "1 ticket matches, best first."
    page = client.get("/mine").get_data(as_text=True)
    assert summary(page) == "None of your tickets match these filters."


def test_several_tickets_and_big_numbers(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    for i in range(2):
        add_ticket(factory, "general-help", f"30000000{i}", TicketState.OPEN)
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/queues/general-help").get_data(as_text=True)
    assert summary(page) == "3 tickets match these filters."


def test_agents_pages_are_english_whatever_the_browser_asks(
    auth: Auth, client: FlaskClient, tickets: dict[str, str]
) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/queues/general-help", headers={"Accept-Language": "de-DE,de;q=0.9"})
    text = page.get_data(as_text=True)
    assert '<html lang="en">' in text
    assert summary(text) == "1 ticket matches these filters."


def test_a_language_the_app_offers_is_negotiated(
    factory: sessionmaker[Session], tmp_path: Path, auth: Auth, tickets: dict[str, str]
) -> None:
    app = make_app(factory, tmp_path, AGENT_LANGUAGES=("en", "de", "fr"))
    client = new_client(app)
    auth.as_role(Role.VOLUNTEER, client)
    german = client.get("/queues/general-help", headers={"Accept-Language": "de-CH, en;q=0.5"})
    text = german.get_data(as_text=True)
    assert '<html lang="de">' in text
    assert summary(text) == "1 Ticket passt zu diesen Filtern."
    french = client.get("/search?q=secret", headers={"Accept-Language": "fr"})
    assert summary(french.get_data(as_text=True)) == "1 ticket correspond, les meilleurs d’abord."
    other = client.get("/queues/general-help", headers={"Accept-Language": "ja, es"})
    assert '<html lang="en">' in other.get_data(as_text=True)


def test_a_view_can_choose_the_language(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        assert page_language() == "en"
        assert use_language("es-MX") == "es"
        assert ngettext("%(num)s message", "%(num)s messages", 2) == "2 mensajes"
        rendered = render_template_string(
            "<html lang=\"{{ page_language() }}\">{{ ngettext('%(num)s message waiting',"
            " '%(num)s messages waiting', n) }}</html>",
            n=1,
        )
        assert rendered == '<html lang="es">1 mensaje en espera</html>'
        assert use_language("xx") == "en"
        assert gettext("No tickets match these filters.") == "No tickets match these filters."


def test_texts_from_people_are_escaped_inside_translations(
    auth: Auth, client: FlaskClient, tickets: dict[str, str]
) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/search?q=%3Cb%3Enothing%3C/b%3E").get_data(as_text=True)
    assert "No tickets match “&lt;b&gt;nothing&lt;/b&gt;”." in page
