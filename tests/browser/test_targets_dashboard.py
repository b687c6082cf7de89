"""Response targets and the dashboard in Chromium (issue 13), on SQLite and PostgreSQL.

An installation without tickets: the dashboard says so. Then reports arrive; a
specialist-safety ticket passes its one-hour first-response target under a controlled clock
(the breach check is called with `now`): its priority goes up, the specialist on duty (the
rota) and staff are told through the outbox without a word of the report, and the ticket's
page and history say so. The dashboard draws its charts (images that load under the site's
policy, no script) with a table for each; a volunteer's dashboard never counts
specialist-safety, in the page or in a CSV."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from waitress import create_server

from queues.accounts import hash_password
from queues.db import make_engine, make_sessionmaker
from queues.migrate import upgrade
from queues.models import OutboxMessage, Queue, Role, Ticket, User, utcnow
from queues.seed import seed_queues
from queues.settings import Settings
from queues.targets.breaches import check_breaches
from queues.team import rota
from webui import create_app

from .conftest import PASSWORD

SUBJECT = "He says he will wait for me outside school"


@dataclass
class Site:
    url: str
    factory: sessionmaker[Session]
    settings: Settings


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An installation of its own: queues and one agent per role, no tickets yet."""
    engine = make_engine(database_url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    password_hash = hash_password(PASSWORD)
    with factory.begin() as session:
        seed_queues(session)
        for role in Role:
            session.add(
                User(email=f"{role.value}@example.org", role=role, password_hash=password_hash)
            )
    var_dir = Path(tmp_path_factory.mktemp("targets-var"))
    settings = Settings(database_url=database_url, var_dir=var_dir, twofactor_required_roles=())
    app = create_app(settings=settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="switchboard")
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    yield Site(url, factory, Settings(database_url=database_url, var_dir=var_dir, web_base_url=url))
    server.close()
    thread.join(timeout=5)
    engine.dispose()


@pytest.fixture
def pages(browser: Any, site: Site) -> Iterator[Any]:
    problems: list[str] = []
    opened: list[Page] = []

    def open_page() -> Page:
        page = browser.new_context(base_url=site.url).new_page()

        def on_console(message: ConsoleMessage) -> None:
            # A refused resource is caught below by its response, where its URL is known.
            if message.type == "error" and not message.text.startswith("Failed to load"):
                problems.append(message.text)

        page.on("console", on_console)
        page.on(
            "response",
            lambda r: (
                None
                if r.status < 400 or r.url.endswith("/favicon.ico")
                else problems.append(f"{r.status} {r.url}")
            ),
        )
        page.on("request", lambda r: None if r.url.startswith(site.url) else problems.append(r.url))
        opened.append(page)
        return page

    yield open_page
    for page in opened:
        page.context.close()
    assert problems == [], problems


def sign_in(page: Page, role: Role) -> None:
    page.goto("/login")
    page.locator("#email").fill(f"{role.value}@example.org")
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def _reports_arrive(site: Site) -> tuple[str, Any]:
    """Three general-help tickets (one answered), one specialist-safety ticket that arrived
    two hours ago, and the specialist on duty today; returns the safety ticket's number
    and its arrival."""
    now = utcnow()
    with site.factory.begin() as s:
        queues = {q.slug: q for q in s.scalars(select(Queue))}
        staff = s.scalars(select(User).where(User.role == Role.STAFF)).one()
        specialist = s.scalars(select(User).where(User.role == Role.SPECIALIST)).one()
        for i in range(3):
            s.add(
                Ticket(
                    number=f"2026120500{i:02d}",
                    subject="rude messages",
                    queue=queues["general-help"],
                    created_at=now - timedelta(hours=5 + i),
                )
            )
        arrived = now - timedelta(hours=2)
        s.add(
            Ticket(
                number="202612050099",
                subject=SUBJECT,
                queue=queues["specialist-safety"],
                created_at=arrived,
                updated_at=arrived,
            )
        )
        # A whole-day shift on the day the check runs (an hour after the report arrived).
        day = (arrived + timedelta(hours=1, minutes=1)).date()
        spec = rota.ShiftSpec(
            queues["specialist-safety"].id, "All day", None, day, time(0), time(0), "UTC"
        )
        before = arrived - timedelta(days=1)
        shift = rota.define_shift(s, spec, staff, before)
        rota.sign_up(s, specialist, shift.id, rota.DUTY, day, before)
    return "202612050099", arrived


def test_breach_escalates_and_the_dashboard_counts_only_what_each_may_see(
    pages: Any, site: Site
) -> None:
    staff = pages()
    sign_in(staff, Role.STAFF)
    staff.get_by_role("link", name="Dashboard").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(staff.get_by_text("There are no tickets in your queues yet")).to_be_visible()
    expect(staff.locator("img.chart")).to_have_count(0)

    number, arrived = _reports_arrive(site)
    # The clock: one hour and a minute after the report arrived, the check runs.
    with site.factory.begin() as s:
        report = check_breaches(s, site.settings, arrived + timedelta(hours=1, minutes=1))
    assert report.numbers == [number]
    with site.factory() as s:
        mails = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "target-breach")).all()
        assert sorted(r for m in mails for r in m.recipients) == [
            "specialist@example.org",
            "staff@example.org",
        ]
        for mail in mails:
            raw = mail.raw.decode()
            assert number in raw and f"{site.url}/tickets/{number}" in raw
            assert "school" not in raw and "wait for me" not in raw

    specialist = pages()
    sign_in(specialist, Role.SPECIALIST)
    specialist.goto(f"/tickets/{number}")
    details = specialist.locator("section.ticket-details")
    expect(details).to_contain_text("4 high")
    expect(details).to_contain_text("First response due")
    expect(details).to_contain_text("target passed")
    history = specialist.locator("table.history")
    expect(history).to_contain_text(re.compile(r"target.breach", re.IGNORECASE))
    expect(history).to_contain_text("told 1 on duty and 1 staff")

    staff.reload()
    expect(staff.get_by_text("There are no tickets in your queues yet")).to_have_count(0)
    charts = staff.locator("img.chart")
    expect(charts.first).to_be_visible()
    widths = charts.evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert widths == [800] * 5, widths  # every chart drew (no escalations: no sixth chart)
    breaches = staff.locator("#fig-breaches table")
    expect(breaches.locator("caption")).to_have_text("Response targets passed: the numbers")
    expect(breaches.locator("tbody tr")).to_have_count(1)
    expect(breaches.locator("tbody tr")).to_contain_text("Specialist safety")
    backlog_rows = staff.locator("#fig-backlog tbody tr")
    expect(backlog_rows.filter(has_text="Specialist safety")).to_have_count(1)

    volunteer = pages()
    sign_in(volunteer, Role.VOLUNTEER)
    volunteer.goto("/dashboard")
    expect(volunteer.locator("main")).not_to_contain_text("Specialist safety")
    expect(volunteer.locator("#fig-breaches")).to_contain_text(
        "No response target was passed in the last twelve weeks."
    )
    rows = volunteer.locator("#fig-backlog tbody tr")
    expect(rows).to_have_count(rows.filter(has_text="General help").count())
    csv_text = volunteer.request.get(f"{site.url}/dashboard/tickets-in.csv").text()
    assert "General help" in csv_text and "Specialist safety" not in csv_text
    svg = volunteer.request.get(f"{site.url}/dashboard/backlog.svg").text()
    assert "Specialist safety" not in svg and "<script" not in svg
