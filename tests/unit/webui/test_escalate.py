"""The way back in the web UI (webui.escalate): escalate a ticket out of a volunteer's sight,
the volunteer's trace, the specialist's "not serious" move back, and the triage reasons with
the report's words marked in the message, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from queues.models import (
    Article,
    ArticleKind,
    AuditEvent,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketState,
)
from queues.settings import Settings
from queues.triage.feedback_models import FALSE_ALARM, MISS, TriageFeedback
from tests.unit.queues.builders import FakeGate, make_mail
from webui.escalate import LAST_LIST

from .conftest import Auth, People, csrf_from

NUMBER = "20261202000091"
SUBJECT = "Messages from a stranger"
BODY = "Hello,\n\nsomeone keeps writing to me about my daughter. I do not like it.\n"


@pytest.fixture
def general(factory: sessionmaker[Session]) -> str:
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        ticket = Ticket(number=NUMBER, subject=SUBJECT, queue_id=queue.id, state=TicketState.NEW)
        session.add(ticket)
        session.flush()
        session.add(
            Article(ticket_id=ticket.id, kind=ArticleKind.INCOMING, subject=SUBJECT, body_text=BODY)
        )
    return NUMBER


def token(client: FlaskClient, number: str = NUMBER) -> str:
    return csrf_from(client.get(f"/tickets/{number}"))


def escalate(client: FlaskClient, data: dict[str, str], number: str = NUMBER) -> TestResponse:
    form = {"csrf_token": token(client, number), "escalate": "yes", **data}
    return client.post(f"/tickets/{number}/escalate", data=form)


def text(response: TestResponse) -> str:
    """The page's words: tags out, entities decoded, white space collapsed."""
    words = re.sub(r"<[^>]+>", "", response.get_data(as_text=True))
    return " ".join(html.unescape(words).split())


def feedback(factory: sessionmaker[Session]) -> list[TriageFeedback]:
    with factory() as session:
        return list(session.scalars(select(TriageFeedback).order_by(TriageFeedback.id)))


def test_a_volunteer_escalates_and_lands_on_the_queue_list_with_a_confirmation(
    auth: Auth, general: str, factory: sessionmaker[Session]
) -> None:
    client = auth.as_role(Role.VOLUNTEER)
    page = text(client.get(f"/tickets/{NUMBER}"))
    assert "Escalate to specialists" in page and "Kind of risk (optional)" in page
    response = escalate(client, {"reason": "She is 12 and he asks for photos.", "category": ""})
    assert response.status_code == 303
    assert response.headers["Location"] == "/queues/general-help"
    landing = text(client.get(response.headers["Location"]))
    assert f"You escalated ticket {NUMBER} to the specialists on" in landing
    assert client.get(f"/tickets/{NUMBER}").status_code == 404
    (row,) = feedback(factory)
    assert (row.kind, row.reason, row.actor) == (
        MISS,
        "She is 12 and he asks for photos.",
        "volunteer@example.org",
    )
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == NUMBER)).one()
        assert ticket.queue.slug == "specialist-safety"
        kinds = session.scalars(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
        ).all()
        assert "escalated" in kinds
        audit = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.ticket_id == ticket.id)
        ).all()
        assert "escalated general-help -> specialist-safety" in audit


def test_the_trace_shows_number_and_date_only(auth: Auth, general: str) -> None:
    client = auth.as_role(Role.VOLUNTEER)
    escalate(client, {"reason": "worried"})
    assert 'href="/escalated"' in client.get("/mine").get_data(as_text=True)  # found from there
    page = client.get("/escalated").get_data(as_text=True)
    assert re.search(rf"You escalated ticket <strong>{NUMBER}</strong> on <time", page)
    assert SUBJECT not in page and "worried" not in page
    assert f"/tickets/{NUMBER}" not in page  # no link that could work
    assert "specialist-safety" not in page and "Specialist safety" not in page
    other = auth.as_role(Role.STAFF, auth.app.test_client())
    assert NUMBER not in other.get("/escalated").get_data(as_text=True)


@pytest.mark.parametrize(
    ("back", "landing"),
    [
        ("/mine?state=any", "/mine?state=any"),
        ("/search?q=daughter", "/search?q=daughter"),
        ("/", "/"),
        ("https://evil.example/queues/general-help", "/queues/general-help"),
        ("//evil.example/", "/queues/general-help"),
        (f"/tickets/{NUMBER}", "/queues/general-help"),
        ("/queues/specialist-safety", "/queues/general-help"),  # hidden from a volunteer
        ("/staff", "/queues/general-help"),
        ("javascript:alert(1)", "/queues/general-help"),
    ],
)
def test_the_volunteer_goes_back_to_the_last_list_if_they_may_still_open_it(
    auth: Auth, general: str, back: str, landing: str
) -> None:
    client = auth.as_role(Role.VOLUNTEER)
    with client.session_transaction() as browser_session:
        browser_session[LAST_LIST] = back  # as if the session held it (checked all the same)
    response = escalate(client, {})
    assert response.headers["Location"] == landing
    assert client.get(landing).status_code == 200


def test_the_last_list_opened_is_where_an_escalation_leads(auth: Auth, general: str) -> None:
    client = auth.as_role(Role.VOLUNTEER)
    client.get("/mine?sort=number")
    client.get(f"/tickets/{NUMBER}")  # a ticket's page is not a list: the list stays
    response = escalate(client, {})
    assert response.headers["Location"] == "/mine?sort=number"
    assert f"You escalated ticket {NUMBER}" in text(client.get("/mine?sort=number"))


def test_a_post_without_the_button_changes_nothing(
    auth: Auth, general: str, factory: sessionmaker[Session]
) -> None:
    client = auth.as_role(Role.VOLUNTEER)
    response = client.post(f"/tickets/{NUMBER}/escalate", data={"csrf_token": token(client)})
    assert response.headers["Location"] == f"/tickets/{NUMBER}"
    assert feedback(factory) == []
    assert client.get(f"/tickets/{NUMBER}").status_code == 200


def test_a_specialist_who_escalates_stays_on_the_ticket(
    auth: Auth, general: str, factory: sessionmaker[Session]
) -> None:
    client = auth.as_role(Role.SPECIALIST)
    response = escalate(client, {"category": "child_safety"})
    assert response.headers["Location"] == f"/tickets/{NUMBER}"
    page = text(client.get(f"/tickets/{NUMBER}"))
    assert f"Ticket {NUMBER} is escalated to the specialists" in page
    assert "Escalated to the specialists by specialist@example.org" in page
    assert "(child safety)" in page
    assert "Escalate to specialists" not in page  # already there
    assert feedback(factory)[0].categories == ["child_safety"]


def test_the_specialist_sees_the_volunteers_reason(auth: Auth, general: str) -> None:
    escalate(auth.as_role(Role.VOLUNTEER), {"reason": "He wants to meet her alone."})
    specialist = auth.as_role(Role.SPECIALIST, auth.app.test_client())
    page = text(specialist.get(f"/tickets/{NUMBER}"))
    assert "Escalated to the specialists by volunteer@example.org" in page
    assert "He wants to meet her alone." in page
    assert "Not serious: back to general help" in page


def test_escalating_a_restricted_ticket_is_refused(
    auth: Auth, tickets: dict[str, str], factory: sessionmaker[Session]
) -> None:
    number = tickets["specialist-safety"]
    client = auth.as_role(Role.SPECIALIST)
    response = escalate(client, {}, number)
    assert response.headers["Location"] == f"/tickets/{number}"
    assert "volunteers do not see" in text(client.get(response.headers["Location"]))
    assert feedback(factory) == []
    volunteer = auth.as_role(Role.VOLUNTEER, auth.app.test_client())
    hidden = volunteer.post(
        f"/tickets/{number}/escalate",
        data={"csrf_token": csrf_from(volunteer.get("/password")), "escalate": "yes"},
    )
    assert hidden.status_code == 404


def test_not_serious_leads_to_the_deliberate_move_and_records_a_false_alarm(
    auth: Auth, general: str, factory: sessionmaker[Session], people: People
) -> None:
    escalate(auth.as_role(Role.VOLUNTEER), {"reason": "looks bad"})
    client = auth.as_role(Role.SPECIALIST, auth.app.test_client())
    page = client.get(f"/tickets/{NUMBER}").get_data(as_text=True)
    form = page.split('class="not-serious"', 1)[0].rsplit("<form", 1)[1]
    assert f'action="/tickets/{NUMBER}/move"' in form
    assert 'name="queue" value="general-help"' in page.split('class="not-serious"', 1)[1]
    url = f"/tickets/{NUMBER}/move"
    fields = {"csrf_token": csrf_from(client.get(f"/tickets/{NUMBER}")), "queue": "general-help"}
    # The move's confirmation names who will then see it (four active accounts here).
    asked = text(client.post(url, data=fields))
    assert "all volunteers, specialists and staff (4 agents) will see it" in asked
    refused = client.post(url, data={**fields, "confirm": "1", "reason": " "})
    assert refused.status_code == 422
    assert [r.kind for r in feedback(factory)] == [MISS]
    done = client.post(url, data={**fields, "confirm": "1", "reason": "A joke."})
    assert done.headers["Location"] == f"/tickets/{NUMBER}"
    shown = text(client.get(done.headers["Location"]))
    assert "Moved back as a false alarm by specialist@example.org" in shown
    rows = feedback(factory)
    assert [(r.kind, r.source, r.reason) for r in rows] == [
        (MISS, "", "looks bad"),
        (FALSE_ALARM, "escalation", "A joke."),
    ]
    volunteer = auth.as_role(Role.VOLUNTEER, auth.app.test_client())
    assert volunteer.get(f"/tickets/{NUMBER}").status_code == 200


def test_not_serious_is_offered_on_restricted_tickets_only(
    auth: Auth, general: str, tickets: dict[str, str]
) -> None:
    specialist = auth.as_role(Role.SPECIALIST)
    assert "Not serious" not in text(specialist.get(f"/tickets/{NUMBER}"))
    assert "Not serious" in text(specialist.get(f"/tickets/{tickets['specialist-safety']}"))
    staff = auth.as_role(Role.STAFF, auth.app.test_client())
    assert "Not serious" not in text(staff.get(f"/tickets/{tickets['police-liaison']}"))


# --- the reasons and the marked words ---------------------------------------------------------


def test_reasons_quote_the_report_and_the_words_are_marked_in_the_message(
    auth: Auth, factory: sessionmaker[Session], settings: Settings
) -> None:
    gate = FakeGate(factory, settings)
    body = "Hi,\n\nthe man from the forum said he will come to my house tonight.\nPlease help.\n"
    number = gate.send(make_mail(subject="Please help", body=body)).ticket_number
    assert number is not None
    client = auth.as_role(Role.SPECIALIST)
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    section = page.split('id="triage-heading"', 1)[1].split("</section>", 1)[0]
    assert "<mark>" in section  # the words that fired, inside the quoted excerpt
    assert re.search(r'<a href="#article-\d+">in message 1</a>', section)
    thread = page.split('id="thread-heading"', 1)[1]
    marked = re.findall(r"<mark>(.*?)</mark>", thread)
    assert marked and all(m in body for m in marked)
    assert any("come to my house" in m for m in marked)
    # The text around the marks is the message as it came, escaped.
    plain = re.sub(
        r"</?mark>", "", thread.split('<pre class="mail-text">', 1)[1].split("</pre>")[0]
    )
    assert html.unescape(plain) == body


def test_the_safety_address_is_a_reason_of_its_own(
    auth: Auth, factory: sessionmaker[Session], settings: Settings
) -> None:
    gate = FakeGate(factory, settings)
    mail = make_mail(
        subject="A question", body="Hello, who do I talk to?", to=["safety@example.org"]
    )
    number = gate.send(mail, envelope_to=["safety@example.org"]).ticket_number
    client = auth.as_role(Role.SPECIALIST)
    page = text(client.get(f"/tickets/{number}"))
    assert "Signal: the report was sent to the safety address" in page
    assert "<mark>" not in page


def test_a_message_is_shown_escaped_with_marks(
    auth: Auth, factory: sessionmaker[Session], settings: Settings
) -> None:
    gate = FakeGate(factory, settings)
    body = "<script>alert(1)</script> I will kill you <b>tonight</b>"
    number = gate.send(make_mail(subject="x", body=body)).ticket_number
    page = auth.as_role(Role.SPECIALIST).get(f"/tickets/{number}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<mark>kill you</mark>" in page or "<mark>will kill you</mark>" in page
