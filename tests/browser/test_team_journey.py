"""The team in a real browser (issue 12), on SQLite and PostgreSQL: someone applies on the
public page; a staff member signs in, must enrol two-factor sign-in first (the code computed
with pyotp from the key on the page, as an app would), and approves the application with a
mentor, probation and two-factor required; the set-password link arrives at a real SMTP
sink through the outbox; the new volunteer sets a password, enrols, and answers a ticket
that came in by mail; the reply waits (nothing in the outbox) until the mentor edits and
sends it; then the sink receives the edited reply, threaded to the requester.

The server runs with the shipped settings: staff and specialists must use two-factor sign-in.
Forms are driven by keyboard where it matters (Space on check boxes, Enter to submit).
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from waitress import create_server

from mailgate.delivery import OutboxRunner
from mailgate.parser import parse_message
from queues.db import make_engine, make_sessionmaker
from queues.ingest import ingest_bytes
from queues.models import OutboxMessage, Queue, Role, Ticket
from queues.settings import Settings
from queues.team.models import HeldReply, HeldState
from tests.integration.relay_sink import RelaySink
from webui import create_app

from .conftest import PASSWORD, LiveServer, _fill

REQUESTER = "rita@example.net"
APPLICANT = "ann.applicant@example.net"
APPLICANT_PASSWORD = "ann's own long passphrase"
_LINK = re.compile(r"http://127\.0\.0\.1:\d+/account/set-password/[A-Za-z0-9_\-]+")


@pytest.fixture(scope="module")
def team_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app as `switchboard web` runs it, with the shipped two-factor rules."""
    engine = make_engine(database_url)
    tickets = _fill(engine)
    engine.dispose()
    var_dir = Path(tmp_path_factory.mktemp("team-var"))
    settings = Settings(
        database_url=database_url,
        var_dir=var_dir,
        twofactor_required_roles=("specialist", "staff"),  # as shipped, spelled out
    )
    app = create_app(settings=settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="switchboard")
    thread = threading.Thread(target=server.run, name="waitress-team", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.effective_port}", tickets)
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def factory(database_url: str, team_server: LiveServer) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def pages(browser: Any, team_server: LiveServer) -> Iterator[Any]:
    """Fresh browser contexts (one per person), checked for console errors (CSP) and for
    requests anywhere but our server."""
    problems: list[str] = []
    opened: list[Page] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    class Opener:
        def open(self) -> Page:
            context: BrowserContext = browser.new_context(base_url=team_server.url)
            page = context.new_page()
            page.on("console", on_console)
            page.on(
                "request",
                lambda r: None if r.url.startswith(team_server.url) else problems.append(r.url),
            )
            opened.append(page)
            return page

    yield Opener()
    for page in opened:
        page.context.close()
    assert problems == [], problems


def ingest(factory: sessionmaker[Session], database_url: str) -> tuple[str, str]:
    """A report by mail into general help: (ticket number, its Message-ID)."""
    message_id = f"orig-{uuid.uuid4().hex[:12]}@example.net"
    raw = (
        f"From: Rita Requester <{REQUESTER}>\r\n"
        "To: help@localhost\r\n"
        "Subject: Rude comments under my photos\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Hello, a user keeps leaving rude comments under my photos. What can I do?\r\n"
    ).encode()
    settings = Settings(database_url=database_url, var_dir=Path("/nonexistent"))
    outcome = ingest_bytes(factory, raw, settings, parse_message, source="browser-test")
    assert outcome.kind == "new" and outcome.ticket_number is not None
    # Whatever triage judges of the invented wording, the journey needs a general-help ticket.
    with factory.begin() as session:
        general = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        ticket.queue_id = general.id
    return outcome.ticket_number, message_id


def deliver(factory: sessionmaker[Session], database_url: str, tmp: Path) -> list[EmailMessage]:
    """Run the outbox once against a real SMTP sink; the messages it received."""
    with RelaySink() as sink:
        settings = Settings(
            database_url=database_url, var_dir=tmp, relay_host="127.0.0.1", relay_port=sink.port
        )
        OutboxRunner(factory, settings).run_once()
        with sink.lock:
            received = [m.content for m in sink.messages]
    found = []
    for content in received:
        msg = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        found.append(msg)
    return found


def text_of(msg: EmailMessage) -> str:
    return str(msg.get_content()).replace("\r\n", "\n")


def sign_in(page: Page, address: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.locator("#email").fill(address)
    page.locator("#password").fill(password)
    page.locator("#password").press("Enter")


def enrol(page: Page) -> list[str]:
    """On the enrolment page: read the key as a person would, type the app's code."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor sign-in")
    expect(page.locator("figure.qr svg")).to_be_visible()
    key = (page.locator("#secret").text_content() or "").replace(" ", "")
    code_field = page.get_by_label("The 6-digit code your app shows now")
    code_field.fill(pyotp.TOTP(key).now())
    code_field.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in is on")
    codes = page.locator("ol.recovery-codes code").all_text_contents()
    assert len(codes) == 10
    page.get_by_role("link", name="I have kept them: continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    return codes


def test_apply_vet_enrol_probation_and_the_mentors_edit_reaches_the_sink(
    pages: Any,
    team_server: LiveServer,
    factory: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    # 1. Someone applies on the public page (no account), by keyboard at the end.
    applicant: Page = pages.open()
    applicant.goto("/apply")
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Volunteer with us")
    applicant.get_by_label("Your name").fill("Ann Applicant")
    applicant.get_by_label("Email address").fill(APPLICANT)
    applicant.get_by_label("Languages you can answer people in").fill("en, de")
    applicant.get_by_label("Your time zone").select_option("Europe/Berlin")
    applicant.get_by_label("Hours you can give").fill("Four hours a week, evenings")
    applicant.get_by_label("Your experience").fill("Two years on a helpline")
    applicant.get_by_label("References").fill("Bea, bea@example.net")
    for box in ("I accept the confidentiality pledge above", "I accept the code of conduct above"):
        applicant.get_by_label(box).focus()
        applicant.keyboard.press("Space")
        expect(applicant.get_by_label(box)).to_be_checked()
    applicant.get_by_role("button", name="Send my application").focus()
    applicant.keyboard.press("Enter")
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Thank you")

    # 2. A staff member signs in and must enrol before anything else opens.
    staff: Page = pages.open()
    sign_in(staff, team_server.email(Role.STAFF))
    staff.goto("/staff/users")  # any page: the enrolment comes first
    enrol(staff)

    # 3. Staff vet the application: a mentor, probation, and two-factor required.
    staff.goto("/staff")
    staff.get_by_role("link", name="Applications").click()
    staff.get_by_role("link", name="Ann Applicant").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Application of Ann Applicant")
    staff.get_by_label("Mentor", exact=True).select_option(
        label="volunteer@example.org (volunteer)"
    )
    expect(staff.get_by_label("On probation: a mentor approves their replies")).to_be_checked()
    staff.get_by_label("Require two-factor sign-in").check()
    staff.get_by_role("button", name="Approve and send the set-password link").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Ann Applicant")
    expect(staff.get_by_role("status").first).to_contain_text("Approved")

    # 4. The link reaches the applicant through the outbox and a real SMTP server.
    welcome = [
        m
        for m in deliver(factory, database_url, tmp_path)
        if m["To"].addresses[0].addr_spec == APPLICANT
    ]
    subjects = sorted(str(m["Subject"]) for m in welcome)
    assert subjects == [
        "Welcome to Switchboard help team: set your password",
        "Your application to volunteer with Switchboard help team",
    ]
    approved = next(m for m in welcome if str(m["Subject"]).startswith("Welcome"))
    found = _LINK.search(text_of(approved))
    assert found is not None
    link = found.group(0).replace(team_server.url, "")

    # 5. The new volunteer sets a password, signs in and must enrol (staff required it).
    novice: Page = pages.open()
    novice.goto(link)
    expect(novice.get_by_role("heading", level=1)).to_have_text("Set your password")
    novice.get_by_label("Choose a password").fill(APPLICANT_PASSWORD)
    novice.get_by_label("The same password again").fill(APPLICANT_PASSWORD)
    novice.get_by_label("The same password again").press("Enter")
    expect(novice.get_by_role("status").first).to_contain_text("Your password is set")
    novice.goto(link)
    expect(novice.get_by_role("heading", level=1)).to_have_text("This link is not valid any more")
    sign_in(novice, APPLICANT, APPLICANT_PASSWORD)
    enrol(novice)

    # 6. A report comes in by mail; the volunteer on probation answers it.
    number, message_id = ingest(factory, database_url)
    novice.goto(f"/tickets/{number}")
    novice.get_by_role("link", name="Reply to the requester").click()
    novice.get_by_label("Message").fill(
        "Dear Rita,\n\nwe have asked the site to remove the comments."
    )
    novice.get_by_role("button", name="Send reply").click()
    expect(novice).to_have_url(f"{team_server.url}/tickets/{number}")
    # Checked at the outbox itself: no reply of this ticket, before anyone approved it.
    with factory() as session:
        ticket_id = session.scalars(select(Ticket.id).where(Ticket.number == number)).one()
        replies = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.ticket_id == ticket_id, OutboxMessage.kind == "reply"
            )
        ).all()
        assert replies == []
        [held] = session.scalars(select(HeldReply).where(HeldReply.ticket_id == ticket_id)).all()
        assert held.state is HeldState.WAITING
    novice.goto("/mentor")
    expect(novice.get_by_role("table", name="Your replies that wait or came back")).to_contain_text(
        "waiting"
    )

    # 7. The mentor is told (no report in it), edits and sends.
    told = [
        m
        for m in deliver(factory, database_url, tmp_path)
        if str(m["Subject"]) == "A reply waits for your review"
    ]
    assert [m["To"].addresses[0].addr_spec for m in told] == [team_server.email(Role.VOLUNTEER)]
    assert "rude comments" not in text_of(told[0]) and number not in text_of(told[0])
    mentor: Page = pages.open()
    sign_in(mentor, team_server.email(Role.VOLUNTEER))
    expect(mentor.get_by_role("heading", level=1)).to_have_text("Overview")
    mentor.get_by_role("link", name="Reviews").click()
    mentor.get_by_role("link", name=re.compile(number)).click()
    expect(mentor.get_by_role("heading", level=1)).to_contain_text("Reply of Ann Applicant")
    editor = mentor.get_by_label("Edit, then send")
    editor.fill(
        "Dear Rita,\n\nwe have reported the comments to the site. "
        "Please keep the links to them for us."
    )
    mentor.get_by_role("button", name="Send the edited reply").click()
    expect(mentor.get_by_role("status").first).to_contain_text("Sent:")

    # 8. The sink receives the edited reply, threaded to the requester.
    sent = [
        m
        for m in deliver(factory, database_url, tmp_path)
        if m["To"].addresses[0].addr_spec == REQUESTER and "Auto-Submitted" not in m
    ]
    assert len(sent) == 1
    assert sent[0]["In-Reply-To"] == f"<{message_id}>"
    assert f"[Ticket#{number}]" in str(sent[0]["Subject"])
    body = text_of(sent[0])
    assert "Please keep the links to them for us." in body and "asked the site" not in body
    staff.goto(f"/team/agents/{held.author_id}")
    expect(staff.locator("dl.facts")).to_contain_text("0 approved, 1 edited, 0 returned")
