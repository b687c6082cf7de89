"""The `status` blueprint: a reporter's status page by token, a new link on request, and the
staff's page to revoke or resend a ticket's status links.

/status/<token> (public) shows the state of the report as the reporter knows it (received,
being handled, waiting for you, closed: queues.reporter.statuslink) and nothing else: no
content, no names, no queue. Its form adds a message, stored like mail and processed by the
ingest path as a trusted follow-up of the ticket (addressed to a fresh reply address:
queues.reporter.form.status_message). An unknown or revoked token is a 404 page that offers
a new link.

/status/ (public) asks for the e-mail address and the ticket number; when both are the
ticket's requester's, a new link goes to that address (queues.reporter.status.send_link).
The page answers the same whatever was typed, so it tells nobody who wrote to us.

/status-links/<number> (staff only, a 404 for everyone else) shows how many links of the
ticket work, revokes them all, or mails the reporter a new one; each is on the ticket's
history and in the audit log.

Limits: messages per ticket and new links per client and per ticket, each
`status_messages_per_day` (queues.reporter.limits); a page is in the ticket's language.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from queues.audit import AuditAction
from queues.i18n import LANGUAGES, native_name, negotiate, parse_accept_language
from queues.ingest import process_stored
from queues.mail import IncomingMail
from queues.models import Ticket, TicketEvent, User, utcnow
from queues.numbers import format_tag
from queues.reporter import limits, statuslink
from queues.reporter import status as reporter_status
from queues.reporter.form import MAX_TEXT, FormError, status_message
from queues.reporter.texts import emergency_text
from queues.tickets import audit_change
from webui import db
from webui.config import settings
from webui.i18n import use_language
from webui.login import agent, client_address
from webui.need_to_know import ticket_or_404
from webui.security import public
from webui.staff import ActionForm, staff_only

bp = Blueprint("status", __name__)

# New links a ticket may be sent in 24 hours, whoever asks (each is a mail to the reporter).
LINKS_PER_TICKET = 3


class MessageForm(FlaskForm):  # type: ignore[misc]
    message = TextAreaField(
        lazy_gettext("Add a message to your report"),
        validators=[
            DataRequired(message=lazy_gettext("Write your message first.")),
            Length(max=MAX_TEXT),
        ],
    )


class NewLinkForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        lazy_gettext("Your e-mail address"),
        validators=[
            DataRequired(message=lazy_gettext("Give your e-mail address.")),
            Length(max=320),
        ],
    )
    number = StringField(
        lazy_gettext("The number of your report"),
        validators=[DataRequired(message=lazy_gettext("Give the number.")), Length(max=40)],
    )


def _parser() -> Callable[[bytes], IncomingMail] | None:
    parser: Callable[[bytes], IncomingMail] | None = current_app.config.get("INGEST_PARSER")
    return parser


def _language(preferred: str | None = None) -> str:
    chosen = request.args.get("lang", "")
    if chosen in LANGUAGES:
        return use_language(chosen)
    wanted = parse_accept_language(request.headers.get("Accept-Language"))
    return use_language(negotiate(preferred, *wanted))


def _languages() -> list[tuple[str, str]]:
    return [(code, native_name(code)) for code in LANGUAGES]


def _windows(limit: int) -> list[tuple[int, timedelta]]:
    return [(limit, timedelta(days=1))]


# --- the reporter's page ------------------------------------------------------------------


def _not_found() -> tuple[str, int]:
    language = _language()
    page = render_template(
        "webui/status/unknown.html",
        language=language,
        languages=_languages(),
        emergency=emergency_text(settings(), language),
    )
    return page, 404


@bp.route("/status/<token>", methods=["GET", "POST"])
@public
def page(token: str) -> str | Response | tuple[str, int]:
    found = statuslink.view(db.session(), token)
    if found is None:
        return _not_found()
    language = _language(found.language)
    form = MessageForm()
    problem = ""
    if request.method == "POST":
        if form.validate_on_submit():
            added = _add_message(found, form.message.data or "")
            if added:
                flash(gettext("Your message is added to your report. Thank you."))
                return redirect(url_for("status.page", token=token, lang=language), code=303)
            problem = gettext(
                "Your report has had many messages today, so we cannot take another one "
                "here now. Please reply to our e-mail instead. Your text is still here."
            )
        elif form.csrf_token.errors:
            problem = gettext(
                "The form had expired. Your text is still here: please send it again."
            )
    return render_template(
        "webui/status/page.html",
        view=found,
        form=form,
        problem=problem,
        language=language,
        languages=_languages(),
        emergency=emergency_text(settings(), language),
    )


def _add_message(found: statuslink.StatusView, text: str) -> bool:
    """Store the message as a follow-up and process it; False when the ticket's limit is
    reached (nothing stored)."""
    current = settings()
    now = utcnow()
    key = f"ticket:{found.ticket_id}"
    parse = _parser()
    with db.writing() as writer:
        windows = _windows(current.status_messages_per_day)
        if limits.over_limit(writer, key, limits.STATUS_MESSAGE, now, windows):
            return False
        ticket = writer.get(Ticket, found.ticket_id)
        if ticket is None or ticket.requester is None:
            abort(404)
        sender = reporter_status.our_address(writer, ticket, current)
        subject = f"{format_tag(current.ticket_tag_prefix, ticket.number)} {ticket.subject}"
        try:
            inbound = status_message(
                writer,
                ticket.id,
                ticket.requester.email,
                subject,
                text,
                sender,
                current,
                limits.client_key(client_address()),
                now,
                # Claimed only when this request processes it: else the runners take it
                # at once, not after the claim's lease.
                claim=parse is not None,
            )
        except FormError:
            abort(400)
        limits.count_post(writer, key, limits.STATUS_MESSAGE, now)
        inbound_id = inbound.id
    if parse is not None:
        process_stored(db.database().writes, inbound_id, current, parse, attempt_counted=True)
    return True


@bp.route("/status/", methods=["GET", "POST"])
@public
def new_link() -> str | Response:
    language = _language()
    form = NewLinkForm()
    done = False
    if form.validate_on_submit():
        _send_new_link(form.email.data or "", form.number.data or "")
        done = True
    return render_template(
        "webui/status/new_link.html",
        form=form,
        done=done,
        language=language,
        languages=_languages(),
        emergency=emergency_text(settings(), language),
    )


def _send_new_link(email: str, number: str) -> None:
    """A new link to the ticket's requester if `email` is theirs; silent either way."""
    current = settings()
    now = utcnow()
    client = limits.client_key(client_address())
    with db.writing() as writer:
        windows = _windows(current.status_messages_per_day)
        if limits.over_limit(writer, client, limits.NEW_LINK, now, windows):
            return
        limits.count_post(writer, client, limits.NEW_LINK, now)
        ticket = writer.scalar(select(Ticket).where(Ticket.number == number.strip().lstrip("#")))
        requester = ticket.requester if ticket is not None else None
        if ticket is None or requester is None:
            return
        if requester.email.lower() != email.strip().lower():
            return
        key = f"ticket:{ticket.id}"
        if limits.over_limit(writer, key, limits.NEW_LINK, now, _windows(LINKS_PER_TICKET)):
            return
        limits.count_post(writer, key, limits.NEW_LINK, now)
        reporter_status.send_link(writer, ticket, current, now)


# --- staff: revoke or resend a ticket's links ----------------------------------------------


@bp.route("/status-links/")
def find_links() -> str | Response:
    staff_only()
    number = request.args.get("number", "").strip().lstrip("#")[:40]
    if number:
        return redirect(url_for("status.links", number=number))
    return render_template("webui/status/find_links.html")


@bp.route("/status-links/<number>", methods=["GET"])
def links(number: str) -> str:
    staff_only()
    ticket = ticket_or_404(number, AuditAction.VIEW, "status links viewed")
    session = db.session()
    history = session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.like("status-%"))
        .order_by(TicketEvent.id.desc())
        .limit(50)
    ).all()
    return render_template(
        "webui/status/links.html",
        ticket=ticket,
        live=statuslink.live_links(session.connection(), ticket.id),
        history=history,
        action_form=ActionForm(),
        can_send=bool(settings().web_base_url),
    )


@bp.route("/status-links/<number>/revoke", methods=["POST"])
def revoke(number: str) -> Response:
    staff_only()
    if not ActionForm().validate_on_submit():
        abort(400)
    ticket = ticket_or_404(number, AuditAction.CHANGE, "status links revoked")
    # Plain values first: objects of the reading session are never touched in a write.
    ticket_id, user_id, actor = ticket.id, agent().user.id, agent().email
    now = utcnow()
    with db.writing() as writer:
        count = statuslink.revoke(writer.connection(), ticket_id, actor, now)
        fresh = writer.get_one(Ticket, ticket_id)
        writer.add(
            TicketEvent(
                ticket_id=ticket_id,
                at=now,
                actor=actor,
                kind="status-link-revoked",
                detail=f"{count} status link{'s' if count != 1 else ''} revoked",
            )
        )
        user = writer.get_one(User, user_id)
        audit_change(writer, user, fresh, client_address(), "status links revoked")
    flash(f"{count} status link{'s' if count != 1 else ''} revoked.")
    return redirect(url_for("status.links", number=number), code=303)


@bp.route("/status-links/<number>/send", methods=["POST"])
def send(number: str) -> Response:
    staff_only()
    if not ActionForm().validate_on_submit():
        abort(400)
    ticket_id = ticket_or_404(number, AuditAction.CHANGE, "status link sent").id
    with db.writing() as writer:
        fresh = writer.get_one(Ticket, ticket_id)
        why = reporter_status.send_link(writer, fresh, settings(), utcnow())
    flash(f"Not sent: {why}." if why else "A new status link is on its way to the reporter.")
    return redirect(url_for("status.links", number=number), code=303)
