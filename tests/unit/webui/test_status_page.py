"""The reporter's status page (/status/<token>): the state only, in the ticket's language, and
a form whose message becomes a trusted follow-up; a new link on request (answering the same
whatever was typed); staff revoke links or send a new one. SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues.backlog import claim_inbound
from queues.ingest import ingest_bytes
from queues.models import (
    Article,
    ArticleKind,
    InboundMail,
    OutboxMessage,
    Role,
    Ticket,
    TicketState,
)
from queues.reporter import statuslink

from .conftest import Auth, People, csrf_from
from .test_report import report_app, report_settings

SECRET_WORDS = "Der Benutzer Keiler77 beleidigt mich seit Wochen in privaten Nachrichten."


@pytest.fixture
def app(factory: sessionmaker[Session], tmp_path: Path) -> Flask:
    return report_app(factory, report_settings(tmp_path))


@pytest.fixture
def reported(app: Flask, factory: sessionmaker[Session]) -> tuple[str, str]:
    """A ticket that came by mail (German), and a status token of it: (number, token)."""
    raw = (
        "From: Rita <rita@example.net>\r\nTo: help@example.org\r\nSubject: Nachrichten\r\n"
        "Message-ID: <first@example.net>\r\n\r\n" + SECRET_WORDS + "\r\n"
    ).encode()
    outcome = ingest_bytes(
        factory,
        raw,
        app.config["SETTINGS"],
        parse_message,
        source="smtp",
        envelope_to=["help@example.org"],
    )
    assert outcome.ticket_number is not None
    with factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        token = statuslink.issue(session.connection(), ticket.id)
    return outcome.ticket_number, token


def test_the_page_shows_the_state_and_nothing_else(
    client: FlaskClient, factory: sessionmaker[Session], reported: tuple[str, str]
) -> None:
    number, token = reported
    page = client.get(f"/status/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="de">' in html  # the ticket's language
    assert f"Ihre Meldung {number}" in html
    assert re.search(r'aria-current="step"><strong>Eingegangen</strong>', html)
    for secret in ("Keiler77", "Nachrichten", "general-help", "General help", "rita@example.net"):
        assert secret not in html
    with factory.begin() as session:
        session.scalars(
            select(Ticket).where(Ticket.number == number)
        ).one().state = TicketState.PENDING
    html = client.get(f"/status/{token}").get_data(as_text=True)
    assert re.search(r'aria-current="step"><strong>Wartet auf Sie</strong>', html)


def test_a_message_from_the_page_is_a_trusted_follow_up(
    client: FlaskClient, factory: sessionmaker[Session], reported: tuple[str, str]
) -> None:
    number, token = reported
    with factory.begin() as session:
        session.scalars(
            select(Ticket).where(Ticket.number == number)
        ).one().state = TicketState.CLOSED
    form = csrf_from(client.get(f"/status/{token}"))
    sent = client.post(
        f"/status/{token}", data={"csrf_token": form, "message": "Er schreibt wieder."}
    )
    assert sent.status_code == 303
    assert "Ihre Nachricht ist Ihrer Meldung hinzugefügt" in client.get(
        sent.headers["Location"]
    ).get_data(as_text=True)
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        incoming = session.scalars(
            select(Article).where(
                Article.ticket_id == ticket.id, Article.kind == ArticleKind.INCOMING
            )
        ).all()
        assert [a.body_text.strip() for a in incoming][-1] == "Er schreibt wieder."
        assert incoming[-1].from_email == "rita@example.net"
        assert ticket.state is TicketState.OPEN  # reopened, as a reply would
        assert any(e.kind == "followup" and "reply address" in e.detail for e in ticket.events)


def test_without_the_parser_the_message_is_left_for_the_runners_at_once(
    factory: sessionmaker[Session], tmp_path: Path, reported: tuple[str, str]
) -> None:
    """A process without the parser stores the message unclaimed: the runners take it at
    once, not after a claim's lease (as for the report form)."""
    _number, token = reported
    client = report_app(factory, report_settings(tmp_path), parser=False).test_client()
    form = csrf_from(client.get(f"/status/{token}"))
    sent = client.post(f"/status/{token}", data={"csrf_token": form, "message": "Noch etwas."})
    assert sent.status_code == 303
    with factory.begin() as session:
        stored = session.scalars(select(InboundMail).where(InboundMail.source == "status")).one()
        assert (stored.state.value, stored.attempts) == ("new", 0)
        assert claim_inbound(session) == [stored.id]


def test_an_unknown_or_revoked_link_is_a_404_that_offers_a_new_one(
    client: FlaskClient, factory: sessionmaker[Session], reported: tuple[str, str]
) -> None:
    number, token = reported
    with factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        statuslink.revoke(session.connection(), ticket.id, "staff@example.org")
    for url in (f"/status/{token}", "/status/nonsense"):
        page = client.get(url, headers={"Accept-Language": "es"})
        assert page.status_code == 404
        html = page.get_data(as_text=True)
        assert "Este enlace no funciona" in html and 'href="/status/?lang=es"' in html
        token_form = client.post(url, data={"message": "x"})
        assert token_form.status_code == 404  # and nothing stored


def test_a_new_link_goes_only_to_the_requester(
    client: FlaskClient, factory: sessionmaker[Session], reported: tuple[str, str]
) -> None:
    number, _ = reported

    def ask(address: str, which: str) -> str:
        token = csrf_from(client.get("/status/?lang=en"))
        reply = client.post(
            "/status/?lang=en", data={"csrf_token": token, "email": address, "number": which}
        )
        return reply.get_data(as_text=True)

    def links_sent() -> list[bytes]:
        with factory() as session:
            return list(
                session.scalars(select(OutboxMessage.raw).where(OutboxMessage.kind == "status"))
            )

    wrong = ask("someone@example.net", number)
    unknown = ask("rita@example.net", "1999")
    assert links_sent() == []
    right = ask("RITA@example.net", number)
    # The same answer whatever was typed: the page tells nobody who wrote to us.
    marker = "If the address and the number belong to one report"
    assert marker in wrong and marker in unknown and marker in right
    (raw,) = links_sent()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "rita@example.net"
    body = message.get_body(("plain",))
    assert body is not None
    link = re.search(r"https://help\.example\.org/status/(\S+)", body.get_content())
    assert link is not None
    assert client.get(f"/status/{link.group(1)}").status_code == 200
    for _ in range(5):  # at most three links a day for one ticket, whoever asks
        ask("rita@example.net", number)
    assert len(links_sent()) == 3


def test_staff_revoke_and_resend(
    auth: Auth, people: People, factory: sessionmaker[Session], reported: tuple[str, str]
) -> None:
    number, token = reported
    for role in (Role.VOLUNTEER, Role.SPECIALIST):
        volunteer = auth.as_role(role, auth.app.test_client())
        assert volunteer.get(f"/status-links/{number}").status_code == 404
    client = auth.as_role(Role.STAFF)
    page = client.get(f"/status-links/{number}").get_data(as_text=True)
    assert "2 links of this ticket work now" in page  # the acknowledgement's and ours
    csrf = csrf_from(client.get(f"/status-links/{number}"))
    assert (
        client.post(f"/status-links/{number}/revoke", data={"csrf_token": csrf}).status_code == 303
    )
    assert client.get(f"/status/{token}").status_code == 404
    assert client.post(f"/status-links/{number}/send", data={"csrf_token": csrf}).status_code == 303
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        kinds = [e.kind for e in ticket.events]
        assert "status-link-revoked" in kinds and "status-link" in kinds
        assert statuslink.live_links(session.connection(), ticket.id) == 1
