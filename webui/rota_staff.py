"""The `rota_staff` blueprint: staff define the shifts of every queue and decide swaps.

One page lists each queue's shifts (in their own time zones, with the sign-ups and the
hours without cover this week in the staff member's time zone), the swaps waiting for
staff (both agents agreed: approve or decline, with a note) and those still waiting for
the other agent; a shift is added or changed on its own form and taken off the rota with a
button. Staff may also end an agent's sign-up. Every change goes through queues.team.rota
and is written to the audit log. Staff only: a 404 for everyone else.

The agents' side (the week view, signing up, asking for swaps) is webui.rota; this is a
blueprint of its own so that it sits under /staff and in the Staff section of the
navigation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import (
    DateField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from queues.audit import record_staff_change
from queues.models import Queue, User
from queues.team import rota
from queues.team.coverage import week_cover
from queues.team.rota import RotaError, ShiftSpec
from queues.team.rota_models import Shift, ShiftSignup, ShiftSwap
from webui import db
from webui.config import settings as _settings
from webui.login import agent, client_address
from webui.rota import day_label, swap_rows
from webui.staff import ActionForm, staff_only
from webui.timefmt import duration

bp = Blueprint("rota_staff", __name__, url_prefix="/staff/rota")
bp.before_request(staff_only)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ShiftForm(FlaskForm):  # type: ignore[misc]
    queue_id = SelectField("Queue", coerce=int, choices=[])
    name = StringField("Name (optional)", validators=[Optional(), Length(max=rota.MAX_NAME)])
    kind = RadioField(
        "Repeats",
        choices=[SelectChoice("weekly", "every week"), SelectChoice("once", "once, on a date")],
        default="weekly",
    )
    weekday = SelectField(
        "Weekday",
        coerce=int,
        choices=[SelectChoice(i, day) for i, day in enumerate(rota.WEEKDAYS)],
        default=0,
    )
    on_date = DateField("Date (for a one-off shift)", validators=[Optional()])
    start = TimeField("Starts at", validators=[InputRequired()])
    end = TimeField("Ends at", validators=[InputRequired()])
    timezone = StringField("Time zone", default="UTC", validators=[DataRequired(), Length(max=64)])
    needed = IntegerField(
        "Agents needed on duty",
        default=1,
        validators=[InputRequired(), NumberRange(1, rota.MAX_NEEDED)],
    )


def _queues() -> list[Queue]:
    return list(db.session().scalars(select(Queue).order_by(Queue.id)))


def _audit(writer: Session, detail: str) -> None:
    me = writer.get_one(User, agent().user.id)
    record_staff_change(writer, me, client_address(), detail[:200])


@bp.route("/")
def index() -> str:
    me = agent()
    session = db.session()
    now = utcnow()
    timezone = rota.safe_zone(me.user.timezone).key
    today = rota.local_today(now, rota.safe_zone(timezone))
    monday = rota.week_start(today)
    watched = set(_settings().oncall_queues)
    queues = sorted(_queues(), key=lambda q: (q.slug not in watched, q.id))  # safety first
    shifts = {q.id: rota.active_shifts(session, [q.id]) for q in queues}
    signups: dict[int, list[tuple[ShiftSignup, str]]] = {}
    all_ids = [s.id for found in shifts.values() for s in found]
    users = {u.id: u for u in session.scalars(select(User))}
    for su in session.scalars(
        select(ShiftSignup)
        .where(ShiftSignup.shift_id.in_(all_ids))
        .order_by(ShiftSignup.first_date, ShiftSignup.id)
    ):
        if su.last_date is None or su.last_date >= today:
            signups.setdefault(su.shift_id, []).append((su, rota.display_name(users[su.user_id])))
    open_swaps = rota.open_swaps(session)
    return render_template(
        "webui/rota_staff/index.html",
        queues=queues,
        shifts=shifts,
        signups=signups,
        describe=rota.describe,
        without_cover={q.id: week_cover(session, q, timezone, monday).uncovered for q in queues},
        monday=monday,
        timezone=timezone,
        agreed=swap_rows([s for s in open_swaps if s.state == "agreed"], None, timezone),
        asked=swap_rows([s for s in open_swaps if s.state == "asked"], None, timezone),
        today=today.isoformat(),
        action_form=ActionForm(),
        day_label=day_label,
        duration=duration,
    )


def _spec(form: ShiftForm) -> ShiftSpec:
    weekly = form.kind.data != "once"
    return ShiftSpec(
        queue_id=form.queue_id.data,
        name=form.name.data or "",
        weekday=form.weekday.data if weekly else None,
        on_date=None if weekly else form.on_date.data,
        start=form.start.data,
        end=form.end.data,
        timezone=(form.timezone.data or "").strip(),
        needed=form.needed.data,
    )


def _edit(shift: Shift | None) -> str | Response:
    form = ShiftForm(obj=shift)
    form.queue_id.choices = [SelectChoice(q.id, q.name) for q in _queues()]
    if request.method == "GET" and shift is not None:
        form.kind.data = "once" if shift.on_date is not None else "weekly"
        form.weekday.data = shift.weekday if shift.weekday is not None else 0
    problem = None
    if form.validate_on_submit():
        if form.kind.data == "once" and form.on_date.data is None:
            form.on_date.errors.append("Give the date of a one-off shift.")
        else:
            try:
                with db.writing() as writer:
                    me = writer.get_one(User, agent().user.id)
                    if shift is None:
                        row = rota.define_shift(writer, _spec(form), me, utcnow())
                        verb = "added"
                    else:
                        row = writer.get_one(Shift, shift.id)
                        rota.update_shift(writer, row, _spec(form), me, utcnow())
                        verb = "changed"
                    _audit(writer, f"rota shift {row.id} {verb}: {rota.describe(row)}")
                    what = rota.label(row)
            except RotaError as exc:
                problem = str(exc)
            else:
                flash(f"The shift {what} is saved.")
                return redirect(url_for("rota_staff.index"), code=303)
    return render_template(
        "webui/rota_staff/shift.html",
        form=form,
        shift=shift,
        problem=problem,
        timezones=sorted(rota.timezone_names()),
    )


@bp.route("/shifts/new", methods=["GET", "POST"])
def new_shift() -> str | Response:
    return _edit(None)


@bp.route("/shifts/<int:shift_id>", methods=["GET", "POST"])
def edit_shift(shift_id: int) -> str | Response:
    shift = db.session().get(Shift, shift_id)
    if shift is None or not shift.active:
        abort(404)
    return _edit(shift)


@bp.route("/shifts/<int:shift_id>/retire", methods=["POST"])
def retire(shift_id: int) -> Response:
    if db.session().get(Shift, shift_id) is None:
        abort(404)
    try:
        with db.writing() as writer:
            shift = writer.get_one(Shift, shift_id)
            rota.retire_shift(writer, shift, writer.get_one(User, agent().user.id), utcnow())
            _audit(writer, f"rota shift {shift.id} taken off the rota")
            what = rota.label(shift)
    except RotaError as exc:
        flash(str(exc))
    else:
        flash(f"The shift {what} is off the rota.")
    return redirect(url_for("rota_staff.index"), code=303)


def _form_int(name: str) -> int | None:
    value = request.form.get(name, "")[:20].strip()
    return int(value) if value.isdigit() else None


@bp.route("/swaps/decide", methods=["POST"])
def decide() -> Response:
    swap_id, decision = _form_int("swap_id"), request.form.get("decision", "")
    if swap_id is None or decision not in ("approve", "decline"):
        flash("Choose a swap and approve or decline it.")
        return redirect(url_for("rota_staff.index"), code=303)
    note = request.form.get("note", "")[: rota.MAX_NOTE]
    try:
        with db.writing() as writer:
            swap = writer.get(ShiftSwap, swap_id)
            if swap is None:
                raise RotaError("There is no such swap.")
            me = writer.get_one(User, agent().user.id)
            rota.decide_swap(writer, swap, me, decision == "approve", note, utcnow())
            _audit(writer, f"rota swap {swap.id} {swap.state}")
    except RotaError as exc:
        flash(str(exc))
    else:
        flash("The swap is approved." if decision == "approve" else "The swap is declined.")
    return redirect(url_for("rota_staff.index"), code=303)


@bp.route("/signups/end", methods=["POST"])
def end_signup() -> Response:
    signup_id = _form_int("signup_id")
    value = request.form.get("from_date", "")[:20]
    try:
        from_date = date.fromisoformat(value) if value else None
    except ValueError:
        from_date = None
    if signup_id is None or from_date is None:
        flash("Choose a sign-up and the first day it no longer holds.")
        return redirect(url_for("rota_staff.index"), code=303)
    try:
        with db.writing() as writer:
            signup = writer.get(ShiftSignup, signup_id)
            if signup is None:
                raise RotaError("There is no such sign-up.")
            me = writer.get_one(User, agent().user.id)
            done = rota.leave(writer, signup, me, from_date, utcnow())
            _audit(writer, f"rota sign-up {signup_id} {done}")
    except RotaError as exc:
        flash(str(exc))
    else:
        flash(f"The sign-up is {done}.")
    return redirect(url_for("rota_staff.index"), code=303)
