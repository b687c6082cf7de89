"""A report to police in a real browser, on SQLite and PostgreSQL: a specialist asks for it
on a ticket that came in as mail, staff A reviews and approves, staff B confirms (each
typing the password again), the outbox delivers the referral to a real SMTP server, the
partner decrypts the package with its own key and checks it with `sha256sum -c` and
`gpg --verify` (outside our code), and the partner's reply threads into the case.
Everything is done with the keyboard and the mouse only, without JavaScript of ours."""

from __future__ import annotations

import email
import email.policy
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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
from queues.liaison import countries, partners
from queues.liaison.evidence.keys import ensure_org_key, public_key
from queues.liaison.models import LiaisonCase, PolicyKind
from queues.models import Article, Role, Ticket, User
from queues.settings import Settings
from tests.integration.relay_sink import RelaySink
from tests.unit.queues.liaison.keyring import (
    PartnerKey,
    check_outside,
    decrypt,
    make_partner_key,
    short_tempdir,
    stop,
)
from tests.unit.queues.liaison.world import raw_report
from webui import create_app

from .conftest import PASSWORD, LiveServer, _fill
from .test_reply_journey import new_page

PARTNER = "referrals@police.example"
STAFF_B = "staff-b@example.org"


@dataclass(frozen=True)
class Liaison:
    server: LiveServer
    settings: Settings
    factory: sessionmaker[Session]
    partner_key: PartnerKey


@pytest.fixture(scope="module")
def liaison(database_url: str) -> Iterator[Liaison]:
    """The app as `switchboard web` runs it, with the organisation's signing key (as
    `switchboard init` makes it), a partner force with a real key, and a second staff member."""
    org_home, key = short_tempdir("sb-org-"), make_partner_key()
    settings = Settings(
        database_url=database_url,
        var_dir=Path(short_tempdir("sb-var-")),
        gnupg_home=str(org_home),
        addresses={"help@localhost": "general-help", "police@localhost": "police-liaison"},
        twofactor_required_roles=(),  # two-factor has its own journey (test_team_journey)
    )
    ensure_org_key(settings)
    engine = make_engine(database_url)
    tickets = _fill(engine)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)
    with factory.begin() as session:
        staff = User(email=STAFF_B, role=Role.STAFF, password_hash=_password_hash(session))
        session.add(staff)
        session.flush()
        countries.set_policy(session, "DE", PolicyKind.PARTNER, "", staff, now)
        partners.save_partner(
            session,
            None,
            partners.PartnerInput(
                name="Test Police Cybercrime",
                countries=["DE"],
                referral_addresses=[PARTNER],
                report_url="https://police.example/report",
                public_key=key.armored,
                languages=["en"],
            ),
            staff,
            now,
        )
    app = create_app(settings=settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="switchboard")
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield Liaison(
        LiveServer(f"http://127.0.0.1:{server.effective_port}", tickets), settings, factory, key
    )
    server.close()
    thread.join(timeout=5)
    engine.dispose()
    stop(org_home)
    stop(key.home)


def _password_hash(session: Session) -> str:
    """The browser agents' hash (argon2 is slow: reuse the one _fill made)."""
    return session.scalars(
        select(User.password_hash).where(User.email == "staff@example.org")
    ).one()


@pytest.fixture
def pages(browser: Any, liaison: Liaison) -> Iterator[Any]:
    problems: list[str] = []
    opened: list[Page] = []

    class Opener:
        def open(self) -> Page:
            page = new_page(browser, liaison.server, problems)
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


def test_report_to_police_four_eyes_referral_and_the_partners_reply(
    pages: Any, liaison: Liaison, tmp_path: Path
) -> None:
    raw = raw_report(f"journey-{uuid.uuid4().hex}@example.net", "He says he will find me")
    outcome = ingest_bytes(liaison.factory, raw, liaison.settings, parse_message, source="browser")
    assert outcome.kind == "new" and outcome.ticket_number is not None
    number = outcome.ticket_number

    # The specialist asks for the report on the ticket.
    specialist: Page = pages.open()
    sign_in(specialist, "specialist@example.org")
    specialist.goto(f"/tickets/{number}")
    specialist.get_by_role("link", name="Report to police").click()
    expect(specialist.get_by_role("heading", level=1)).to_have_text(
        f"Report to police: ticket {number}"
    )
    specialist.get_by_label("What happened").fill(
        "darkstar99 threatens to find her; his messages come from a German provider."
    )
    expect(specialist.get_by_label("He says he will find me")).to_be_checked()  # the evidence
    specialist.locator("#id-value-1").fill("darkstar99")
    specialist.locator("#id-kind-2").select_option("ip")
    specialist.locator("#id-value-2").fill("81.2.69.160")
    specialist.locator("#id-seen-2").fill("2026-12-01T21:15")
    specialist.get_by_label("Country", exact=True).select_option(label="Germany")
    specialist.get_by_label("IP evidence").check()
    specialist.get_by_label("The reporter's country").select_option(label="France")
    specialist.get_by_label("serious").check()
    specialist.get_by_label("given").check()
    specialist.get_by_role("button", name="Ask staff to report to police").press("Enter")
    expect(specialist).to_have_url(f"{liaison.server.url}/tickets/{number}")
    expect(specialist.locator(".police-status")).to_have_text("requested")

    with liaison.factory() as session:
        case = session.scalars(select(LiaisonCase)).one()
        case_id = case.id
        case_number = session.get_one(Ticket, case.ticket_id).number
    # The specialist never sees the case ticket's number.
    assert case_number not in specialist.content()

    # Staff A: review, choose the partner, approve with the password.
    staff_a: Page = pages.open()
    sign_in(staff_a, "staff@example.org")
    staff_a.goto("/liaison/")
    staff_a.get_by_role("link", name=case_number).click()
    expect(staff_a.get_by_role("heading", level=1)).to_have_text(f"Police referral {case_number}")
    staff_a.get_by_role("button", name="Start the review").click()
    expect(staff_a.get_by_role("status").first).to_contain_text("You are reviewing this case")
    staff_a.get_by_label("Test Police Cybercrime").check()
    staff_a.get_by_role("button", name="Choose this partner").click()
    expect(staff_a.get_by_role("status").first).to_contain_text("Test Police Cybercrime")
    # Without the password nothing happens (the browser's own check is bypassed here).
    staff_a.locator("#approve-password").evaluate("e => e.removeAttribute('required')")
    staff_a.get_by_role("button", name="Approve the referral").click()
    expect(staff_a.get_by_role("status").first).to_contain_text("Enter your password")
    staff_a.get_by_label("Your password, to approve").fill(PASSWORD)
    staff_a.get_by_label("Your password, to approve").press("Enter")
    expect(staff_a.get_by_role("status").first).to_contain_text("You approved the referral")
    # The approver cannot also confirm.
    expect(staff_a.get_by_text("You approved this case: a different staff member")).to_be_visible()

    # Staff B confirms with the password: the referral is queued.
    staff_b: Page = pages.open()
    sign_in(staff_b, STAFF_B)
    staff_b.goto(f"/liaison/cases/{case_id}")
    staff_b.get_by_label("Your password, to confirm").fill(PASSWORD)
    staff_b.get_by_role("button", name="Confirm and send").click()
    expect(staff_b.get_by_role("status").first).to_contain_text("the referral is queued")
    expect(staff_b.locator(".case-state")).to_have_text("sent")

    specialist.reload()
    expect(specialist.locator(".police-status")).to_have_text("sent")

    # The outbox delivers it to a real SMTP server.
    with RelaySink() as sink:
        relay = Settings(
            database_url=liaison.settings.database_url,
            var_dir=tmp_path,
            relay_host="127.0.0.1",
            relay_port=sink.port,
        )
        OutboxRunner(liaison.factory, relay).run_once()
        [delivered] = sink.received_by(PARTNER)
        notices = [m for m in sink.received_by("rita@example.net") if b"Germany" in m.content]
    message = email.message_from_bytes(delivered.content, policy=email.policy.default)
    assert f"[Ticket#{case_number}]" in str(message["Subject"])
    [attachment] = list(message.iter_attachments())
    encrypted = attachment.get_payload(decode=True)
    assert b"darkstar99" not in delivered.content  # the evidence travels only encrypted
    package = decrypt(liaison.partner_key, encrypted)
    files = check_outside(package, public_key(liaison.settings), tmp_path / "package")
    assert files["raw/001.eml"] == raw
    assert len(notices) == 1 and b"https://police.example/report" in notices[0].content

    # The partner answers the referral: the reply threads into the case.
    reply = (
        f"From: Test Police <{PARTNER}>\r\n"
        "To: police@localhost\r\n"
        f"Subject: Re: {message['Subject']}\r\n"
        f"In-Reply-To: {message['Message-ID']}\r\n"
        f"References: {message['Message-ID']}\r\n"
        f"Message-ID: <reply-{uuid.uuid4().hex}@police.example>\r\n"
        "Date: Thu, 03 Dec 2026 09:00:00 +0000\r\n"
        "\r\n"
        "Received, an investigation is open under file 4711.\r\n"
    ).encode()
    answer = ingest_bytes(liaison.factory, reply, liaison.settings, parse_message, source="smtp")
    assert (answer.kind, answer.ticket_number) == ("followup", case_number)
    staff_a.goto(f"/tickets/{case_number}")
    expect(staff_a.get_by_text("an investigation is open under file 4711")).to_be_visible()
    with liaison.factory() as session:
        bodies = session.scalars(
            select(Article.body_text).join(Ticket).where(Ticket.number == number)
        )
        assert not any("4711" in b for b in bodies)  # not in the reporter's ticket
