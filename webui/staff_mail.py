"""The `staff_mail` blueprint: mail that is stuck, for staff: quarantined inbound, failed outbox.

Quarantined (and failed) inbound messages are listed with their error, never their content
(staff may download the raw bytes as an attachment); re-running one hands it back to the
ingest runners with fresh attempts (queues.ingest.requeue_quarantined), and when the app was
given the parser (config INGEST_PARSER, set by the `switchboard` command) processes it at
once. Failed outgoing mail (and mail queued for long) can be retried, with the same
Message-ID and a fresh deadline, or discarded with a note on the ticket. Every change is
recorded: in the audit log, and on the ticket's history for outgoing mail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from queues.audit import AuditAction, record, record_staff_change
from queues.ingest import Outcome, process_stored, requeue_quarantined
from queues.mail import IncomingMail
from queues.models import (
    InboundMail,
    InboundState,
    OutboxMessage,
    OutboxState,
    Ticket,
    TicketEvent,
    utcnow,
)
from webui import db
from webui.config import settings as _settings
from webui.downloads import download_headers
from webui.login import agent, client_address
from webui.staff import ActionForm, staff_only

bp = Blueprint("staff_mail", __name__, url_prefix="/staff/mail")
bp.before_request(staff_only)

STUCK = (InboundState.QUARANTINED, InboundState.FAILED)
LIST_LIMIT = 200
RERUN_ALL_LIMIT = 500
# Queued mail older than this is listed with the failures: something is holding it back.
LONG_QUEUED = timedelta(hours=1)
ERROR_EXCERPT = 2_000


class DiscardForm(FlaskForm):  # type: ignore[misc]
    note = TextAreaField("Why it is discarded", validators=[DataRequired(), Length(max=1_000)])


def _parser() -> Callable[[bytes], IncomingMail] | None:
    parser: Callable[[bytes], IncomingMail] | None = current_app.config.get("INGEST_PARSER")
    return parser


# --- quarantined inbound mail ------------------------------------------------------------------


@bp.route("/quarantine")
def quarantine() -> str:
    session = db.session()
    rows = session.execute(
        select(
            InboundMail.id,
            InboundMail.state,
            InboundMail.source,
            InboundMail.envelope_from,
            InboundMail.envelope_to,
            InboundMail.received_at,
            InboundMail.size,
            InboundMail.attempts,
            InboundMail.next_attempt_at,
            func.substr(InboundMail.last_error, 1, ERROR_EXCERPT).label("last_error"),
        )
        .where(InboundMail.state.in_(STUCK))
        .order_by(InboundMail.received_at.desc(), InboundMail.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    total = session.scalar(select(func.count(InboundMail.id)).where(InboundMail.state.in_(STUCK)))
    return render_template(
        "webui/staff_mail/quarantine.html",
        rows=rows,
        total=total or 0,
        limit=LIST_LIMIT,
        action_form=ActionForm(),
        processes_at_once=_parser() is not None,
    )


@bp.route("/quarantine/<int:inbound_id>/raw")
def raw(inbound_id: int) -> Response:
    """The message exactly as received, as a download (never shown in the page)."""
    me = agent()
    content = db.session().scalar(select(InboundMail.raw).where(InboundMail.id == inbound_id))
    if content is None:
        abort(404)
    with db.writing() as writer:
        detail = f"raw inbound message {inbound_id} downloaded"
        record_staff_change(writer, me.user, client_address(), detail)
    name = f"inbound-{inbound_id}.eml"
    response = Response(content, mimetype="application/octet-stream")
    response.headers.update(download_headers(name, name))
    response.headers["Content-Type"] = "application/octet-stream"
    return response


def _process_now(ids: list[int]) -> list[Outcome]:
    parse = _parser()
    if parse is None:
        return []
    factory = db.database().writes
    return [process_stored(factory, i, _settings(), parse) for i in ids]


def _report(outcomes: list[Outcome], count: int) -> str:
    if not outcomes:
        return f"{count} message(s) handed back to the ingest runners with fresh attempts."
    kinds: dict[str, int] = {}
    for outcome in outcomes:
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return f"Re-ran {count} message(s): {summary}."


@bp.route("/quarantine/<int:inbound_id>/rerun", methods=["POST"])
def rerun(inbound_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = agent()
    try:
        with db.writing() as writer:
            requeue_quarantined(writer, inbound_id)
            detail = f"inbound message {inbound_id} re-run"
            record_staff_change(writer, me.user, client_address(), detail)
    except LookupError:
        abort(404)
    except ValueError:
        flash(f"Message {inbound_id} is no longer quarantined.")
        return redirect(url_for("staff_mail.quarantine"))
    flash(_report(_process_now([inbound_id]), 1))
    return redirect(url_for("staff_mail.quarantine"))


@bp.route("/quarantine/rerun-all", methods=["POST"])
def rerun_all() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = agent()
    with db.writing() as writer:
        ids = list(
            writer.scalars(
                select(InboundMail.id)
                .where(InboundMail.state.in_(STUCK))
                .order_by(InboundMail.id)
                .limit(RERUN_ALL_LIMIT)
            )
        )
        for inbound_id in ids:
            requeue_quarantined(writer, inbound_id)
        if ids:
            detail = f"{len(ids)} quarantined inbound messages re-run"
            record_staff_change(writer, me.user, client_address(), detail)
    flash(_report(_process_now(ids), len(ids)))
    return redirect(url_for("staff_mail.quarantine"))


# --- outgoing mail that did not leave ----------------------------------------------------------


def _stuck_outbox() -> list[tuple[OutboxMessage, str | None]]:
    long_ago = utcnow() - LONG_QUEUED
    stmt = (
        select(OutboxMessage, Ticket.number)
        .outerjoin(Ticket, Ticket.id == OutboxMessage.ticket_id)
        .where(
            or_(
                OutboxMessage.state == OutboxState.FAILED,
                (OutboxMessage.state.in_((OutboxState.QUEUED, OutboxState.SENDING)))
                & (OutboxMessage.created_at < long_ago),
            )
        )
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(LIST_LIMIT)
    )
    return [(row, number) for row, number in db.session().execute(stmt).all()]


@bp.route("/outbox")
def outbox() -> str:
    return render_template(
        "webui/staff_mail/outbox.html",
        rows=_stuck_outbox(),
        limit=LIST_LIMIT,
        action_form=ActionForm(),
        discard_form=DiscardForm(),
        excerpt=ERROR_EXCERPT,
    )


@bp.route("/outbox/<int:outbox_id>/retry", methods=["POST"])
def retry(outbox_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    hours = timedelta(hours=_settings().outbox_deadline_hours)
    with db.writing() as writer:
        message = writer.get(OutboxMessage, outbox_id)
        if message is None:
            abort(404)
        if message.state is OutboxState.SENT:
            flash(f"Outgoing message {outbox_id} was sent meanwhile.")
            return redirect(url_for("staff_mail.outbox"))
        now = utcnow()
        message.state = OutboxState.QUEUED
        message.attempts = 0
        message.next_attempt_at = now
        message.deadline = now + hours  # the Message-ID stays: the requester sees one mail
        recipients = ", ".join(message.recipients)
        _record(writer, message, "delivery-retry", f"staff retry of the mail to {recipients}")
    flash(f"Outgoing message {outbox_id} is queued again.")
    return redirect(url_for("staff_mail.outbox"))


@bp.route("/outbox/<int:outbox_id>/discard", methods=["POST"])
def discard(outbox_id: int) -> Response:
    form = DiscardForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash("Say why the message is discarded: the note goes on the ticket.")
        return redirect(url_for("staff_mail.outbox"))
    note = " ".join((form.note.data or "").split())
    with db.writing() as writer:
        message = writer.get(OutboxMessage, outbox_id)
        if message is None:
            abort(404)
        if message.state is OutboxState.SENT:
            flash(f"Outgoing message {outbox_id} was sent meanwhile.")
            return redirect(url_for("staff_mail.outbox"))
        recipients = ", ".join(message.recipients)
        detail = f"discarded the undelivered mail to {recipients}: {note}"
        _record(writer, message, "delivery-discarded", detail)
        # The outgoing article stays in the thread; only the attempt to deliver it ends.
        writer.delete(message)
    flash(f"Outgoing message {outbox_id} is discarded.")
    return redirect(url_for("staff_mail.outbox"))


def _record(writer: Session, message: OutboxMessage, kind: str, detail: str) -> None:
    """Note a change to `message` on its ticket's history (and audit), else in the audit log."""
    me = agent()
    ticket = writer.get(Ticket, message.ticket_id) if message.ticket_id is not None else None
    action = "retried" if kind == "delivery-retry" else "discarded"
    if ticket is None:
        label = f"outgoing message {message.id} {action}"
        record_staff_change(writer, me.user, client_address(), label)
        return
    writer.add(TicketEvent(ticket_id=ticket.id, actor=me.email, kind=kind, detail=detail))
    record(
        writer,
        me.user,
        AuditAction.CHANGE,
        ticket,
        client_address(),
        f"outgoing message {message.id} {action}",
    )
