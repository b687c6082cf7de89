"""The ticket page, the sandboxed HTML of a message, and attachment downloads.

Thread order and labels, text by default and HTML only on request, the strict headers of
the message document and of downloads, safe download names, parts of another ticket as
404, audit events for restricted tickets, and the notice on a merged ticket.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues.ingest import ingest_bytes
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    AuditEvent,
    Blob,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
)
from queues.settings import Settings
from webui.downloads import content_disposition, safe_download_name
from webui.mailhtml import image_type, sanitize
from webui.security import CONTENT_SECURITY_POLICY
from webui.tickets import MESSAGE_POLICY

from .conftest import Auth

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HOSTILE_HTML = """
<meta http-equiv="refresh" content="0;url=http://evil.example/">
<base href="http://evil.example/">
<script>window.pwned = 1</script>
<p onclick="steal()">Dear <b>helpers</b>, <a href="javascript:alert(1)">click</a>
<a href="http://evil.example/track">link</a></p>
<img src="http://evil.example/pixel.gif" onerror="alert(1)">
<img src="cid:logo@example.net" alt="logo">
<div style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</div>
<p style="color:red;background:url(http://evil.example/bg.png)">styled</p>
<style>@import url(http://evil.example/x.css);</style>
<svg onload="alert(1)"><script>alert(2)</script></svg>
<form action="http://evil.example/"><input name="password"></form>
<iframe src="http://evil.example/"></iframe>
"""


@dataclass
class Built:
    number: str
    ticket_id: int
    articles: dict[str, int] = field(default_factory=dict)  # kind value -> id
    attachments: dict[str, int] = field(default_factory=dict)  # file name -> id


def _blob(session: Session, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if session.get(Blob, digest) is None:
        session.add(Blob(sha256=digest, size=len(data), data=data))
        session.flush()
    return digest


def build(
    factory: sessionmaker[Session],
    number: str,
    slug: str = "general-help",
    files: tuple[tuple[str, str, bytes, str | None], ...] = (),
    html: str | None = HOSTILE_HTML,
    **ticket_fields: object,
) -> Built:
    """A ticket with one article of each kind (incoming first) and the given attachments."""
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == slug)).one()
        ticket = Ticket(
            number=number,
            subject=f"Help with {number}",
            queue_id=queue.id,
            **ticket_fields,
        )
        session.add(ticket)
        session.flush()
        built = Built(number, ticket.id)
        kinds = [
            (ArticleKind.INCOMING, "Alice <b>Example</b>", "alice@example.net", "Body <i>one</i>"),
            (ArticleKind.AUTO, "", "help@example.org", "We got your message."),
            (ArticleKind.NOTE, "Vol Unteer", "volunteer@example.org", "Checked the profile."),
            (ArticleKind.OUTGOING, "", "help@example.org", "Here is what you can do."),
        ]
        for i, (kind, name, email, body) in enumerate(kinds):
            article = Article(
                ticket_id=ticket.id,
                kind=kind,
                from_name=name,
                from_email=email,
                to=["help@example.org"] if kind is ArticleKind.INCOMING else [],
                cc=["friend@example.net"] if kind is ArticleKind.INCOMING else [],
                subject=f"{kind.value} subject",
                body_text=body,
                body_html=html if kind is ArticleKind.INCOMING else None,
                date=start + timedelta(minutes=i),
            )
            session.add(article)
            session.flush()
            built.articles[kind.value] = article.id
        for name, content_type, data, cid in files:
            attachment = Attachment(
                article_id=built.articles["incoming"],
                filename=name,
                content_type=content_type,
                size=len(data),
                sha256=_blob(session, data),
                content_id=cid,
                inline=cid is not None,
            )
            session.add(attachment)
            session.flush()
            built.attachments[name] = attachment.id
        session.add(TicketEvent(ticket_id=ticket.id, kind="routed", detail="to general help"))
    return built


def audit(factory: sessionmaker[Session], ticket_id: int) -> list[tuple[str, str, str]]:
    with factory() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.ticket_id == ticket_id).order_by(AuditEvent.id)
        )
        return [(e.actor, e.action, e.detail) for e in rows]


def test_thread_in_order_with_labels_and_headers(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    built = build(factory, "2026110001", flagged=True, triage_reasons=["threat of harm"])
    auth.as_role(Role.VOLUNTEER)
    response = client.get("/tickets/2026110001")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    labels = ["Incoming mail", "Automatic mail", "Internal note", "Reply sent"]
    positions = [page.index(f">{label}</span>") for label in labels]
    assert positions == sorted(positions)
    ids = [int(i) for i in re.findall(r'<article id="article-(\d+)"', page)]
    assert ids == sorted(built.articles.values())
    assert "Alice &lt;b&gt;Example&lt;/b&gt;" in page  # names are escaped, never markup
    assert "&lt;alice@example.net&gt;" in page
    assert "friend@example.net" in page and "2026-11-20 09:00 UTC" in page
    assert "incoming subject" in page and "Help with 2026110001" in page
    assert "threat of harm" in page and 'id="triage-heading"' in page
    assert "Routed" in page and "to general help" in page  # the history, in words
    assert "Audit log of this ticket" not in page  # staff only


def test_text_by_default_html_only_on_request(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    built = build(factory, "2026110002")
    incoming = built.articles["incoming"]
    auth.as_role(Role.VOLUNTEER)
    response = client.get("/tickets/2026110002")
    page = response.get_data(as_text=True)
    assert '<pre class="mail-text">Body &lt;i&gt;one&lt;/i&gt;</pre>' in page
    assert "<iframe" not in page
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert f"/tickets/2026110002?html={incoming}#article-{incoming}" in page
    assert "<script" not in page and "evil.example" not in page

    shown = client.get(f"/tickets/2026110002?html={incoming}")
    page = shown.get_data(as_text=True)
    src = f"/tickets/2026110002/articles/{incoming}/html"
    assert f'<iframe class="mail-html" sandbox src="{src}"' in page
    assert shown.headers["Content-Security-Policy"].endswith("; frame-src 'self'")
    # The page itself stays unframeable; only the message document may be framed, by us.
    assert "frame-ancestors 'none'" in shown.headers["Content-Security-Policy"]
    assert shown.headers["X-Frame-Options"] == "DENY"
    assert "Show the text instead" in page
    # Junk and articles without HTML are ignored.
    page = client.get(f"/tickets/2026110002?html=x&html={built.articles['note']}").text
    assert "<iframe" not in page


def test_message_html_document_is_inert_with_strict_headers(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    built = build(
        factory,
        "2026110003",
        files=(("logo.png", "image/svg+xml", PNG, "logo@example.net"),),
    )
    auth.as_role(Role.VOLUNTEER)
    response = client.get(f"/tickets/2026110003/articles/{built.articles['incoming']}/html")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == MESSAGE_POLICY
    parts = [d.strip() for d in MESSAGE_POLICY.split(";")]
    directives = dict(d.split(" ", 1) for d in parts if " " in d)
    assert directives["default-src"] == "'none'" and directives["img-src"] == "data:"
    assert MESSAGE_POLICY.endswith("; sandbox") and "script" not in MESSAGE_POLICY
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True).lower()
    for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "evil.example"):
        assert bad not in body, bad
    for bad in ("<meta http-equiv", "<base", "<form", "<input", "<iframe", "<svg", "position"):
        assert bad not in body, bad
    assert "href=" not in body  # no links at all inside the frame
    # The inline image is there, as a data: URL typed by its bytes (PNG, not the claimed SVG).
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode().lower()}"' in body
    assert "dear <b>helpers</b>" in body


def test_article_without_html_is_404(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    built = build(factory, "2026110004")
    auth.as_role(Role.VOLUNTEER)
    note = built.articles["note"]
    assert client.get(f"/tickets/2026110004/articles/{note}/html").status_code == 404


def test_parts_of_another_ticket_are_404(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    mine = build(factory, "2026110005", files=(("a.txt", "text/plain", b"mine", None),))
    other = build(factory, "2026110006", files=(("b.txt", "text/plain", b"other", None),))
    hidden = build(
        factory,
        "2026110007",
        slug="specialist-safety",
        files=(("c.txt", "text/plain", b"hidden", None),),
    )
    auth.as_role(Role.VOLUNTEER)
    missing_page = client.get("/no-such-page").get_data(as_text=True)
    assert client.get(f"/tickets/2026110005/attachments/{mine.attachments['a.txt']}").status_code
    urls = [
        f"/tickets/2026110005/articles/{other.articles['incoming']}/html",
        f"/tickets/2026110005/attachments/{other.attachments['b.txt']}",
        f"/tickets/2026110005/attachments/{hidden.attachments['c.txt']}",
        f"/tickets/2026110007/attachments/{hidden.attachments['c.txt']}",
        f"/tickets/2026110007/articles/{hidden.articles['incoming']}/html",
        "/tickets/2026110007",
        f"/tickets/2026110005/attachments/{10**9}",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.get_data(as_text=True) == missing_page, url


@pytest.mark.parametrize(
    ("stored", "plain", "utf8"),
    [
        ("report.pdf", "report.pdf", None),
        ("../../etc/passwd", "passwd", None),
        ("C:\\Users\\x\\evil.bat", "evil.bat", None),
        ("a\r\nX-Injected: 1.txt", "aX-Injected_ 1.txt", None),
        ('quote"; filename="evil.html', "quote__ filename=_evil.html", None),
        ("invoice\u202efdp.exe", "invoicefdp.exe", None),
        (
            "Bericht für die Polizei.pdf",
            "Bericht fur die Polizei.pdf",
            "Bericht für die Polizei.pdf",
        ),
        ("\x00\x1f", "attachment-N.bin", None),
        ("..", "attachment-N.bin", None),
        ("日本語.txt", "___.txt", "日本語.txt"),
    ],
)
def test_download_names_are_safe(stored: str, plain: str, utf8: str | None) -> None:
    header = content_disposition(stored, "attachment-N.bin")
    found = re.fullmatch(r'attachment; filename="([^"\\\x00-\x1f\x7f]*)"(?:; (.*))?', header)
    assert found, header
    assert found.group(1) == plain
    star = found.group(2)
    if utf8 is None:
        assert star is None
    else:
        assert star is not None and star.startswith("filename*=UTF-8''")
        assert re.fullmatch(r"[A-Za-z0-9!#$&+\-.^_`|~%]*", star.split("''", 1)[1])
        assert unquote(star.split("''", 1)[1]) == utf8
    assert safe_download_name(stored, "x.bin") == (utf8 or plain).replace("attachment-N", "x")


def test_download_headers_and_content(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    built = build(
        factory,
        "2026110008",
        files=(
            ("../page.html", "text/html", b"<script>alert(1)</script>", None),
            ("drawing.svg", "image/svg+xml", svg, None),
            ("Grüße\u202e.txt", "text/plain", b"hello", None),
        ),
    )
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/tickets/2026110008").get_data(as_text=True)
    assert "<bdi>page.html</bdi>" in page and "<bdi>Grüße.txt</bdi>" in page
    for name, data in (("../page.html", None), ("drawing.svg", svg)):
        response = client.get(f"/tickets/2026110008/attachments/{built.attachments[name]}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"].startswith("attachment; ")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response.headers["Cache-Control"] == "no-store"
        if data is not None:
            assert response.data == data
    response = client.get(f"/tickets/2026110008/attachments/{built.attachments['../page.html']}")
    assert response.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    greeting = built.attachments["Grüße\u202e.txt"]
    response = client.get(f"/tickets/2026110008/attachments/{greeting}")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Gru_e.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt"
    )


def test_restricted_views_and_downloads_are_audited(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    open_ticket = build(factory, "2026110009", files=(("a.txt", "text/plain", b"a", None),))
    secret = build(
        factory,
        "2026110010",
        slug="specialist-safety",
        files=(("b.txt", "text/plain", b"b", None),),
    )
    auth.as_role(Role.SPECIALIST)
    for built in (open_ticket, secret):
        base = f"/tickets/{built.number}"
        assert client.get(base).status_code == 200
        assert client.get(f"{base}/articles/{built.articles['incoming']}/html").status_code == 200
        attachment_id = next(iter(built.attachments.values()))
        assert client.get(f"{base}/attachments/{attachment_id}").status_code == 200
    assert audit(factory, open_ticket.ticket_id) == []
    who = "specialist@example.org"
    assert audit(factory, secret.ticket_id) == [
        (who, "view", ""),
        (who, "view", f"article {secret.articles['incoming']} html"),
        (who, "download", f"attachment {secret.attachments['b.txt']}"),
    ]
    # A part that is not the ticket's is a 404 and leaves no audit event.
    client.get(f"/tickets/2026110010/attachments/{open_ticket.attachments['a.txt']}")
    assert len(audit(factory, secret.ticket_id)) == 3


def test_merged_ticket_shows_where_it_went(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    target = build(factory, "2026110011")
    source = build(factory, "2026110012", merged_into_id=target.ticket_id)
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/tickets/2026110012").get_data(as_text=True)
    assert 'class="notice merged-notice"' in page
    assert 'This ticket was merged into <a href="/tickets/2026110011">ticket 2026110011</a>' in page
    page = client.get("/tickets/2026110011").get_data(as_text=True)
    assert '<a href="/tickets/2026110012">Ticket 2026110012</a>' in page
    assert "merged into this ticket" in page and "merged-notice" not in page
    assert source.ticket_id != target.ticket_id


def test_links_to_hidden_tickets_are_not_shown(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    visible = build(factory, "2026110013")
    other = build(factory, "2026110014")
    hidden = build(factory, "2026110015", slug="specialist-safety")
    with factory.begin() as session:
        session.add(TicketLink(source_id=visible.ticket_id, target_id=other.ticket_id))
        session.add(
            TicketLink(
                source_id=hidden.ticket_id, target_id=visible.ticket_id, kind="quoted-number"
            )
        )
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/tickets/2026110013").get_data(as_text=True)
    assert "Ticket 2026110014" in page and "(related)" in page
    assert "2026110015" not in page and "quoted" not in page
    auth.as_role(Role.STAFF)
    page = client.get("/tickets/2026110013").get_data(as_text=True)
    assert "Ticket 2026110015" in page and "quoted this ticket&#39;s number" in page
    assert 'href="/staff/tickets/2026110013/audit"' in page


def test_sanitizer_keeps_whitelisted_images_only() -> None:
    gif = b"GIF89a" + b"\x00" * 10
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8 "
    assert [image_type(d) for d in (PNG, gif, webp, b"<svg/>", b"\xff\xd8\xff\xe0")] == [
        "image/png",
        "image/gif",
        "image/webp",
        None,
        "image/jpeg",
    ]
    svg_as_png = base64.b64encode(b"<svg onload=alert(1)>").decode()
    html = (
        f'<img src="data:image/png;base64,{svg_as_png}">'
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">'
        '<img src="CID:%3Cpic%40x%3E"><img src="cid:unknown">'
        '<p style="color: red">red</p><p style="color: rgb(1,2,3) /* */; font-weight: bold">b</p>'
        '<p style="font-family: \\75 rl(x)">escaped</p>'
    )
    out = sanitize(html, {"pic@x": PNG})
    assert out.count("data:") == 1 and "data:image/png" in out
    assert '<p style="color:red">' in out and "escaped" in out and "\\75" not in out


def test_hostile_mail_through_the_real_parser_renders_harmless(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient, tmp_path: Path
) -> None:
    raw = (
        "From: Harasser <h@evil.example>\r\n"
        "To: help@example.org\r\n"
        "Subject: <script>alert(1)</script>\r\n"
        "Message-ID: <hostile-1@evil.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"{HOSTILE_HTML}\r\n"
        "--b\r\nContent-Type: text/html\r\n"
        'Content-Disposition: attachment; filename="../../\u202eexe.html"\r\n\r\n'
        "<script>alert(1)</script>\r\n--b--\r\n"
    ).encode()
    settings = Settings(
        var_dir=tmp_path / "var",
        addresses={"help@example.org": "general-help"},
        database_url="sqlite://",
    )
    outcome = ingest_bytes(factory, raw, settings, parse_message, source="test")
    assert outcome.kind == "new" and outcome.ticket_number is not None
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        article = ticket.articles[0]
        attachment_id = article.attachments[0].id
        article_id = article.id
    auth.as_role(Role.VOLUNTEER)
    base = f"/tickets/{outcome.ticket_number}"
    page = client.get(base).get_data(as_text=True).lower()
    assert "<script" not in page and " onerror" not in page
    # The text view names the link's address as text, never as something to load or follow.
    assert "link (http://evil.example/track)" in page
    assert not re.search(r"(src|href|action)=\S*evil", page)
    html = client.get(f"{base}/articles/{article_id}/html").get_data(as_text=True).lower()
    assert "<script" not in html and "evil.example" not in html and "href" not in html
    response = client.get(f"{base}/attachments/{attachment_id}")
    assert response.headers["Content-Type"] == "application/octet-stream"
    disposition = response.headers["Content-Disposition"]
    assert "/" not in disposition and "\u202e" not in unquote(disposition)


def test_ticket_page_has_no_inline_script_style_or_foreign_url(
    factory: sessionmaker[Session], auth: Auth, client: FlaskClient
) -> None:
    built = build(factory, "2026110016", files=(("a.txt", "text/plain", b"a", None),))
    auth.as_role(Role.STAFF)
    for url in ("/tickets/2026110016", f"/tickets/2026110016?html={built.articles['incoming']}"):
        html = client.get(url).get_data(as_text=True).lower()
        assert "<script" not in html and "<style" not in html and " style=" not in html
        assert not re.search(r"\son[a-z]+\s*=", html)  # no event handler attributes
        assert "http://" not in html and "https://" not in html  # nothing from other sites
        assert html.count("<h1") == 1 and 'aria-label="on this page"' in html
