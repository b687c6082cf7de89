"""The `staff_templates` blueprint: reply templates and queue signatures, edited by staff.

Templates and signatures are untrusted text (queues.sandbox): saving checks their syntax
and shows errors next to the field; "Preview" renders them in the sandbox, with the
variables of a real ticket (queues.replies.template_context; viewing a restricted ticket
this way is audited) or with sample data, and changes nothing. Signatures use the same
language and variables as templates (queues.replies renders them in the sandbox too).
Every change is written to the audit log with the staff member's address.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from queues.access import ticket_for
from queues.audit import AuditAction, record, record_staff_change
from queues.models import Queue, ReplyTemplate
from queues.replies import template_context
from queues.sandbox import TemplateError, check_untrusted, render_untrusted
from webui import db
from webui.config import settings as _settings
from webui.login import agent, client_address
from webui.staff import ActionForm, staff_only

bp = Blueprint("staff_templates", __name__, url_prefix="/staff/templates")
bp.before_request(staff_only)

MAX_BODY = 50_000
MAX_SIGNATURE = 5_000

# What a preview without a ticket renders with: the same shape as template_context.
SAMPLE_CONTEXT: dict[str, object] = {
    "number": "2026010100001",
    "tag": "[Ticket#2026010100001]",
    "subject": "Someone keeps sending me messages",
    "requester_name": "Alex Example",
    "requester_email": "alex@example.org",
    "agent_name": "Sam",
    "queue_name": "General help",
    "organisation": "Switchboard help team",
    "emergency_text": "If you or someone else is in immediate danger, call 112.",
    "ticket": {
        "number": "2026010100001",
        "tag": "[Ticket#2026010100001]",
        "subject": "Someone keeps sending me messages",
        "state": "open",
        "priority": "3",
        "queue": "General help",
        "created": "2026-01-01",
    },
    "requester": {"name": "Alex Example", "email": "alex@example.org"},
    "agent": {"signature_name": "Sam", "name": "Sam", "email": "help@example.org"},
    "queue": {"name": "General help", "slug": "general-help"},
}


class TemplateForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    queue = SelectField("Offered in", choices=[], default="")
    subject = StringField("Subject", validators=[Optional(), Length(max=900)])
    body = TextAreaField("Text", validators=[DataRequired(), Length(max=MAX_BODY)])
    position = IntegerField(
        "Position", default=100, validators=[Optional(), NumberRange(min=0, max=100_000)]
    )
    active = BooleanField("Offered to agents", default=True)
    preview_ticket = StringField("Preview with ticket", validators=[Optional(), Length(max=32)])


class SignatureForm(FlaskForm):  # type: ignore[misc]
    signature = TextAreaField("Signature", validators=[Optional(), Length(max=MAX_SIGNATURE)])
    preview_ticket = StringField("Preview with ticket", validators=[Optional(), Length(max=32)])


@dataclass
class Preview:
    subject: str = ""
    body: str = ""
    signature: str = ""
    source: str = "sample data"


def label(text: str, limit: int = 60) -> str:
    """A name fit for an audit detail: one line, bounded."""
    clean = "".join(c if c.isprintable() else " " for c in text).strip()
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _queues() -> list[Queue]:
    return list(db.session().scalars(select(Queue).order_by(Queue.id)))


def _queue_choices(form: TemplateForm) -> None:
    form.queue.choices = [SelectChoice("", "Every queue")] + [
        SelectChoice(str(q.id), q.name) for q in _queues()
    ]


def _preview_context(number: str, field: StringField) -> tuple[dict[str, object], str] | None:
    """The variables of ticket `number` (audited), or the sample; None after a field error."""
    number = (number or "").strip()
    if not number:
        return SAMPLE_CONTEXT, "sample data"
    me = agent()
    ticket = ticket_for(db.session(), me.user, number)
    if ticket is None:
        field.errors.append("There is no ticket with that number.")
        return None
    with db.writing() as writer:
        record(writer, me.user, AuditAction.VIEW, ticket, client_address(), "template preview")
    return template_context(ticket, me.user, _settings()), f"ticket {ticket.number}"


def _check(source: str, field: StringField | TextAreaField) -> bool:
    try:
        check_untrusted(source)
    except TemplateError as exc:
        field.errors.append(str(exc))
        return False
    return True


def _render(source: str, context: dict[str, object], field: StringField | TextAreaField) -> str:
    try:
        return render_untrusted(source, context)
    except TemplateError as exc:
        field.errors.append(str(exc))
        return ""


def _signature_of(queue_id: int | None) -> str:
    if queue_id is None:
        queue = db.session().scalar(select(Queue).where(Queue.slug == "general-help"))
    else:
        queue = db.session().get(Queue, queue_id)
    return queue.signature if queue is not None else ""


@bp.route("/")
def index() -> str:
    session = db.session()
    queues = {q.id: q for q in _queues()}
    templates = session.scalars(
        select(ReplyTemplate).order_by(
            ReplyTemplate.queue_id.is_not(None),
            ReplyTemplate.queue_id,
            ReplyTemplate.position,
            ReplyTemplate.name,
            ReplyTemplate.id,
        )
    )
    return render_template(
        "webui/staff_templates/index.html",
        templates=list(templates),
        queues=queues,
        action_form=ActionForm(),
    )


def _form_page(form: TemplateForm, template: ReplyTemplate | None, preview: Preview | None) -> str:
    return render_template(
        "webui/staff_templates/edit.html", form=form, template=template, preview=preview
    )


def _edit(template: ReplyTemplate | None) -> str | Response:
    form = TemplateForm(obj=template)
    _queue_choices(form)
    if request.method == "GET" and template is not None:
        form.queue.data = "" if template.queue_id is None else str(template.queue_id)
    if not form.validate_on_submit():
        return _form_page(form, template, None)
    subject, body = form.subject.data or "", form.body.data or ""
    ok = _check(body, form.body) & _check(subject, form.subject)
    if "\n" in subject or "\r" in subject:
        form.subject.errors.append("The subject must be a single line.")
        ok = False
    queue_id = int(form.queue.data) if form.queue.data else None
    if not ok:
        return _form_page(form, template, None)
    if request.form.get("action") == "preview":
        found = _preview_context(form.preview_ticket.data or "", form.preview_ticket)
        if found is None:
            return _form_page(form, template, None)
        context, source = found
        preview = Preview(
            subject=_render(subject, context, form.subject) if subject else "",
            body=_render(body, context, form.body),
            signature=_render(_signature_of(queue_id), context, form.body),
            source=source,
        )
        return _form_page(form, template, preview)
    me = agent()
    with db.writing() as writer:
        if template is None:
            row = ReplyTemplate()
            writer.add(row)
        else:
            found_row = writer.get(ReplyTemplate, template.id)
            if found_row is None:
                abort(404)
            row = found_row
        row.name = form.name.data.strip()
        row.queue_id = queue_id
        row.subject = subject.strip()
        row.body = body.replace("\r\n", "\n")
        row.active = bool(form.active.data)
        row.position = form.position.data if form.position.data is not None else 100
        row.updated_by = me.email
        writer.flush()
        verb = "added" if template is None else "changed"
        detail = f"reply template {row.id} {label(row.name)!r} {verb}"
        record_staff_change(writer, me.user, client_address(), detail)
        name = row.name
    flash(f"The reply template {name!r} is saved.")
    return redirect(url_for("staff_templates.index"))


@bp.route("/new", methods=["GET", "POST"])
def new() -> str | Response:
    return _edit(None)


@bp.route("/<int:template_id>", methods=["GET", "POST"])
def edit(template_id: int) -> str | Response:
    template = db.session().get(ReplyTemplate, template_id)
    if template is None:
        abort(404)
    return _edit(template)


@bp.route("/<int:template_id>/delete", methods=["POST"])
def delete(template_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = agent()
    with db.writing() as writer:
        template = writer.get(ReplyTemplate, template_id)
        if template is None:
            abort(404)
        name = template.name
        writer.delete(template)
        detail = f"reply template {template_id} {label(name)!r} deleted"
        record_staff_change(writer, me.user, client_address(), detail)
    flash(f"The reply template {name!r} is deleted.")
    return redirect(url_for("staff_templates.index"))


@bp.route("/signatures/<int:queue_id>", methods=["GET", "POST"])
def signature(queue_id: int) -> str | Response:
    queue = db.session().get(Queue, queue_id)
    if queue is None:
        abort(404)
    form = SignatureForm(data={"signature": queue.signature} if request.method == "GET" else None)
    page = "webui/staff_templates/signature.html"
    if not form.validate_on_submit():
        return render_template(page, form=form, queue=queue, preview=None)
    text = (form.signature.data or "").replace("\r\n", "\n")
    if not _check(text, form.signature):
        return render_template(page, form=form, queue=queue, preview=None)
    if request.form.get("action") == "preview":
        found = _preview_context(form.preview_ticket.data or "", form.preview_ticket)
        preview = None
        if found is not None:
            context, source = found
            preview = Preview(signature=_render(text, context, form.signature), source=source)
        return render_template(page, form=form, queue=queue, preview=preview)
    me = agent()
    with db.writing() as writer:
        row = writer.get(Queue, queue_id)
        if row is None:
            abort(404)
        row.signature = text.strip("\n")
        detail = f"signature of queue {row.slug} changed"
        record_staff_change(writer, me.user, client_address(), detail)
        name = row.name
    flash(f"The signature of {name} is saved.")
    return redirect(url_for("staff_templates.index"))
