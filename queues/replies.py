"""Replies to requesters: templates rendered for a ticket, then one threaded mail in the outbox.

A reply answers one article of the ticket (by default the latest incoming one): its
In-Reply-To is that article's Message-ID and its References that article's References
followed by its Message-ID (RFC 5322 3.6.4), so the requester's client threads it. The
subject carries the ticket tag (queues.numbers), the queue's signature is appended, and it
goes out from the queue's sender address (else our address for the queue) under the
organisation's name, never the agent's address.

`send_reply` writes the outgoing article, the outbox row and the history in the caller's
transaction, after re-reading the ticket with its row lock: an agent can send only while
holding the answering lock or while it is free (then it is theirs for the send), so a
second agent cannot send over the first one's lock even in a race.

Reply templates are staff-edited text, rendered in the sandbox (queues.sandbox) with plain
data only (`template_context`), never ORM objects.

An agent's real name never leaves in mail (a harasser may pose as a victim): templates and
signatures know the agent only by their public signature name (`public_name`: the one the
agent chose, else the team's name), as `agent.signature_name` and, so that templates
written before it keep working, as `agent.name` and `agent_name`; `agent.email` is the
queue's address the reply leaves from, not the agent's own.

A reply that still holds a template's placeholder (a bracketed instruction, or a marker of
settings.placeholder_markers) is refused, saying where (queues.placeholders): an unedited
line of a template must not reach a person in distress.

Every reply carries a fresh reply address of the ticket in Reply-To (`help+<token>@...`,
queues.trust.replytokens), so an answer from another account, or from a client that drops
References, still reaches the ticket. Its recipients already hold the reply's Message-ID,
which is as good a proof (queues.followup), so the token gives no one more than they have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import getaddresses

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from queues.access import can_see_queue
from queues.models import (
    Article,
    ArticleKind,
    Participant,
    Queue,
    ReplyTemplate,
    Ticket,
    TicketState,
    User,
)
from queues.numbers import clean_subject, format_tag, tagged_subject
from queues.outgoing import (
    AddressError,
    HeaderInjectionError,
    OutgoingMail,
    check_header_value,
    domain_of,
    make_message_id,
    queue_outgoing,
)
from queues.placeholders import Placeholder, find_placeholders
from queues.sandbox import TemplateError, render_untrusted
from queues.settings import Settings
from queues.team import probation
from queues.tickets import (
    LOCK_DURATION,
    LockHeld,
    TicketError,
    acquire_lock,
    add_event,
    audit_change,
    current_lock,
    lock_for_update,
    require_visible,
    set_state,
)
from queues.trust import replytokens

MAX_BODY_CHARS = 200_000
MAX_CC = 20
MAX_REFERENCES = 20
SIGNATURE_SEPARATOR = "-- "  # RFC 3676 4.3: clients recognise and trim what follows
_ANSWERABLE = (ArticleKind.INCOMING, ArticleKind.OUTGOING, ArticleKind.AUTO)


@dataclass
class Draft:
    """What the agent wrote in the reply form (header values are checked before use)."""

    body: str
    subject: str = ""  # "" = the ticket's subject; the tag is always added
    to: str = ""  # "" = the requester (or the sender of the answered article)
    cc: str = ""  # comma-separated addresses
    answer_to_id: int | None = None  # the article answered; None = the latest incoming
    state: TicketState | None = None  # None: a new ticket becomes open, others stay as they are
    pending_until: datetime | None = None


class PlaceholderLeft(TicketError):
    """The reply still holds a template's placeholder; `found` says where."""

    def __init__(self, found: list[tuple[str, Placeholder]]) -> None:
        self.found = found
        where = "; ".join(f"{part}, {p.describe()}" for part, p in found)
        super().__init__(
            "Your reply still holds a placeholder from a template, so it was not sent: "
            f"{where}. Write your own words in its place (square brackets around words "
            "starting with a capital letter count as a placeholder), then send."
        )


@dataclass(frozen=True)
class RenderedReply:
    subject: str
    body: str


@dataclass(frozen=True)
class SentReply:
    article_id: int
    message_id: str
    outbox_id: int
    subject: str


@dataclass(frozen=True)
class HeldForReview:
    """A probationary agent's reply, kept for their mentor instead of sent (queues.team.
    probation): nothing of it is in the outbox."""

    held_id: int
    subject: str


# --- templates -----------------------------------------------------------------------------


def templates_for(session: Session, ticket: Ticket) -> list[ReplyTemplate]:
    """Active templates offered for `ticket`: its queue's and those for every queue."""
    stmt = (
        select(ReplyTemplate)
        .where(
            ReplyTemplate.active.is_(True),
            or_(ReplyTemplate.queue_id.is_(None), ReplyTemplate.queue_id == ticket.queue_id),
        )
        .order_by(ReplyTemplate.position, ReplyTemplate.name, ReplyTemplate.id)
    )
    return list(session.scalars(stmt))


def template_for(session: Session, ticket: Ticket, template_id: int | str) -> ReplyTemplate:
    """The template with this id if it is offered for `ticket`, else TicketError."""
    try:
        wanted = int(str(template_id).strip())
    except ValueError:
        wanted = -1
    for template in templates_for(session, ticket):
        if template.id == wanted:
            return template
    raise TicketError("That reply template does not exist (any more) for this queue.")


def template_context(ticket: Ticket, user: User, settings: Settings) -> dict[str, object]:
    """The variables a reply template may use: plain strings and dicts of strings only."""
    prefix = settings.ticket_tag_prefix
    requester = ticket.requester
    subject = clean_subject(ticket.subject, prefix) or "(no subject)"
    requester_name = requester.name if requester is not None else ""
    requester_email = requester.email if requester is not None else ""
    agent_name = public_name(user, settings)  # never the agent's real name (module docstring)
    return {
        "number": ticket.number,
        "tag": format_tag(prefix, ticket.number),
        "subject": subject,
        "requester_name": requester_name,
        "requester_email": requester_email,
        "agent_name": agent_name,
        "queue_name": ticket.queue.name,
        "organisation": settings.organisation,
        "emergency_text": settings.emergency_text,
        "ticket": {
            "number": ticket.number,
            "tag": format_tag(prefix, ticket.number),
            "subject": subject,
            "state": ticket.state.value,
            "priority": str(ticket.priority),
            "queue": ticket.queue.name,
            "created": f"{ticket.created_at:%Y-%m-%d}",
        },
        "requester": {"name": requester_name, "email": requester_email},
        "agent": {
            "signature_name": agent_name,
            "name": agent_name,  # an alias, for templates written before signature_name
            "email": sender_address(ticket.queue, settings),
        },
        "queue": {"name": ticket.queue.name, "slug": ticket.queue.slug},
    }


def public_name(user: User, settings: Settings) -> str:
    """The name that signs `user`'s mail: their chosen signature name, else the team's."""
    return " ".join(user.signature_name.split()) or settings.organisation


def placeholders_in(
    body: str, subject: str, signature: str, settings: Settings
) -> list[tuple[str, Placeholder]]:
    """Placeholders left in a reply, each with the part it is in."""
    markers = settings.placeholder_markers
    parts = (("the message", body), ("the subject", subject), ("the queue's signature", signature))
    return [(part, p) for part, text in parts for p in find_placeholders(text, markers)]


def render_reply_template(template: ReplyTemplate, context: Mapping[str, object]) -> RenderedReply:
    """The template rendered in the sandbox; TicketError with the sandbox's reason."""
    try:
        body = render_untrusted(template.body, context)
        subject = render_untrusted(template.subject, context) if template.subject else ""
    except TemplateError as exc:
        raise TicketError(f"The template {template.name!r} cannot be used: {exc}") from exc
    return RenderedReply(subject=" ".join(subject.split()), body=body)


# --- what a reply answers, and to whom --------------------------------------------------------


def answerable_articles(session: Session, ticket: Ticket) -> list[Article]:
    """Mail articles of the ticket (no notes), oldest first."""
    stmt = (
        select(Article)
        .where(Article.ticket_id == ticket.id, Article.kind.in_(_ANSWERABLE))
        .order_by(Article.id)
    )
    return list(session.scalars(stmt))


def answered_article(
    session: Session, ticket: Ticket, article_id: int | None = None
) -> Article | None:
    """The article a reply answers: the one asked for, else the latest incoming one."""
    articles = answerable_articles(session, ticket)
    if article_id is not None:
        for article in articles:
            if article.id == article_id:
                return article
        raise TicketError("The message you answer is not part of this ticket.")
    incoming = [a for a in articles if a.kind is ArticleKind.INCOMING]
    if incoming:
        return incoming[-1]
    return articles[-1] if articles else None


def default_recipient(ticket: Ticket, answered: Article | None) -> str:
    if ticket.requester is not None and ticket.requester.email:
        return ticket.requester.email
    if answered is not None and answered.kind is ArticleKind.INCOMING and answered.from_email:
        return answered.from_email
    return ""


def sender_address(queue: Queue, settings: Settings) -> str:
    """The queue's own sender address, else our receiving address for it, else any of ours."""
    if queue.sender_address:
        return queue.sender_address
    for address, slug in settings.addresses.items():
        if slug == queue.slug:
            return address
    return next(iter(settings.addresses), f"help@{settings.hostname}")


def reply_subject(draft_subject: str, ticket: Ticket, settings: Settings) -> str:
    """ "Re: [Ticket#N] subject": the tag is always there, exactly once."""
    return tagged_subject(
        draft_subject or ticket.subject, settings.ticket_tag_prefix, ticket.number
    )


def threading(answered: Article | None) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) for a reply to `answered` (RFC 5322 3.6.4)."""
    if answered is None or not answered.message_id:
        return None, []
    refs = [r for r in answered.references if r and r != answered.message_id]
    refs.append(answered.message_id)
    if len(refs) > MAX_REFERENCES:  # keep the first (the thread's root) and the latest
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    return answered.message_id, refs


def parse_addresses(value: str, what: str) -> list[tuple[str, str]]:
    """(name, email) pairs from a form field; TicketError for anything not an address."""
    _one_line(value, what)
    found: list[tuple[str, str]] = []
    pieces = [p for p in value.replace(";", ",").split(",") if p.strip()]
    for piece in pieces:
        parsed = getaddresses([piece])
        if len(parsed) != 1:
            raise TicketError(f"{what}: {piece.strip()[:80]!r} is not an email address.")
        name, email = parsed[0]
        local, _, domain = email.rpartition("@")
        if not local or "." not in domain or any(c in email for c in ' <>(),;:"[]\\'):
            raise TicketError(f"{what}: {piece.strip()[:80]!r} is not an email address.")
        found.append((name.strip(), email.strip()))
    return found


def _one_line(value: str, what: str) -> str:
    try:
        return check_header_value(what, value)
    except HeaderInjectionError:
        raise TicketError(f"{what} must be a single line (no line breaks).") from None


def render_signature(queue: Queue, context: Mapping[str, object]) -> str:
    """The queue's signature, rendered in the sandbox like a template (it is staff-edited)."""
    if not (queue.signature or "").strip():
        return ""
    try:
        return render_untrusted(queue.signature, context)
    except TemplateError as exc:
        raise TicketError(f"The signature of {queue.name} cannot be used: {exc}") from exc


def with_signature(body: str, signature: str) -> str:
    text = body.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    sig = signature.replace("\r\n", "\n").strip("\n")
    if not sig.strip():
        return text + "\n"
    return f"{text}\n\n{SIGNATURE_SEPARATOR}\n{sig}\n"


# --- sending ---------------------------------------------------------------------------------


def send_reply(
    session: Session,
    ticket: Ticket,
    user: User,
    draft: Draft,
    settings: Settings,
    now: datetime,
    *,
    client: str | None = None,
    reviewed_by: User | None = None,
) -> SentReply | HeldForReview:
    """Queue the reply in the outbox with its article and history, in the caller's transaction.

    Refused (TicketError; LockHeld for the lock) when another agent holds the answering
    lock, when a header value holds a line break or NUL, when an address is invalid, or
    (PlaceholderLeft) when the text still holds a template's placeholder.
    The lock is released once the reply is queued.

    The reply of an agent on probation is held for their mentor instead (HeldForReview,
    keeping the lock), unless `reviewed_by` names the reviewer now sending it
    (queues.team.probation.approve).
    """
    # Header values first: nothing from the agent reaches a header with a line break in it.
    subject_in = _one_line(draft.subject, "The subject")
    to_given = parse_addresses(draft.to, "To")
    cc = parse_addresses(draft.cc, "Cc")
    if len(to_given) > 1:
        raise TicketError("To: give one address; put the others in Cc.")
    if len(cc) > MAX_CC:
        raise TicketError(f"Cc: at most {MAX_CC} addresses.")
    body = draft.body.replace("\0", "")
    if not body.strip():
        raise TicketError("The reply is empty.")
    if len(body) > MAX_BODY_CHARS:
        raise TicketError(f"A reply can have at most {MAX_BODY_CHARS:,} characters.")

    # set_state checks this again; refused here before anything is written
    if draft.state is TicketState.PENDING and (
        draft.pending_until is None or draft.pending_until <= now
    ):
        raise TicketError("The pending date must be in the future.")

    ticket = lock_for_update(session, ticket)
    require_visible(user, ticket)
    if ticket.merged_into_id is not None:
        raise TicketError("This ticket was merged into another one: reply there.")
    held = current_lock(session, ticket, now)
    if held is not None and held.user_id != user.id:
        raise LockHeld(held.holder, held.until)

    answered = answered_article(session, ticket, draft.answer_to_id)
    to = to_given or []
    if not to:
        recipient = default_recipient(ticket, answered)
        if not recipient:
            raise TicketError("To: this ticket has no requester address; give one.")
        to = parse_addresses(recipient, "To")
    requester = ticket.requester
    if requester is not None:  # the requester by the name they gave us, wherever they appear
        named = [
            (name or requester.name if email.lower() == requester.email.lower() else name, email)
            for name, email in to
        ]
        to = named
    in_reply_to, references = threading(answered)
    subject = reply_subject(subject_in, ticket, settings)
    our_address = sender_address(ticket.queue, settings)
    signature = render_signature(ticket.queue, template_context(ticket, user, settings))
    left = placeholders_in(body, subject_in, signature, settings)
    if left:
        raise PlaceholderLeft(left)
    full_body = with_signature(body, signature)
    if reviewed_by is None and probation.holds_replies(session, user):
        # Checked like any reply up to here, then kept for the mentor: nothing of it may
        # reach the outbox before approval (issue 12).
        kept = probation.hold(session, ticket, user, draft, settings, now, client=client)
        return HeldForReview(kept.id, subject)
    message_id = make_message_id(domain_of(our_address) or settings.hostname)
    token = replytokens.new_token()

    article = Article(
        ticket_id=ticket.id,
        kind=ArticleKind.OUTGOING,
        from_email=our_address,
        from_name=settings.organisation,
        to=[e for _, e in to],
        cc=[e for _, e in cc],
        subject=subject,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        date=now,
        content_type="text/plain",
        body_text=full_body,
        created_at=now,
    )
    session.add(article)
    session.flush()
    mail = OutgoingMail(
        from_email=our_address,
        from_name=settings.organisation,
        to=to,
        cc=cc,
        subject=subject,
        body_text=full_body,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        date=now,
        reply_to=replytokens.reply_address(our_address, token),
    )
    try:
        queued = queue_outgoing(
            session,
            mail,
            kind="reply",
            envelope_from=our_address,
            ticket_id=ticket.id,
            article_id=article.id,
            deadline=timedelta(hours=settings.outbox_deadline_hours),
        )
    except (HeaderInjectionError, AddressError) as exc:
        raise TicketError(f"The reply cannot be sent: {exc}.") from None
    replytokens.store(session.connection(), ticket.id, token, message_id)

    _add_participants(session, ticket, [e for _, e in [*to, *cc]])
    ticket.waiting_since = None
    ticket.locked_by_id = None
    ticket.locked_until = None
    ticket.updated_at = now
    if ticket.owner_id is None:
        ticket.owner_id = user.id
    recipients = ", ".join(e for _, e in [*to, *cc])
    add_event(session, ticket, user, "reply", f"reply to {recipients}", now)
    audit_change(session, user, ticket, client, f"reply sent (article {article.id})")
    _apply_state(session, ticket, user, draft, now, client)
    session.flush()
    return SentReply(article.id, message_id, queued.id, subject)


def _apply_state(
    session: Session, ticket: Ticket, user: User, draft: Draft, now: datetime, client: str | None
) -> None:
    wanted = draft.state
    if wanted is None:
        wanted = TicketState.OPEN if ticket.state is TicketState.NEW else None
    if wanted is None or (wanted is ticket.state and wanted is not TicketState.PENDING):
        return
    set_state(session, ticket, user, wanted, now, pending_until=draft.pending_until, client=client)


def _add_participants(session: Session, ticket: Ticket, emails: list[str]) -> None:
    """People we wrote to may answer into the ticket by its tag alone."""
    known = {p.email.lower() for p in ticket.participants}
    if ticket.requester is not None:
        known.add(ticket.requester.email.lower())
    for email in emails:
        if email.lower() not in known:
            known.add(email.lower())
            session.add(Participant(ticket_id=ticket.id, email=email, role="cc"))


def open_reply(
    session: Session,
    ticket: Ticket,
    user: User,
    now: datetime,
    *,
    client: str | None = None,
    duration: timedelta = LOCK_DURATION,
) -> datetime:
    """The agent opens the reply form: take (or renew) the answering lock; LockHeld if not.

    Uses the row lock like `send_reply`, so two agents opening the form at once cannot both
    get the lock.
    """
    ticket = lock_for_update(session, ticket)
    if not can_see_queue(user.role, ticket.queue):
        raise TicketError("There is no such ticket.")
    return acquire_lock(session, ticket, user, now, duration=duration, client=client)
