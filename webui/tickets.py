"""The `tickets` blueprint: a ticket's page, its messages' HTML in a sandbox, its attachments.

The page fetches the ticket through webui.need_to_know.ticket_or_404: a ticket in a queue
the agent cannot see is a 404 like one that does not exist, and each view of a restricted
ticket is audited (downloads as "download"). An article or attachment named in the URL is
found by one query that asks for it in a ticket of that number *the agent may see*, so a
hidden ticket's own article answers like another ticket's or a missing one: the same 404
after the same statements, with no timing difference (DESIGN.md, need to know).

History rows, links and the merge notice name another ticket only to an agent who may see
it, else as "a restricted ticket" or not at all, by kind (queues.present). Each row says
what it is in words (HISTORY_LABELS), never by a database id.

The top of the page says what an agent must know before touching the ticket: that someone
else is answering it (the answering lock, as the actions panel also says), and whether it
is flagged, by safety triage (with its reasons) or by a routing rule. Each attachment
shows its size in bytes and its SHA-256, to compare with evidence packages and the
command line (`show --json`).

Hostile mail stays harmless: the thread shows each message's text, escaped; the HTML is shown
only when the agent asks, in an `<iframe sandbox>` whose document (webui.mailhtml) has its
own Content-Security-Policy with `sandbox` and no scripts, loads nothing from the network
and is the only page of this site that may be framed (by this site only). Attachments
always download (webui.downloads), never render on our origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVarTuple

from flask import Blueprint, Response, abort, make_response, render_template, request, url_for
from sqlalchemy import Row, Select, select
from sqlalchemy.orm import selectinload

from queues import present
from queues.access import visible_tickets
from queues.audit import AuditAction, record
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    Blob,
    OutboxMessage,
    OutboxState,
    Role,
    Ticket,
    User,
)
from queues.tickets import current_lock
from webui import db, downloads, mailhtml, timefmt
from webui.labels import priority_label
from webui.login import agent, client_address
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
MAX_HTML_SHOWN = 20
_Columns = TypeVarTuple("_Columns")  # article ids taken from ?html=...

KIND_LABELS = {
    ArticleKind.INCOMING: "Incoming mail",
    ArticleKind.OUTGOING: "Reply sent",
    ArticleKind.AUTO: "Automatic mail",
    ArticleKind.NOTE: "Internal note",
}
# The "What" of a history row, by the kind it was written with; others read as their kind.
HISTORY_LABELS = {
    "created": "Created",
    "routing": "Routing",
    "triage": "Safety triage",
    "moved": "Moved by triage",
    "followup": "Follow-up",
    "reopened": "Reopened",
    "requester": "Requester",
    "autoreply-suppressed": "No acknowledgement",
    "acknowledgement": "Acknowledgement",
    "state": "State",
    "owner": "Owner",
    "priority": "Priority",
    "lock": "Answering",
    "lock-released": "Answering lock released",
    "lock-broken": "Answering lock broken",
    "queue": "Moved",
    "queue-out-of-restricted": "Moved out of a restricted queue",
    "false-alarm": "False alarm",
    "escalated": "Escalated",
    "merged": "Merged",
    "merged-from": "Merged in",
    "link": "Linked",
    "linked": "Linked",
    "note": "Internal note",
    "reply": "Reply sent",
    "delivery-failed": "Delivery failed",
    "reply-address-revoked": "Reply addresses revoked",
    "legal-hold": "Legal hold",
    "legal-hold-released": "Legal hold released",
}


def history_label(kind: str) -> str:
    """What a history row is, in words ("queue-out-of-restricted" -> "Moved out of ...")."""
    found = HISTORY_LABELS.get(kind)
    if found is not None:
        return found
    words = kind.replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "Change"


DELIVERY_LABELS = {
    OutboxState.QUEUED: "waiting to be sent",
    OutboxState.SENDING: "being sent",
    OutboxState.SENT: "sent",
    OutboxState.FAILED: "delivery failed",
}


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


def ticket_url(number: str) -> str:
    """The address of a ticket's page, for links and redirects from the other blueprints."""
    return url_for("tickets.view", number=number)


@bp.route("/<number>")
def view(number: str) -> Response:
    ticket = ticket_or_404(number)
    me = agent().user
    session = db.session()
    thread = _thread(ticket)
    owner = session.get(User, ticket.owner_id) if ticket.owner_id is not None else None
    lock = current_lock(session, ticket, datetime.now(UTC))
    page = render_template(
        "webui/tickets/view.html",
        ticket=ticket,
        me=me,
        thread=thread,
        history=present.ticket_history(session, ticket, me),
        links=present.ticket_links(session, ticket, me),
        merged_into=present.merged_into(session, ticket, me),
        restricted=present.RESTRICTED,
        owner=owner,
        waiting_for=timefmt.since(ticket.waiting_since) if ticket.waiting_since else None,
        priority_label=priority_label,
        human_size=human_size,
        file_name=file_name,
        history_label=history_label,
        lock=lock if lock is not None and lock.user_id != me.id else None,
        is_staff=me.role is Role.STAFF,
    )
    response = make_response(page)
    if any(entry.show_html for entry in thread):
        response.headers["Content-Security-Policy"] = FRAMING_POLICY
    return response


def _visible_part(stmt: Select[*_Columns]) -> Row[*_Columns]:
    """The one row of `stmt` (built on visible_tickets), or 404.

    One query decides, so a hidden ticket's own article or attachment takes the same path,
    the same statements and the same answer as one of another ticket or none at all: no
    reply, and no reply time, tells a hidden ticket from a missing one.
    """
    row = db.session().execute(stmt).first()
    if row is None:
        abort(404)
    return row


def _audit(ticket_id: int, action: AuditAction, detail: str) -> None:
    """Record the access (restricted tickets only), committed before anything is sent."""
    ticket = db.session().get_one(Ticket, ticket_id)
    with db.writing() as writer:
        record(writer, agent().user, action, ticket, client_address(), detail)


@bp.route("/<number>/articles/<int:article_id>/html")
def article_html(number: str, article_id: int) -> Response:
    """The sanitized HTML of one message, as a document for the sandboxed iframe."""
    stmt = (
        visible_tickets(agent().user)
        .with_only_columns(Ticket.id, Article.body_html)
        .join(Article, Article.ticket_id == Ticket.id)
        .where(
            Ticket.number == number,
            Article.id == article_id,
            Article.body_html.is_not(None),
            Article.body_html != "",
        )
    )
    ticket_id, found_html = _visible_part(stmt)
    body_html = found_html or ""  # never empty: the query asked for HTML
    _audit(ticket_id, AuditAction.VIEW, f"article {article_id} html")
    images: dict[str, bytes] = {}
    if "cid:" in body_html.lower():
        rows = db.session().execute(
            select(Attachment.content_id, Blob.data)
            .join(Blob, Blob.sha256 == Attachment.sha256)
            .where(
                Attachment.article_id == article_id,
                Attachment.content_id.is_not(None),
                Attachment.size <= mailhtml.MAX_IMAGE_BYTES,
            )
        )
        images = {cid: data for cid, data in rows if cid}
    response = Response(mailhtml.document(body_html, images), mimetype="text/html")
    response.headers["Content-Security-Policy"] = MESSAGE_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@bp.route("/<number>/attachments/<int:attachment_id>")
def attachment(number: str, attachment_id: int) -> Response:
    """Download one attachment of the ticket: always a file, never a page of this site."""
    stmt = (
        visible_tickets(agent().user)
        .with_only_columns(Ticket.id, Attachment.filename, Blob.data)
        .join(Article, Article.ticket_id == Ticket.id)
        .join(Attachment, Attachment.article_id == Article.id)
        .join(Blob, Blob.sha256 == Attachment.sha256)
        .where(Ticket.number == number, Attachment.id == attachment_id)
    )
    ticket_id, filename, data = _visible_part(stmt)
    _audit(ticket_id, AuditAction.DOWNLOAD, f"attachment {attachment_id}")
    response = Response(data)
    fallback = f"attachment-{attachment_id}.bin"
    for name, value in downloads.download_headers(filename, fallback).items():
        response.headers[name] = value
    return response
