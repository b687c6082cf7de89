"""The `escalate` blueprint: the way back for what triage missed, and triage on a ticket's page.

- POST /tickets/<number>/escalate: any agent, on a ticket in a queue volunteers see, with
  an optional reason and kind of risk (the button sends escalate=yes; a POST without it,
  not from the form, changes nothing): the ticket goes to specialist-safety at once
  (queues.triage.feedback.record_escalation: priority at least high, history, audit, a
  triage miss). An agent who can no longer see it is sent back to the list they came from
  or to the queue's list, with a confirmation naming the ticket: never a 404. One who still
  sees it (a specialist) gets the ticket again. "The list they came from" is the last list
  page the agent opened, kept in their session (pages send no Referer: Referrer-Policy
  no-referrer), and checked again against what they may see now.
- GET /escalated: the agent's own trace, "you escalated ticket N on DATE": the number and
  the date, nothing more (no subject, no state, no link).
- "Not serious: back to general help" on a restricted ticket, for specialists and staff:
  a button into the deliberate move of webui.work (the same confirmation page, naming who
  will then see it, and the required reason; queues.tickets.move records the false alarm
  through queues.triage.feedback.record_false_alarm).

It also gives the ticket page (templates/webui/tickets/view.html and work/_actions.html,
through small includes under templates/webui/escalate/) two helpers: `triage_view(ticket)`,
the stored reasons with the report's words marked in the messages (queues.triage.marks),
and `escalation_panel(ticket, me)`, what the escalate and not-serious actions show.

Nothing here mails anyone. The on-call notifications (issue 12) find an escalated ticket by
its history row of kind "escalated" in specialist-safety.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from queues.access import can_see_queue, role_at_least, ticket_for
from queues.audit import AuditAction
from queues.models import Article, Queue, Role, Ticket, User
from queues.tickets import TicketError, lock_for_update
from queues.triage.feedback import (
    SAFETY_QUEUE,
    Escalated,
    can_escalate,
    escalations_by,
    record_escalation,
    ticket_feedback,
)
from queues.triage.feedback_models import TriageFeedback
from queues.triage.hits import CATEGORIES, CATEGORY_LABELS
from queues.triage.marks import ArticleMarks, Reason, article_marks, reasons
from queues.triage.staff import current_lexicon
from webui import db
from webui.config import settings
from webui.login import Agent, agent, client_address
from webui.need_to_know import ticket_or_404
from webui.tickets import ticket_url
from webui.timefmt import stamp

bp = Blueprint("escalate", __name__)

BACK_TO = "general-help"  # where "not serious" sends a ticket
MAX_REASON_FIELD = 2000
TRACE_LENGTH = 50
# Pages an agent may be sent back to after an escalation: lists, which show only what the
# agent may see (a queue's list is checked for the queue).
BACK_ENDPOINTS = frozenset({"home.index", "lists.queue", "lists.mine", "lists.search"})
LAST_LIST = "escalate_back"  # session key: the last list page opened
MAX_BACK = 400


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- what the ticket page shows --------------------------------------------------------------


@dataclass
class TriageView:
    """The triage part of a ticket's page: reasons, marks per message, escalations."""

    reasons: list[Reason] = field(default_factory=list)
    marks: dict[int, ArticleMarks] = field(default_factory=dict)
    feedback: list[TriageFeedback] = field(default_factory=list)
    positions: dict[int, int] = field(default_factory=dict)  # article id -> its place (1..)


def triage_view(ticket: Ticket) -> TriageView:
    """What the page shows of triage for `ticket` (already checked visible)."""
    reads = db.session()
    feedback = ticket_feedback(reads, ticket)
    if not ticket.triage_reasons:
        return TriageView(feedback=feedback)
    articles = list(
        reads.scalars(select(Article).where(Article.ticket_id == ticket.id).order_by(Article.id))
    )
    marks = article_marks(articles, current_lexicon(reads), model=settings().triage_model)
    positions = {a.id: place for place, a in enumerate(articles, 1)}
    return TriageView(reasons(list(ticket.triage_reasons), marks), marks, feedback, positions)


@dataclass(frozen=True)
class Panel:
    """The escalate and not-serious actions of a ticket for one agent."""

    can_escalate: bool
    can_move_back: bool
    categories: tuple[tuple[str, str], ...] = ()
    back_to: str = BACK_TO  # the queue "not serious" moves a ticket to


def escalation_panel(ticket: Ticket, me: Agent | User) -> Panel:
    user = me.user if isinstance(me, Agent) else me
    return Panel(
        can_escalate=can_escalate(user, ticket),
        can_move_back=_can_move_back(user, ticket),
        categories=tuple((c, CATEGORY_LABELS[c]) for c in CATEGORIES),
    )


def _can_move_back(user: User, ticket: Ticket) -> bool:
    """Specialists and staff, on a ticket in specialist-safety (where triage, the safety
    address and escalations send reports), not merged. Other restricted queues (a police
    case) have the ordinary move only."""
    return (
        user.active
        and role_at_least(user.role, Role.SPECIALIST)
        and ticket.queue.slug == SAFETY_QUEUE
        and can_see_queue(user.role, ticket.queue)
        and ticket.merged_into_id is None
    )


@bp.app_context_processor
def _helpers() -> dict[str, object]:
    return {
        "triage_view": triage_view,
        "escalation_panel": escalation_panel,
        "category_labels": CATEGORY_LABELS,
        "stamp": stamp,
    }


# --- escalate ---------------------------------------------------------------------------------


@bp.before_app_request
def _remember_list() -> None:
    """Keep the last list page an agent opened: where an escalation sends them back."""
    if request.method == "GET" and request.endpoint in BACK_ENDPOINTS:
        browser_session[LAST_LIST] = request.full_path.rstrip("?")[:MAX_BACK]


def _back_path(value: str | None) -> str | None:
    """`value` (a URL or path) if it is a list page of this site the agent may open, as a
    path with its query; else None. Never another site, never a ticket's page."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return None
    if parts.netloc and parts.netloc != request.host:
        return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//") or any(c in value for c in "\r\n\\"):
        return None
    try:
        endpoint, args = current_app.url_map.bind(request.host).match(path, method="GET")
    except HTTPException:
        return None
    if endpoint not in BACK_ENDPOINTS:
        return None
    if endpoint == "lists.queue":
        queue = db.session().scalar(select(Queue).where(Queue.slug == args.get("slug")))
        if queue is None or not can_see_queue(agent().user.role, queue):
            return None
    return f"{path}?{parts.query}" if parts.query else path


@bp.route("/tickets/<number>/escalate", methods=["POST"])
def escalate(number: str) -> Response:
    ticket = ticket_or_404(number, AuditAction.VIEW, "escalation requested")
    ticket_id, user_id, shown = ticket.id, agent().user.id, ticket.number
    if request.form.get("escalate") != "yes":  # not the form's button: change nothing
        flash("Nothing was escalated: use the button “Escalate to specialists”.")
        return redirect(ticket_url(shown), code=303)
    old_queue = ticket.queue.slug
    reason = request.form.get("reason", "")[: MAX_REASON_FIELD + 1]
    category = request.form.get("category", "")[:40]
    try:
        with db.writing() as writer:
            fresh = lock_for_update(writer, ticket_id)
            user = writer.get_one(User, user_id)
            row = record_escalation(
                writer,
                fresh,
                user,
                reason,
                category=category,
                now=utcnow(),
                client=client_address(),
            )
            at = row.at
    except TicketError as exc:
        flash(str(exc))
        return redirect(ticket_url(shown), code=303)
    me = agent().user
    if ticket_for(db.session(), me, shown) is not None:
        flash(f"Ticket {shown} is escalated to the specialists ({stamp(at)}).")
        return redirect(ticket_url(shown), code=303)
    flash(
        f"You escalated ticket {shown} to the specialists on {stamp(at)}. It has left your "
        "lists; the specialists take it from here."
    )
    back = _back_path(browser_session.get(LAST_LIST)) or url_for("lists.queue", slug=old_queue)
    return redirect(back, code=303)


@bp.route("/escalated")
def trace() -> str:
    """The tickets the agent escalated: number and date only."""
    found: list[Escalated] = escalations_by(db.session(), agent().user, TRACE_LENGTH)
    return render_template("webui/escalate/trace.html", escalated=found)
