"""The `report` blueprint: the public report form at /report (no sign-in).

At the top, the brief list of what belongs to the specialist route (the safety address and
the emergency text); then the fields: e-mail (required, for the answer), name, the
language of our answers, what happened, links, attachments (images, PDF and text, together
at most `report_max_attachment_bytes`) and the at-risk box, which sends the report to
specialist-safety. A submission becomes a stored message and the same ticket as mail
(queues.reporter.form, then queues.ingest: processed at once when the app has the parser,
INGEST_PARSER, and no other request of this process is making its ticket; else by the
runners), and the reporter lands on a page with the number, or one saying that the number
comes by mail.

The page is in the reporter's language: `?lang=` (the links at the top), else the
browser's Accept-Language, among queues.i18n.LANGUAGES. It works without JavaScript and by
keyboard; errors are tied to their fields (aria-describedby). Protection: the CSRF token,
a honeypot field no person sees, per-client limits (queues.reporter.limits) and size
limits. A rejected submission shows again with everything written in it, except the
attachments, which a browser never sends back (the page says so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    EmailField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from queues.i18n import LANGUAGES, native_name, negotiate, parse_accept_language
from queues.ingest import process_stored
from queues.mail import IncomingMail
from queues.models import utcnow
from queues.reporter import limits
from queues.reporter.form import (
    MAX_FILES,
    MAX_NAME,
    MAX_TEXT,
    FormError,
    Submission,
    Upload,
    check_email,
    check_upload,
    parse_links,
    store_submission,
)
from queues.reporter.texts import emergency_text
from queues.settings import Settings
from webui import db
from webui.config import settings
from webui.i18n import use_language
from webui.login import client_address
from webui.security import public

SENT = "report_sent"
# Making the ticket in the request shows its number at once. Ticket decisions take turns on
# one lock (SQLite's write lock; on PostgreSQL the abuse controls' advisory lock), so under
# a flood such requests waited there behind the runners and each other, each holding one
# of the web server's few threads while agents' pages queued behind them (bench/flood.py,
# `serve` on PostgreSQL: pages 85-112 ms p95 in waitress's queue). One request of a
# process at a time makes its ticket; a report sent meanwhile is already stored and
# committed, the runners make its ticket, and the number comes by mail.
PROCESSING_TURN = "switchboard.report_processing"
SAFETY_QUEUE = "specialist-safety"
# Room for the form's text fields beyond the attachments' own limit.
TEXT_ALLOWANCE = 1024 * 1024

bp = Blueprint("report", __name__, url_prefix="/report")
bp.record_once(lambda state: state.app.extensions.setdefault(PROCESSING_TURN, threading.Lock()))


def _email(form: FlaskForm, field: EmailField) -> None:
    try:
        check_email(field.data or "")
    except FormError:
        raise ValidationError(gettext("Give an e-mail address we can answer to.")) from None


def _links(form: FlaskForm, field: TextAreaField) -> None:
    try:
        parse_links(field.data or "")
    except FormError:
        raise ValidationError(
            gettext("Give web links (starting with https://), one on each line.")
        ) from None


class ReportForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        lazy_gettext("Your e-mail address"),
        validators=[
            DataRequired(message=lazy_gettext("Give an e-mail address we can answer to.")),
            Length(max=320),
            _email,
        ],
    )
    name = StringField(
        lazy_gettext("Your name (optional)"), validators=[Optional(), Length(max=MAX_NAME)]
    )
    language = SelectField(lazy_gettext("The language of our answers"), choices=[])
    what_happened = TextAreaField(
        lazy_gettext("What happened?"),
        validators=[
            DataRequired(message=lazy_gettext("Tell us what happened.")),
            Length(
                max=MAX_TEXT,
                message=lazy_gettext("Please shorten your text, or send the rest by e-mail."),
            ),
        ],
    )
    links = TextAreaField(lazy_gettext("Links (optional)"), validators=[Optional(), _links])
    attachments = MultipleFileField(lazy_gettext("Screenshots or files (optional)"))
    at_risk = BooleanField(
        lazy_gettext(
            "Check this box if you feel that you, or anyone else, might be at actual risk "
            "of safety or wellbeing"
        )
    )
    # The honeypot: hidden from people (and from screen readers); only a robot fills it.
    website = StringField("Website", validators=[Optional()])


def page_language() -> str:
    """The page's language: ?lang=, else the browser's preference among ours."""
    chosen = request.args.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    return negotiate(*parse_accept_language(request.headers.get("Accept-Language")))


def _parser() -> Callable[[bytes], IncomingMail] | None:
    parser: Callable[[bytes], IncomingMail] | None = current_app.config.get("INGEST_PARSER")
    return parser


def safety_address(current: Settings) -> str:
    for address, slug in current.addresses.items():
        if slug == SAFETY_QUEUE:
            return address
    return ""


def help_address(current: Settings) -> str:
    for address, slug in current.addresses.items():
        if slug == current.default_queue:
            return address
    return next(iter(current.addresses), "")


def _page(form: ReportForm, language: str, problem: str = "", files_dropped: bool = False) -> str:
    current = settings()
    return render_template(
        "webui/report/form.html",
        form=form,
        language=language,
        languages=[(code, native_name(code)) for code in LANGUAGES],
        safety_address=safety_address(current),
        help_address=help_address(current),
        emergency=emergency_text(current, language),
        max_megabytes=current.report_max_attachment_bytes // (1024 * 1024),
        max_files=MAX_FILES,
        problem=problem,
        files_dropped=files_dropped,
    )


@bp.before_request
def _allow_attachments() -> None:
    # The app takes 1 MB a request; this form takes its attachments on top.
    request.max_content_length = settings().report_max_attachment_bytes + TEXT_ALLOWANCE


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    language = use_language(page_language())
    form = ReportForm(formdata=None, language=language)
    form.language.choices = [(c, native_name(c)) for c in LANGUAGES]
    megabytes = settings().report_max_attachment_bytes // (1024 * 1024)
    problem = gettext(
        "The files were too large (at most %(num)s MB together), so the report was not "
        "sent. Go back with your browser to find your text again, and attach fewer or "
        "smaller files.",
        num=megabytes,
    )
    return _page(form, language, problem), 413


@bp.route("/", methods=["GET", "POST"])
@public
def form() -> str | Response:
    language = use_language(page_language())
    report = ReportForm(language=language)
    report.language.choices = [(code, native_name(code)) for code in LANGUAGES]
    if request.method == "GET":
        return _page(report, language)
    files = [f for f in request.files.getlist(report.attachments.name) if f and f.filename]
    valid = report.validate_on_submit()
    uploads = _uploads(report, files)
    if report.csrf_token.errors:
        return _page(
            report,
            language,
            gettext("The form had expired. Your text is still here: please send it again."),
            bool(files),
        )
    if not valid or uploads is None:
        return _page(report, language, gettext("Please correct the marked fields."), bool(files))
    if report.website.data:
        report.website.data = ""
        return _page(
            report,
            language,
            gettext("Your report could not be sent. Please check the form and send it again."),
            bool(files),
        )
    current = settings()
    client = limits.client_key(client_address())
    now = utcnow()
    with _turn_to_process() as processing:
        with db.writing() as writer:
            windows = [
                (current.report_per_client_per_hour, timedelta(hours=1)),
                (current.report_per_client_per_day, timedelta(days=1)),
            ]
            if limits.over_limit(writer, client, limits.REPORT, now, windows):
                busy = True
            else:
                busy = False
                submission = Submission(
                    email=report.email.data or "",
                    name=report.name.data or "",
                    language=report.language.data if report.language.data in LANGUAGES else None,
                    what_happened=report.what_happened.data or "",
                    links=parse_links(report.links.data or ""),
                    at_risk=bool(report.at_risk.data),
                    attachments=uploads,
                )
                # Claimed only when this request makes the ticket: else the runners take
                # it at once, not after the claim's lease.
                inbound = store_submission(
                    writer, submission, current, client, now, claim=processing
                )
                limits.count_post(writer, client, limits.REPORT, now)
                inbound_id = inbound.id
        if busy:
            problem = gettext(
                "This computer has sent several reports in a short time, so we cannot take "
                "another one now. Please write to us by e-mail at %(address)s, or try again "
                "later. Your text is still here.",
                address=help_address(current),
            )
            return _page(report, language, problem, bool(files))
        number, joined = _process(inbound_id) if processing else (None, False)
    session[SENT] = {"number": number, "joined": joined, "language": language}
    return redirect(url_for("report.sent", lang=language), code=303)


def _uploads(report: ReportForm, files: list[FileStorage]) -> list[Upload] | None:
    """The attachments, checked; None (with the field's error) when one cannot be taken."""
    limit = settings().report_max_attachment_bytes
    if len(files) > MAX_FILES:
        report.attachments.errors = [gettext("Attach at most %(num)s files.", num=MAX_FILES)]
        return None
    uploads: list[Upload] = []
    total = 0
    for storage in files:
        data = storage.read(limit + 1)
        total += len(data)
        if total > limit:
            report.attachments.errors = [
                gettext(
                    "The files are too large: at most %(num)s MB together.",
                    num=limit // (1024 * 1024),
                )
            ]
            return None
        try:
            uploads.append(check_upload(Upload(storage.filename or "", data)))
        except FormError:
            name = (storage.filename or "")[:100]
            report.attachments.errors = [
                gettext(
                    "%(name)s cannot be attached: only images (PNG, JPEG, GIF, WebP), PDF "
                    "and text files.",
                    name=name,
                )
            ]
            return None
    return uploads


@contextmanager
def _turn_to_process() -> Iterator[bool]:
    """Whether this request makes the report's ticket itself: it has the parser and no other
    request of this process is making one (see PROCESSING_TURN). The turn lasts the block."""
    turn: threading.Lock = current_app.extensions[PROCESSING_TURN]
    if _parser() is None or not turn.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        turn.release()


def _process(inbound_id: int) -> tuple[str | None, bool]:
    """Make the ticket now (as mail from the gateway would be). Its number, or None when
    processing failed (the message is kept); and whether abuse controls added the report to
    an existing ticket: then nobody is answered and the number is not ours to show (a
    flood's ticket belongs to no one sender)."""
    parse = _parser()
    assert parse is not None  # _turn_to_process said so
    outcome = process_stored(
        db.database().writes, inbound_id, settings(), parse, attempt_counted=True
    )
    if outcome.joined:
        return None, True
    return (outcome.ticket_number if outcome.kind in ("new", "followup") else None), False


@bp.route("/sent")
@public
def sent() -> str | Response:
    done = session.pop(SENT, None)
    language = use_language(page_language())
    if not isinstance(done, dict):
        return redirect(url_for("report.form", lang=language))
    current = settings()
    return render_template(
        "webui/report/sent.html",
        number=done.get("number"),
        joined=bool(done.get("joined")),
        language=language,
        languages=[(code, native_name(code)) for code in LANGUAGES],
        emergency=emergency_text(current, language),
        safety_address=safety_address(current),
    )
