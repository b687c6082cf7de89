"""The staff triage pages (webui.staff_triage): the lexicon in the browser (list, switch off and
on, add a phrase with a preview over recent tickets, all audited) and the live figures, on
SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from queues.models import AuditEvent, Role, Ticket, User
from queues.settings import Settings
from queues.triage import triage
from queues.triage.feedback import move_back, record_escalation
from queues.triage.models import TriageEntry
from queues.triage.staff import current_lexicon
from tests.unit.queues.builders import FakeGate, make_mail

from .conftest import Auth, People, csrf_from


def text(response: TestResponse) -> str:
    words = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(words).split())


def staff_audit(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        stmt = select(AuditEvent.detail).where(AuditEvent.action == "staff")
        return list(session.scalars(stmt.order_by(AuditEvent.id)))


@pytest.fixture
def staff(auth: Auth) -> FlaskClient:
    return auth.as_role(Role.STAFF)


def test_the_lexicon_lists_entries_and_rules_with_their_examples(staff: FlaskClient) -> None:
    page = text(staff.get("/staff/triage/"))
    assert "en/kill-you" in page and "threat of harm" in page
    assert "must flag" in page
    rules = text(staff.get("/staff/triage/?language=de&q=adult-child"))
    assert "de/adult-child-asks" in rules and "rule, data file" in rules
    assert "en/kill-you" not in rules
    threats = staff.get("/staff/triage/?language=fr&category=self_harm").get_data(as_text=True)
    assert "fr/" in threats
    assert "threat of harm" not in re.sub(r"<select.*?</select>", "", threats, flags=re.S)


def test_switching_an_entry_off_is_audited_and_used_by_triage(
    staff: FlaskClient, factory: sessionmaker[Session]
) -> None:
    url = "/staff/triage/?language=en&q=kill-you"
    token = csrf_from(staff.get(url))
    form = {"csrf_token": token, "language": "en", "entry_id": "kill-you", "enabled": "0"}
    response = staff.post("/staff/triage/toggle", data={**form, "back": "language=en&q=kill-you"})
    assert response.headers["Location"] == "/staff/triage/?language=en&q=kill-you"
    page = text(staff.get(response.headers["Location"]))
    assert "The triage entry en/kill-you is switched off." in page
    assert "Switch on en/kill-you" in page
    assert "triage entry en/kill-you disabled" in staff_audit(factory)
    with factory() as session:
        assert "kill-you" not in [
            h.entry for h in triage("", "I will kill you", current_lexicon(session))
        ]
    staff.post("/staff/triage/toggle", data={**form, "enabled": "1", "back": "https://evil/"})
    assert "triage entry en/kill-you enabled" in staff_audit(factory)


def test_switching_an_unknown_entry_says_so(staff: FlaskClient) -> None:
    token = csrf_from(staff.get("/staff/triage/"))
    form = {"csrf_token": token, "language": "en", "entry_id": "no-such", "enabled": "0"}
    response = staff.post("/staff/triage/toggle", data=form)
    assert response.headers["Location"] == "/staff/triage/"
    assert "no triage entry or rule en/no-such" in text(staff.get("/staff/triage/"))


def new_form(staff: FlaskClient, **fields: str) -> dict[str, str]:
    base = {
        "csrf_token": csrf_from(staff.get("/staff/triage/new")),
        "language": "en",
        "category": "threat",
        "pattern": "feed (?:me|you) to the (?:pigs|fish)",
        "positive": "He said he would feed me to the pigs.",
        "negative": "We feed the fish every morning.",
        "note": "",
        "last": "50",
    }
    return {**base, **fields}


def test_a_preview_shows_how_many_and_which_tickets_and_is_audited(
    staff: FlaskClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    gate = FakeGate(factory, settings)
    pigs = gate.send(make_mail(body="He wrote that he will feed me to the pigs.")).ticket_number
    gate.send(make_mail(body="Please reset my password."))
    page = staff.post("/staff/triage/new", data={**new_form(staff), "action": "preview"})
    words = text(page)
    assert "Over the last 2 tickets, this phrase would have flagged 1" in words
    assert f"Ticket {pigs}" in words and "feed me to the pigs" in words
    assert "Nothing is saved yet." in words
    with factory() as session:
        assert session.scalars(select(TriageEntry)).all() == []
    assert "triage preview en/threat over 2 tickets: 1 flagged" in staff_audit(factory)


def test_adding_a_phrase_checks_its_examples_then_stores_and_audits_it(
    staff: FlaskClient, factory: sessionmaker[Session]
) -> None:
    missing = staff.post(
        "/staff/triage/new",
        data={**new_form(staff, positive="Nothing to see here."), "action": "add"},
    )
    assert missing.status_code == 200 and "misses its example" in text(missing)
    broken = staff.post(
        "/staff/triage/new", data={**new_form(staff, pattern="(unclosed"), "action": "add"}
    )
    assert broken.status_code == 200
    with factory() as session:
        assert session.scalars(select(TriageEntry)).all() == []
    added = staff.post("/staff/triage/new", data={**new_form(staff), "action": "add"})
    assert added.status_code == 302
    assert added.headers["Location"] == "/staff/triage/?language=en&origin=staff"
    page = text(staff.get(added.headers["Location"]))
    assert "is added and switched on" in page and "added by staff" in page
    with factory() as session:
        (row,) = session.scalars(select(TriageEntry)).all()
        assert (row.origin, row.category, row.created_by) == (
            "staff",
            "threat",
            "staff@example.org",
        )
        hits = triage("", "I fear he will feed me to the fish", current_lexicon(session))
        assert row.entry_id in [h.entry for h in hits]
    assert any(
        d.startswith("triage entry en/staff-") and d.endswith(" added")
        for d in staff_audit(factory)
    )


def test_the_figures_page_shows_live_counts_and_names_the_evaluation_command(
    staff: FlaskClient, factory: sessionmaker[Session], settings: Settings, people: People
) -> None:
    gate = FakeGate(factory, settings)
    everyday = gate.send(make_mail(body="Hello, someone keeps writing to me. What can I do?"))
    serious = gate.send(make_mail(body="He said he will kill you and your family."))
    with factory.begin() as session:
        volunteer = session.get_one(User, people.by_role[Role.VOLUNTEER].id)
        specialist = session.get_one(User, people.by_role[Role.SPECIALIST].id)
        missed = session.scalars(
            select(Ticket).where(Ticket.number == everyday.ticket_number)
        ).one()
        record_escalation(session, missed, volunteer, "worried", category="threat")
        flagged = session.scalars(
            select(Ticket).where(Ticket.number == serious.ticket_number)
        ).one()
        move_back(session, flagged, specialist, "general-help", "a song lyric")
    page = text(staff.get("/staff/triage/figures"))
    assert "switchboard triage evaluate" in page
    assert "Escalated by agents (misses) 1" in page
    assert "Moved back (false alarms) 1" in page
    assert "Flagged by triage 1, of which 1 moved back" in page
    assert "Precision (estimated) 0 %" in page
    assert "Per language" in page and "Per kind of risk" in page
    four = staff.get("/staff/triage/figures?weeks=4").get_data(as_text=True)
    assert '<option value="4" selected>' in four
    assert staff.get("/staff/triage/figures?weeks=nonsense").status_code == 200


def test_the_staff_hub_lists_the_triage_pages(staff: FlaskClient) -> None:
    page = staff.get("/staff").get_data(as_text=True)
    assert 'href="/staff/triage/"' in page and 'href="/staff/triage/figures"' in page
