"""The agent's day in Chromium (issue 10), on SQLite and PostgreSQL: each item a test that
would have caught what a new team ran into.

1. A serious report cannot reach volunteers by one click: the move form starts on no queue,
   a wider queue asks who will see it and why, and the reason is in the history.
2. A reply that still holds a template's placeholder is not sent: the page says which line
   and keeps the text; the default templates send as they are.
3. The agent's real name never leaves: the name chosen on "Your account" signs the reply,
   and the raw mail in the outbox holds neither the real name nor the agent's address.
4. The reply page shows the message being answered (the newest incoming one, not our
   acknowledgement), its quoted text folded; the ticket page warns of the lock at the top.
6. History rows say what they are, a triaged ticket is "Flagged" with its reasons, each
   attachment shows its size and SHA-256, and a ticket nobody answered closes only with a
   reason. Also: an account someone else made must choose its own password first.

The reply, move and account pages fit a 390 px phone. Forms are driven by keyboard where
it matters.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from waitress import create_server

from mailgate.parser import parse_message
from queues.db import make_engine, make_sessionmaker
from queues.ingest import ingest_bytes
from queues.models import OutboxMessage, Queue, Role, Ticket, TicketEvent, User
from queues.placeholders import find_placeholders
from queues.seed import seed_queue_signatures, seed_reply_templates
from queues.settings import Settings
from queues.triage.feedback_models import FALSE_ALARM, TriageFeedback
from webui import create_app

from .conftest import PASSWORD, LiveServer, _fill

REAL_NAME = "Valentina Quillfeather"
REQUESTER = "rita@example.net"
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"pretend this is a screenshot of the messages " * 40


@dataclass(frozen=True)
class Mail:
    number: str
    message_id: str


@pytest.fixture(scope="module")
def live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """As conftest's, but with two-factor sign-in required of nobody: these tests are about
    working tickets, and signing in with a second factor has tests of its own."""
    engine = make_engine(database_url)
    tickets = _fill(engine)
    engine.dispose()
    settings = Settings(
        database_url=database_url,
        var_dir=Path(tmp_path_factory.mktemp("var")),
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
    """The live server's database, with the default templates and signatures of `init` and
    the volunteer's real name on their account (colleagues see it; requesters must not)."""
    engine = make_engine(database_url)
    made = make_sessionmaker(engine)
    with made.begin() as session:
        seed_queue_signatures(session, [q.slug for q in session.scalars(select(Queue))])
        seed_reply_templates(session)
        session.execute(update(User).where(User.role == Role.VOLUNTEER).values(name=REAL_NAME))
    yield made
    engine.dispose()


def ingest(
    factory: sessionmaker[Session],
    database_url: str,
    subject: str,
    body: str = "Someone keeps sending me rude messages on the site. What can I do?",
    *,
    to: str = "help@localhost",
    in_reply_to: str | None = None,
    attachment: bytes | None = None,
    queue: str | None = None,
) -> Mail:
    """A message as it arrives by mail, stored and processed like the gateway's; `queue`:
    then put in that queue, whatever triage made of the wording (not what these tests are
    about)."""
    message_id = f"m-{uuid.uuid4().hex[:12]}@example.net"
    head = (
        f"From: Rita Requester <{REQUESTER}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if in_reply_to:
        head += f"In-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\n"
    if attachment is None:
        raw = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
    else:
        encoded = base64.encodebytes(attachment).decode().replace("\n", "\r\n")
        raw = (
            head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
            "--b1\r\nContent-Type: image/png\r\n"
            'Content-Disposition: attachment; filename="proof.png"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n" + encoded + "--b1--\r\n"
        )
    settings = Settings(database_url=database_url, var_dir=Path("/nonexistent"))
    outcome = ingest_bytes(factory, raw.encode(), settings, parse_message, source="browser-test")
    assert outcome.ticket_number is not None, outcome
    if queue is not None:
        with factory.begin() as session:
            ticket = session.scalars(
                select(Ticket).where(Ticket.number == outcome.ticket_number)
            ).one()
            ticket.queue = session.scalars(select(Queue).where(Queue.slug == queue)).one()
    return Mail(outcome.ticket_number, message_id)


class Pages:
    """Browser contexts (separate cookies: separate agents), checked for CSP errors and for
    requests that leave the server under test."""

    def __init__(self, browser: Any, live_server: LiveServer) -> None:
        self.browser = browser
        self.live_server = live_server
        self.problems: list[str] = []
        self.contexts: list[BrowserContext] = []

    def open(self, width: int = 1280) -> Page:
        context = self.browser.new_context(
            base_url=self.live_server.url, viewport={"width": width, "height": 900}
        )
        self.contexts.append(context)
        page: Page = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and not message.text.startswith("Failed to load"):
                self.problems.append(message.text)

        page.on("console", on_console)
        server = self.live_server.url
        page.on(
            "request", lambda r: None if r.url.startswith(server) else self.problems.append(r.url)
        )
        return page

    def sign_in(self, email_address: str, width: int = 1280, password: str = PASSWORD) -> Page:
        page = self.open(width)
        page.goto("/login")
        page.locator("#email").fill(email_address)
        page.locator("#password").fill(password)
        page.locator("#password").press("Enter")
        return page


@pytest.fixture
def pages(browser: Any, live_server: LiveServer) -> Iterator[Pages]:
    opened = Pages(browser, live_server)
    yield opened
    for context in opened.contexts:
        context.close()
    assert opened.problems == [], opened.problems


def fits(page: Page) -> None:
    assert page.evaluate(OVERFLOW_JS) <= 0, f"{page.url} scrolls sideways"


def outbox_replies(factory: sessionmaker[Session], number: str) -> list[bytes]:
    with factory() as session:
        stmt = (
            select(OutboxMessage.raw)
            .join(Ticket, Ticket.id == OutboxMessage.ticket_id)
            .where(Ticket.number == number, OutboxMessage.kind == "reply")
            .order_by(OutboxMessage.id)
        )
        return list(session.scalars(stmt))


# --- 1. a wider queue is a deliberate act ---------------------------------------------------------


def test_1_moving_a_serious_report_to_volunteers_asks_who_and_why(
    pages: Pages, live_server: LiveServer, factory: sessionmaker[Session], database_url: str
) -> None:
    mail = ingest(factory, database_url, "He says he will find me", to="safety@localhost")
    page = pages.sign_in(live_server.email(Role.SPECIALIST))
    page.goto(f"/tickets/{mail.number}")
    choice = page.get_by_label("Move to queue")
    expect(choice).to_have_value("")  # no preset
    expect(choice.locator("option:checked")).to_have_text("Choose a queue")
    # the browser will not submit the form without a choice (and the server checks too)
    page.get_by_role("button", name="Move…").click()
    expect(page).to_have_url(f"{live_server.url}/tickets/{mail.number}")
    choice.select_option(label="General help (more people will see it)")
    choice.focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Move…")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Move ticket {mail.number} to General help?"
    )
    note = page.get_by_role("note")
    expect(note).to_contain_text("Now all specialists and staff (2 agents) may see it")
    expect(note).to_contain_text("all volunteers, specialists and staff (3 agents) will see it")
    expect(note).to_contain_text("1 of them volunteers who cannot see it now")
    fits(page)
    page.get_by_role("button", name="Move to General help").click()  # no reason
    expect(page.get_by_role("alert")).to_contain_text("needs a reason")
    with factory() as session:
        row = session.scalars(select(Ticket).where(Ticket.number == mail.number)).one()
        assert row.queue.slug == "specialist-safety"
    reason = page.get_by_label("Why is this ticket not for Specialist safety?")
    reason.fill("A question about blocking someone, nothing threatening.")
    page.get_by_role("button", name="Move to General help").click()
    expect(page.get_by_role("status").first).to_contain_text("The ticket is in General help now")
    history = page.locator("table.history")
    expect(history).to_contain_text("Moved out of a restricted queue")
    expect(history).to_contain_text("A question about blocking someone, nothing threatening.")
    with factory() as session:
        row = session.scalars(select(Ticket).where(Ticket.number == mail.number)).one()
        assert row.queue.slug == "general-help"
        kinds = session.scalars(
            select(TriageFeedback.kind).where(TriageFeedback.ticket_id == row.id)
        ).all()
        assert kinds == [FALSE_ALARM]

    # "Cancel" on the confirmation leaves the ticket where it is
    other = ingest(factory, database_url, "Threat in my inbox", to="safety@localhost")
    page.goto(f"/tickets/{other.number}")
    page.get_by_label("Move to queue").select_option("general-help")
    page.get_by_role("button", name="Move…").click()
    page.get_by_role("link", name="Cancel: keep it in Specialist safety").click()
    expect(page).to_have_url(f"{live_server.url}/tickets/{other.number}")
    with factory() as session:
        row = session.scalars(select(Ticket).where(Ticket.number == other.number)).one()
        assert row.queue.slug == "specialist-safety"


# --- 2. and 3. placeholders and real names never reach the requester ---------------------------


def test_2_3_a_placeholder_is_refused_and_the_public_name_signs_the_reply(
    pages: Pages, live_server: LiveServer, factory: sessionmaker[Session], database_url: str
) -> None:
    mail = ingest(factory, database_url, "Fake account with my photos", queue="general-help")
    page = pages.sign_in(live_server.email(Role.VOLUNTEER))

    # 3. choose the public name on "Your account", reached from the main navigation
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Your account").click()
    expect(page.locator("#signature-now")).to_have_text("Switchboard help team")
    field = page.get_by_label("Name in your replies")
    field.fill("Val")
    field.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("Your replies are signed “Val”")
    expect(page.locator("#signature-now")).to_have_text("Val")

    page.goto(f"/tickets/{mail.number}")
    page.get_by_role("link", name="Reply to the requester").click()
    page.get_by_label("Template").select_option(label="First reply")
    page.get_by_role("button", name="Use this template").click()
    body = page.get_by_label("Message")
    text = body.input_value()
    assert find_placeholders(text, Settings().placeholder_markers) == []  # ready as it is
    assert REAL_NAME not in text and "Val" not in text  # the signature signs, not the text
    expect(page.locator("#reply-signature")).to_contain_text("Val")
    expect(page.locator("#reply-signature")).not_to_contain_text(REAL_NAME)

    # 2. a placeholder of the agent's own making is caught, with its line, text kept
    body.fill("Hello Rita,\n\nhere is what to do: [Add the help page link]\n\nTake care.")
    page.get_by_role("button", name="Send reply").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("so it was not sent")
    expect(alert).to_contain_text("the message, line 3: [Add the help page link]")
    expect(page.get_by_label("Message")).to_have_value(
        "Hello Rita,\n\nhere is what to do: [Add the help page link]\n\nTake care."
    )
    assert outbox_replies(factory, mail.number) == []
    page.get_by_label("Message").fill(text)  # the template as it came: it sends
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status").first).to_contain_text("Your reply is queued for sending")

    [raw] = outbox_replies(factory, mail.number)
    lowered = raw.lower()
    assert REAL_NAME.lower().encode() not in lowered
    assert b"quillfeather" not in lowered
    assert live_server.email(Role.VOLUNTEER).encode() not in lowered
    assert b"\nVal\n" in raw.replace(b"\r\n", b"\n")


# --- 4. the message being answered, and the lock at the top ------------------------------------


def test_4_the_reply_page_shows_the_newest_incoming_message_and_the_lock_shows_on_top(
    pages: Pages, live_server: LiveServer, factory: sessionmaker[Session], database_url: str
) -> None:
    first = ingest(factory, database_url, "Messages at night", queue="general-help")
    followup = ingest(
        factory,
        database_url,
        f"Re: [Ticket#{first.number}] Messages at night",
        "It happened again last night, three times.\n\n"
        "On Thursday, Switchboard help team wrote:\n> We have your report.\n"
        "> Keep the ticket number in the subject.\n",
        in_reply_to=first.message_id,
        queue="general-help",
    )
    assert followup.number == first.number
    page = pages.sign_in(live_server.email(Role.VOLUNTEER), width=390)
    page.goto(f"/tickets/{first.number}/reply")
    answered = page.locator("aside.reply-context")
    expect(answered.get_by_role("heading")).to_have_text("What you are answering")
    expect(answered).to_contain_text("It happened again last night, three times.")
    quoted = answered.locator("details.quoted")
    expect(quoted.locator("summary")).to_have_text("Quoted text (3 lines)")
    expect(quoted.locator("pre")).to_be_hidden()  # folded
    quoted.locator("summary").focus()
    page.keyboard.press("Enter")  # unfolds by keyboard
    expect(quoted.locator("pre")).to_contain_text("> We have your report.")
    chosen = page.get_by_label("In answer to").locator("option:checked")
    expect(chosen).to_contain_text("Incoming mail")
    expect(chosen).to_contain_text("Re: [Ticket#")  # the follow-up, not the acknowledgement
    fits(page)

    # a colleague sees who is answering at the top of the ticket page
    colleague = pages.sign_in(live_server.email(Role.STAFF))
    colleague.goto(f"/tickets/{first.number}")
    top = colleague.locator(".lock-top")
    expect(top).to_contain_text(f"{REAL_NAME} is answering this ticket until")  # colleagues
    box = top.bounding_box()
    assert box is not None and box["y"] < 400  # above the fold, before the messages
    page.get_by_role("button", name="Stop answering and release the lock").click()
    colleague.reload()
    expect(colleague.locator(".lock-top")).to_have_count(0)


# --- 6. small things ----------------------------------------------------------------------------


def test_6_history_flag_fingerprints_and_closing_without_an_answer(
    pages: Pages, live_server: LiveServer, factory: sessionmaker[Session], database_url: str
) -> None:
    mail = ingest(
        factory,
        database_url,
        "Screenshot of the threats",
        "He wrote that he knows where I live and will hurt me. Screenshot attached.",
        attachment=SCREENSHOT,
    )
    with factory() as session:
        row = session.scalars(select(Ticket).where(Ticket.number == mail.number)).one()
        reasons, queue = list(row.triage_reasons), row.queue.slug
    assert reasons and queue == "specialist-safety"  # triage sent it to specialists
    page = pages.sign_in(live_server.email(Role.SPECIALIST), width=390)
    page.goto(f"/tickets/{mail.number}")
    flagged = page.locator("dl.facts div", has_text="Flagged")
    expect(flagged).to_contain_text(f"flagged by safety triage ({len(reasons)} reason")
    expect(flagged).not_to_contain_text("no")
    digest = hashlib.sha256(SCREENSHOT).hexdigest()
    fingerprint = page.locator("ul.attachments .fingerprint")
    expect(fingerprint).to_have_text(f"{len(SCREENSHOT):,} bytes, SHA-256 {digest}")
    fits(page)  # the long hash wraps on a phone

    page.get_by_label("Note for the team").fill("Called her back, she is safe tonight.")
    page.get_by_role("button", name="Add note").click()
    last = page.locator("table.history tbody tr").last
    expect(last).to_contain_text("Internal note")
    expect(last).to_contain_text("internal note added")

    # nobody has answered: closing asks for the box and a reason
    page.get_by_label("New state").select_option("closed")
    page.get_by_role("button", name="Set state").click()
    expect(page.get_by_role("status").first).to_contain_text("Nobody has answered the requester")
    page.get_by_label("New state").select_option("closed")
    page.get_by_label("Close without an answer").check()
    page.get_by_label("Why no answer?").fill("She asked us not to write to this address.")
    page.get_by_role("button", name="Set state").click()
    expect(page.get_by_role("status").first).to_contain_text("closed without an answer")
    expect(page.locator("table.history")).to_contain_text(
        "without an answer to the requester: She asked us not to write to this address."
    )
    with factory() as session:
        details = session.scalars(
            select(TicketEvent.detail)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.number == mail.number)
        ).all()
    assert not any(d.startswith("internal note ") and d[-1].isdigit() for d in details)


def test_an_account_made_by_staff_chooses_its_own_password_first(
    pages: Pages, live_server: LiveServer, factory: sessionmaker[Session]
) -> None:
    staff = pages.sign_in(live_server.email(Role.STAFF))
    staff.goto("/staff/users/new")
    address = f"new-{uuid.uuid4().hex[:8]}@example.org"
    staff.get_by_label("Email address").fill(address)
    staff.get_by_role("button", name="Add user").click()
    one_time = staff.locator("p.secret code").inner_text()
    expect(staff.get_by_role("main")).to_contain_text("must choose their own password")

    agent = pages.sign_in(address, width=390, password=one_time)
    expect(agent).to_have_url(f"{live_server.url}/password")
    expect(agent.get_by_role("status").first).to_contain_text("Choose your own password")
    agent.goto("/")  # nothing else opens
    expect(agent).to_have_url(f"{live_server.url}/password")
    fits(agent)
    agent.get_by_label("Current password").fill(one_time)
    agent.get_by_label("New password", exact=True).fill("my own long passphrase")
    agent.get_by_label("New password again").fill("my own long passphrase")
    agent.get_by_label("New password again").press("Enter")
    expect(agent.get_by_role("heading", level=1)).to_have_text("Overview")
    agent.goto("/account")
    expect(agent.locator("#signature-now")).to_have_text("Switchboard help team")
    fits(agent)
    with factory() as session:
        assert (
            not session.scalars(select(User).where(User.email == address))
            .one()
            .must_change_password
        )
