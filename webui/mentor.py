"""The `mentor` blueprint: replies waiting for review, for the mentor and for the agent.

/mentor lists, for the signed-in agent, the replies of their mentees that wait for them
(for staff: every waiting reply, those of agents without a mentor included), and their own
replies that wait or came back. A held reply's page shows it with the message it answers
and, to its mentor or staff, three actions: approve and send, edit and send, or return it
with a comment (queues.team.probation). Its author sees it and the comment; anyone else
gets a 404, and so does everyone who may not see its ticket. Opening a held reply of a
restricted ticket is in the ticket's audit log, like opening the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from queues import replies
from queues import tickets as work
from queues.audit import AuditAction, record
from queues.models import Article, Ticket, User, utcnow
from queues.team import probation
from queues.team.models import AgentProfile, HeldReply, HeldState
from webui import db
from webui.config import settings as _settings
from webui.login import agent, client_address, signed_in

bp = Blueprint("mentor", __name__, url_prefix="/mentor")


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A form whose fields are read from request.form: only its CSRF token is checked."""


@dataclass(frozen=True)
class Entry:
    """A held reply with what the lists show of it."""

    held: HeldReply
    ticket: Ticket
    author: User


def _entries(found: list[HeldReply]) -> list[Entry]:
    current = db.session()
    entries = []
    for held in found:
        ticket = current.get(Ticket, held.ticket_id)
        author = current.get(User, held.author_id)
        if ticket is not None and author is not None:
            entries.append(Entry(held, ticket, author))
    return entries


def mentoring() -> bool:
    """Whether the navigation shows "Reviews": to a mentor and to an agent on probation.
    Staff (who may review any waiting reply) reach the page through the staff hub."""
    me = signed_in()
    if me is None:
        return False
    user = me.user
    current = db.session()
    mentors = select(AgentProfile.user_id).where(AgentProfile.mentor_id == user.id).limit(1)
    return probation.holds_replies(current, user) or current.scalar(mentors) is not None


@bp.route("")
def index() -> str:
    me = agent().user
    current = db.session()
    return render_template(
        "webui/mentor/index.html",
        waiting=_entries(probation.waiting_for(current, me)),
        mine=_entries(probation.of_author(current, me)),
        counts=probation.counts(current, me.id),
        on_probation=probation.holds_replies(current, me),
    )


def _held_or_404(held_id: int) -> Entry:
    """The held reply if the agent may see it (its ticket audited when restricted), else 404."""
    me = agent().user
    current = db.session()
    held = current.get(HeldReply, held_id)
    if held is None or not probation.may_see(current, me, held):
        abort(404)
    entries = _entries([held])
    if not entries:
        abort(404)
    with db.writing() as writer:
        record(
            writer,
            writer.get_one(User, me.id),
            AuditAction.VIEW,
            writer.get_one(Ticket, held.ticket_id),
            client_address(),
            f"held reply {held.id}",
        )
    return entries[0]


def reply_url(held_id: int) -> str:
    return url_for("mentor.reply", held_id=held_id)


@bp.route("/replies/<int:held_id>")
def reply(held_id: int) -> str:
    entry = _held_or_404(held_id)
    me = agent().user
    current = db.session()
    answered = (
        current.get(Article, entry.held.answer_to_id)
        if entry.held.answer_to_id is not None
        else replies.answered_article(current, entry.ticket)
    )
    if answered is not None and answered.ticket_id != entry.ticket.id:
        answered = None
    return render_template(
        "webui/mentor/reply.html",
        entry=entry,
        answered=answered,
        may_review=probation.may_review(current, me, entry.held),
        waiting=entry.held.state is HeldState.WAITING,
        form=ActionForm(),
    )


def _decide(held_id: int) -> tuple[int, int]:
    """(held id, reviewer id) for a POST that decides: 404 unless the agent may review."""
    entry = _held_or_404(held_id)
    me = signed_in()
    if me is None or not probation.may_review(db.session(), me.user, entry.held):
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    return entry.held.id, me.user.id


def _send(held_id: int, body: str | None) -> Response:
    held_id, reviewer_id = _decide(held_id)
    try:
        with db.writing() as writer:
            work.lock_for_update(writer, writer.get_one(HeldReply, held_id).ticket_id)
            held = writer.get_one(HeldReply, held_id)
            sent = probation.approve(
                writer,
                held,
                writer.get_one(User, reviewer_id),
                _settings(),
                utcnow(),
                body=body,
                client=client_address(),
            )
    except work.TicketError as exc:
        flash(str(exc))
        return redirect(reply_url(held_id), code=303)
    flash(f"Sent: {sent.subject}")
    return redirect(url_for("mentor.index"), code=303)


@bp.route("/replies/<int:held_id>/approve", methods=["POST"])
def approve(held_id: int) -> Response:
    return _send(held_id, None)


@bp.route("/replies/<int:held_id>/edit", methods=["POST"])
def edit(held_id: int) -> Response:
    body = request.form.get("body", "")[: replies.MAX_BODY_CHARS + 1]
    return _send(held_id, body)


@bp.route("/replies/<int:held_id>/return", methods=["POST"], endpoint="return")
def give_back(held_id: int) -> Response:
    held_id, reviewer_id = _decide(held_id)
    try:
        with db.writing() as writer:
            work.lock_for_update(writer, writer.get_one(HeldReply, held_id).ticket_id)
            probation.return_reply(
                writer,
                writer.get_one(HeldReply, held_id),
                writer.get_one(User, reviewer_id),
                request.form.get("comment", "")[: probation.MAX_COMMENT + 1],
                utcnow(),
                client=client_address(),
            )
    except work.TicketError as exc:
        flash(str(exc))
        return redirect(reply_url(held_id), code=303)
    flash("Returned to the agent with your comment; nothing was sent.")
    return redirect(url_for("mentor.index"), code=303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["mentoring"] = mentoring
