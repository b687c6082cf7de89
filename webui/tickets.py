"""The `tickets` blueprint: a ticket's page, its messages' HTML in a sandbox, its attachments.

Every view fetches the ticket through webui.need_to_know.ticket_or_404: a ticket in a queue
the agent cannot see is a 404 like one that does not exist, and each view of a restricted
ticket is audited (downloads as "download"). An article or attachment named in the URL must
belong to that ticket, else 404, so no URL reaches into another ticket.

Hostile mail stays harmless: the thread shows each message's text, escaped; the HTML is shown
only when the agent asks, in an `<iframe sandbox>` whose document (webui.mailhtml) has its
own Content-Security-Policy with `sandbox` and no scripts, loads nothing from the network
and is the only page of this site that may be framed (by this site only). Attachments
always download (webui.downloads), never render on our origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import Blueprint, Response, abort, make_response, render_template, request, url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from queues.access import visible_tickets
from queues.audit import AuditAction
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    Blob,
    OutboxMessage,
    OutboxState,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    User,
)
from webui import db, downloads, mailhtml, timefmt
from webui.labels import priority_label
from webui.login import agent
from webui.need_to_know import ticket_or_404
from webui.security import CONTENT_SECURITY_POLICY

bp = Blueprint("tickets", __name__, url_prefix="/tickets")

# The ticket page may frame this site's message documents, nothing else.
FRAMING_POLICY = f"{CONTENT_SECURITY_POLICY}; frame-src 'self'"
# A message's HTML: no scripts (sandbox without allow-scripts), no forms, no plugins, no
# network (images are inlined as data: URLs), framed only by this site.
MESSAGE_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)
MAX_HTML_SHOWN = 20  # article ids taken from ?html=...

KIND_LABELS = {
    ArticleKind.INCOMING: "Incoming mail",
    ArticleKind.OUTGOING: "Reply sent",
    ArticleKind.AUTO: "Automatic mail",
    ArticleKind.NOTE: "Internal note",
}
DELIVERY_LABELS = {
    OutboxState.QUEUED: "waiting to be sent",
    OutboxState.SENDING: "being sent",
    OutboxState.SENT: "sent",
    OutboxState.FAILED: "delivery failed",
}


@dataclass(frozen=True)
class Link:
    """Another ticket the agent may see, and how it relates to this one."""

    ticket: Ticket
    label: str


@dataclass
class ThreadEntry:
    """One article with what the page shows about it."""

    article: Article
    label: str
    delivery: str | None = None
    show_html: bool = False
    toggle_args: dict[str, list[int]] = field(default_factory=dict)


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def file_name(attachment: Attachment) -> str:
    """The name shown for an attachment: the one its download will carry."""
    return downloads.safe_download_name(attachment.filename, f"attachment-{attachment.id}.bin")


def _requested_html(available: Iterable[int]) -> list[int]:
    """Article ids the agent asked to see as HTML (?html=ID, repeatable) that have HTML."""
    have = set(available)
    wanted: list[int] = []
    for value in request.args.getlist("html")[:MAX_HTML_SHOWN]:
        if value.isdigit() and int(value) in have and int(value) not in wanted:
            wanted.append(int(value))
    return wanted


def _thread(ticket: Ticket) -> list[ThreadEntry]:
    session = db.session()
    articles = list(
        session.scalars(
            select(Article)
            .where(Article.ticket_id == ticket.id)
            .order_by(Article.id)
            .options(selectinload(Article.attachments))
        )
    )
    delivery: dict[int, OutboxState] = {}
    sent = [a.id for a in articles if a.kind in (ArticleKind.OUTGOING, ArticleKind.AUTO)]
    if sent:
        rows = session.execute(
            select(OutboxMessage.article_id, OutboxMessage.state).where(
                OutboxMessage.article_id.in_(sent)
            )
        )
        delivery = {article_id: state for article_id, state in rows if article_id is not None}
    shown = _requested_html(a.id for a in articles if a.body_html)
    entries = []
    for article in articles:
        state = delivery.get(article.id)
        on = article.id in shown
        toggled = [i for i in shown if i != article.id] if on else [*shown, article.id]
        entries.append(
            ThreadEntry(
                article=article,
                label=KIND_LABELS.get(article.kind, article.kind.value),
                delivery=DELIVERY_LABELS.get(state) if state is not None else None,
                show_html=on,
                toggle_args={"html": toggled} if toggled else {},
            )
        )
    return entries


def _links(ticket: Ticket, me: User) -> list[Link]:
    """Linked and merged tickets the agent may see; hidden ones are not mentioned at all."""
    session = db.session()
    rows = list(
        session.scalars(
            select(TicketLink).where(
                or_(TicketLink.source_id == ticket.id, TicketLink.target_id == ticket.id)
            )
        )
    )
    merged_in = list(
        session.scalars(
            visible_tickets(me).where(Ticket.merged_into_id == ticket.id).order_by(Ticket.id)
        )
    )
    other_ids = {r.target_id if r.source_id == ticket.id else r.source_id for r in rows}
    visible: dict[int, Ticket] = {}
    if other_ids:
        stmt = visible_tickets(me).where(Ticket.id.in_(other_ids))
        visible = {t.id: t for t in session.scalars(stmt)}
    links = []
    for row in sorted(rows, key=lambda r: r.id):
        outgoing = row.source_id == ticket.id
        other = visible.get(row.target_id if outgoing else row.source_id)
        if other is None:
            continue
        if row.kind == "quoted-number":
            label = (
                "its sender quoted this ticket's number in a new message"
                if not outgoing
                else "this ticket's sender quoted its number"
            )
        else:
            label = row.kind.replace("-", " ")
        links.append(Link(other, label))
    links += [Link(t, "merged into this ticket") for t in merged_in]
    return links


def _merged_into(ticket: Ticket, me: User) -> Ticket | None:
    if ticket.merged_into_id is None:
        return None
    stmt = visible_tickets(me).where(Ticket.id == ticket.merged_into_id)
    return db.session().scalar(stmt)


def ticket_url(number: str) -> str:
    """The address of a ticket's page, for links and redirects from the other blueprints."""
    return url_for("tickets.view", number=number)


@bp.route("/<number>")
def view(number: str) -> Response:
    ticket = ticket_or_404(number)
    me = agent().user
    session = db.session()
    thread = _thread(ticket)
    events = list(
        session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    )
    owner = session.get(User, ticket.owner_id) if ticket.owner_id is not None else None
    page = render_template(
        "webui/tickets/view.html",
        ticket=ticket,
        me=me,
        thread=thread,
        events=events,
        links=_links(ticket, me),
        merged_into=_merged_into(ticket, me),
        owner=owner,
        waiting_for=timefmt.since(ticket.waiting_since) if ticket.waiting_since else None,
        priority_label=priority_label,
        human_size=human_size,
        file_name=file_name,
        is_staff=me.role is Role.STAFF,
    )
    response = make_response(page)
    if any(entry.show_html for entry in thread):
        response.headers["Content-Security-Policy"] = FRAMING_POLICY
    return response


def _article_of(number: str, article_id: int) -> Article:
    """The article `article_id` of ticket `number`, or 404 (visibility is checked after)."""
    article = db.session().scalar(
        select(Article)
        .join(Ticket, Ticket.id == Article.ticket_id)
        .where(Article.id == article_id, Ticket.number == number)
    )
    if article is None:
        abort(404)
    return article


@bp.route("/<number>/articles/<int:article_id>/html")
def article_html(number: str, article_id: int) -> Response:
    """The sanitized HTML of one message, as a document for the sandboxed iframe."""
    _article_of(number, article_id)
    ticket_or_404(number, AuditAction.VIEW, f"article {article_id} html")
    article = _article_of(number, article_id)  # read again after the audit's commit
    if not article.body_html:
        abort(404)
    images: dict[str, bytes] = {}
    if "cid:" in article.body_html.lower():
        rows = db.session().execute(
            select(Attachment.content_id, Blob.data)
            .join(Blob, Blob.sha256 == Attachment.sha256)
            .where(
                Attachment.article_id == article.id,
                Attachment.content_id.is_not(None),
                Attachment.size <= mailhtml.MAX_IMAGE_BYTES,
            )
        )
        images = {cid: data for cid, data in rows if cid}
    response = Response(mailhtml.document(article.body_html, images), mimetype="text/html")
    response.headers["Content-Security-Policy"] = MESSAGE_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@bp.route("/<number>/attachments/<int:attachment_id>")
def attachment(number: str, attachment_id: int) -> Response:
    """Download one attachment of the ticket: always a file, never a page of this site."""
    session = db.session()
    stmt = (
        select(Attachment.id)
        .join(Article, Article.id == Attachment.article_id)
        .join(Ticket, Ticket.id == Article.ticket_id)
        .where(Attachment.id == attachment_id, Ticket.number == number)
    )
    if session.scalar(stmt) is None:
        abort(404)
    ticket_or_404(number, AuditAction.DOWNLOAD, f"attachment {attachment_id}")
    found = session.get(Attachment, attachment_id)
    blob = session.get(Blob, found.sha256) if found is not None else None
    if found is None or blob is None:
        abort(404)
    response = Response(blob.data)
    fallback = f"attachment-{attachment_id}.bin"
    for name, value in downloads.download_headers(found.filename, fallback).items():
        response.headers[name] = value
    return response
