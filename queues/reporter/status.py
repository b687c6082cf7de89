"""Status mail: the reporter hears from us, in fixed wording, whenever their ticket changes hands.

Four changes are told, each in the reporter's language (queues.reporter.texts):

    taken         a person has taken the report
    pending       we are waiting for the reporter's answer
    specialists   the report was passed to specialists (worded so that it does not
                  frighten, and never naming the queue)
    closed        closed, and how to open it again

How it works. Every change of a ticket's owner, state or queue writes a history row through
queues.tickets.add_event, which calls `mark_due` (so does ingest when a follow-up reopens or
moves a ticket): a "due" row in `status_mail`, in the same transaction as the change. The
mail itself is built later by `send_due` (run by `switchboard work` every few seconds, see
`run_timer`), which compares the ticket with the last snapshot the reporter was given and
tells the most important change (closed, then pending, then specialists, then taken). So
the change is recorded with the ticket or not at all; what the reporter is told is what
the ticket *is* when we write (an owner who took and released a ticket within seconds
sends nothing), once per change; and every path that changes tickets (agents' pages,
escalation, commands) is covered without knowing about mail.

Who is told: only a ticket whose acknowledgement was sent has a "start" snapshot (`start`,
called by ingest): mail that was automatic, bulk, a bounce, from an address whose sender
authentication failed, or from a blocked sender gets no acknowledgement and so never a
status mail (the loop guard and the sender verdict of queues.autoreply decide it once). A
blocked contact at the time of sending, an address mail cannot go to, or more than
`status_mail_per_day` status mails to one ticket in 24 hours hold the mail back, with the
reason in the ticket's history. Each mail is threaded (In-Reply-To the reporter's latest
message), carries a fresh reply address and a status link, and leaves through the outbox.
A mail that cannot be built is a history row; it never blocks anything else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from queues.abuse import lists
from queues.models import Article, ArticleKind, Contact, Ticket, TicketState, table_of, utcnow
from queues.numbers import format_tag
from queues.outgoing import (
    OutgoingMail,
    domain_of,
    make_message_id,
    queue_outgoing,
    usable_address,
)
from queues.reporter import statuslink
from queues.reporter.models import StatusMail
from queues.reporter.texts import file_renderer, in_language
from queues.rows import add_events, insert_article
from queues.settings import Settings
from queues.trust import replytokens

log = logging.getLogger(__name__)

TAKEN, PENDING, SPECIALISTS, CLOSED = "taken", "pending", "specialists", "closed"
LINK = "link"  # a new status link the reporter asked for (webui.status), not a change
TEMPLATES = {
    TAKEN: "status_taken",
    PENDING: "status_pending",
    SPECIALISTS: "status_specialists",
    CLOSED: "status_closed",
    LINK: "status_link",
}
SAFETY_QUEUE = "specialist-safety"
# History kinds (queues.tickets.add_event) that may change what the reporter should know.
EVENT_KINDS = frozenset(
    {"owner", "state", "queue", "queue-out-of-restricted", "escalated", "reopened"}
)
DUE, START, SEEN, SENT, HELD = "due", "start", "seen", "sent", "held"
CHECK_SECONDS = 10.0
BATCH = 200
MAX_REFERENCES = 20
_SM = table_of(StatusMail)


@dataclass(frozen=True)
class Snapshot:
    """A ticket as the reporter knows it."""

    state: str
    owned: bool
    specialists: bool


def snapshot_of(ticket: Ticket) -> Snapshot:
    return Snapshot(
        ticket.state.value, ticket.owner_id is not None, ticket.queue.slug == SAFETY_QUEUE
    )


def change_between(told: Snapshot, now: Snapshot) -> str | None:
    """The one change worth a mail from `told` to `now`, the most important first."""
    if now.state == TicketState.CLOSED and told.state != TicketState.CLOSED:
        return CLOSED
    if now.state == TicketState.PENDING and told.state != TicketState.PENDING:
        return PENDING
    if now.specialists and not told.specialists:
        return SPECIALISTS
    if now.owned and not told.owned and now.state != TicketState.CLOSED:
        return TAKEN
    return None


def start(session: Session, ticket_id: int, specialists: bool, now: datetime) -> None:
    """The reporter was acknowledged: from now on they hear of every change."""
    session.execute(
        insert(_SM),
        {
            "ticket_id": ticket_id,
            "at": now,
            "outcome": START,
            "change": "",
            "state": TicketState.NEW.value,
            "owned": False,
            "specialists": specialists,
            "detail": "",
        },
    )


def mark_due(session: Session, ticket_id: int, now: datetime) -> None:
    """The ticket changed: `send_due` will see whether the reporter should hear of it."""
    session.execute(
        insert(_SM),
        {
            "ticket_id": ticket_id,
            "at": now,
            "outcome": DUE,
            "change": "",
            "state": "",
            "owned": False,
            "specialists": False,
            "detail": "",
        },
    )


@dataclass(frozen=True)
class Told:
    number: str
    outcome: str  # SEEN, SENT or HELD
    change: str = ""
    detail: str = ""


def send_due(
    session: Session, settings: Settings, now: datetime | None = None, limit: int = BATCH
) -> list[Told]:
    """Look at the tickets marked due; queue the status mail each one needs."""
    now = now or utcnow()
    due = session.execute(
        select(StatusMail.ticket_id, func.max(StatusMail.id))
        .where(StatusMail.outcome == DUE)
        .group_by(StatusMail.ticket_id)
        .order_by(func.min(StatusMail.id))
        .limit(limit)
    ).all()
    told: list[Told] = []
    for ticket_id, last_due in due:
        try:
            with session.begin_nested():
                result = consider(session, ticket_id, settings, now)
        except Exception as exc:
            log.warning("status mail for ticket %s failed: %s", ticket_id, exc, exc_info=True)
            result = _failed(session, ticket_id, exc, now)
        if result is not None:
            told.append(result)
        session.execute(
            delete(StatusMail).where(
                StatusMail.ticket_id == ticket_id,
                StatusMail.outcome == DUE,
                StatusMail.id <= last_due,
            )
        )
    session.flush()
    return told


def _last_told(session: Session, ticket_id: int) -> StatusMail | None:
    return session.scalar(
        select(StatusMail)
        .where(StatusMail.ticket_id == ticket_id, StatusMail.outcome != DUE)
        .order_by(StatusMail.id.desc())
        .limit(1)
    )


def consider(session: Session, ticket_id: int, settings: Settings, now: datetime) -> Told | None:
    """Tell the reporter of `ticket_id` what changed since we last told them, if anything."""
    # The ticket's row lock: two runners on PostgreSQL take turns, and the second finds the
    # first one's snapshot.
    session.execute(select(Ticket.id).where(Ticket.id == ticket_id).with_for_update())
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    told = _last_told(session, ticket_id)
    if ticket is None or told is None or ticket.merged_into_id is not None:
        return None
    before = Snapshot(told.state, told.owned, told.specialists)
    current = snapshot_of(ticket)
    if current == before:
        return None
    change = change_between(before, current)
    if change is None:
        _snapshot(session, ticket, current, SEEN, now)
        return Told(ticket.number, SEEN)
    why = held_reason(session, ticket, settings, now)
    if why:
        _snapshot(session, ticket, current, HELD, now, change, why)
        add_events(
            session.connection(), ticket.id, [("status-mail-held", f"{change}: not sent: {why}")]
        )
        return Told(ticket.number, HELD, change, why)
    to = queue_status_mail(session, ticket, change, settings, now)
    # No address in this row: a purge removes the history, not these snapshots.
    _snapshot(session, ticket, current, SENT, now, change)
    add_events(session.connection(), ticket.id, [("status-mail", f"{change}: to {to}")])
    return Told(ticket.number, SENT, change, to)


def _snapshot(
    session: Session,
    ticket: Ticket,
    current: Snapshot,
    outcome: str,
    now: datetime,
    change: str = "",
    detail: str = "",
) -> None:
    session.add(
        StatusMail(
            ticket_id=ticket.id,
            at=now,
            outcome=outcome,
            change=change,
            state=current.state,
            owned=current.owned,
            specialists=current.specialists,
            detail=detail[:500],
        )
    )
    session.flush()


def _failed(session: Session, ticket_id: int, exc: Exception, now: datetime) -> Told | None:
    """A mail that could not be built: a history row, and the change counts as told."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    error = f"{type(exc).__name__}: {exc}"[:300]
    _snapshot(session, ticket, snapshot_of(ticket), HELD, now, "", error)
    add_events(session.connection(), ticket.id, [("status-mail-failed", f"not sent: {error}")])
    return Told(ticket.number, HELD, "", error)


def unreachable(ticket: Ticket) -> str:
    """Why the reporter may get no mail at all from us ("" when they may)."""
    requester: Contact | None = ticket.requester
    if requester is None or not requester.email:
        return "the ticket has no requester address"
    if requester.blocked:
        return "the sender is blocked"
    if not usable_address(requester.email):
        return "mail cannot be sent to the requester's address"
    return ""


def held_reason(session: Session, ticket: Ticket, settings: Settings, now: datetime) -> str:
    """Why no status mail may go now ("" when it may)."""
    why = unreachable(ticket)
    if why:
        return why
    # Staff may block a sender or mark it abusive after its acknowledgement went out: from
    # then on it gets no mail it did not ask for (queues.abuse.lists, as in ingest).
    assert ticket.requester is not None and ticket.requester.email
    if lists.standing(session.connection(), ticket.requester.email, now).no_automatic_mail:
        return "the sender is blocked or marked abusive"
    cap = settings.status_mail_per_day
    sent = session.scalar(
        select(func.count(StatusMail.id)).where(
            StatusMail.ticket_id == ticket.id,
            StatusMail.outcome == SENT,
            StatusMail.at > now - timedelta(days=1),
        )
    )
    if (sent or 0) >= cap:
        return f"daily cap reached ({cap} status mails in 24 hours)"
    return ""


def our_address(session: Session, ticket: Ticket, settings: Settings) -> str:
    """The address the reporter has heard from: our first mail's, else the queue's."""
    first = session.scalar(
        select(Article.from_email)
        .where(
            Article.ticket_id == ticket.id,
            Article.kind.in_((ArticleKind.AUTO, ArticleKind.OUTGOING)),
            Article.from_email != "",
        )
        .order_by(Article.id)
        .limit(1)
    )
    if first:
        return first
    if ticket.queue.sender_address:
        return ticket.queue.sender_address
    for address, slug in settings.addresses.items():
        if slug == settings.default_queue:
            return address
    return next(iter(settings.addresses), f"help@{settings.hostname}")


def _threading(session: Session, ticket: Ticket) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a mail answering the reporter's latest message."""
    latest = session.execute(
        select(Article.message_id, Article.references)
        .where(
            Article.ticket_id == ticket.id,
            Article.kind == ArticleKind.INCOMING,
            Article.message_id.is_not(None),
        )
        .order_by(Article.id.desc())
        .limit(1)
    ).one_or_none()
    if latest is None or not latest.message_id:
        return None, []
    refs: Sequence[str] = [r for r in (latest.references or []) if r != latest.message_id]
    return latest.message_id, [*list(refs)[-(MAX_REFERENCES - 1) :], latest.message_id]


def status_context(
    session: Session, ticket: Ticket, settings: Settings, now: datetime
) -> dict[str, object]:
    """What a status mail may use (plain data); issues a fresh status link."""
    return {
        "number": ticket.number,
        "tag": format_tag(settings.ticket_tag_prefix, ticket.number),
        "organisation": settings.organisation,
        "status_url": statuslink.link(session.connection(), ticket.id, settings.web_base_url, now),
        # A follow-up to a closed ticket opens it again, or starts a new, linked one.
        "reopens": ticket.queue.followup_closed != "new",
    }


def send_link(session: Session, ticket: Ticket, settings: Settings, now: datetime) -> str:
    """Mail the reporter a new status link (they asked, or staff did); "" when it went,
    else why not (recorded on the ticket's history either way)."""
    why = unreachable(ticket)
    if why or not statuslink_base(settings):
        why = why or "no web_base_url is set, so there is no link to send"
        add_events(session.connection(), ticket.id, [("status-link", f"not sent: {why}")])
        return why
    to = queue_status_mail(session, ticket, LINK, settings, now)
    add_events(session.connection(), ticket.id, [("status-link", f"a new status link to {to}")])
    return ""


def statuslink_base(settings: Settings) -> str:
    return settings.web_base_url


def queue_status_mail(
    session: Session, ticket: Ticket, change: str, settings: Settings, now: datetime
) -> str:
    """Put the status mail for `change` in the outbox, with its article; returns To."""
    requester = ticket.requester
    assert requester is not None  # held_reason said so
    sender = our_address(session, ticket, settings)
    context = status_context(session, ticket, settings, now)
    rendered = in_language(file_renderer(TEMPLATES[change]), context, ticket.language, settings)
    in_reply_to, references = _threading(session, ticket)
    message_id = make_message_id(domain_of(sender) or settings.hostname)
    token = replytokens.new_token()
    out = OutgoingMail(
        from_email=sender,
        from_name=settings.organisation,
        # No display name: the form's name is unverified, and it is not ours to repeat.
        to=[("", requester.email)],
        subject=rendered.subject,
        body_text=rendered.body_text,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        date=now,
        reply_to=replytokens.reply_address(sender, token),
        extra_headers={
            # RFC 3834 section 5: generated by a change, not in answer to a message.
            "Auto-Submitted": "auto-generated",
            settings.loop_header: sender,
            "X-Auto-Response-Suppress": "All",
            "Precedence": "auto_reply",
        },
    )
    raw = out.build()
    conn = session.connection()
    article_id = insert_article(
        conn,
        {
            "ticket_id": ticket.id,
            "kind": ArticleKind.AUTO,
            "from_email": sender,
            "from_name": settings.organisation,
            "to": [requester.email],
            "cc": [],
            "subject": rendered.subject,
            "message_id": message_id,
            "in_reply_to": in_reply_to,
            "references": references,
            "date": now,
            "body_text": rendered.body_text,
            "defects": [],
            "created_at": now,
        },
    )
    replytokens.store(conn, ticket.id, token, message_id)
    queue_outgoing(
        session,
        out,
        kind="status",
        envelope_from="",  # the null reverse-path, as for acknowledgements (RFC 3834 3.3)
        ticket_id=ticket.id,
        article_id=article_id,
        deadline=timedelta(hours=settings.outbox_deadline_hours),
        raw=raw,
    )
    return requester.email


def run_timer(
    factory: sessionmaker[Session],
    settings: Settings,
    stop: threading.Event,
    interval: float = CHECK_SECONDS,
) -> None:
    """For `switchboard work` and `serve`: every few seconds, send the status mail due."""
    while not stop.is_set():
        try:
            with factory.begin() as session:
                told = send_due(session, settings)
            for item in told:
                if item.outcome != SEEN:
                    log.info("status mail %s for %s: %s", item.outcome, item.number, item.change)
        except Exception:  # the database away for a moment: try again next time
            log.warning("could not send status mail", exc_info=True)
        stop.wait(interval)
