"""The `staff_ack` blueprint: each queue's acknowledgement in every language, edited by staff.

The list shows, per queue and language, whether the shipped text is used or staff's own.
Editing starts from the text in use (the shipped file rendered with its variables left as
`{{ number }}`, queues.reporter.acks.shipped_source); "Preview" renders it in the sandbox
with sample data in that language and changes nothing; "Save" checks the syntax (errors
next to the field) and stores it; "Use the shipped text" removes staff's version. Every
change is in the audit log. The texts are untrusted: rendered only in the sandbox.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from queues.audit import record_staff_change
from queues.i18n import LANGUAGES, native_name
from queues.mailtemplates import RenderedMail, render_mail
from queues.models import Queue, User
from queues.reporter import acks
from queues.reporter.models import AckTemplate
from queues.reporter.texts import ACKNOWLEDGEMENT, emergency_text, file_kind, tidy
from queues.sandbox import TemplateError, check_untrusted
from webui import db
from webui.config import settings as _settings
from webui.login import agent, client_address
from webui.staff import ActionForm, staff_only

bp = Blueprint("staff_ack", __name__, url_prefix="/staff/acknowledgements")
bp.before_request(staff_only)

MAX_BODY = 20_000


class AckForm(FlaskForm):  # type: ignore[misc]
    subject = StringField("Subject", validators=[Optional(), Length(max=900)])
    body = TextAreaField("Text", validators=[DataRequired(), Length(max=MAX_BODY)])


def _queue(queue_id: int, language: str) -> Queue:
    queue = db.session().get(Queue, queue_id)
    if queue is None or language not in LANGUAGES:
        abort(404)
    return queue


@bp.route("/")
def index() -> str:
    session = db.session()
    queues = list(session.scalars(select(Queue).order_by(Queue.id)))
    edited = {(row.queue_id, row.language): row for row in session.scalars(select(AckTemplate))}
    return render_template(
        "webui/staff_ack/index.html",
        queues=queues,
        languages=[(code, native_name(code)) for code in LANGUAGES],
        edited=edited,
    )


def _check(source: str, field: StringField | TextAreaField) -> bool:
    try:
        check_untrusted(source)
    except TemplateError as exc:
        field.errors.append(str(exc))
        return False
    return True


def preview(queue: Queue, language: str, subject: str, body: str) -> RenderedMail:
    """The text rendered in the sandbox with sample data; raises TemplateError."""
    context = {**acks.SAMPLE_CONTEXT, "emergency_text": emergency_text(_settings(), language)}
    row = AckTemplate(queue_id=queue.id, language=language, subject=subject, body=body)
    shipped = render_mail(file_kind(ACKNOWLEDGEMENT, queue.slug), context, language)
    rendered = acks.render_row(row, context, shipped)
    return RenderedMail(rendered.subject, tidy(rendered.body_text))


@bp.route("/<int:queue_id>/<language>", methods=["GET", "POST"])
def edit(queue_id: int, language: str) -> str | Response:
    queue = _queue(queue_id, language)
    row = db.session().scalar(
        select(AckTemplate).where(
            AckTemplate.queue_id == queue.id, AckTemplate.language == language
        )
    )
    if request.method == "GET":
        subject, body = (
            (row.subject, row.body) if row else acks.shipped_source(queue.slug, language)
        )
        form = AckForm(data={"subject": subject, "body": body})
    else:
        form = AckForm()
    shown: RenderedMail | None = None
    page = "webui/staff_ack/edit.html"
    args = {
        "queue": queue,
        "language": language,
        "language_name": native_name(language),
        "row": row,
        "variables": acks.VARIABLES,
        "action_form": ActionForm(),
    }
    if not form.validate_on_submit():
        return render_template(page, form=form, preview=None, **args)
    subject = " ".join((form.subject.data or "").split())
    body = (form.body.data or "").replace("\r\n", "\n")
    if not (_check(body, form.body) & _check(subject, form.subject)):
        return render_template(page, form=form, preview=None, **args)
    try:
        shown = preview(queue, language, subject, body)
    except TemplateError as exc:
        form.body.errors.append(str(exc))
        return render_template(page, form=form, preview=None, **args)
    if request.form.get("action") == "preview":
        return render_template(page, form=form, preview=shown, **args)
    # Plain values first: objects of the reading session are never touched in a write.
    queue_id, slug, name = queue.id, queue.slug, queue.name
    user_id, email = agent().user.id, agent().email
    with db.writing() as writer:
        found = writer.scalar(
            select(AckTemplate).where(
                AckTemplate.queue_id == queue_id, AckTemplate.language == language
            )
        )
        if found is None:
            found = AckTemplate(queue_id=queue_id, language=language)
            writer.add(found)
        found.subject = subject
        found.body = body
        found.updated_by = email
        detail = f"acknowledgement of queue {slug} in {language} changed"
        record_staff_change(writer, writer.get_one(User, user_id), client_address(), detail)
    flash(f"The acknowledgement of {name} in {native_name(language)} is saved.")
    return redirect(url_for("staff_ack.index"))


@bp.route("/<int:queue_id>/<language>/reset", methods=["POST"])
def reset(queue_id: int, language: str) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    queue = _queue(queue_id, language)
    slug, name = queue.slug, queue.name
    user_id = agent().user.id
    with db.writing() as writer:
        found = writer.scalar(
            select(AckTemplate).where(
                AckTemplate.queue_id == queue_id, AckTemplate.language == language
            )
        )
        if found is not None:
            writer.delete(found)
            detail = f"acknowledgement of queue {slug} in {language} back to the shipped text"
            record_staff_change(writer, writer.get_one(User, user_id), client_address(), detail)
    flash(f"{name} in {native_name(language)} uses the shipped acknowledgement.")
    return redirect(url_for("staff_ack.index"))
