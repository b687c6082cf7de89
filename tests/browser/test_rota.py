"""The rota and on call in a real browser, on SQLite and PostgreSQL: a specialist opens the
rota from the main navigation and sees the week in their own time zone with the hours
nobody covers marked (on a 390 px phone too, without sideways scrolling); a serious report
arrives by mail at the safety address; the on-call runner, on a controlled clock, tells the
specialist on duty at once (the mail reaches a real SMTP server with the ticket's number and
link and none of the report's words); the link opens the ticket, whose history says who was
told; nobody takes it, and 15 minutes later the backup and staff are told; once the
specialist takes it, nobody is told again."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from waitress import create_server

from mailgate.delivery import OutboxRunner
from mailgate.parser import parse_message
from queues.db import make_engine, make_sessionmaker
from queues.ingest import ingest_bytes
from queues.models import Queue, Role, Ticket, TicketState, User
from queues.settings import Settings
from queues.team.oncall import OnCallRunner
from queues.team.rota import week_start
from queues.team.rota_models import BACKUP, DUTY, Shift, ShiftSignup
from tests.integration.relay_sink import RelaySink
from webui import create_app

from .conftest import PASSWORD, LiveServer, _fill
from .test_reply_journey import new_page

SPECIALIST, BACKUP_AGENT, STAFF = (
    "specialist@example.org",
    "backup@example.org",
    "staff@example.org",
)
REPORT_WORDS = ("Nightingale", "bridge", "knife", "Zorbas")


@dataclass(frozen=True)
class World:
    server: LiveServer
    settings: Settings
    factory: sessionmaker[Session]


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The app as `switchboard web` runs it; specialist-safety covered around the clock from
    Monday to Saturday (UTC) by the specialist on duty with a second specialist as backup,
    and nobody on Sunday."""
    engine = make_engine(database_url)
    tickets = _fill(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        hashed = session.scalars(select(User.password_hash).where(User.email == STAFF)).one()
        specialist = session.scalars(select(User).where(User.email == SPECIALIST)).one()
        specialist.timezone = "Europe/Berlin"
        backup = User(
            email=BACKUP_AGENT, name="Bea Backup", role=Role.SPECIALIST, password_hash=hashed
        )
        session.add(backup)
        safety = session.scalars(select(Queue).where(Queue.slug == "specialist-safety")).one()
        for ticket in session.scalars(select(Ticket).where(Ticket.queue_id == safety.id)):
            ticket.state = TicketState.CLOSED  # the seeded ticket is not news to anyone
        session.flush()
        for weekday in range(6):
            shift = Shift(
                queue_id=safety.id, weekday=weekday, start=time(0), end=time(0), timezone="UTC"
            )
            session.add(shift)
            session.flush()
            first = datetime(2026, 1, 5).date()
            session.add_all(
                [
                    ShiftSignup(
                        shift_id=shift.id, user_id=specialist.id, role=DUTY, first_date=first
                    ),
                    ShiftSignup(
                        shift_id=shift.id, user_id=backup.id, role=BACKUP, first_date=first
                    ),
                ]
            )
    var_dir = Path(tmp_path_factory.mktemp("rota-var"))
    settings = Settings(
        database_url=database_url,
        var_dir=var_dir,
        twofactor_required_roles=(),
        addresses={"help@localhost": "general-help", "safety@localhost": "specialist-safety"},
    )
    app = create_app(settings=settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="switchboard")
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    yield World(LiveServer(url, tickets), replace(settings, web_base_url=url), factory)
    server.close()
    thread.join(timeout=5)
    engine.dispose()


@pytest.fixture
def pages(browser: Any, world: World) -> Iterator[Any]:
    problems: list[str] = []
    opened: list[Page] = []

    class Opener:
        def open(self, **context: Any) -> Page:
            page = new_page(browser, world.server, problems)
            if context.get("viewport"):
                page.set_viewport_size(context["viewport"])
            opened.append(page)
            return page

    yield Opener()
    for page in opened:
        page.context.close()
    assert problems == [], problems


def sign_in(page: Page, address: str) -> None:
    page.goto("/login")
    page.locator("#email").fill(address)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def _report(message_id: str) -> bytes:
    return (
        "From: Nia Nightingale <nia.nightingale@example.net>\r\n"
        "To: safety@localhost\r\n"
        "Subject: Zorbas waits for me at the bridge with a knife\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Zorbas wrote that he waits for me at the bridge tonight with a knife.\r\n"
    ).encode()


def _deliver(world: World, sink: RelaySink) -> None:
    relay = replace(world.settings, relay_host="127.0.0.1", relay_port=sink.port)
    OutboxRunner(world.factory, relay).run_once()


def _oncall_mail(sink: RelaySink, address: str) -> list[email.message.EmailMessage]:
    found = []
    for received in sink.received_by(address):
        message = email.message_from_bytes(received.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        if str(message["Subject"]).startswith("On call:"):
            for word in REPORT_WORDS:
                assert word.lower().encode() not in received.content.lower(), word
            found.append(message)
    return found


def test_a_gap_in_the_week_and_a_serious_ticket_told_to_the_specialist_then_the_backup(
    pages: Any, world: World
) -> None:
    # The week view, reached from the main navigation by the keyboard.
    specialist: Page = pages.open()
    sign_in(specialist, SPECIALIST)
    specialist.get_by_role("link", name="Rota", exact=True).focus()
    specialist.keyboard.press("Enter")
    expect(specialist.get_by_role("heading", level=1)).to_have_text("Rota: Specialist safety")
    expect(specialist.get_by_text("Europe/Berlin").first).to_be_visible()
    # Sunday (UTC) has nobody: 24 hours marked, in Berlin's time.
    expect(specialist.get_by_role("alert")).to_contain_text("nobody is on duty for 1 d")
    expect(specialist.locator("td.rota-gap")).to_have_count(24)
    expect(specialist.locator("td.rota-gap").first).to_contain_text("No cover")
    expect(specialist.locator(".rota-gaps")).to_contain_text("24:00")

    # On a phone the page fits; the grid scrolls inside its own box.
    phone: Page = pages.open(viewport={"width": 390, "height": 844})
    sign_in(phone, SPECIALIST)
    phone.goto("/rota/")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Rota: Specialist safety")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.evaluate("document.querySelector('.table-scroll').scrollWidth") > 390

    # A serious report by mail to the safety address, at noon on Monday (UTC) of this week.
    outcome = ingest_bytes(
        world.factory,
        _report(f"rota-{world.server.url[-5:]}@example.net"),
        world.settings,
        parse_message,
        source="browser",
    )
    assert outcome.ticket_number is not None
    number = outcome.ticket_number
    noon = datetime.combine(week_start(datetime.now(UTC).date()), time(12), tzinfo=UTC)
    with world.factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.queue.slug == "specialist-safety"
        ticket.created_at = noon
    runner = OnCallRunner(world.factory, world.settings)
    report = runner.step(noon + timedelta(seconds=3))
    assert report.delays == {number: timedelta(seconds=3)}  # told on the runner's first look

    with RelaySink() as sink:
        _deliver(world, sink)
        (notice,) = _oncall_mail(sink, SPECIALIST)
        assert _oncall_mail(sink, BACKUP_AGENT) == [] and _oncall_mail(sink, STAFF) == []
        body = notice.get_content()
        link = re.search(r"http://\S+/tickets/\d+", body)
        assert link and link.group(0) == f"{world.server.url}/tickets/{number}"

        # The link opens the ticket; its history names who was told.
        specialist.goto(link.group(0))
        expect(specialist.get_by_role("heading", level=1)).to_contain_text(number)
        expect(specialist.get_by_text("on call: told the agents on duty at once")).to_be_visible()

        # Nobody takes it: fifteen minutes after the notice, the backup and staff.
        assert runner.step(noon + timedelta(minutes=14, seconds=59)).mails == 0
        assert runner.step(noon + timedelta(minutes=15, seconds=3)).mails == 2
        _deliver(world, sink)
        assert len(_oncall_mail(sink, BACKUP_AGENT)) == 1
        assert len(_oncall_mail(sink, STAFF)) == 1
        assert len(_oncall_mail(sink, SPECIALIST)) == 1
        specialist.reload()
        expect(
            specialist.get_by_text("nobody has taken the ticket 15 min after the first notice")
        ).to_be_visible()

        # The specialist takes it: no one is told again.
        specialist.get_by_role("button", name="Take this ticket").press("Enter")
        expect(specialist.get_by_role("button", name="Release ownership")).to_be_visible()
        assert runner.step(noon + timedelta(minutes=30, seconds=3)).mails == 0
        _deliver(world, sink)
        assert len(_oncall_mail(sink, BACKUP_AGENT)) == 1 and len(_oncall_mail(sink, STAFF)) == 1
