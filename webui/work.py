"""The `work` blueprint: working a ticket (take, lock, state, priority, move, merge, link, note,
reply) from the ticket view's actions panel and the reply page.

Every route fetches its ticket through webui.need_to_know.ticket_or_404 (404 when hidden,
audited when restricted) and changes it in one short transaction (webui.db.writing) through
the services of queues.tickets and queues.replies, which re-read the ticket under its row
lock. A change answers 303 back to the ticket with a flash message, also when the input was
missing or wrong (the message says why). The reply page works without JavaScript: choosing
a template is a GET form, sending a POST; opening it takes the answering lock, and another
agent who holds it is named with its end time, and the server refuses their send. Beside
the form it shows the message being answered (the newest incoming one unless the agent
chose another), its quoted text folded (webui.quoted); a reply that still holds a
template's placeholder comes back with its text and where the placeholder is.

Two changes ask first, without JavaScript: moving a ticket to a queue more people may see
answers with a confirmation page that names who will see it and asks for the reason (the
service requires it and records a triage false alarm), and closing a ticket nobody has
answered needs the "close without an answer" box ticked and a reason on the state form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
)
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from queues import replies
from queues import tickets as work
from queues.access import visible_queues
from queues.audit import AuditAction
from queues.models import (
    Article,
    ArticleKind,
    Queue,
    ReplyTemplate,
    Role,
    Ticket,
    TicketState,
    User,
)
from queues.trust.revoke import revoke_reply_addresses as revoke
from webui import db
from webui.config import settings
from webui.login import Agent, agent, client_address
from webui.need_to_know import ticket_or_404
from webui.quoted import Part, split_quotes
from webui.tickets import KIND_LABELS, ticket_url

bp = Blueprint("work", __name__, url_prefix="/tickets/<number>")

MAX_FIELD = 1000  # characters of any one-line field we read


def utcnow() -> datetime:
    return datetime.now(UTC)


def back(number: str, message: str) -> Response:
    flash(message)
    return redirect(ticket_url(number), code=303)


def form_text(name: str, limit: int = MAX_FIELD) -> str:
    return request.form.get(name, "")[:limit]


Change = Callable[[Session, Ticket, User, datetime], str]


def change(number: str, what: str, apply: Change) -> Response:
    """Run one change of the ticket in its own transaction; flash its message or the error.

    `apply(session, ticket, user, now)` returns the message to show.
    """
    ticket = ticket_or_404(number, AuditAction.VIEW, f"{what} requested")
    ticket_id, user_id, shown = ticket.id, agent().user.id, ticket.number
    try:
        with db.writing() as writer:
            fresh, user = in_writer(writer, ticket_id, user_id)
            message = apply(writer, fresh, user, utcnow())
    except work.TicketError as exc:
        return back(shown, str(exc))
    return back(shown, message)


def in_writer(writer: Session, ticket_id: int, user_id: int) -> tuple[Ticket, User]:
    """The ticket (under its row lock) and the agent's account, loaded by the writing session.

    Objects of the request's reading session are never touched inside a write: they may
    have been expired by an earlier write, and loading them again would open a read
    transaction in the middle of this one.
    """
    ticket = work.lock_for_update(writer, ticket_id)
    return ticket, writer.get_one(User, user_id)


# --- the actions panel ------------------------------------------------------------------------


@dataclass
class Panel:
    """What the actions panel (templates/webui/work/_actions.html) shows for a ticket."""

    ticket: Ticket
    owner: str | None
    mine: bool
    lock: work.LockInfo | None
    lock_mine: bool
    can_break: bool
    can_release: bool
    queues: list[Queue] = field(default_factory=list)
    wider: frozenset[int] = frozenset()  # ids of those more people may see (asks first)
    answered: bool = True  # someone has written to the requester (closing needs no reason)
    merged: bool = False
    states: tuple[TicketState, ...] = work.AGENT_STATES
    priorities: tuple[int, ...] = tuple(range(work.MIN_PRIORITY, work.MAX_PRIORITY + 1))


def panel(ticket: Ticket, me: Agent | User) -> Panel:
    """The panel's data; `me` is the signed-in agent (or their account)."""
    session = db.session()
    user = me.user if isinstance(me, Agent) else me
    lock = work.current_lock(session, ticket, utcnow())
    is_staff = user.role is Role.STAFF
    others = [q for q in visible_queues(session, user) if q.id != ticket.queue_id]
    return Panel(
        ticket=ticket,
        owner=work.user_label(session, ticket.owner_id),
        mine=ticket.owner_id == user.id,
        lock=lock,
        lock_mine=lock is not None and lock.user_id == user.id,
        can_break=lock is not None and lock.user_id != user.id and is_staff,
        can_release=ticket.owner_id is not None and (ticket.owner_id == user.id or is_staff),
        queues=others,
        wider=frozenset(q.id for q in others if work.widens(ticket.queue, q)),
        answered=ticket.state is TicketState.CLOSED or work.answered(session, ticket),
        merged=ticket.merged_into_id is not None,
    )


@bp.app_context_processor
def _panel_helper() -> dict[str, object]:
    return {"work_panel": panel}


# --- ownership and lock -----------------------------------------------------------------------


@bp.route("/take", methods=["POST"])
def take(number: str) -> Response:
    def apply(s: Session, t: Ticket, u: User, now: datetime) -> str:
        work.take(s, t, u, now, client=client_address())
        return "You own this ticket now."

    return change(number, "take", apply)


@bp.route("/release", methods=["POST"])
def release(number: str) -> Response:
    def apply(s: Session, t: Ticket, u: User, now: datetime) -> str:
        work.release(s, t, u, now, client=client_address())
        return "Nobody owns this ticket now."

    return change(number, "release", apply)


@bp.route("/lock/release", methods=["POST"])
def release_lock(number: str) -> Response:
    def apply(s: Session, t: Ticket, u: User, now: datetime) -> str:
        held = work.current_lock(s, t, now)
        work.release_lock(s, t, u, now, client=client_address())
        if held is not None and held.user_id != u.id:
            return f"The lock of {held.holder} is broken: the ticket is free to answer."
        return "The answering lock is released."

    return change(number, "lock release", apply)


# --- state, priority, queue -------------------------------------------------------------------


def parse_pending(value: str) -> datetime | None:
    """A date ("2026-12-24", the start of that day UTC) or date and time ("...T09:30", UTC)."""
    value = value.strip()
    if not value:
        return None
    try:
        if "T" in value or " " in value:
            parsed = datetime.fromisoformat(value.replace(" ", "T"))
        else:
            parsed = datetime.combine(datetime.fromisoformat(value).date(), time())
    except ValueError:
        raise work.TicketError("The pending date must look like 2026-12-24.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


NO_ANSWER = (
    "Nobody has answered the requester yet. To close the ticket anyway, tick "
    "“Close without an answer” and say why; or send a reply first."
)


@bp.route("/state", methods=["POST"])
def state(number: str) -> Response:
    def apply(s: Session, t: Ticket, u: User, now: datetime) -> str:
        wanted = work.parse_state(form_text("state"))
        until = parse_pending(form_text("pending_until")) if wanted is TicketState.PENDING else None
        unanswered = wanted is TicketState.CLOSED and not work.answered(s, t)
        ticked = request.form.get("no_answer") == "1"
        if unanswered and not ticked and t.state is not TicketState.CLOSED:
            raise work.TicketError(NO_ANSWER)
        why = form_text("no_answer_reason", work.MAX_REASON_CHARS + 1) if ticked else ""
        work.set_state(
            s, t, u, wanted, now, pending_until=until, no_answer_reason=why, client=client_address()
        )
        if until is not None:
            return f"The ticket is pending until {until:%Y-%m-%d %H:%M} UTC."
        if unanswered:
            return "The ticket is closed without an answer; your reason is in its history."
        return f"The ticket is {wanted.value} now."

    return change(number, "state", apply)


@bp.route("/priority", methods=["POST"])
def priority(number: str) -> Response:
    def apply(s: Session, t: Ticket, u: User, now: datetime) -> str:
        work.set_priority(s, t, u, form_text("priority"), now, client=client_address())
        return f"The priority is {t.priority} now."

    return change(number, "priority", apply)


@dataclass
class MovePage:
    """The confirmation of a move to a queue more people may see (work/move.html)."""

    ticket: Ticket
    target: Queue
    seen_now: work.Audience
    seen_after: work.Audience
    reason: str = ""
    error: str = ""

    @property
    def newly(self) -> str:
        """Who sees the ticket after the move and not before, e.g. "volunteers"."""
        roles = [r for r in self.seen_after.counts if r not in self.seen_now.counts]
        names = [f"{r.value}s" if r is not Role.STAFF else "staff" for r in roles]
        return " and ".join(names)

    @property
    def newly_count(self) -> int:
        return sum(n for r, n in self.seen_after.counts.items() if r not in self.seen_now.counts)


def _confirm_move(page: MovePage, status: int = 200) -> tuple[str, int]:
    return render_template("webui/work/move.html", page=page, ticket_url=ticket_url), status


@bp.route("/move", methods=["POST"])
def move(number: str) -> Response | tuple[str, int]:
    """Move the ticket; to a queue more people may see only after the confirmation page,
    with a reason (queues.tickets.move refuses it without one)."""
    ticket = ticket_or_404(number, AuditAction.VIEW, "move requested")
    slug = form_text("queue", 64).strip()
    if not slug:
        return back(ticket.number, "Choose the queue to move the ticket to.")
    session = db.session()
    me = agent().user
    target = next((q for q in visible_queues(session, me) if q.slug == slug), None)
    wider = target is not None and work.widens(ticket.queue, target)
    page = None
    if target is not None and wider:
        page = MovePage(
            ticket, target, work.audience(session, ticket.queue), work.audience(session, target)
        )
        if request.form.get("confirm") != "1":
            return _confirm_move(page)
        page.reason = request.form.get("reason", "")[: work.MAX_REASON_CHARS + 1]
    ticket_id, user_id, shown = ticket.id, me.id, ticket.number
    try:
        with db.writing() as writer:
            fresh, user = in_writer(writer, ticket_id, user_id)
            reason = page.reason if page is not None else ""
            work.move(writer, fresh, user, slug, utcnow(), reason=reason, client=client_address())
            name = fresh.queue.name
    except work.TicketError as exc:
        if page is not None:
            page.error = str(exc)
            return _confirm_move(page, 422)
        return back(shown, str(exc))
    if page is not None:
        return back(shown, f"The ticket is in {name} now; your reason is in its history.")
    return back(shown, f"The ticket is in {name} now.")


# --- merge, link, note ------------------------------------------------------------------------


@bp.route("/merge", methods=["POST"])
def merge(number: str) -> Response:
    ticket = ticket_or_404(number, AuditAction.VIEW, "merge requested")
    ticket_id, user_id, shown = ticket.id, agent().user.id, ticket.number
    try:
        with db.writing() as writer:
            fresh, user = in_writer(writer, ticket_id, user_id)
            target = work.merge(
                writer, fresh, form_text("target", 40), user, utcnow(), client=client_address()
            )
            target_number = target.number
    except work.TicketError as exc:
        return back(shown, str(exc))
    return back(target_number, f"Ticket {shown} is merged into this one.")


@bp.route("/link", methods=["POST"])
def link(number: str) -> Response:
    def apply(s: Session, t: Ticket, u: User, now: datetime) -> str:
        other = work.link(s, t, form_text("other", 40), u, now, client=client_address())
        return f"Linked to ticket {other.number}."

    return change(number, "link", apply)


@bp.route("/reply-addresses/revoke", methods=["POST"])
def revoke_reply_addresses(number: str) -> Response:
    """Staff: the ticket's reply addresses stop working (issue 8); 404 for anyone else."""
    if agent().user.role is not Role.STAFF:
        abort(404)

    def apply(s: Session, t: Ticket, u: User, now: datetime) -> str:
        count = revoke(s, t, u, now, client=client_address())
        return f"Reply addresses revoked ({count}); the next mail to the requester has a new one."

    return change(number, "revoke reply addresses", apply)


@bp.route("/note", methods=["POST"])
def note(number: str) -> Response:
    def apply(s: Session, t: Ticket, u: User, now: datetime) -> str:
        text = request.form.get("text", "")
        work.add_note(s, t, u, text, now, client=client_address())
        return "Your internal note is added (it is never mailed)."

    return change(number, "note", apply)


# --- reply ------------------------------------------------------------------------------------


@dataclass
class ReplyPage:
    """Everything the reply form shows; `draft` holds what is in (or goes into) the fields."""

    ticket: Ticket
    draft: replies.Draft
    articles: list[Article]
    templates: list[ReplyTemplate]
    template_id: int | None = None
    answered: Article | None = None  # the message being answered, shown beside the form
    answered_parts: list[Part] = field(default_factory=list)
    lock: work.LockInfo | None = None
    lock_until: datetime | None = None
    signature: str = ""
    error: str = ""
    state: str = ""
    pending_until: str = ""


def _reply_page(page: ReplyPage, status: int = 200) -> tuple[str, int]:
    if page.answered is None and page.articles:
        wanted = page.draft.answer_to_id
        chosen = [a for a in page.articles if a.id == wanted]
        page.answered = chosen[0] if chosen else _newest_incoming(page.articles)
    if page.answered is not None:
        page.answered_parts = split_quotes(page.answered.body_text or "")
    return (
        render_template(
            "webui/work/reply.html", page=page, ticket_url=ticket_url, kind_labels=KIND_LABELS
        ),
        status,
    )


def _newest_incoming(articles: list[Article]) -> Article | None:
    """What a reply answers unless the agent chooses: the requester's latest message, not
    our own acknowledgement or reply (replies.answered_article, from a list in hand)."""
    incoming = [a for a in articles if a.kind is ArticleKind.INCOMING]
    return incoming[-1] if incoming else (articles[-1] if articles else None)


def _article_id(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


@bp.route("/reply", methods=["GET", "POST"])
def reply(number: str) -> tuple[str, int] | Response:
    ticket = ticket_or_404(
        number, AuditAction.VIEW, "reply form" if request.method == "GET" else "reply requested"
    )
    me = agent()
    session = db.session()
    conf = settings()
    if request.method == "POST":
        return _send(ticket, me)

    page = ReplyPage(
        ticket=ticket,
        draft=replies.Draft(body=""),
        articles=replies.answerable_articles(session, ticket),
        templates=replies.templates_for(session, ticket),
    )
    try:  # the message chosen when a template was picked, else the newest incoming one
        asked = _article_id(request.args.get("answer_to", "")[:30])
        answered = replies.answered_article(session, ticket, asked)
    except work.TicketError:
        answered = replies.answered_article(session, ticket)
    page.draft.answer_to_id = answered.id if answered is not None else None
    page.draft.to = replies.default_recipient(ticket, answered)
    page.draft.subject = replies.reply_subject("", ticket, conf)
    context = replies.template_context(ticket, me.user, conf)
    try:
        page.signature = replies.render_signature(ticket.queue, context)
    except work.TicketError as exc:
        page.error = str(exc)
    chosen = request.args.get("template", "").strip()
    if chosen:
        try:
            template = replies.template_for(session, ticket, chosen[:20])
            rendered = replies.render_reply_template(template, context)
            page.template_id = template.id
            page.draft.body = rendered.body
            if rendered.subject:
                page.draft.subject = replies.reply_subject(rendered.subject, ticket, conf)
        except work.TicketError as exc:
            page.error = str(exc)
    if ticket.merged_into_id is not None:
        page.error = "This ticket was merged into another one: reply there."
        return _reply_page(page)
    ticket_id, user_id = ticket.id, me.user.id
    try:
        with db.writing() as writer:
            fresh, user = in_writer(writer, ticket_id, user_id)
            page.lock_until = replies.open_reply(
                writer, fresh, user, utcnow(), client=client_address()
            )
    except work.LockHeld as exc:
        page.lock = work.LockInfo(0, exc.holder, exc.until)
    except work.TicketError as exc:
        page.error = str(exc)
    return _reply_page(page)


def _send(ticket: Ticket, me: Agent) -> tuple[str, int] | Response:
    session = db.session()
    conf = settings()
    page = ReplyPage(
        ticket=ticket,
        draft=replies.Draft(
            body=request.form.get("body", "")[: replies.MAX_BODY_CHARS + 1],
            subject=form_text("subject"),
            to=form_text("to"),
            cc=form_text("cc"),
            answer_to_id=_article_id(form_text("answer_to", 30)),
        ),
        articles=replies.answerable_articles(session, ticket),
        templates=replies.templates_for(session, ticket),
        state=form_text("state", 20),
        pending_until=form_text("pending_until", 40),
    )
    try:
        page.signature = replies.render_signature(
            ticket.queue, replies.template_context(ticket, me.user, conf)
        )
        if page.state:
            page.draft.state = work.parse_state(page.state)
            if page.draft.state is TicketState.PENDING:
                page.draft.pending_until = parse_pending(page.pending_until)
        ticket_id, user_id = ticket.id, me.user.id
        with db.writing() as writer:
            fresh, user = in_writer(writer, ticket_id, user_id)
            sent = replies.send_reply(
                writer, fresh, user, page.draft, conf, utcnow(), client=client_address()
            )
    except work.LockHeld as exc:
        page.lock = work.LockInfo(0, exc.holder, exc.until)
        page.error = str(exc)
        return _reply_page(page, 409)
    except work.TicketError as exc:
        page.error = str(exc)
        return _reply_page(page)
    if isinstance(sent, replies.HeldForReview):
        # Probation (queues.team.probation): nothing left; saying "queued" would be untrue.
        flash(
            f"Your reply waits for your mentor's review before it is sent: {sent.subject}. "
            "It is listed under Reviews."
        )
    else:
        flash(f"Your reply is queued for sending: {sent.subject}")
    return redirect(ticket_url(ticket.number), code=303)
