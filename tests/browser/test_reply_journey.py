"""Replying in a real browser: (a) sign in, open a ticket that came in as mail, reply with a
template, and the reply reaches a real SMTP sink through the outbox, threaded and tagged;
(b) two agents on one ticket: the second is warned who holds the lock and cannot send over it.
The forms are driven with the keyboard where it matters (Tab to the button, Enter)."""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.delivery import OutboxRunner
from mailgate.parser import parse_message
from queues.db import make_engine, make_sessionmaker
from queues.ingest import ingest_bytes
from queues.models import OutboxMessage, ReplyTemplate, Role, Ticket
from queues.settings import Settings
from tests.integration.relay_sink import RelaySink

from .conftest import PASSWORD, LiveServer

REQUESTER = "rita@example.net"


@dataclass(frozen=True)
class MailTicket:
    number: str
    message_id: str
    root_id: str


@pytest.fixture(scope="module")
def factory(database_url: str, live_server: LiveServer) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def template(factory: sessionmaker[Session]) -> str:
    with factory.begin() as session:
        session.add(
            ReplyTemplate(
                name="We have your report",
                body=(
                    "Dear {{ requester.name | default('reporter') }},\n\n"
                    "thank you for writing to us about ticket {{ ticket.number }}. "
                    "{{ agent.email }} from {{ queue.name }} is looking into it."
                ),
            )
        )
    return "We have your report"


def ingest(factory: sessionmaker[Session], database_url: str, subject: str) -> MailTicket:
    """A message as it arrives by mail: raw bytes, stored and processed like the gateway does."""
    token = uuid.uuid4().hex[:12]
    message_id, root_id = f"orig-{token}@example.net", f"root-{token}@example.net"
    raw = (
        f"From: Rita Requester <{REQUESTER}>\r\n"
        "To: help@localhost\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\n"
        f"References: <{root_id}>\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Hello, someone keeps sending me rude messages on the site. What can I do?\r\n"
    ).encode()
    settings = Settings(database_url=database_url, var_dir=Path("/nonexistent"))
    outcome = ingest_bytes(factory, raw, settings, parse_message, source="browser-test")
    assert outcome.kind == "new" and outcome.ticket_number is not None
    return MailTicket(outcome.ticket_number, message_id, root_id)


def replies_queued(factory: sessionmaker[Session], number: str) -> list[OutboxMessage]:
    with factory() as session:
        stmt = (
            select(OutboxMessage)
            .join(Ticket, Ticket.id == OutboxMessage.ticket_id)
            .where(Ticket.number == number, OutboxMessage.kind == "reply")
        )
        return list(session.scalars(stmt))


def new_page(browser: Any, live_server: LiveServer, problems: list[str]) -> Page:
    context: BrowserContext = browser.new_context(base_url=live_server.url)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on(
        "request", lambda r: None if r.url.startswith(live_server.url) else problems.append(r.url)
    )
    return page


@pytest.fixture
def pages(browser: Any, live_server: LiveServer) -> Iterator[list[Page]]:
    """Fresh browser contexts (separate cookies: separate agents), checked for CSP errors."""
    problems: list[str] = []
    opened: list[Page] = []

    class Opener(list[Page]):
        def open(self) -> Page:
            page = new_page(browser, live_server, problems)
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
    page.locator("#password").press("Enter")  # submit with the keyboard
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_reply_with_a_template_reaches_the_relay_threaded(
    pages: Any,
    live_server: LiveServer,
    factory: sessionmaker[Session],
    database_url: str,
    template: str,
    tmp_path: Path,
) -> None:
    ticket = ingest(factory, database_url, "Rude messages on the site")
    page: Page = pages.open()
    sign_in(page, live_server.email(Role.VOLUNTEER))
    page.goto(f"/tickets/{ticket.number}")
    page.get_by_role("link", name="Reply to the requester").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Reply to ticket {ticket.number}")
    expect(page.get_by_text("You hold the answering lock")).to_be_visible()

    # Choose the template (a GET form: no JavaScript needed) and see it filled in.
    page.get_by_label("Template").select_option(label=template)
    page.get_by_role("button", name="Use this template").click()
    body = page.get_by_label("Message")
    expect(body).to_have_value(
        "Dear Rita Requester,\n\nthank you for writing to us about ticket "
        f"{ticket.number}. help@localhost from General help is looking into it."
    )
    expect(page.get_by_label("To", exact=True)).to_have_value(REQUESTER)
    expect(page.get_by_label("Subject")).to_have_value(
        f"Re: [Ticket#{ticket.number}] Rude messages on the site"
    )

    # Edit, then Tab from the last fields to "Send reply" and press Enter.
    body.press("End")
    body.press("Control+End")
    page.keyboard.type("\n\nWe will write again within two days.")
    # (the date field's day, month and year are Tab stops of their own)
    page.get_by_label("State of the ticket").focus()
    send = page.get_by_role("button", name="Send reply")
    for _ in range(6):
        page.keyboard.press("Tab")
        if send.evaluate("e => e === document.activeElement"):
            break
    expect(send).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/tickets/{ticket.number}")
    expect(page.get_by_role("status").first).to_contain_text("Your reply is queued for sending")

    # The outbox runner delivers it to a real SMTP server.
    with RelaySink() as sink:
        settings = Settings(
            database_url=database_url,
            var_dir=tmp_path,
            relay_host="127.0.0.1",
            relay_port=sink.port,
        )
        OutboxRunner(factory, settings).run_once()
        delivered = [m for m in sink.received_by(REQUESTER) if b"Auto-Submitted" not in m.content]
    assert len(delivered) == 1
    assert delivered[0].mail_from == "help@localhost"
    msg = email.message_from_bytes(delivered[0].content, policy=email.policy.default)
    assert msg["In-Reply-To"] == f"<{ticket.message_id}>"
    assert msg["References"] == f"<{ticket.root_id}> <{ticket.message_id}>"
    assert msg["Subject"] == f"Re: [Ticket#{ticket.number}] Rude messages on the site"
    assert msg["To"] == f"Rita Requester <{REQUESTER}>"
    text = msg.get_content().replace("\r\n", "\n")
    assert text.startswith("Dear Rita Requester,\n\nthank you for writing to us about ticket")
    assert "We will write again within two days." in text
    [row] = replies_queued(factory, ticket.number)
    assert row.state.value == "sent"


def test_second_agent_is_warned_and_cannot_send_over_the_lock(
    pages: Any,
    live_server: LiveServer,
    factory: sessionmaker[Session],
    database_url: str,
) -> None:
    ticket = ingest(factory, database_url, "Fake profile using my photos")
    first: Page = pages.open()
    second: Page = pages.open()
    sign_in(first, live_server.email(Role.VOLUNTEER))
    sign_in(second, live_server.email(Role.SPECIALIST))

    first.goto(f"/tickets/{ticket.number}/reply")
    expect(first.get_by_text("You hold the answering lock")).to_be_visible()

    second.goto(f"/tickets/{ticket.number}")
    warning = second.locator(".lock-top")  # at the top of the page (also in the panel)
    expect(warning).to_contain_text("volunteer@example.org is answering this ticket until")
    second.goto(f"/tickets/{ticket.number}/reply")
    expect(second.get_by_role("alert")).to_contain_text(
        "volunteer@example.org is answering this ticket until"
    )
    second.get_by_label("Message").fill("I will answer this one myself.")
    second.get_by_role("button", name="Send reply").click()
    expect(second.get_by_role("alert")).to_contain_text("Your reply was not sent.")
    expect(second.get_by_label("Message")).to_have_value("I will answer this one myself.")
    assert replies_queued(factory, ticket.number) == []

    # The holder sends (keyboard: Enter in the subject line submits the form).
    first.get_by_label("Message").fill("We are on it.")
    first.get_by_label("Subject").press("Enter")
    expect(first.get_by_role("status").first).to_contain_text("Your reply is queued for sending")
    assert len(replies_queued(factory, ticket.number)) == 1
