"""The reporter's journey in a real browser (issue 13), Chromium on SQLite and PostgreSQL:

(a) a German browser fills in the public form with the at-risk box ticked: the report is a
    specialist-safety ticket in German, and a German acknowledgement (the emergency route
    first, a status link) reaches a real SMTP sink through the outbox; the status link shows
    "Eingegangen"; a specialist takes the ticket, sets it pending, closes it, and each change
    sends exactly one status mail, in German, to the sink (the `work` timer's job is done
    here by queues.reporter.status.send_due, as the outbox runner's is by run_once);
(b) the form with JavaScript off, by keyboard only: a rejected submission keeps the text
    and ties the errors to their fields, then the report is sent;
(c) the public pages pass the contrast check and fit a 390 px phone.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from waitress import create_server

from mailgate.delivery import OutboxRunner
from mailgate.parser import parse_message
from queues.db import make_engine, make_sessionmaker
from queues.models import Ticket, TicketState
from queues.reporter import statuslink
from queues.reporter.status import send_due
from queues.settings import Settings
from tests.integration.relay_sink import RelaySink, free_port
from webui import create_app

from .conftest import PASSWORD, _fill
from .test_contrast import LOW_CONTRAST_JS
from .test_responsive import CULPRITS_JS, OVERFLOW_JS

REPORTER = "rita.reporter@example.net"
WHAT_HAPPENED = (
    "Ein Benutzer aus dem Forum schreibt mir jeden Tag private Nachrichten. Gestern hat er "
    "geschrieben, dass er weiß, in welchem Haus ich wohne."
)


@dataclass(frozen=True)
class World:
    url: str
    settings: Settings
    factory: sessionmaker[Session]


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The app as `switchboard web` serves it with the parser (the form makes its ticket at
    once), its own address for status links, and no two-factor step (its own journey)."""
    engine = make_engine(database_url)
    _fill(engine)
    engine.dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_path_factory.mktemp("var"),
        twofactor_required_roles=(),
        web_base_url=url,
    )
    app = create_app({"INGEST_PARSER": parse_message}, settings=settings)
    server = create_server(app, host="127.0.0.1", port=port, threads=4, ident="switchboard")
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    reader = make_engine(database_url)
    yield World(url, settings, make_sessionmaker(reader))
    reader.dispose()
    server.close()
    thread.join(timeout=5)


@pytest.fixture
def pages(browser: Any, world: World) -> Iterator[Any]:
    """Fresh browser contexts, checked for console errors and requests to anywhere else."""
    problems: list[str] = []
    opened: list[Page] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    class Opener:
        def open(self, **options: Any) -> Page:
            context: BrowserContext = browser.new_context(base_url=world.url, **options)
            page = context.new_page()
            page.on("console", on_console)
            page.on(
                "request",
                lambda r: None if r.url.startswith(world.url) else problems.append(r.url),
            )
            opened.append(page)
            return page

    yield Opener()
    for page in opened:
        page.context.close()
    assert problems == [], problems


class Mailroom:
    """The `work` process's part: status mail due, then the outbox to a real SMTP sink."""

    def __init__(self, world: World, sink: RelaySink, tmp_path: Path) -> None:
        self.world = world
        self.sink = sink
        self.settings = replace(
            world.settings, var_dir=tmp_path, relay_host="127.0.0.1", relay_port=sink.port
        )
        self.seen = 0

    def deliver(self) -> list[EmailMessage]:
        """Everything that reached the reporter since the last call."""
        with self.world.factory.begin() as session:
            send_due(session, self.settings)
        OutboxRunner(self.world.factory, self.settings).run_once()
        received = self.sink.received_by(REPORTER)
        new = received[self.seen :]
        self.seen = len(received)
        found = [email.message_from_bytes(m.content, policy=email.policy.default) for m in new]
        return [m for m in found if isinstance(m, EmailMessage)]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until the element is focused (keyboard only), within `limit` presses."""
    target = page.locator(selector)
    for _ in range(limit):
        if target.evaluate("e => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    expect(target).to_be_focused()


def sign_in(page: Page, address: str) -> None:
    page.goto("/login")
    page.locator("#email").fill(address)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_a_german_report_at_risk_hears_from_us_in_german(
    pages: Any, world: World, tmp_path: Path
) -> None:
    reporter: Page = pages.open(locale="de-DE")
    reporter.goto("/report/")
    expect(reporter.get_by_role("heading", level=1)).to_have_text("Belästigung melden")
    expect(reporter.get_by_role("link", name="safety@localhost")).to_be_visible()
    reporter.get_by_label("Ihre E-Mail-Adresse").fill(REPORTER)
    reporter.get_by_label("Ihr Name (optional)").fill("Rita")
    expect(reporter.get_by_label("Sprache unserer Antworten")).to_have_value("de")
    reporter.get_by_label("Was ist passiert?").fill(WHAT_HAPPENED)
    reporter.get_by_label(re.compile("Kreuzen Sie dieses Kästchen an")).check()
    reporter.get_by_role("button", name="Meldung absenden").click()
    expect(reporter.get_by_role("heading", level=1)).to_have_text("Danke: Ihre Meldung ist bei uns")
    found = re.search(r"Ticketnummer (\d+)", reporter.get_by_role("status").inner_text())
    assert found is not None
    number = found.group(1)
    with world.factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert (ticket.queue.slug, ticket.language) == ("specialist-safety", "de")
        assert "signal: the reporter ticked the form's at-risk box" in ticket.triage_reasons

    with RelaySink() as sink:
        mailroom = Mailroom(world, sink, tmp_path)
        (ack,) = mailroom.deliver()
        assert ack["Subject"] == f"[Ticket#{number}] Ihre Meldung ist bei unserem Sicherheitsteam"
        text = text_of(ack)
        assert text.startswith("Wenn Sie jetzt in Gefahr sind\n\nWenn Sie oder jemand anderes")
        link = re.search(rf"{re.escape(world.url)}/status/\S+", text)
        assert link is not None
        reporter.goto(link.group(0))
        expect(reporter.locator("[aria-current=step]")).to_contain_text("Eingegangen")
        expect(reporter.get_by_text(WHAT_HAPPENED)).to_have_count(0)  # no content

        specialist: Page = pages.open()
        sign_in(specialist, "specialist@example.org")
        specialist.goto(f"/tickets/{number}")
        specialist.get_by_role("button", name="Take this ticket").click()
        expect(specialist.get_by_role("status").first).to_be_visible()
        (taken,) = mailroom.deliver()
        assert str(taken["Subject"]).endswith("Ein Mensch kümmert sich um Ihre Meldung")
        assert taken["In-Reply-To"] and str(taken["Reply-To"]).startswith("help+")

        specialist.get_by_label("New state").select_option("pending")
        tomorrow = datetime.now(UTC) + timedelta(days=2)
        specialist.get_by_label("Pending until (UTC)").fill(tomorrow.strftime("%Y-%m-%d"))
        specialist.get_by_role("button", name="Set state").click()
        expect(specialist.get_by_role("status").first).to_be_visible()
        (pending,) = mailroom.deliver()
        assert str(pending["Subject"]).endswith("Wir warten auf Ihre Antwort")

        specialist.get_by_label("New state").select_option("closed")
        specialist.get_by_label("Close without an answer").check()
        specialist.get_by_label("Why no answer?").fill("Test journey: closing.")
        specialist.get_by_role("button", name="Set state").click()
        expect(specialist.get_by_role("status").first).to_be_visible()
        (closed,) = mailroom.deliver()
        assert str(closed["Subject"]).endswith("Ihre Meldung ist abgeschlossen")
        assert "wird wieder geöffnet" in " ".join(text_of(closed).split())
        assert mailroom.deliver() == []  # once per change
    with world.factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.state is TicketState.CLOSED
    reporter.goto(link.group(0))
    expect(reporter.locator("[aria-current=step]")).to_contain_text("Abgeschlossen")


def test_the_form_without_javascript_by_keyboard_only(pages: Any, world: World) -> None:
    page: Page = pages.open(java_script_enabled=False, locale="en-GB")
    page.goto("/report/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Report harassment")
    # Everything by keyboard: Tab into each field and type; a wrong address first.
    tab_to(page, "#email")
    page.keyboard.type("not an address")
    tab_to(page, "#what_happened")
    page.keyboard.type("A user keeps posting my old photos in the forum.")
    tab_to(page, "#at_risk")
    page.keyboard.press("Space")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("#form-problem")).to_contain_text("Please correct the marked fields.")
    email_field = page.get_by_label("Your e-mail address")
    expect(email_field).to_have_attribute("aria-invalid", "true")
    expect(email_field).to_have_attribute("aria-describedby", "email-hint email-error")
    expect(page.locator("#email-error")).to_have_text("Give an e-mail address we can answer to.")
    expect(page.get_by_label("What happened?")).to_have_value(
        "A user keeps posting my old photos in the forum."
    )
    expect(page.get_by_label(re.compile("Check this box"))).to_be_checked()
    # Correct it with the keyboard and send.
    tab_to(page, "#email")
    page.keyboard.press("Control+A")
    page.keyboard.type("kim@example.net")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: we have your report")
    expect(page.get_by_role("status")).to_contain_text("Your report is ticket")


def test_the_public_pages_are_readable_and_fit_a_phone(pages: Any, world: World) -> None:
    with world.factory.begin() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id)).first()
        assert ticket is not None
        token = statuslink.issue(session.connection(), ticket.id)
    paths = ["/report/?lang=de", "/report/?lang=fr", f"/status/{token}", "/status/?lang=es"]
    for width in (390, 1280):
        page: Page = pages.open(viewport={"width": width, "height": 800})
        for path in paths:
            page.goto(path)
            assert page.evaluate(LOW_CONTRAST_JS) == [], path
            overflow = page.evaluate(OVERFLOW_JS)
            assert overflow <= 0, (path, width, page.evaluate(CULPRITS_JS))
