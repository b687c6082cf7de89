"""The way back in a real browser (issue 9): a report triage missed arrives by mail in general
help; a volunteer escalates it with a reason and lands on the list they came from with a
confirmation naming the ticket, can no longer open it (404) and keeps only the trace "you
escalated ticket N on DATE"; a specialist sees it in specialist safety with the volunteer's
reason; the miss shows in the staff's triage figures. Chromium, SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from waitress import create_server

from mailgate.parser import parse_message
from queues.db import make_engine, make_sessionmaker
from queues.ingest import ingest_bytes
from queues.models import Role, Ticket
from queues.settings import Settings
from webui import create_app

from .conftest import PASSWORD, LiveServer, _fill

SUBJECT = "Someone on the forum"
# Serious, in words the lexicon does not know (what a careful reader catches): the triage
# engine leaves it in general help, which the test checks first.
BODY = (
    "Hello, a man from the forum writes to me every day. Today he told me which bus I take "
    "in the morning and that I should be careful. I do not know what to do."
)
REASON = "He knows her daily route and warns her: a veiled threat."


@pytest.fixture(scope="module")
def live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app as conftest serves it, but without two-factor sign-in for specialists and
    staff: this journey is about escalation (two-factor sign-in has a journey of its own)."""
    engine = make_engine(database_url)
    tickets = _fill(engine)
    engine.dispose()
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_path_factory.mktemp("var"),
        twofactor_required_roles=(),
    )
    server = create_server(create_app(settings=settings), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.effective_port}", tickets)
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def factory(database_url: str, live_server: LiveServer) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def missed_report(factory: sessionmaker[Session], database_url: str) -> str:
    raw = (
        "From: Rita Requester <rita@example.net>\r\n"
        "To: help@localhost\r\n"
        f"Subject: {SUBJECT}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.net>\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{BODY}\r\n"
    ).encode()
    # A report triage misses: the lexicon alone (the wording model would catch this one).
    settings = Settings(database_url=database_url, var_dir=Path("/nonexistent"), triage_model=False)
    outcome = ingest_bytes(factory, raw, settings, parse_message, source="browser-test")
    assert outcome.kind == "new" and outcome.ticket_number is not None
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        assert (ticket.queue.slug, ticket.triage_reasons) == ("general-help", [])
    return outcome.ticket_number


@pytest.fixture
def pages(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """Fresh browser contexts (one per agent), checked for console errors and requests to
    anywhere but the server under test."""
    problems: list[str] = []
    opened: list[Page] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    class Opener:
        def open(self) -> Page:
            context: BrowserContext = browser.new_context(base_url=live_server.url)
            page = context.new_page()
            page.on("console", on_console)
            page.on(
                "request",
                lambda r: None if r.url.startswith(live_server.url) else problems.append(r.url),
            )
            opened.append(page)
            return page

    yield Opener()
    for page in opened:
        page.context.close()
    assert problems == [], problems


def sign_in(page: Page, email_address: str) -> None:
    page.goto("/login")
    page.locator("#email").fill(email_address)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_a_volunteer_escalates_a_missed_report_and_the_specialist_and_staff_see_it(
    pages: Any, live_server: LiveServer, factory: sessionmaker[Session], database_url: str
) -> None:
    number = missed_report(factory, database_url)

    # The volunteer opens it from the general-help list and escalates it with a reason.
    volunteer: Page = pages.open()
    sign_in(volunteer, live_server.email(Role.VOLUNTEER))
    volunteer.goto("/queues/general-help")
    volunteer.get_by_role("link", name=re.compile(SUBJECT)).first.click()
    expect(volunteer.get_by_role("heading", level=1)).to_contain_text(f"Ticket {number}")
    volunteer.get_by_label("Why (optional)").fill(REASON)
    volunteer.get_by_label("Kind of risk (optional)").select_option(label="Threat of harm")
    button = volunteer.get_by_role("button", name="Escalate to specialists")
    button.focus()
    volunteer.keyboard.press("Enter")  # by keyboard

    # Back on the list it came from, with a confirmation naming the ticket; never a 404.
    expect(volunteer).to_have_url(f"{live_server.url}/queues/general-help")
    expect(volunteer.get_by_role("status").first).to_contain_text(
        f"You escalated ticket {number} to the specialists on"
    )
    expect(volunteer.get_by_role("link", name=re.compile(SUBJECT))).to_have_count(0)
    response = volunteer.goto(f"/tickets/{number}")
    assert response is not None and response.status == 404
    volunteer.goto("/escalated")
    trace = volunteer.locator("ul.escalated li").filter(has_text=number)
    expect(trace).to_contain_text(f"You escalated ticket {number} on")
    expect(volunteer.locator("main")).not_to_contain_text(SUBJECT)
    expect(volunteer.locator(f'main a[href*="{number}"]')).to_have_count(0)

    # The specialist finds it in specialist safety with the volunteer's reason.
    specialist: Page = pages.open()
    sign_in(specialist, live_server.email(Role.SPECIALIST))
    specialist.goto("/queues/specialist-safety")
    specialist.get_by_role("link", name=re.compile(SUBJECT)).first.click()
    escalations = specialist.locator("section.escalations")
    expect(escalations).to_contain_text("Escalated to the specialists by volunteer@example.org")
    expect(escalations).to_contain_text("(threat of harm)")
    expect(escalations).to_contain_text(REASON)
    expect(specialist.locator("table.history")).to_contain_text(REASON)
    expect(specialist.get_by_text("Not serious: back to general help")).to_be_visible()

    # The miss shows in the staff's live figures.
    staff: Page = pages.open()
    sign_in(staff, live_server.email(Role.STAFF))
    staff.goto("/staff")
    staff.get_by_role("link", name="Triage figures").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Triage figures")
    summary = staff.locator("dl.facts")
    expect(summary).to_contain_text("Escalated by agents (misses)")
    misses = summary.locator("div").filter(has_text="Escalated by agents (misses)").locator("dd")
    assert int(misses.inner_text()) >= 1
    languages = staff.locator("table").filter(has_text="Language").locator("tbody tr").first
    expect(languages.locator("th")).to_have_text("en")
    assert int(languages.locator("td").first.inner_text()) >= 1
    threat = staff.locator("table").filter(has_text="Kind of risk").locator("tbody tr").first
    expect(threat.locator("th")).to_have_text("threat of harm")
    assert int(threat.locator("td").first.inner_text()) >= 1
    expect(staff.locator("main")).to_contain_text("switchboard triage evaluate")


def test_a_specialist_sends_it_back_and_staff_try_a_phrase(
    pages: Any, live_server: LiveServer, factory: sessionmaker[Session], database_url: str
) -> None:
    number = missed_report(factory, database_url)
    volunteer: Page = pages.open()
    sign_in(volunteer, live_server.email(Role.VOLUNTEER))
    volunteer.goto(f"/tickets/{number}")
    volunteer.get_by_role("button", name="Escalate to specialists").click()
    expect(volunteer.get_by_role("status").first).to_contain_text(f"ticket {number}")

    # Not serious: the move's page names who will then see it, and a reason is required.
    specialist: Page = pages.open()
    sign_in(specialist, live_server.email(Role.SPECIALIST))
    specialist.goto(f"/tickets/{number}")
    specialist.get_by_role("button", name="Not serious: back to general help").click()
    expect(specialist.get_by_role("note")).to_contain_text(
        "In General help, all volunteers, specialists and staff (3 agents) will see it"
    )
    specialist.get_by_role("button", name="Move to General help").click()
    expect(specialist.get_by_role("alert")).to_contain_text("needs a reason")
    specialist.get_by_label("Why is this ticket not for Specialist safety?").fill(
        "A bus timetable question."
    )
    specialist.get_by_role("button", name="Move to General help").click()
    expect(specialist.get_by_role("status").first).to_contain_text("your reason is in its history")
    expect(specialist.locator("section.escalations")).to_contain_text("Moved back as a false alarm")
    response = volunteer.goto(f"/tickets/{number}")
    assert response is not None and response.status == 200  # general help again

    # Staff preview a phrase over recent tickets (nothing saved), then switch an entry off.
    staff: Page = pages.open()
    sign_in(staff, live_server.email(Role.STAFF))
    staff.goto("/staff/triage/figures")
    moved = staff.locator("dl.facts div").filter(has_text="Moved back (false alarms)")
    assert int(moved.locator("dd").inner_text()) >= 1
    staff.goto("/staff/triage/new")
    staff.get_by_label("Kind of risk").select_option("threat")
    staff.get_by_label("Pattern").fill("which bus (?:i|she) takes?")
    staff.get_by_role("button", name="Preview").click()
    preview = staff.locator("section.preview")
    expect(preview).to_contain_text("this phrase would have flagged")
    expect(preview.get_by_role("link", name=f"Ticket {number}")).to_be_visible()
    staff.goto("/staff/triage/?language=en&q=kill-you")
    staff.get_by_role("button", name="Switch off en/kill-you", exact=True).click()
    expect(staff.get_by_role("status").first).to_contain_text("en/kill-you is switched off")
    staff.get_by_role("button", name="Switch on en/kill-you", exact=True).click()
    expect(staff.get_by_role("status").first).to_contain_text("en/kill-you is switched on")
