"""The `staff_abuse` blueprint: the abuse controls, for staff; "mark as abusive" for agents.

Staff (/staff/abuse): the block and allow lists (an address or a whole domain, a reason, an
optional expiry), the senders marked abusive, the messages held for a decision (release:
processed as usual; discard: kept, no ticket), and the record of what the controls did,
where a message the cap or a flood added to another ticket can be split out into a ticket
of its own. Ending an entry keeps it in the list of ended entries. Every change is in the
audit log (never mail content) and in `abuse_actions`.

Agents: on a ticket they may see, "Mark the sender as abusive" with a reason (no more
automatic mail to them; their later new reports are held for staff). Only staff undo it,
by ending the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from queues.abuse import actions
from queues.abuse.lists import ListError, Standing, add_rule, remove_rule, rules, standing
from queues.abuse.models import ALLOW, BLOCK, RULE_KINDS, AbuseAction, SenderRule
from queues.audit import AuditAction, record_staff_change
from queues.ingest import process_stored
from queues.models import InboundMail, Ticket, User, utcnow
from webui import db
from webui.config import settings as _settings
from webui.login import agent, client_address
from webui.need_to_know import ticket_or_404
from webui.staff import staff_only
from webui.tickets import ticket_url

bp = Blueprint("staff_abuse", __name__)

KIND_LABELS = {BLOCK: "Block", ALLOW: "Allow", "abusive": "Marked abusive"}
MAX_EXPIRY_DAYS = 3650


def _back() -> Response:
    return redirect(url_for("staff_abuse.index"))


def _me() -> User:
    """The signed-in agent, read before a write transaction begins (what the request's
    session reads inside one would be read in a transaction of its own)."""
    me = agent().user
    _ = me.id, me.email
    return me


def _note(writer: Session, me: User, detail: str) -> None:
    record_staff_change(writer, me, client_address(), detail[:200])


@bp.get("/staff/abuse")
def index() -> str:
    staff_only()
    session = db.session()
    now = utcnow()
    held = actions.open_actions(session)
    recent = actions.recent_actions(session)
    ticket_ids = {a.ticket_id for a in [*held, *recent] if a.ticket_id is not None}
    rows = session.execute(select(Ticket.id, Ticket.number).where(Ticket.id.in_(ticket_ids)))
    numbers = {ticket_id: number for ticket_id, number in rows}
    return render_template(
        "webui/staff_abuse/index.html",
        current=rules(session, now),
        ended=rules(session, now, current=False),
        held=held,
        recent=recent,
        decided=actions.decided_ids(session, [a.id for a in recent]),
        numbers=numbers,
        kind_labels=KIND_LABELS,
        kinds=RULE_KINDS,
        ticket_url=ticket_url,
        now=now,
    )


def _expiry(raw: str, now: datetime) -> datetime | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_EXPIRY_DAYS:
        raise ListError(f"Expiry: a number of days from 1 to {MAX_EXPIRY_DAYS}, or empty.")
    return now + timedelta(days=int(text))


@bp.post("/staff/abuse/entries")
def add() -> Response:
    staff_only()
    now = utcnow()
    me = _me()
    try:
        with db.writing() as writer:
            rule = add_rule(
                writer,
                request.form.get("kind", ""),
                request.form.get("target", "")[:400],
                request.form.get("reason", ""),
                me.email,
                now,
                expires_at=_expiry(request.form.get("expires_days", ""), now),
            )
            _note(writer, me, f"abuse list: {rule.kind} entry {rule.id} added")
    except ListError as exc:
        flash(str(exc))
        return _back()
    flash(f"{KIND_LABELS.get(rule.kind, rule.kind)} entry added for {rule.value}.")
    return _back()


@bp.post("/staff/abuse/entries/<int:entry_id>/remove")
def remove(entry_id: int) -> Response:
    staff_only()
    me = _me()
    try:
        with db.writing() as writer:
            rule = writer.get(SenderRule, entry_id)
            if rule is None:
                raise ListError("There is no such entry.")
            remove_rule(writer, rule, me.email, utcnow())
            _note(writer, me, f"abuse list: {rule.kind} entry {rule.id} ended")
    except ListError as exc:
        flash(str(exc))
        return _back()
    flash(f"The {KIND_LABELS.get(rule.kind, rule.kind).lower()} entry for {rule.value} ended.")
    return _back()


def _decide(action_id: int, decide: Callable[[Session, AbuseAction, User], str]) -> str | None:
    """Run a staff decision on an action in a write transaction; returns what to say, or
    None when it could not be done (the reason is flashed)."""
    user_id = _me().id
    try:
        with db.writing() as writer:
            action = writer.get(AbuseAction, action_id)
            if action is None:
                raise actions.ActionError("There is no such message.")
            return decide(writer, action, writer.get_one(User, user_id))
    except actions.ActionError as exc:
        flash(str(exc))
        return None


@bp.post("/staff/abuse/actions/<int:action_id>/release")
def release(action_id: int) -> Response:
    staff_only()

    def decide(writer: Session, action: AbuseAction, me: User) -> str:
        actions.release(writer, action, me, utcnow())
        _note(writer, me, f"abuse control: message {action.inbound_id} released")
        return str(action.inbound_id)

    released = _decide(action_id, decide)
    if released is None:
        return _back()
    parse = current_app.config.get("INGEST_PARSER")
    if parse is not None:
        # The serving process processes it at once, as staff_mail's re-run does.
        outcome = process_stored(db.database().writes, int(released), _settings(), parse)
        flash(f"Message released: {outcome.kind} {outcome.ticket_number or ''}".strip())
    else:
        flash("Message released: the mail runners process it now.")
    return _back()


@bp.post("/staff/abuse/actions/<int:action_id>/discard")
def discard(action_id: int) -> Response:
    staff_only()

    def decide(writer: Session, action: AbuseAction, me: User) -> str:
        actions.discard(writer, action, me, utcnow())
        _note(writer, me, f"abuse control: held message {action.inbound_id} discarded")
        return "The message stays held: kept, no ticket, nothing sent."

    said = _decide(action_id, decide)
    if said is not None:
        flash(said)
    return _back()


@bp.post("/staff/abuse/actions/<int:action_id>/split")
def split(action_id: int) -> Response:
    staff_only()

    def decide(writer: Session, action: AbuseAction, me: User) -> str:
        ticket = actions.split_out(writer, action, me, _settings(), utcnow())
        detail = f"abuse control: message {action.inbound_id} split out, ticket {ticket.id}"
        _note(writer, me, detail)
        return f"The message is now ticket {ticket.number}."

    said = _decide(action_id, decide)
    if said is not None:
        flash(said)
    return _back()


# --- on a ticket: mark the sender abusive --------------------------------------------------


@bp.post("/tickets/<number>/abusive")
def mark(number: str) -> Response:
    found = ticket_or_404(number, AuditAction.CHANGE, "sender marked abusive")
    ticket_id, back = found.id, ticket_url(found.number)
    me = _me()
    try:
        with db.writing() as writer:
            ticket = writer.get_one(Ticket, ticket_id)
            reason = request.form.get("reason", "")
            rule = actions.mark_abusive(writer, ticket, me, reason, utcnow())
            _note(writer, me, f"abuse list: abusive entry {rule.id} added from a ticket")
    except ListError as exc:
        flash(str(exc))
        return redirect(back)
    flash("The sender is marked abusive: no more automatic mail; new reports are held for staff.")
    return redirect(back)


def sender_standing(ticket: Ticket) -> Standing:
    """What the lists say about the ticket's requester now (the ticket page)."""
    if ticket.requester is None:
        return Standing()
    return standing(db.session().connection(), ticket.requester.email, utcnow())


def held_message(inbound_id: int | None) -> InboundMail | None:
    return db.session().get(InboundMail, inbound_id) if inbound_id is not None else None


def init_app(app: Flask) -> None:
    """Register the blueprint and the Jinja global the ticket page uses."""
    app.register_blueprint(bp)
    app.jinja_env.globals["sender_standing"] = sender_standing
