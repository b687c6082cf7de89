"""The public report form (/report): no sign-in, in the reporter's language, the brief list
and the safety address at the top; a submission becomes a ticket through the mail path and
ends on a page with its number; rejected submissions keep what was written; CSRF, honeypot,
per-client and size limits. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues.backlog import claim_inbound
from queues.models import Attachment, InboundMail, OutboxMessage, Ticket
from queues.settings import Settings
from webui import create_app
from webui.report import PROCESSING_TURN

from .conftest import SECRET, csrf_from

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def report_settings(tmp_path: Path, **changes: object) -> Settings:
    base = Settings(
        var_dir=tmp_path / "var",
        database_url="sqlite://",
        addresses={"help@example.org": "general-help", "safety@example.org": "specialist-safety"},
        web_base_url="https://help.example.org",
        report_per_client_per_hour=3,
        triage_model=False,  # the lexicon alone (tests/conftest.py says why)
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def report_app(factory: sessionmaker[Session], settings: Settings, parser: bool = True) -> Flask:
    config: dict[str, object] = {
        "TESTING": True,
        "DB_SESSIONMAKER": factory,
        "SECRET_KEY": SECRET,
        "PREFERRED_URL_SCHEME": "https",
    }
    if parser:
        config["INGEST_PARSER"] = parse_message
    return create_app(config, settings=settings)


@pytest.fixture
def web(factory: sessionmaker[Session], tmp_path: Path) -> FlaskClient:
    return report_app(factory, report_settings(tmp_path)).test_client()


def fields(client: FlaskClient, **values: object) -> dict[str, object]:
    token = csrf_from(client.get("/report/?lang=de"))
    data: dict[str, object] = {
        "csrf_token": token,
        "email": "rita@example.net",
        "name": "Rita",
        "language": "de",
        "what_happened": "Jemand schreibt mir seit Wochen gemeine Nachrichten im Forum.",
        "links": "https://example.org/wiki/User_talk:Rita",
        "website": "",
    }
    data.update(values)
    return data


def ticket_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count(Ticket.id))) or 0)


def test_the_form_in_the_browsers_language_with_the_brief_list(web: FlaskClient) -> None:
    page = web.get("/report/", headers={"Accept-Language": "fr-CH, de;q=0.5"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="fr">' in html
    assert "Signaler un harcèlement" in html
    assert "mailto:safety@example.org" in html  # the specialist route
    assert "numéro d&#39;urgence" in html or "numéro d'urgence" in html  # emergency text
    assert "pourriez être réellement en danger" in html  # the at-risk box, translated
    # Labels for every field; the honeypot hidden from people and screen readers.
    for name in ("email", "name", "language", "what_happened", "links", "attachments", "at_risk"):
        assert f'for="{name}"' in html
    assert re.search(r'<div hidden aria-hidden="true">\s*<label for="website">', html)
    english = web.get("/report/?lang=en").get_data(as_text=True)
    assert "Check this box if you feel that you, or anyone else, might be at actual risk" in english


def test_a_report_becomes_a_ticket_and_the_page_shows_its_number(
    web: FlaskClient, factory: sessionmaker[Session]
) -> None:
    data = fields(web, attachments=[(io.BytesIO(PNG), "screen.png")])
    sent = web.post("/report/?lang=de", data=data, content_type="multipart/form-data")
    assert sent.status_code == 303
    page = web.get(sent.headers["Location"]).get_data(as_text=True)
    number = re.search(r"Ticketnummer (\d+)", page)
    assert number, page
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number.group(1))).one()
        assert (ticket.queue.slug, ticket.language) == ("general-help", "de")
        assert ticket.requester is not None and ticket.requester.email == "rita@example.net"
        inbound = session.scalars(select(InboundMail)).one()
        assert inbound.source == "form" and inbound.client_ip == "127.0.0.1"
        files = session.scalars(select(Attachment.filename)).all()
        assert files == ["screen.png"]
        ack = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "acknowledgement")
        ).one()
        assert b"Wir haben Ihre Nachricht erhalten" in ack.raw or b"Wir haben Ihre" in ack.raw
    # The confirmation is shown once; a reload goes back to the form.
    assert web.get("/report/sent?lang=de").status_code == 302


def test_the_at_risk_box_goes_to_specialists(
    web: FlaskClient, factory: sessionmaker[Session]
) -> None:
    data = fields(web, at_risk="y", what_happened="Someone edits my user page.", language="en")
    assert web.post("/report/?lang=en", data=data).status_code == 303
    with factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.queue.slug == "specialist-safety"
        assert ticket.triage_reasons == ["signal: the reporter ticked the form's at-risk box"]


def test_a_rejected_report_keeps_what_was_written(
    web: FlaskClient, factory: sessionmaker[Session]
) -> None:
    text = "Mein Text, der nicht verloren gehen darf <b>&</b>"
    data = fields(web, email="not-an-address", what_happened=text)
    data["attachments"] = [(io.BytesIO(PNG), "screen.png")]
    page = web.post("/report/?lang=de", data=data, content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Mein Text, der nicht verloren gehen darf &lt;b&gt;&amp;&lt;/b&gt;" in html
    assert 'value="not-an-address"' in html and 'value="Rita"' in html
    # The error is tied to its field, and the lost attachment is said.
    assert 'aria-describedby="email-hint email-error"' in html
    assert 'id="email-error"' in html and "E-Mail-Adresse an, an die wir antworten" in html
    assert "hängen Sie sie erneut an" in html
    assert ticket_count(factory) == 0


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        ((b"MZ\x90", "tool.exe"), "kann nicht angehängt werden"),
        ((b"GIF89a", "fake.png"), "kann nicht angehängt werden"),
    ],
)
def test_only_allowed_files(
    web: FlaskClient, factory: sessionmaker[Session], upload: tuple[bytes, str], message: str
) -> None:
    data = fields(web, attachments=[(io.BytesIO(upload[0]), upload[1])])
    html = web.post("/report/?lang=de", data=data, content_type="multipart/form-data").get_data(
        as_text=True
    )
    assert message in html and 'id="attachments-error"' in html
    assert ticket_count(factory) == 0


def test_size_limits(factory: sessionmaker[Session], tmp_path: Path) -> None:
    small = report_app(factory, report_settings(tmp_path, report_max_attachment_bytes=1024 * 1024))
    client = small.test_client()
    big = PNG + b"\0" * (600 * 1024)
    data = fields(client, attachments=[(io.BytesIO(big), "a.png"), (io.BytesIO(big), "b.png")])
    html = client.post("/report/?lang=de", data=data, content_type="multipart/form-data").get_data(
        as_text=True
    )
    assert "Die Dateien sind zu groß" in html and "Jemand schreibt mir" in html
    # Far beyond the limit the request itself is refused (413), with a page that says how
    # to get the text back.
    huge = fields(client, attachments=[(io.BytesIO(b"\0" * (3 * 1024 * 1024)), "c.png")])
    refused = client.post("/report/?lang=de", data=huge, content_type="multipart/form-data")
    assert refused.status_code == 413
    assert "Gehen Sie in Ihrem Browser zurück" in refused.get_data(as_text=True)
    assert ticket_count(factory) == 0


def test_honeypot_and_csrf(web: FlaskClient, factory: sessionmaker[Session]) -> None:
    robot = web.post("/report/?lang=en", data=fields(web, website="http://spam.example"))
    html = robot.get_data(as_text=True)
    assert "could not be sent" in html and "Jemand schreibt mir" in html
    assert 'name="website" type="text" tabindex="-1" autocomplete="off" value=""' in html
    stale = fields(web)
    stale["csrf_token"] = "forged"
    expired = web.post("/report/?lang=en", data=stale).get_data(as_text=True)
    assert "The form had expired" in expired and "Jemand schreibt mir" in expired
    assert ticket_count(factory) == 0


def test_per_client_limit_keeps_the_text_and_names_the_address(
    web: FlaskClient, factory: sessionmaker[Session]
) -> None:
    for i in range(3):
        data = fields(web, what_happened=f"Bericht Nummer {i}: jemand beleidigt mich im Forum.")
        assert web.post("/report/?lang=de", data=data).status_code == 303
    fourth = web.post("/report/?lang=de", data=fields(web, what_happened="Der vierte Bericht"))
    html = fourth.get_data(as_text=True)
    assert fourth.status_code == 200
    assert "help@example.org" in html and "Der vierte Bericht" in html
    assert ticket_count(factory) == 3


def test_without_the_parser_the_number_comes_by_mail(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    client = report_app(factory, report_settings(tmp_path), parser=False).test_client()
    sent = client.post("/report/?lang=en", data=fields(client, language="en"))
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Its number will come to you by e-mail" in page
    with factory() as session:
        inbound = session.scalars(select(InboundMail)).one()
        assert (inbound.source, inbound.state.value) == ("form", "new")  # kept for the runners
    with factory.begin() as session:  # and due for them at once, not after a claim's lease
        assert claim_inbound(session) == [inbound.id]


def test_while_another_request_makes_its_ticket_the_runners_make_this_one(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """One request of a process at a time makes its report's ticket (a flood's posts would
    otherwise hold the web server's threads waiting for the database's write lock); a
    report sent meanwhile is stored for the runners, and the next one is processed again."""
    app = report_app(factory, report_settings(tmp_path))
    client = app.test_client()
    with app.extensions[PROCESSING_TURN]:  # another request's turn
        sent = client.post("/report/?lang=en", data=fields(client, language="en"))
    assert sent.status_code == 303
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Its number will come to you by e-mail" in page
    assert ticket_count(factory) == 0
    with factory.begin() as session:
        stored = session.scalars(select(InboundMail)).one()
        assert (stored.state.value, stored.attempts) == ("new", 0)
        assert claim_inbound(session) == [stored.id]  # the runners take it at once
    later = client.post(
        "/report/?lang=en", data=fields(client, language="en", what_happened="Another one.")
    )
    assert "Your report is ticket" in client.get(later.headers["Location"]).get_data(as_text=True)
    assert ticket_count(factory) == 1


def test_a_report_collapsed_into_a_flood_shows_no_ticket_number(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """The third near-identical report from a third sender joins the first ticket; its page
    neither shows that ticket's number (it belongs to someone else) nor promises mail."""
    settings = report_settings(tmp_path, report_per_client_per_hour=10)
    client = report_app(factory, settings).test_client()
    text = "A user keeps posting the same insulting comment under every one of my photos."
    pages = []
    for sender in ("ann@example.net", "bo@example.net", "cy@example.net"):
        sent = client.post(
            "/report/?lang=en",
            data=fields(client, email=sender, language="en", what_happened=text),
        )
        pages.append(client.get(sent.headers["Location"]).get_data(as_text=True))
    first_number = re.search(r"Your report is ticket (\d+)", pages[0])
    assert first_number, pages[0]
    assert "Your report is ticket" in pages[1]
    assert "added it to a report we already have" in pages[2]
    assert first_number.group(1) not in pages[2]
    assert "e-mail" not in pages[2].split("<h2")[0]  # no mail promised: none is sent
    assert ticket_count(factory) == 2
