"""The `rota` blueprint: the week view, signing up and leaving, "my shifts" and swap requests.

Every agent reaches it from the main navigation. The week view shows one queue at a time in
the viewer's own time zone (`users.timezone`, which they can change here): who covers each
hour, every hour without cover marked in words (not colour alone), the hours without cover
of every queue the viewer may see (specialist-safety first: the aim is 24 hours, 7 days),
who is on duty now, and each shift with its sign-ups and a sign-up form. The hour grid
scrolls in its own labelled box on a phone, and the same week is also written out as a
list per day.

Need to know: only queues the viewer may see exist here; a queue named in the address that
the viewer may not see is a 404, like one that does not exist. Swaps (queues.team.rota):
one agent asks another for one occurrence, optionally offering one of the other's in
exchange; the other agrees or refuses; staff decide (webui.rota_staff). Every change is a
POST that answers 303 back with a flash message saying what happened or why not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response

from queues.access import can_see_queue, visible_queues
from queues.models import Queue, User
from queues.team import rota
from queues.team.coverage import WeekCover, week_cover
from queues.team.rota import RotaError
from queues.team.rota_models import BACKUP, DUTY, Shift, ShiftSignup, ShiftSwap
from webui import db
from webui.config import settings as _settings
from webui.login import agent
from webui.timefmt import duration

bp = Blueprint("rota", __name__, url_prefix="/rota")

MAX_FIELD = 200
SWAP_HORIZON_DAYS = 28  # how far ahead "my shifts" and a colleague's shifts are listed


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- small helpers shared with the templates --------------------------------------------------


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def local_time(moment: datetime, timezone: str) -> str:
    return f"{moment.astimezone(rota.safe_zone(timezone)):%H:%M}"


def local_span(start: datetime, end: datetime, timezone: str) -> str:
    """ "Mon 2 Mar 22:00–06:00" style, in `timezone`; an end on another day names it."""
    tz = rota.safe_zone(timezone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    first = f"{day_label(a.date())} {a:%H:%M}"
    if b.date() == a.date():
        return f"{first}–{b:%H:%M}"
    if b.date() == a.date() + timedelta(days=1) and (b.hour, b.minute) == (0, 0):
        return f"{first}–24:00"
    return f"{first} – {day_label(b.date())} {b:%H:%M}"


def signup_for(signups: list[ShiftSignup], user_id: int, shift_id: int, day: date) -> int | None:
    """The id of `user_id`'s sign-up on `shift_id` that holds `day`, if any."""
    for su in signups:
        if (
            su.user_id == user_id
            and su.shift_id == shift_id
            and su.first_date <= day
            and (su.last_date is None or day <= su.last_date)
        ):
            return su.id
    return None


def form_text(name: str, limit: int = MAX_FIELD) -> str:
    return request.form.get(name, "")[:limit].strip()


def form_int(name: str) -> int | None:
    value = form_text(name, 20)
    return int(value) if value.isdigit() else None


def form_date(name: str, source: Mapping[str, str] | None = None) -> date | None:
    value = (source if source is not None else request.form).get(name, "")[:20].strip()
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _back(message: str, endpoint: str = "rota.week") -> Response:
    flash(message)
    args: dict[str, Any] = {}
    if endpoint == "rota.week":
        slug, week = form_text("queue", 64), form_text("week", 10)
        if slug:
            args["queue"] = slug
        if week and form_date("week") is not None:
            args["week"] = week
    return redirect(url_for(endpoint, **args), code=303)


def _ordered_queues(queues: list[Queue]) -> list[Queue]:
    """The watched queues (specialist-safety) first: their gaps matter most."""
    watched = set(_settings().oncall_queues)
    return sorted(queues, key=lambda q: (q.slug not in watched, q.id))


# --- the week view ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSummary:
    queue: Queue
    watched: bool
    uncovered: timedelta  # how long nobody is on duty this week


@dataclass(frozen=True)
class ShiftRow:
    shift: Shift
    description: str
    signups: list[tuple[ShiftSignup, str]]  # the sign-up and its agent's name
    mine: list[ShiftSignup]
    on_duty: int  # duty sign-ups running now or later


@dataclass(frozen=True)
class DayList:
    day: date
    shifts: list[tuple[str, str, list[str], list[str]]]  # span, shift, on duty, backups
    gaps: tuple[tuple[str, str], ...]


def _week_of(now: datetime, timezone: str) -> date:
    requested = form_date("week", request.args)
    today = rota.local_today(now, rota.safe_zone(timezone))
    return rota.week_start(requested or today)


@bp.route("/")
def week() -> str:
    me = agent()
    session = db.session()
    now = utcnow()
    timezone = rota.safe_zone(me.user.timezone).key
    queues = _ordered_queues(visible_queues(session, me.user))
    if not queues:
        abort(404)
    slug = request.args.get("queue", "")[:64]
    current = next((q for q in queues if q.slug == slug), None) if slug else queues[0]
    if current is None:
        abort(404)  # a queue that does not exist, or one this agent may not see
    monday = _week_of(now, timezone)
    covers = {q.id: week_cover(session, q, timezone, monday) for q in queues}
    watched = set(_settings().oncall_queues)
    cover = covers[current.id]
    return render_template(
        "webui/rota/week.html",
        queue=current,
        queues=[QueueSummary(q, q.slug in watched, covers[q.id].uncovered) for q in queues],
        watched=current.slug in watched,
        cover=cover,
        days=_day_lists(cover, timezone),
        timezone=timezone,
        monday=monday,
        previous_week=(monday - timedelta(days=7)).isoformat(),
        next_week=(monday + timedelta(days=7)).isoformat(),
        this_week=rota.week_start(rota.local_today(now, rota.safe_zone(timezone))),
        on_duty=rota.covering(session, current, now, DUTY),
        backups=rota.covering(session, current, now, BACKUP),
        shifts=_shift_rows(current, me.user, now),
        today=rota.local_today(now, rota.safe_zone(timezone)).isoformat(),
        timezones=sorted(rota.timezone_names()),
        day_label=day_label,
        duration=duration,
    )


def _day_lists(cover: WeekCover, timezone: str) -> list[DayList]:
    """The week written out per day: each occurrence starting that day, with its people."""
    tz = rota.safe_zone(timezone)
    grouped: dict[tuple[int, date], tuple[rota.Occurrence, list[str], list[str]]] = {}
    for a in cover.assignments:
        key = (a.occurrence.shift_id, a.occurrence.on_date)
        occ, duty, backup = grouped.setdefault(key, (a.occurrence, [], []))
        (duty if a.role == DUTY else backup).append(a.name + (" (swapped)" if a.swapped else ""))
    # Occurrences without anyone are part of the week too: their shift is empty.
    session = db.session()
    shifts = {s.id: s for s in rota.active_shifts(session, [cover.queue.id])}
    end = cover.start + timedelta(days=8)
    for shift in shifts.values():
        for occ in rota.occurrences(shift, cover.start, end):
            grouped.setdefault((occ.shift_id, occ.on_date), (occ, [], []))
    days = []
    for day_cover in cover.days:
        rows = sorted(
            (v for v in grouped.values() if v[0].start.astimezone(tz).date() == day_cover.day),
            key=lambda v: v[0].start,
        )
        days.append(
            DayList(
                day=day_cover.day,
                shifts=[
                    (
                        local_span(occ.start, occ.end, timezone),
                        rota.label(shifts[occ.shift_id]) if occ.shift_id in shifts else "",
                        duty,
                        backup,
                    )
                    for occ, duty, backup in rows
                ],
                gaps=day_cover.gaps,
            )
        )
    return days


def _shift_rows(queue: Queue, me: User, now: datetime) -> list[ShiftRow]:
    session = db.session()
    shifts = rota.active_shifts(session, [queue.id])
    if not shifts:
        return []
    signups = list(
        session.scalars(
            select(ShiftSignup)
            .where(ShiftSignup.shift_id.in_([s.id for s in shifts]))
            .order_by(ShiftSignup.first_date, ShiftSignup.id)
        )
    )
    users = {
        u.id: u
        for u in session.scalars(select(User).where(User.id.in_({s.user_id for s in signups})))
    }
    rows = []
    for shift in shifts:
        today = rota.local_today(now, rota.safe_zone(shift.timezone))
        current = [
            (su, rota.display_name(users[su.user_id]))
            for su in signups
            if su.shift_id == shift.id
            and (su.last_date is None or su.last_date >= today)
            and su.user_id in users
            and users[su.user_id].active
        ]
        rows.append(
            ShiftRow(
                shift=shift,
                description=rota.describe(shift),
                signups=current,
                mine=[su for su, _name in current if su.user_id == me.id],
                on_duty=sum(1 for su, _name in current if su.role == DUTY),
            )
        )
    return rows


# --- changes from the week view ---------------------------------------------------------------


@bp.route("/timezone", methods=["POST"])
def timezone() -> Response:
    name = form_text("timezone", 64)
    try:
        rota.zone(name)
    except RotaError as exc:
        return _back(str(exc))
    with db.writing() as writer:
        writer.get_one(User, agent().user.id).timezone = name
    return _back(f"Times on the rota are now in {name}.")


@bp.route("/signup", methods=["POST"])
def signup() -> Response:
    shift_id, first = form_int("shift_id"), form_date("first_date")
    role = form_text("role", 10) or DUTY
    if shift_id is None or first is None:
        return _back("Choose a shift and the date of your first shift.")
    last = form_date("last_date")
    try:
        with db.writing() as writer:
            me = writer.get_one(User, agent().user.id)
            made = rota.sign_up(writer, me, shift_id, role, first, utcnow(), last_date=last)
            shift = writer.get_one(Shift, made.shift_id)
            what = (
                f"{rota.label(shift)} ({rota.role_label(role)}) from {made.first_date:%a %d %b %Y}"
            )
    except RotaError as exc:
        return _back(f"Not signed up: {exc}")
    return _back(f"You are on {what}.")


@bp.route("/leave", methods=["POST"])
def leave() -> Response:
    signup_id, from_date = form_int("signup_id"), form_date("from_date")
    if signup_id is None or from_date is None:
        return _back("Choose a sign-up and the first day you will not be there.")
    try:
        with db.writing() as writer:
            me = writer.get_one(User, agent().user.id)
            found = writer.get(ShiftSignup, signup_id)
            if found is None or found.user_id != me.id:
                raise RotaError("There is no such sign-up.")
            done = rota.leave(writer, found, me, from_date, utcnow())
    except RotaError as exc:
        return _back(f"Nothing changed: {exc}")
    return _back(f"Your sign-up is {done}.")


# --- my shifts and swaps ----------------------------------------------------------------------


@dataclass(frozen=True)
class MyShift:
    signup_id: int | None  # the sign-up it comes from (None: taken over by a swap)
    on_date: date
    span: str
    queue: str
    shift: str
    role: str


def _my_upcoming(user: User, now: datetime, timezone: str) -> list[MyShift]:
    session = db.session()
    queues = visible_queues(session, user)
    names = {q.id: q.name for q in queues}
    mine = list(session.scalars(select(ShiftSignup).where(ShiftSignup.user_id == user.id)))
    shifts = {s.id: s for s in rota.active_shifts(session, names)}
    found = []
    for a in rota.assignments(session, names, now, now + timedelta(days=SWAP_HORIZON_DAYS)):
        if a.user_id != user.id or a.occurrence.end <= now:
            continue
        occ = a.occurrence
        found.append(
            MyShift(
                signup_id=None
                if a.swapped
                else signup_for(mine, user.id, occ.shift_id, occ.on_date),
                on_date=occ.on_date,
                span=local_span(occ.start, occ.end, timezone),
                queue=names[occ.queue_id],
                shift=rota.label(shifts[occ.shift_id]),
                role=rota.role_label(a.role),
            )
        )
    return found


@dataclass(frozen=True)
class SwapRow:
    swap: ShiftSwap
    asked_by_me: bool
    asker: str
    other: str
    giving: str  # the asker's occurrence, in words
    taking: str  # the occurrence offered in exchange, or ""


def swap_rows(swaps: list[ShiftSwap], me_id: int | None, timezone: str) -> list[SwapRow]:
    """Swaps in words for a page (also the staff page, with `me_id` None)."""
    session = db.session()
    rows = []
    for swap in swaps:
        signup = session.get_one(ShiftSignup, swap.signup_id)
        asker = session.get_one(User, signup.user_id)
        other = session.get_one(User, swap.to_user_id)
        taking = ""
        if swap.counter_signup_id is not None and swap.counter_date is not None:
            counter = session.get_one(ShiftSignup, swap.counter_signup_id)
            taking = _occurrence_words(
                session.get_one(Shift, counter.shift_id), swap.counter_date, timezone
            )
        rows.append(
            SwapRow(
                swap=swap,
                asked_by_me=asker.id == me_id,
                asker=rota.display_name(asker),
                other=rota.display_name(other),
                giving=_occurrence_words(
                    session.get_one(Shift, signup.shift_id), swap.on_date, timezone
                ),
                taking=taking,
            )
        )
    return rows


def _occurrence_words(shift: Shift, day: date, timezone: str) -> str:
    occ = rota.occurrence(shift, day)
    queue = db.session().get_one(Queue, shift.queue_id)
    return f"{rota.label(shift)} in {queue.name}, {local_span(occ.start, occ.end, timezone)}"


@bp.route("/mine")
def mine() -> str:
    me = agent()
    now = utcnow()
    timezone = rota.safe_zone(me.user.timezone).key
    swaps = rota.swaps_for(db.session(), me.user)
    return render_template(
        "webui/rota/mine.html",
        shifts=_my_upcoming(me.user, now, timezone),
        swaps=swap_rows(swaps, me.user.id, timezone),
        timezone=timezone,
        today=rota.local_today(now, rota.safe_zone(timezone)).isoformat(),
        horizon=SWAP_HORIZON_DAYS,
    )


def _colleagues(queue: Queue, me: User) -> list[User]:
    stmt = (
        select(User).where(User.active.is_(True), User.id != me.id).order_by(User.name, User.email)
    )
    return [u for u in db.session().scalars(stmt) if can_see_queue(u.role, queue)]


@dataclass(frozen=True)
class Offer:
    signup_id: int
    on_date: date
    words: str


def _offers(colleague: User, me: User, now: datetime, timezone: str) -> list[Offer]:
    """The colleague's own upcoming shifts (from their sign-ups) in queues `me` may see."""
    session = db.session()
    visible = {q.id for q in visible_queues(session, me)}
    signups = list(session.scalars(select(ShiftSignup).where(ShiftSignup.user_id == colleague.id)))
    shifts = {s.id: s for s in rota.active_shifts(session, visible)}
    offers = []
    for a in rota.assignments(session, visible, now, now + timedelta(days=SWAP_HORIZON_DAYS)):
        occ = a.occurrence
        signup_id = signup_for(signups, colleague.id, occ.shift_id, occ.on_date)
        if a.user_id != colleague.id or a.swapped or signup_id is None or occ.start <= now:
            continue
        words = _occurrence_words(shifts[occ.shift_id], occ.on_date, timezone)
        offers.append(Offer(signup_id, occ.on_date, words))
    return offers


@bp.route("/swap", methods=["GET", "POST"])
def swap() -> str | Response:
    """Ask a colleague to take one of my shifts: choose them, then what (if anything) I
    take of theirs in exchange. Two plain steps, so it works without JavaScript."""
    me = agent()
    source: Mapping[str, str] = request.form if request.method == "POST" else request.args
    signup_id = source.get("signup_id", "")[:20]
    on_date = form_date("on_date", source)
    signup = db.session().get(ShiftSignup, int(signup_id)) if signup_id.isdigit() else None
    shift = rota.visible_shift(db.session(), me.user, signup.shift_id) if signup else None
    if signup is None or signup.user_id != me.user.id or shift is None or on_date is None:
        flash("Choose one of your own shifts to swap.")
        return redirect(url_for("rota.mine"), code=303)
    queue = db.session().get_one(Queue, shift.queue_id)
    colleagues = _colleagues(queue, me.user)
    with_id = source.get("with", "")[:20]
    colleague = next((u for u in colleagues if str(u.id) == with_id), None)
    timezone = rota.safe_zone(me.user.timezone).key
    if request.method == "POST" and colleague is not None:
        counter = source.get("counter", "")[:40]
        counter_signup, _, counter_day = counter.partition("@")
        try:
            with db.writing() as writer:
                rota.ask_swap(
                    writer,
                    writer.get_one(User, me.user.id),
                    signup.id,
                    on_date,
                    writer.get_one(User, colleague.id),
                    utcnow(),
                    counter_signup_id=int(counter_signup) if counter_signup.isdigit() else None,
                    counter_date=form_date("d", {"d": counter_day}),
                    note=source.get("note", "")[: rota.MAX_NOTE],
                )
        except RotaError as exc:
            flash(f"Not asked: {exc}")
            return redirect(url_for("rota.mine"), code=303)
        flash(f"{rota.display_name(colleague)} is asked; staff decide once they agree.")
        return redirect(url_for("rota.mine"), code=303)
    return render_template(
        "webui/rota/swap.html",
        signup=signup,
        on_date=on_date,
        giving=_occurrence_words(shift, on_date, timezone),
        colleagues=colleagues,
        colleague=colleague,
        offers=_offers(colleague, me.user, utcnow(), timezone) if colleague else [],
        display_name=rota.display_name,
    )


@bp.route("/swaps/answer", methods=["POST"])
def answer() -> Response:
    swap_id, answer = form_int("swap_id"), form_text("answer", 10)
    if swap_id is None or answer not in ("accept", "refuse", "withdraw"):
        return _back("Choose a swap request and an answer.", "rota.mine")
    try:
        with db.writing() as writer:
            me = writer.get_one(User, agent().user.id)
            found = writer.get(ShiftSwap, swap_id)
            if found is None:
                raise RotaError("There is no such swap request.")
            if answer == "withdraw":
                rota.withdraw_swap(writer, found, me, utcnow())
            else:
                rota.answer_swap(writer, found, me, answer == "accept", utcnow())
    except RotaError as exc:
        return _back(f"Nothing changed: {exc}", "rota.mine")
    said = {
        "accept": "You agreed; staff decide now.",
        "refuse": "You said no to the swap.",
        "withdraw": "Your swap request is withdrawn.",
    }
    return _back(said[answer], "rota.mine")
