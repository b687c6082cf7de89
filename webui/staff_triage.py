"""The `staff_triage` blueprint: the triage lexicon in the browser, and the live figures.

- GET /staff/triage/: every entry and window rule of the lexicon (data files and staff
  entries), filtered by language, category, origin, state and text, each with its example
  sentences and a button to switch it off or on.
- GET and POST /staff/triage/new: add a phrase (language, kind of risk, pattern, example
  sentences that must and must not fire it); "Preview" runs it over the last N tickets and
  shows how many it would have flagged and which, before anything is stored.
- POST /staff/triage/toggle: switch an entry or rule off or on.
- GET /staff/triage/figures: escalations (misses) and false alarms per week, language,
  category and queue, flagged tickets and how many came back, precision and recall
  estimated from them (queues.triage.feedback.figures): live data only. The measured
  figures come from `switchboard triage evaluate FILE.tsv`, named on the page.

Everything goes through queues.triage.staff, which checks an entry like a data-file one and
writes every change to the audit log; a preview, which reads recent tickets of every queue,
is audited too (how many tickets, how many flagged: never their content). Only staff may
use these pages; for everyone else they are a 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from queues.audit import record_staff_change
from queues.models import User
from queues.triage import default_lexicon
from queues.triage.feedback import DEFAULT_WEEKS, MAX_WEEKS, Figures, figures
from queues.triage.hits import CATEGORIES, CATEGORY_LABELS
from queues.triage.lexicon import LexiconError
from queues.triage.staff import (
    DEFAULT_PREVIEW,
    MAX_PREVIEW,
    EntryState,
    Preview,
    add_entry,
    entries,
    preview,
    set_enabled,
)
from webui import db
from webui.login import agent, client_address
from webui.staff import ActionForm, staff_only

bp = Blueprint("staff_triage", __name__, url_prefix="/staff/triage")
bp.before_request(staff_only)

MAX_PATTERN = 2000
MAX_EXAMPLES = 20
MAX_EXAMPLE = 1000
WEEK_CHOICES = (4, 12, 26, 52, MAX_WEEKS)
STATES = {"": "any", "on": "switched on", "off": "switched off"}
ORIGINS = {"": "any", "file": "data files", "staff": "added by staff"}
EVALUATE_COMMAND = "switchboard triage evaluate tests/data/triage/<set>.tsv"


def _language_choices() -> list[SelectChoice]:
    names = {language.code: language.name for language in default_lexicon().languages}
    return [SelectChoice(code, f"{names[code]} ({code})") for code in names]


def _category_choices() -> list[SelectChoice]:
    return [SelectChoice(c, CATEGORY_LABELS[c].capitalize()) for c in CATEGORIES]


class EntryForm(FlaskForm):  # type: ignore[misc]
    language = SelectField("Language", choices=[])
    category = SelectField("Kind of risk", choices=[])
    pattern = StringField("Pattern", validators=[DataRequired(), Length(max=MAX_PATTERN)])
    positive = TextAreaField(
        "Sentences it must flag (one per line)", validators=[Length(max=MAX_EXAMPLE * 10)]
    )
    negative = TextAreaField(
        "Sentences it must not flag (one per line)", validators=[Length(max=MAX_EXAMPLE * 10)]
    )
    note = StringField("Note for staff", validators=[Optional(), Length(max=500)])
    last = IntegerField(
        "Preview over the last tickets",
        default=DEFAULT_PREVIEW,
        validators=[Optional(), NumberRange(min=1, max=MAX_PREVIEW)],
    )


def _lines(text: str | None) -> list[str]:
    lines = [line.strip() for line in (text or "").splitlines()]
    return [line[:MAX_EXAMPLE] for line in lines if line][:MAX_EXAMPLES]


# --- the list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    language: str
    category: str
    origin: str
    state: str
    text: str

    def keep(self, entry: EntryState) -> bool:
        if self.language and entry.language != self.language:
            return False
        if self.category and entry.category != self.category:
            return False
        if self.origin and entry.origin != self.origin:
            return False
        if self.state and entry.enabled != (self.state == "on"):
            return False
        needle = self.text.lower()
        return not needle or needle in entry.id.lower() or needle in entry.pattern.lower()

    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def _filters() -> Filters:
    args = request.args
    codes = default_lexicon().codes
    language = args.get("language", codes[0] if codes else "")
    category = args.get("category", "")
    return Filters(
        language=language if language in codes else "",
        category=category if category in CATEGORIES else "",
        origin=args.get("origin", "") if args.get("origin", "") in ORIGINS else "",
        state=args.get("state", "") if args.get("state", "") in STATES else "",
        text=args.get("q", "")[:200].strip(),
    )


@bp.route("/")
def index() -> str:
    filters = _filters()
    shown = [e for e in entries(db.session()) if filters.keep(e)]
    return render_template(
        "webui/staff_triage/index.html",
        entries=shown,
        filters=filters,
        languages=_language_choices(),
        categories=_category_choices(),
        category_labels=CATEGORY_LABELS,
        origins=ORIGINS,
        states=STATES,
        action_form=ActionForm(),
    )


@bp.route("/toggle", methods=["POST"])
def toggle() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    language = request.form.get("language", "")[:8]
    entry_id = request.form.get("entry_id", "")[:80]
    enabled = request.form.get("enabled") == "1"
    try:
        with db.writing() as writer:
            me = writer.get_one(User, agent().user.id)
            set_enabled(writer, me, client_address(), language, entry_id, enabled)
    except LexiconError as exc:
        flash(str(exc))
    else:
        state = "switched on" if enabled else "switched off"
        flash(f"The triage entry {language}/{entry_id} is {state}.")
    back = request.form.get("back", "")
    return redirect(url_for("staff_triage.index") + (f"?{back}" if _safe_query(back) else ""))


def _safe_query(query: str) -> bool:
    """A query string of the list's own filters (kept across a switch), nothing else."""
    return len(query) <= 400 and not any(c in query for c in "\r\n#/\\") and "://" not in query


# --- adding, with a preview -------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
def new() -> str | Response:
    form = EntryForm()
    form.language.choices = _language_choices()
    form.category.choices = _category_choices()
    if not form.validate_on_submit():
        return _form_page(form)
    positive, negative = _lines(form.positive.data), _lines(form.negative.data)
    if request.form.get("action") == "preview":
        return _preview(form)
    me = agent()
    try:
        with db.writing() as writer:
            user = writer.get_one(User, me.user.id)
            row = add_entry(
                writer,
                user,
                client_address(),
                language=form.language.data,
                category=form.category.data,
                pattern=form.pattern.data,
                positive=positive,
                negative=negative,
                note=(form.note.data or "").strip(),
            )
            entry_id = f"{row.language}/{row.entry_id}"
    except LexiconError as exc:
        return _form_page(form, problem=str(exc))
    flash(f"The triage entry {entry_id} is added and switched on: new mail is triaged with it.")
    return redirect(url_for("staff_triage.index", language=form.language.data, origin="staff"))


def _preview(form: EntryForm) -> str:
    last = form.last.data or DEFAULT_PREVIEW
    try:
        found = preview(
            db.session(),
            language=form.language.data,
            category=form.category.data,
            pattern=form.pattern.data,
            last=last,
        )
    except LexiconError as exc:
        return _form_page(form, problem=str(exc))
    detail = (
        f"triage preview {form.language.data}/{form.category.data} over {found.looked_at} "
        f"tickets: {found.flagged} flagged"
    )
    with db.writing() as writer:
        record_staff_change(writer, agent().user, client_address(), detail)
    return _form_page(form, result=found)


def _form_page(form: EntryForm, problem: str | None = None, result: Preview | None = None) -> str:
    return render_template(
        "webui/staff_triage/new.html",
        form=form,
        problem=problem,
        result=result,
        category_labels=CATEGORY_LABELS,
    )


# --- live figures -----------------------------------------------------------------------------


@bp.route("/figures")
def live_figures() -> str:
    weeks = request.args.get("weeks", str(DEFAULT_WEEKS))
    chosen = int(weeks) if weeks.isdigit() and int(weeks) in WEEK_CHOICES else DEFAULT_WEEKS
    found: Figures = figures(db.session(), weeks=chosen)
    return render_template(
        "webui/staff_triage/figures.html",
        figures=found,
        weeks=chosen,
        week_choices=WEEK_CHOICES,
        category_labels=CATEGORY_LABELS,
        evaluate_command=EVALUATE_COMMAND,
        percent=percent,
    )


def percent(value: float | None) -> str:
    """0.8333 -> "83 %"; None (nothing to count) -> "–"."""
    return "–" if value is None else f"{value * 100:.0f} %"
