"""Every page fits a phone: Chromium at 390, 768 and 1280 px, on SQLite and PostgreSQL.

No page scrolls sideways (`document.documentElement.scrollWidth <= innerWidth`): a table
wider than the screen scrolls inside its own labelled box, lists become a card per ticket,
long words, addresses and URLs wrap. The main navigation stays on one line at 1280 px.
The pages are filled with what breaks layouts in life: a subject that is one long URL, a
German compound, a long address, a long error, a history with long details. The staff
pages are found through the staff hub, so a page added there is checked too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from queues.db import make_engine
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    AuditEvent,
    Blob,
    Contact,
    InboundMail,
    InboundState,
    OutboxMessage,
    OutboxState,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketState,
    User,
)
from queues.models import utcnow as now

from .conftest import PASSWORD, LiveServer

WIDTHS = (390, 768, 1280)
LONG_URL = "https://example.net/" + "very-long-path-segment/" * 8 + "?tracking=" + "x" * 60
LONG_WORD = "Rechtsschutzversicherungsgesellschaftenbeschwerdestelle"
EVERYDAY = "Harassment in the comments under every photo I post"
LONG_ADDRESS = "someone.with.a.really.long.address.for.testing@subdomain.example-provider.net"

# Runs in the page: how far the document reaches beyond the window, sideways.
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"
# Runs in the page: the elements that stick out of the window (for the failure message).
CULPRITS_JS = """
() => [...document.querySelectorAll('body *')]
  .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
  .filter((el) => !el.closest('.table-scroll, table.data, .visually-hidden, thead'))
  .slice(0, 5)
  .map((el) => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))
"""
# Runs in the page: for each word of an element's text, on how many lines it is drawn.
WORD_LINES_JS = """
(el) => {
  const text = el.firstChild;
  const out = [];
  const re = /\\S+/g;
  let m;
  while ((m = re.exec(text.data))) {
    const range = document.createRange();
    range.setStart(text, m.index);
    range.setEnd(text, m.index + m[0].length);
    const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    out.push([m[0], tops.size]);
  }
  return out;
}
"""
# Runs in the page: do these elements share a line (their boxes overlap vertically)?
ONE_LINE_JS = """
(selectors) => {
  const boxes = selectors.flatMap((s) => [...document.querySelectorAll(s)])
    .map((el) => el.getBoundingClientRect()).filter((r) => r.height > 0);
  const top = Math.max(...boxes.map((r) => r.top));
  const bottom = Math.min(...boxes.map((r) => r.bottom));
  return {count: boxes.length, shared: bottom - top};
}
"""
NAV_PARTS = [".brand", ".site-nav li", ".nav-search", ".sign-out"]


@dataclass(frozen=True)
class Crowded:
    """The numbers of the tickets made to break layouts."""

    url_subject: str
    word_subject: str
    everyday: str
    restricted: str


@pytest.fixture(scope="module")
def crowded(database_url: str, live_server: LiveServer) -> Crowded:
    engine = make_engine(database_url)
    try:
        with sessionmaker(bind=engine).begin() as session:
            return _crowd(session)
    finally:
        engine.dispose()


def _crowd(session: Any) -> Crowded:
    queues = {q.slug: q for q in session.scalars(select(Queue))}
    staff = session.scalars(select(User).where(User.role == Role.STAFF)).one()
    staff.name = "Samantha Staff-Coordinator-With-A-Long-Name"
    contact = Contact(email=LONG_ADDRESS, name="Maximiliane Mustermann-Überlänge")
    session.add(contact)
    session.flush()
    made = {}
    subjects = {
        "url": f"Look at this: {LONG_URL}",
        "word": f"{LONG_WORD} schreibt mir jeden Tag 4711471147114711471147114711",
        "everyday": EVERYDAY,
    }
    for i, (key, subject) in enumerate(subjects.items()):
        ticket = Ticket(
            number=f"2026120300{i:02d}",
            subject=subject,
            queue_id=queues["general-help"].id,
            requester_id=contact.id,
            state=TicketState.OPEN,
            priority=5,
            flagged=True,
            owner_id=staff.id,
            waiting_since=now(),
        )
        session.add(ticket)
        session.flush()
        made[key] = ticket
    ticket = made["url"]
    article = Article(
        ticket_id=ticket.id,
        kind=ArticleKind.INCOMING,
        from_email=LONG_ADDRESS,
        from_name=contact.name,
        to=[f"help-{'x' * 60}@example.org"],
        subject=ticket.subject,
        body_text=f"He keeps posting this: {LONG_URL}\n{LONG_WORD}\n" + "9" * 120,
        body_html=f"<p>{LONG_URL}</p>",
    )
    session.add(article)
    session.flush()
    data = b"evidence"
    digest = hashlib.sha256(data).hexdigest()
    session.add(Blob(sha256=digest, size=len(data), data=data))
    session.flush()  # no relationship orders the blob before its attachment
    session.add(
        Attachment(
            article_id=article.id,
            filename="screenshot-" + "of-the-harassing-message-" * 6 + ".png",
            content_type="image/png",
            size=len(data),
            sha256=digest,
        )
    )
    for kind in ("created", "routed", "owner", "note"):
        session.add(
            TicketEvent(
                ticket_id=ticket.id, actor=staff.email, kind=kind, detail=f"{kind}: {LONG_URL}"
            )
        )
    restricted = session.scalars(
        select(Ticket).where(Ticket.queue_id == queues["specialist-safety"].id)
    ).first()
    session.add(
        AuditEvent(
            actor=staff.email,
            action="view",
            ticket_id=restricted.id,
            client="2001:db8:1234:5678:9abc:def0:1234:5678",
            detail=LONG_URL,
        )
    )
    raw = b"Subject: stuck\r\n\r\nbody\r\n"
    session.add(
        InboundMail(
            source="imap:" + "a-very-long-mailbox-name/" * 4,
            envelope_from=LONG_ADDRESS,
            envelope_to=[f"help-{'y' * 60}@example.org"],
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
            state=InboundState.QUARANTINED,
            attempts=3,
            last_error="Traceback: " + "frame " * 40 + LONG_URL,
        )
    )
    session.add(
        OutboxMessage(
            ticket_id=ticket.id,
            kind="reply",
            message_id=f"{'z' * 80}@example.org",
            recipients=[LONG_ADDRESS],
            raw=raw,
            state=OutboxState.FAILED,
            attempts=1,
            last_error="550 5.1.1 " + LONG_URL,
        )
    )
    return Crowded(
        made["url"].number, made["word"].number, made["everyday"].number, restricted.number
    )


@pytest.fixture(scope="module")
def staff_pages(browser: Any, live_server: LiveServer) -> Iterator[dict[int, Page]]:
    """A signed-in staff member's browser tab at each width."""
    contexts = []
    pages = {}
    for width in WIDTHS:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill("#email", live_server.email(Role.STAFF))
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live_server.url}/")
        pages[width] = page
    yield pages
    for context in contexts:
        context.close()


def main_paths(crowded: Crowded) -> list[str]:
    number = crowded.url_subject
    return [
        "/",
        "/queues/general-help",
        "/queues/specialist-safety",
        "/mine",
        "/search?q=look",
        f"/search?q={LONG_WORD}",
        f"/tickets/{number}",
        f"/tickets/{number}?html={number}",
        f"/tickets/{number}/reply",
        f"/tickets/{crowded.word_subject}",
        "/password",
        "/staff",
        "/staff/users/new",
        f"/staff/tickets/{crowded.restricted}/audit",
        "/no-such-page",
    ]


def hub_paths(page: Page) -> list[str]:
    page.goto("/staff")
    links = page.eval_on_selector_all("ul.hub a", "els => els.map((a) => a.getAttribute('href'))")
    assert len(links) >= 5
    return [str(link) for link in links]


def assert_fits(page: Page, path: str, width: int) -> None:
    page.goto(path)
    overflow = page.evaluate(OVERFLOW_JS)
    assert overflow <= 0, (
        f"{path} at {width} px scrolls sideways by {overflow} px: {page.evaluate(CULPRITS_JS)}"
    )


def test_no_page_scrolls_sideways(staff_pages: dict[int, Page], crowded: Crowded) -> None:
    paths = main_paths(crowded) + hub_paths(staff_pages[1280])
    for width, page in staff_pages.items():
        for path in paths:
            assert_fits(page, path, width)


def test_signed_out_pages_fit(browser: Any, live_server: LiveServer) -> None:
    for width in WIDTHS:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": 800}
        )
        page = context.new_page()
        assert_fits(page, "/login", width)
        context.close()


def test_navigation_is_one_line_at_1280(staff_pages: dict[int, Page]) -> None:
    page = staff_pages[1280]
    for path in ("/", "/staff", "/staff/users"):
        page.goto(path)
        line = page.evaluate(ONE_LINE_JS, NAV_PARTS)
        # brand; Overview, My tickets, Dashboard, Rota, Staff, Your account; search; sign-out
        assert line["count"] == 1 + 6 + 2, line
        assert line["shared"] > 0, f"the navigation wraps on {path}"
    # A staff member who mentors has one entry more, "Reviews": still one line.
    page.evaluate(
        """() => { const li = document.querySelector('.site-nav li').cloneNode(true);
        li.querySelector('a').textContent = 'Reviews';
        document.querySelector('.site-nav ul').appendChild(li); }"""
    )
    assert page.evaluate(ONE_LINE_JS, NAV_PARTS)["shared"] > 0
    # A long address does not push the bar onto a second line either (it is cut short, in
    # full in its title).
    address = "maximiliane.mustermann-ueberlaenge@help.example.org"
    page.evaluate("(a) => { document.querySelector('.who .email').textContent = a; }", address)
    assert page.evaluate(ONE_LINE_JS, NAV_PARTS)["shared"] > 0
    assert page.get_attribute(".who .email", "title") == "staff@example.org"


def test_navigation_wraps_whole_pieces_on_a_phone(staff_pages: dict[int, Page]) -> None:
    page = staff_pages[390]
    page.goto("/")
    # Each entry stays one piece ("My tickets" is never split over two lines).
    heights = page.eval_on_selector_all(
        ".site-nav li a", "els => els.map((a) => a.getClientRects().length)"
    )
    assert heights and all(n == 1 for n in heights)


def test_lists_are_cards_on_a_phone_and_tables_on_a_laptop(
    staff_pages: dict[int, Page], crowded: Crowded
) -> None:
    for width, page in staff_pages.items():
        page.goto("/queues/general-help")
        rows = page.locator("table.tickets tbody tr")
        assert rows.count() >= 4
        display = rows.first.evaluate("(tr) => getComputedStyle(tr).display")
        if width == 1280:
            assert display == "table-row"
            # ...that fits a laptop's screen whole, long subjects and addresses included.
            for path in ("/queues/general-help", "/search?q=look", "/mine"):
                page.goto(path)
                box = page.locator(".table-scroll")
                assert box.evaluate("(el) => el.scrollWidth <= el.clientWidth"), path
            continue
        assert display == "flex", width
        assert page.locator("table.tickets thead").evaluate(
            "(el) => el.getBoundingClientRect().height <= 1"
        )
        for i in range(rows.count()):
            row = rows.nth(i)
            box = row.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            # The card starts with its subject link; number, state, priority, waiting follow.
            subject = row.locator("th.subject a").bounding_box()
            assert subject is not None
            for cell in ("td.number", "td.state", "td.priority", "td.waiting"):
                other = row.locator(cell).bounding_box()
                assert other is not None and other["y"] >= subject["y"] + subject["height"] - 1
            labels = row.locator("td.state").evaluate(
                "(td) => getComputedStyle(td, '::before').content"
            )
            assert "State" in labels


def test_subjects_wrap_between_words(staff_pages: dict[int, Page], crowded: Crowded) -> None:
    page = staff_pages[390]
    page.goto("/queues/general-help?sort=number&dir=asc")
    link = page.locator(f"th.subject a[href='/tickets/{crowded.everyday}']")
    words = link.evaluate(WORD_LINES_JS)
    assert [w for w, _ in words] == EVERYDAY.split()
    assert all(lines == 1 for _, lines in words), words  # no ordinary word is broken
    assert link.evaluate("(a) => a.getClientRects().length") > 1  # it did need several lines
    # A URL longer than the line is broken: the only way to keep it on the screen.
    url = page.locator(f"th.subject a[href='/tickets/{crowded.url_subject}']")
    assert dict(url.evaluate(WORD_LINES_JS))[LONG_URL] > 1


def test_subject_and_number_lead_to_the_ticket(
    staff_pages: dict[int, Page], crowded: Crowded
) -> None:
    page = staff_pages[1280]
    page.goto("/queues/general-help")
    row = page.locator("table.tickets tbody tr", has_text=EVERYDAY)
    assert row.locator("a").evaluate_all("els => els.map((a) => a.getAttribute('href'))") == [
        f"/tickets/{crowded.everyday}",
        f"/tickets/{crowded.everyday}",
    ]
    # One Tab stop per ticket: the subject.
    assert row.locator("td.number a").get_attribute("tabindex") == "-1"
    row.locator("th.subject a").click()
    page.wait_for_url(f"**/tickets/{crowded.everyday}")


def test_wide_tables_scroll_in_their_own_labelled_box(
    staff_pages: dict[int, Page], crowded: Crowded
) -> None:
    page = staff_pages[390]
    for path in ("/staff/mail/quarantine", "/staff/mail/outbox", "/staff/users", "/"):
        page.goto(path)
        boxes = page.locator(".table-scroll")
        assert boxes.count() >= 1, path
        for i in range(boxes.count()):
            box = boxes.nth(i)
            assert box.get_attribute("tabindex") == "0"
            assert box.get_attribute("role") == "region"
            caption = box.get_attribute("aria-labelledby")
            assert page.locator(f"#{caption}").count() == 1
    page.goto("/staff/mail/quarantine")
    box = page.locator(".table-scroll").first
    assert box.evaluate("(el) => el.scrollWidth > el.clientWidth")  # it does scroll
    box.focus()
    page.keyboard.press("ArrowRight")
    # By keyboard too (the scroll may be animated: wait for it to move).
    page.wait_for_function("(el) => el.scrollLeft > 0", arg=box.element_handle(), timeout=3000)
