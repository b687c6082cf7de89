"""Working a ticket in the web UI (webui.work): the actions panel's POSTs and the reply page,
with the answering lock between two agents, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from queues.models import (
    Article,
    ArticleKind,
    AuditEvent,
    Contact,
    OutboxMessage,
    Queue,
    ReplyTemplate,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketState,
)

from .conftest import Auth, People, new_client

NUMBER = "20261202000077"


@pytest.fixture
def mail_ticket(factory: sessionmaker[Session]) -> str:
    """A general-help ticket that came in as mail: requester, one incoming article."""
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        queue.signature = "The help team ({{ queue.name }})"
        ticket = Ticket(
            number=NUMBER,
            subject="Threats in my inbox",
            queue_id=queue.id,
            requester=Contact(email="rita@example.net", name="Rita Requester"),
            waiting_since=datetime.now(UTC) - timedelta(hours=2),
        )
        session.add(ticket)
        session.flush()
        session.add(
            Article(
                ticket_id=ticket.id,
                kind=ArticleKind.INCOMING,
                from_email="rita@example.net",
                from_name="Rita Requester",
                subject="Threats in my inbox",
                message_id="orig@example.net",
                references=["root@example.net"],
                body_text="Someone threatens me.",
            )
        )
        session.add(
            ReplyTemplate(
                name="First answer",
                body=(
                    "Dear {{ requester.name }},\n"
                    "about ticket {{ ticket.number }} - {{ agent.email }}"
                ),
            )
        )
    return NUMBER


def post(auth: Auth, client: FlaskClient, url: str, **form: str) -> TestResponse:
    return client.post(url, data={"csrf_token": auth.csrf(client), **form})


def text_of(response: TestResponse) -> str:
    """The page as text: tags dropped, entities decoded, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", response.get_data(as_text=True))).split())


def flashed(client: FlaskClient, response: TestResponse) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert location.startswith("/tickets/")
    return html.unescape(client.get(location).get_data(as_text=True))


def ticket_row(factory: sessionmaker[Session], number: str) -> Ticket:
    with factory() as session:
        return session.scalars(select(Ticket).where(Ticket.number == number)).one()


def events(factory: sessionmaker[Session], number: str) -> list[tuple[str, str]]:
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        stmt = (
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
        return [(e.actor, e.kind) for e in session.scalars(stmt)]


def reply_mail(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as session:
        stmt = select(OutboxMessage).where(OutboxMessage.kind == "reply").order_by(OutboxMessage.id)
        return list(session.scalars(stmt))


# --- the panel and its actions ------------------------------------------------------------------


def test_panel_on_ticket_view_lists_only_visible_queues(
    auth: Auth, client: FlaskClient, tickets: dict[str, str]
) -> None:
    auth.as_role(Role.VOLUNTEER)
    number = tickets["general-help"]
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert f'action="/tickets/{number}/take"' in page
    assert f'action="/tickets/{number}/note"' in page
    assert f'href="/tickets/{number}/reply"' in page
    assert "specialist-safety" not in page and "Specialist" not in page
    auth.as_role(Role.STAFF)
    page = client.get(f"/tickets/{tickets['general-help']}").get_data(as_text=True)
    assert 'value="specialist-safety"' in page and 'value="police-liaison"' in page


def test_take_and_release_redirect_back_with_a_message(
    auth: Auth,
    client: FlaskClient,
    tickets: dict[str, str],
    factory: sessionmaker[Session],
    people: People,
) -> None:
    number = tickets["general-help"]
    auth.as_role(Role.VOLUNTEER)
    page = flashed(client, post(auth, client, f"/tickets/{number}/take"))
    assert "You own this ticket now." in page
    assert ticket_row(factory, number).owner_id == people.by_role[Role.VOLUNTEER].id
    page = flashed(client, post(auth, client, f"/tickets/{number}/take"))
    assert "You already own this ticket." in page
    page = flashed(client, post(auth, client, f"/tickets/{number}/release"))
    assert "Nobody owns this ticket now." in page
    assert ticket_row(factory, number).owner_id is None


def test_state_pending_needs_a_future_date(
    auth: Auth, client: FlaskClient, tickets: dict[str, str], factory: sessionmaker[Session]
) -> None:
    number = tickets["general-help"]
    auth.as_role(Role.VOLUNTEER)
    url = f"/tickets/{number}/state"
    assert "Pending needs a date" in flashed(client, post(auth, client, url, state="pending"))
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    page = flashed(client, post(auth, client, url, state="pending", pending_until=yesterday))
    assert "must be in the future" in page
    assert "must look like" in flashed(
        client, post(auth, client, url, state="pending", pending_until="soon")
    )
    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d")
    page = flashed(client, post(auth, client, url, state="pending", pending_until=later))
    assert f"pending until {later} 00:00 UTC" in page
    row = ticket_row(factory, number)
    assert row.state is TicketState.PENDING and row.pending_until is not None
    assert "Nobody has answered the requester yet" in flashed(
        client, post(auth, client, url, state="closed")
    )
    assert ticket_row(factory, number).closed_at is None
    form = {"state": "closed", "no_answer": "1", "no_answer_reason": "a test message"}
    assert "closed without an answer" in flashed(client, post(auth, client, url, **form))
    assert ticket_row(factory, number).closed_at is not None
    assert "open, pending or closed" in flashed(client, post(auth, client, url))


def test_priority_and_bad_priority(
    auth: Auth, client: FlaskClient, tickets: dict[str, str], factory: sessionmaker[Session]
) -> None:
    number = tickets["general-help"]
    auth.as_role(Role.VOLUNTEER)
    assert "The priority is 5 now." in flashed(
        client, post(auth, client, f"/tickets/{number}/priority", priority="5")
    )
    assert "from 1 to 5" in flashed(
        client, post(auth, client, f"/tickets/{number}/priority", priority="9")
    )
    assert ticket_row(factory, number).priority == 5


def test_volunteer_cannot_move_into_specialist_safety(
    auth: Auth, client: FlaskClient, tickets: dict[str, str], factory: sessionmaker[Session]
) -> None:
    number = tickets["general-help"]
    auth.as_role(Role.VOLUNTEER)
    page = flashed(client, post(auth, client, f"/tickets/{number}/move", queue="specialist-safety"))
    assert "There is no such queue." in page
    assert ticket_row(factory, number).queue.slug == "general-help"


def test_specialist_moves_out_of_safety_and_it_is_audited(
    auth: Auth, client: FlaskClient, tickets: dict[str, str], factory: sessionmaker[Session]
) -> None:
    number = tickets["specialist-safety"]
    auth.as_role(Role.SPECIALIST)
    response = post(auth, client, f"/tickets/{number}/move", queue="general-help")
    assert response.status_code == 200 and "Move ticket" in text_of(response)  # asks first
    assert ticket_row(factory, number).queue.slug == "specialist-safety"
    form = {"queue": "general-help", "confirm": "1", "reason": "a question about settings"}
    response = post(auth, client, f"/tickets/{number}/move", **form)
    assert "The ticket is in General help now" in flashed(client, response)
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        kinds = [
            e.kind
            for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
        ]
        audits = [
            (a.action, a.detail, a.client)
            for a in session.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket.id))
        ]
    assert "queue-out-of-restricted" in kinds
    assert ("change", "queue specialist-safety -> general-help", "127.0.0.1") in audits


def test_merge_and_link_by_number(
    auth: Auth, client: FlaskClient, tickets: dict[str, str], factory: sessionmaker[Session]
) -> None:
    general, safety = tickets["general-help"], tickets["specialist-safety"]
    auth.as_role(Role.VOLUNTEER)
    page = flashed(client, post(auth, client, f"/tickets/{general}/link", other=safety))
    assert f"There is no ticket {safety}." in page
    page = flashed(client, post(auth, client, f"/tickets/{general}/merge", target=safety))
    assert f"There is no ticket {safety}." in page
    auth.as_role(Role.SPECIALIST)
    page = flashed(client, post(auth, client, f"/tickets/{general}/link", other=safety))
    assert f"Linked to ticket {safety}." in page
    response = post(auth, client, f"/tickets/{general}/merge", target=safety)
    assert response.headers["Location"] == f"/tickets/{safety}"
    assert f"Ticket {general} is merged into this one." in flashed(client, response)
    with factory() as session:
        assert session.scalars(select(TicketLink)).all()
    assert ticket_row(factory, general).merged_into_id == ticket_row(factory, safety).id
    assert "Give the number" in flashed(client, post(auth, client, f"/tickets/{safety}/link"))


def test_note_is_stored_never_mailed(
    auth: Auth, client: FlaskClient, mail_ticket: str, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.VOLUNTEER)
    assert "Write something in the note." in flashed(
        client, post(auth, client, f"/tickets/{mail_ticket}/note")
    )
    page = flashed(
        client, post(auth, client, f"/tickets/{mail_ticket}/note", text="Rang her back.")
    )
    assert "Your internal note is added" in page and "Rang her back." in page
    with factory() as session:
        notes = session.scalars(select(Article).where(Article.kind == ArticleKind.NOTE)).all()
        assert [n.body_text for n in notes] == ["Rang her back."]
        assert session.scalars(select(OutboxMessage)).all() == []


# --- reply ----------------------------------------------------------------------------------


def test_reply_with_template_is_threaded_and_queued(
    auth: Auth,
    client: FlaskClient,
    mail_ticket: str,
    factory: sessionmaker[Session],
    people: People,
) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get(f"/tickets/{mail_ticket}/reply").get_data(as_text=True)
    assert "You hold the answering lock" in page and 'value="rita@example.net"' in page
    assert f"Re: [Ticket#{mail_ticket}] Threats in my inbox" in page
    with factory() as session:
        template = session.scalars(select(ReplyTemplate)).one()
    page = client.get(f"/tickets/{mail_ticket}/reply?template={template.id}").get_data(as_text=True)
    assert f"Dear Rita Requester,\nabout ticket {mail_ticket} - help@localhost</textarea>" in page
    assert "The help team (General help)" in page  # the signature, shown below
    assert ticket_row(factory, mail_ticket).locked_by_id == people.by_role[Role.VOLUNTEER].id

    response = post(
        auth,
        client,
        f"/tickets/{mail_ticket}/reply",
        to="rita@example.net",
        subject=f"Re: [Ticket#{mail_ticket}] Threats in my inbox",
        body="Dear Rita,\nwe are here.",
    )
    assert "Your reply is queued for sending" in flashed(client, response)
    [row] = reply_mail(factory)
    msg = email.message_from_bytes(row.raw, policy=email.policy.default)
    assert msg["In-Reply-To"] == "<orig@example.net>"
    assert msg["References"] == "<root@example.net> <orig@example.net>"
    assert msg["Subject"] == f"Re: [Ticket#{mail_ticket}] Threats in my inbox"
    assert msg["To"] == "Rita Requester <rita@example.net>"
    text = msg.get_content().replace("\r\n", "\n")
    assert text == "Dear Rita,\nwe are here.\n\n-- \nThe help team (General help)\n"
    ticket = ticket_row(factory, mail_ticket)
    assert ticket.waiting_since is None and ticket.locked_by_id is None
    assert ticket.state is TicketState.OPEN


def test_second_agent_is_warned_and_cannot_send_over_the_lock(
    app: Flask, auth: Auth, client: FlaskClient, mail_ticket: str, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.VOLUNTEER)
    client.get(f"/tickets/{mail_ticket}/reply")
    other = auth.as_role(Role.SPECIALIST, new_client(app))
    page = text_of(other.get(f"/tickets/{mail_ticket}/reply"))
    assert "volunteer@example.org is answering this ticket until 20" in page
    view = text_of(other.get(f"/tickets/{mail_ticket}"))
    assert "volunteer@example.org is answering this ticket until 20" in view
    response = post(auth, other, f"/tickets/{mail_ticket}/reply", body="Me too!")
    assert response.status_code == 409
    assert "Me too!" in response.get_data(as_text=True)  # the text is kept
    assert "Your reply was not sent." in text_of(response)
    assert reply_mail(factory) == []
    # staff break the lock; then the specialist may send
    staff = auth.as_role(Role.STAFF, new_client(app))
    response = post(auth, staff, f"/tickets/{mail_ticket}/lock/release")
    assert "The lock of volunteer@example.org is broken" in flashed(staff, response)
    response = post(auth, other, f"/tickets/{mail_ticket}/reply", body="Now me.")
    assert response.status_code == 303
    assert len(reply_mail(factory)) == 1
    kinds = [k for _, k in events(factory, mail_ticket)]
    assert kinds.count("lock") == 1 and "lock-broken" in kinds and "reply" in kinds


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("subject", "Hi\r\nBcc: everyone@example.net", "must be a single line"),
        ("cc", "x@example.net\nBcc: y@example.net", "must be a single line"),
        ("to", "nobody", "is not an email address"),
        ("body", "   ", "The reply is empty."),
    ],
)
def test_reply_refuses_header_injection_and_bad_input(
    auth: Auth,
    client: FlaskClient,
    mail_ticket: str,
    factory: sessionmaker[Session],
    field: str,
    value: str,
    message: str,
) -> None:
    auth.as_role(Role.VOLUNTEER)
    form = {"body": "hello", field: value}
    response = post(auth, client, f"/tickets/{mail_ticket}/reply", **form)
    assert response.status_code == 200
    assert message in html.unescape(response.get_data(as_text=True))
    assert reply_mail(factory) == []
    assert ticket_row(factory, mail_ticket).waiting_since is not None


def test_restricted_reply_page_is_404_for_volunteers_and_audited_for_specialists(
    auth: Auth, client: FlaskClient, tickets: dict[str, str], factory: sessionmaker[Session]
) -> None:
    number = tickets["specialist-safety"]
    auth.as_role(Role.VOLUNTEER)
    assert client.get(f"/tickets/{number}/reply").status_code == 404
    assert post(auth, client, f"/tickets/{number}/note", text="x").status_code == 404
    auth.as_role(Role.SPECIALIST)
    assert client.get(f"/tickets/{number}/reply").status_code == 200
    with factory() as session:
        actions = [
            (a.actor, a.action, a.detail)
            for a in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    assert ("specialist@example.org", "view", "reply form") in actions
    assert ("specialist@example.org", "change", "lock taken") in actions
