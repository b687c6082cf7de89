"""The rota: shifts per queue, sign-ups, the concrete occurrences and who covers them, swaps.

Staff define shifts per queue in wall-clock time of a stated IANA time zone: weekly (a
weekday, from `start` to `end`; an end at or before the start ends the next day) or once (a
date). An occurrence is one concrete instance in UTC, computed with zoneinfo, so a weekly
22:00-06:00 shift in Europe/Berlin lasts 7 hours on the night the clocks go forward and 9
on the night they go back, as it does on the wall. A start in the hour that does not exist
on the spring-forward day is read with the offset before the change (PEP 495, fold=0): a
02:30 start begins at 03:30 summer time. In the repeated hour of the autumn the first of
the two is meant.

Agents sign up for a shift of a queue they may see (need to know: a shift of a queue they
may not see does not exist for them), on duty or as backup, from a date and optionally
until one; duty sign-ups stop when the shift has the agents it needs (backup stays open).
One agent asks another to take one occurrence of their shift, optionally in exchange for
one of the other's; the other agrees, then staff approve, and the approval adds one
`ShiftCover` per occurrence that changed hands (the standing sign-ups never change).
Everything is checked again when staff approve: an occurrence that changed hands meanwhile
makes the swap void instead.

Every service takes the session first and `now` (UTC) where time matters, so tests run on a
controlled clock. Bad input raises `RotaError` (a ValueError) whose message can be shown to
the agent as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from queues.access import can_see_queue
from queues.models import Queue, Role, User
from queues.team.rota_models import (
    BACKUP,
    DUTY,
    ROLES,
    Shift,
    ShiftCover,
    ShiftSignup,
    ShiftSwap,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_NEEDED = 50
MAX_NAME = 100
MAX_NOTE = 1000
# Swaps still waiting for someone: the other agent (asked) or staff (agreed).
OPEN_SWAP_STATES = ("asked", "agreed")


class RotaError(ValueError):
    """A rota change that cannot be made; the message is meant for the agent."""


# --- time zones ------------------------------------------------------------------------------


@cache
def timezone_names() -> frozenset[str]:
    """Every IANA zone name this system knows (the tz database or the tzdata package)."""
    return frozenset(available_timezones()) | {"UTC"}


def zone(name: str) -> ZoneInfo:
    """The zone called `name`; RotaError for a name that is not an IANA zone."""
    if name not in timezone_names():
        raise RotaError(f"{name[:64]!r} is not a time zone name such as Europe/Berlin or UTC.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RotaError(f"{name[:64]!r} is not a time zone this system knows.") from exc


def safe_zone(name: str) -> ZoneInfo:
    """The zone called `name`, or UTC for a name this system does not know (a stored value
    from an older time zone database must not break a page)."""
    try:
        return zone(name)
    except RotaError:
        return ZoneInfo("UTC")


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant wall-clock `at` on `day` in `tz` names, in UTC (fold=0: see the docstring)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return local_to_utc(day, time(0), tz)


def local_today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def week_start(day: date) -> date:
    """The Monday of `day`'s week (ISO 8601 weeks start on Monday)."""
    return day - timedelta(days=day.weekday())


def dates(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


# --- shifts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftSpec:
    """A shift as staff define it; exactly one of `weekday` and `on_date` is set."""

    queue_id: int
    name: str
    weekday: int | None
    on_date: date | None
    start: time
    end: time
    timezone: str
    needed: int = 1


def check_spec(session: Session, spec: ShiftSpec) -> ShiftSpec:
    """`spec` with its name trimmed, or RotaError naming what is wrong."""
    if session.get(Queue, spec.queue_id) is None:
        raise RotaError("There is no such queue.")
    if (spec.weekday is None) == (spec.on_date is None):
        raise RotaError("A shift is either weekly (a weekday) or once (a date), not both.")
    if spec.weekday is not None and not 0 <= spec.weekday <= 6:
        raise RotaError("The weekday must be Monday to Sunday.")
    if not 1 <= spec.needed <= MAX_NEEDED:
        raise RotaError(f"A shift needs between 1 and {MAX_NEEDED} agents.")
    zone(spec.timezone)
    name = " ".join(spec.name.split())
    if len(name) > MAX_NAME:
        raise RotaError(f"The name must have at most {MAX_NAME} characters.")
    return ShiftSpec(
        spec.queue_id,
        name,
        spec.weekday,
        spec.on_date,
        spec.start.replace(second=0, microsecond=0, tzinfo=None),
        spec.end.replace(second=0, microsecond=0, tzinfo=None),
        spec.timezone,
        spec.needed,
    )


def _require_staff(user: User) -> None:
    if user.role is not Role.STAFF or not user.active:
        raise RotaError("Only staff define shifts and decide swaps.")


def define_shift(session: Session, spec: ShiftSpec, actor: User, now: datetime) -> Shift:
    _require_staff(actor)
    spec = check_spec(session, spec)
    shift = Shift(created_by=actor.email, created_at=now, updated_at=now, active=True)
    _apply(shift, spec)
    session.add(shift)
    session.flush()
    return shift


def update_shift(
    session: Session, shift: Shift, spec: ShiftSpec, actor: User, now: datetime
) -> None:
    """Change a shift; its sign-ups stay (an agent who no longer fits it leaves it)."""
    _require_staff(actor)
    _apply(shift, check_spec(session, spec))
    shift.updated_at = now
    session.flush()


def retire_shift(session: Session, shift: Shift, actor: User, now: datetime) -> None:
    """Take a shift off the rota; its open swaps are void."""
    _require_staff(actor)
    if not shift.active:
        raise RotaError("This shift is already off the rota.")
    shift.active = False
    shift.updated_at = now
    signup_ids = select(ShiftSignup.id).where(ShiftSignup.shift_id == shift.id)
    for swap in session.scalars(
        select(ShiftSwap).where(
            ShiftSwap.state.in_(OPEN_SWAP_STATES),
            or_(
                ShiftSwap.signup_id.in_(signup_ids),
                ShiftSwap.counter_signup_id.in_(signup_ids),
            ),
        )
    ):
        _void(swap, "the shift was taken off the rota", now)
    session.flush()


def _apply(shift: Shift, spec: ShiftSpec) -> None:
    shift.queue_id = spec.queue_id
    shift.name = spec.name
    shift.weekday = spec.weekday
    shift.on_date = spec.on_date
    shift.start = spec.start
    shift.end = spec.end
    shift.timezone = spec.timezone
    shift.needed = spec.needed


def describe(shift: Shift) -> str:
    """The shift in words, in its own time zone: "Mondays 22:00-06:00 (Europe/Berlin)"."""
    hours = f"{shift.start:%H:%M}–{shift.end:%H:%M}"
    if shift.end <= shift.start:
        hours += " the next day"
    if shift.weekday is not None:
        when = f"{WEEKDAYS[shift.weekday]}s"
    else:
        when = f"{shift.on_date:%a %d %b %Y}" if shift.on_date else "once"
    return f"{when} {hours} ({shift.timezone})"


def label(shift: Shift) -> str:
    return shift.name or describe(shift)


# --- occurrences -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One concrete instance of a shift: the local date it starts on, and UTC times."""

    shift_id: int
    queue_id: int
    on_date: date
    start: datetime
    end: datetime
    needed: int

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


def occurrence(shift: Shift, day: date) -> Occurrence:
    """The occurrence of `shift` starting on local date `day` (not checked to be one)."""
    tz = safe_zone(shift.timezone)
    end_day = day if shift.end > shift.start else day + timedelta(days=1)
    return Occurrence(
        shift.id,
        shift.queue_id,
        day,
        local_to_utc(day, shift.start, tz),
        local_to_utc(end_day, shift.end, tz),
        shift.needed,
    )


def is_occurrence_date(shift: Shift, day: date) -> bool:
    if shift.on_date is not None:
        return day == shift.on_date
    return day.weekday() == shift.weekday


def occurrences(shift: Shift, start: datetime, end: datetime) -> list[Occurrence]:
    """The occurrences of `shift` that overlap [start, end)."""
    if shift.on_date is not None:
        days: Iterable[date] = [shift.on_date]
    else:
        tz = safe_zone(shift.timezone)
        first = start.astimezone(tz).date() - timedelta(days=1)  # one that began the day before
        days = (d for d in dates(first, end.astimezone(tz).date()) if d.weekday() == shift.weekday)
    found = (occurrence(shift, d) for d in days)
    return [o for o in found if o.end > start and o.start < end]


def next_occurrence(shift: Shift, on_or_after: date) -> date | None:
    """The first occurrence date on or after `on_or_after` (None for a one-off in the past)."""
    if shift.on_date is not None:
        return shift.on_date if shift.on_date >= on_or_after else None
    assert shift.weekday is not None
    return on_or_after + timedelta(days=(shift.weekday - on_or_after.weekday()) % 7)


def upcoming(shift: Shift, now: datetime, count: int) -> list[Occurrence]:
    """The next `count` occurrences that have not ended at `now`."""
    tz = safe_zone(shift.timezone)
    day: date | None = local_today(now, tz) - timedelta(days=1)
    found: list[Occurrence] = []
    while day is not None and len(found) < count:
        day = next_occurrence(shift, day)
        if day is None:
            break
        o = occurrence(shift, day)
        if o.end > now:
            found.append(o)
        if shift.on_date is not None:
            break
        day += timedelta(days=1)
    return found


# --- who covers what -------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """An agent on one occurrence: on duty or as backup, by sign-up or by an approved swap."""

    occurrence: Occurrence
    user_id: int
    name: str
    email: str
    role: str
    swapped: bool


def display_name(user: User) -> str:
    return user.name or user.email


def active_shifts(session: Session, queue_ids: Iterable[int]) -> list[Shift]:
    ids = list(queue_ids)
    if not ids:
        return []
    stmt = (
        select(Shift)
        .where(Shift.queue_id.in_(ids), Shift.active.is_(True))
        .order_by(Shift.queue_id, Shift.weekday, Shift.on_date, Shift.start, Shift.id)
    )
    return list(session.scalars(stmt))


def assignments(
    session: Session, queue_ids: Iterable[int], start: datetime, end: datetime
) -> list[Assignment]:
    """Everyone on an occurrence overlapping [start, end) in these queues, in time order.

    Sign-ups give the standing rota; approved swaps replace one agent by another on one
    occurrence. Disabled accounts and agents who may no longer see the queue cover nothing.
    """
    shifts = active_shifts(session, queue_ids)
    occs = [o for s in shifts for o in occurrences(s, start, end)]
    if not occs:
        return []
    shift_ids = {s.id for s in shifts}
    signups: dict[int, list[ShiftSignup]] = defaultdict(list)
    for su in session.scalars(select(ShiftSignup).where(ShiftSignup.shift_id.in_(shift_ids))):
        signups[su.shift_id].append(su)
    first, last = min(o.on_date for o in occs), max(o.on_date for o in occs)
    covers: dict[tuple[int, date], list[ShiftCover]] = defaultdict(list)
    cover_stmt = select(ShiftCover).where(
        ShiftCover.shift_id.in_(shift_ids), ShiftCover.on_date.between(first, last)
    )
    for cover in session.scalars(cover_stmt):
        covers[(cover.shift_id, cover.on_date)].append(cover)
    people: dict[int, dict[int, tuple[str, bool]]] = {}
    user_ids: set[int] = set()
    for index, o in enumerate(occs):
        on = {
            su.user_id: (su.role, False)
            for su in signups[o.shift_id]
            if su.first_date <= o.on_date and (su.last_date is None or o.on_date <= su.last_date)
        }
        for cover in covers[(o.shift_id, o.on_date)]:
            if on.pop(cover.out_user_id, None) is not None:
                on[cover.in_user_id] = (cover.role, True)
        people[index] = on
        user_ids |= set(on)
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
    queue_ids_seen = {o.queue_id for o in occs}
    queues = {q.id: q for q in session.scalars(select(Queue).where(Queue.id.in_(queue_ids_seen)))}
    found = []
    for index, o in enumerate(occs):
        for user_id, (role, swapped) in people[index].items():
            user = users.get(user_id)
            if user is None or not user.active or not can_see_queue(user.role, queues[o.queue_id]):
                continue
            found.append(Assignment(o, user.id, display_name(user), user.email, role, swapped))
    found.sort(key=lambda a: (a.occurrence.start, a.role != DUTY, a.name.lower()))
    return found


def covering(session: Session, queue: Queue, at: datetime, role: str = DUTY) -> list[Assignment]:
    """Who is on `queue` at the instant `at` in `role` (duty or backup), one row per agent."""
    rows = assignments(session, [queue.id], at, at + timedelta(microseconds=1))
    seen: dict[int, Assignment] = {}
    for a in rows:
        if a.role == role and a.occurrence.covers(at):
            seen.setdefault(a.user_id, a)
    return list(seen.values())


def covers_occurrence(session: Session, user_id: int, shift: Shift, day: date) -> str | None:
    """The role in which `user_id` covers `shift` on `day` (after swaps), or None."""
    for cover in session.scalars(
        select(ShiftCover).where(ShiftCover.shift_id == shift.id, ShiftCover.on_date == day)
    ):
        if cover.in_user_id == user_id:
            return cover.role
        if cover.out_user_id == user_id:
            return None
    for su in session.scalars(
        select(ShiftSignup).where(ShiftSignup.shift_id == shift.id, ShiftSignup.user_id == user_id)
    ):
        if su.first_date <= day and (su.last_date is None or day <= su.last_date):
            return su.role
    return None


# --- signing up ------------------------------------------------------------------------------


def visible_shift(session: Session, user: User, shift_id: int) -> Shift | None:
    """The active shift `shift_id` if `user` may see its queue (need to know), else None."""
    shift = session.get(Shift, shift_id)
    if shift is None or not shift.active or not user.active:
        return None
    queue = session.get(Queue, shift.queue_id)
    if queue is None or not can_see_queue(user.role, queue):
        return None
    return shift


def sign_up(
    session: Session,
    user: User,
    shift_id: int,
    role: str,
    first_date: date,
    now: datetime,
    last_date: date | None = None,
) -> ShiftSignup:
    """Put `user` on a shift from its first occurrence on or after `first_date`.

    Refused: a shift of a queue the agent may not see (as if it did not exist), a role
    other than duty or backup, a start in the past, an end before the start, a second
    sign-up on the same dates, and a duty sign-up when the shift already has the agents it
    needs on one of those dates (backup is always open).
    """
    shift = visible_shift(session, user, shift_id)
    if shift is None:
        raise RotaError("There is no such shift.")
    if role not in ROLES:
        raise RotaError("Sign up on duty or as backup.")
    if first_date < local_today(now, safe_zone(shift.timezone)):
        raise RotaError("Sign up from today or a later date.")
    first = next_occurrence(shift, first_date)
    if first is not None and occurrence(shift, first).end <= now:  # today's is over
        first = None if shift.on_date is not None else first + timedelta(days=7)
    if first is None:
        raise RotaError("This shift is over.")
    if last_date is not None and last_date < first:
        raise RotaError("The last date must not be before the first shift.")
    for other in _signups(session, shift.id, user.id):
        if _overlap(other.first_date, other.last_date, first, last_date):
            raise RotaError(
                f"You are already on this shift from {other.first_date:%a %d %b %Y}; leave "
                "that sign-up first to change it."
            )
    if role == DUTY:
        _require_room(session, shift, user.id, first, last_date)
    signup = ShiftSignup(
        shift_id=shift.id,
        user_id=user.id,
        role=role,
        first_date=first,
        last_date=last_date,
        created_by=user.email,
        created_at=now,
    )
    session.add(signup)
    session.flush()
    return signup


def _signups(session: Session, shift_id: int, user_id: int | None = None) -> list[ShiftSignup]:
    stmt = select(ShiftSignup).where(ShiftSignup.shift_id == shift_id)
    if user_id is not None:
        stmt = stmt.where(ShiftSignup.user_id == user_id)
    return list(session.scalars(stmt.order_by(ShiftSignup.first_date, ShiftSignup.id)))


def _overlap(a_first: date, a_last: date | None, b_first: date, b_last: date | None) -> bool:
    return (a_last is None or a_last >= b_first) and (b_last is None or b_last >= a_first)


def _require_room(
    session: Session, shift: Shift, user_id: int, first: date, last: date | None
) -> None:
    """RotaError if on some date of [first, last] the shift already has `needed` on duty.

    The count of sign-ups changes only where one starts, so checking the new range's first
    date and every other sign-up's first date inside it checks every date."""
    duty = [su for su in _signups(session, shift.id) if su.role == DUTY and su.user_id != user_id]
    days = {first} | {
        su.first_date
        for su in duty
        if su.first_date >= first and (last is None or su.first_date <= last)
    }
    for day in sorted(days):
        count = sum(
            1
            for su in duty
            if su.first_date <= day and (su.last_date is None or day <= su.last_date)
        )
        if count >= shift.needed:
            raise RotaError(
                f"This shift already has the {shift.needed} agent(s) it needs on duty from "
                f"{day:%a %d %b %Y}: sign up as backup, or ask staff for another shift."
            )


def leave(
    session: Session, signup: ShiftSignup, actor: User, from_date: date, now: datetime
) -> str:
    """End `signup` so that its agent covers nothing from `from_date` on; returns what was
    done. Only the agent or staff may; past occurrences stay on record (no date before
    today), and a sign-up that has not begun by then is removed. Open swaps of the
    occurrences given up are void."""
    if actor.id != signup.user_id and actor.role is not Role.STAFF:
        raise RotaError("There is no such sign-up.")
    shift = session.get_one(Shift, signup.shift_id)
    today = local_today(now, safe_zone(shift.timezone))
    if from_date < today:
        raise RotaError("Leave from today or a later date; past shifts stay on record.")
    if signup.last_date is not None and signup.last_date < from_date:
        raise RotaError("This sign-up has already ended by then.")
    for swap in session.scalars(
        select(ShiftSwap).where(
            ShiftSwap.state.in_(OPEN_SWAP_STATES),
            or_(
                (ShiftSwap.signup_id == signup.id) & (ShiftSwap.on_date >= from_date),
                (ShiftSwap.counter_signup_id == signup.id) & (ShiftSwap.counter_date >= from_date),
            ),
        )
    ):
        _void(swap, "the agent left that shift", now)
    if signup.first_date >= from_date:
        for swap in session.scalars(
            select(ShiftSwap).where(
                or_(ShiftSwap.signup_id == signup.id, ShiftSwap.counter_signup_id == signup.id)
            )
        ):
            session.delete(swap)
        session.delete(signup)
        session.flush()
        return "removed"
    signup.last_date = from_date - timedelta(days=1)
    session.flush()
    return f"ended after {signup.last_date:%a %d %b %Y}"


# --- swaps -----------------------------------------------------------------------------------


def ask_swap(
    session: Session,
    asker: User,
    signup_id: int,
    on_date: date,
    to_user: User,
    now: datetime,
    *,
    counter_signup_id: int | None = None,
    counter_date: date | None = None,
    note: str = "",
) -> ShiftSwap:
    """`asker` asks `to_user` to take the occurrence of their sign-up on `on_date`,
    optionally giving them the occurrence of `to_user`'s sign-up `counter_signup_id` on
    `counter_date` in exchange."""
    signup = session.get(ShiftSignup, signup_id)
    if signup is None or signup.user_id != asker.id:
        raise RotaError("There is no such sign-up.")
    shift = visible_shift(session, asker, signup.shift_id)
    if shift is None:
        raise RotaError("There is no such sign-up.")
    _check_hand_over(session, shift, on_date, asker, to_user, now, "your")
    counter: ShiftSignup | None = None
    if counter_signup_id is not None:
        counter = session.get(ShiftSignup, counter_signup_id)
        if counter is None or counter.user_id != to_user.id or counter_date is None:
            raise RotaError("Choose one of their shifts, or none.")
        counter_shift = visible_shift(session, asker, counter.shift_id)
        if counter_shift is None:
            raise RotaError("Choose one of their shifts, or none.")
        if counter.shift_id == shift.id and counter_date == on_date:
            raise RotaError("That is the same shift.")
        _check_hand_over(session, counter_shift, counter_date, to_user, asker, now, "their")
    open_same = session.scalar(
        select(ShiftSwap.id).where(
            ShiftSwap.signup_id == signup.id,
            ShiftSwap.on_date == on_date,
            ShiftSwap.state.in_(OPEN_SWAP_STATES),
        )
    )
    if open_same is not None:
        raise RotaError("You have already asked to swap that shift; withdraw that first.")
    swap = ShiftSwap(
        signup_id=signup.id,
        on_date=on_date,
        to_user_id=to_user.id,
        counter_signup_id=counter.id if counter is not None else None,
        counter_date=counter_date if counter is not None else None,
        state="asked",
        note=note.strip()[:MAX_NOTE],
        created_at=now,
        decision_note="",
    )
    session.add(swap)
    session.flush()
    return swap


def _check_hand_over(
    session: Session,
    shift: Shift,
    day: date,
    giver: User,
    taker: User,
    now: datetime,
    whose: str,
) -> None:
    """RotaError unless `giver` covers `shift` on `day` (not begun yet) and `taker` may and
    does not already."""
    if not is_occurrence_date(shift, day):
        raise RotaError(f"{label(shift)} has no shift on {day:%a %d %b %Y}.")
    if occurrence(shift, day).start <= now:
        raise RotaError(f"{whose.capitalize()} shift on {day:%a %d %b %Y} has already begun.")
    if covers_occurrence(session, giver.id, shift, day) is None:
        raise RotaError(f"That is not {whose} shift on {day:%a %d %b %Y}.")
    if taker.id == giver.id:
        raise RotaError("Choose another agent.")
    queue = session.get_one(Queue, shift.queue_id)
    if not taker.active or not can_see_queue(taker.role, queue):
        raise RotaError("Choose an agent who works in that queue.")
    if covers_occurrence(session, taker.id, shift, day) is not None:
        name = display_name(taker)
        raise RotaError(f"{name} is already on {label(shift)} on {day:%a %d %b %Y}.")


def answer_swap(session: Session, swap: ShiftSwap, user: User, accept: bool, now: datetime) -> None:
    """The agent asked agrees (then staff decide) or refuses."""
    if swap.to_user_id != user.id:
        raise RotaError("There is no such swap request.")
    if swap.state != "asked":
        raise RotaError(f"This swap request is {swap.state} already.")
    swap.state = "agreed" if accept else "refused"
    swap.answered_at = now
    session.flush()


def withdraw_swap(session: Session, swap: ShiftSwap, user: User, now: datetime) -> None:
    signup = session.get(ShiftSignup, swap.signup_id)
    if signup is None or signup.user_id != user.id:
        raise RotaError("There is no such swap request.")
    if swap.state not in OPEN_SWAP_STATES:
        raise RotaError(f"This swap request is {swap.state} already.")
    swap.state = "withdrawn"
    swap.answered_at = swap.answered_at or now
    session.flush()


def decide_swap(
    session: Session, swap: ShiftSwap, actor: User, approve: bool, note: str, now: datetime
) -> None:
    """Staff approve (the occurrences change hands) or decline an agreed swap.

    Before approving, everything is checked again; if an occurrence changed hands or began
    meanwhile the swap is void and RotaError says why (nothing else changes)."""
    _require_staff(actor)
    if swap.state != "agreed":
        raise RotaError(
            "Only a swap both agents agreed on can be decided."
            if swap.state == "asked"
            else f"This swap is {swap.state} already."
        )
    swap.decided_by = actor.email
    swap.decided_at = now
    swap.decision_note = note.strip()[:MAX_NOTE]
    if not approve:
        swap.state = "declined"
        session.flush()
        return
    signup = session.get_one(ShiftSignup, swap.signup_id)
    shift = session.get_one(Shift, signup.shift_id)
    asker = session.get_one(User, signup.user_id)
    taker = session.get_one(User, swap.to_user_id)
    moves = [(shift, swap.on_date, asker, taker, signup.role)]
    if swap.counter_signup_id is not None and swap.counter_date is not None:
        counter = session.get_one(ShiftSignup, swap.counter_signup_id)
        moves.append(
            (
                session.get_one(Shift, counter.shift_id),
                swap.counter_date,
                taker,
                asker,
                counter.role,
            )
        )
    try:
        for move_shift, day, giver, receiver, _role in moves:
            if not move_shift.active:
                raise RotaError("A shift of this swap was taken off the rota.")
            _check_hand_over(session, move_shift, day, giver, receiver, now, "the")
    except RotaError as exc:
        _void(swap, str(exc), now)
        session.flush()
        raise RotaError(f"This swap cannot be made any more: {exc}") from exc
    for move_shift, day, giver, receiver, role in moves:
        session.add(
            ShiftCover(
                shift_id=move_shift.id,
                on_date=day,
                out_user_id=giver.id,
                in_user_id=receiver.id,
                role=role,
                swap_id=swap.id,
                created_at=now,
            )
        )
    swap.state = "approved"
    session.flush()


def _void(swap: ShiftSwap, why: str, now: datetime) -> None:
    swap.state = "void"
    swap.decided_at = now
    swap.decision_note = why[:MAX_NOTE]


def swaps_for(session: Session, user: User) -> list[ShiftSwap]:
    """Swaps `user` asked for or was asked, newest first."""
    mine = select(ShiftSignup.id).where(ShiftSignup.user_id == user.id)
    stmt = select(ShiftSwap).where(
        or_(ShiftSwap.signup_id.in_(mine), ShiftSwap.to_user_id == user.id)
    )
    return list(session.scalars(stmt.order_by(ShiftSwap.created_at.desc(), ShiftSwap.id.desc())))


def open_swaps(session: Session) -> list[ShiftSwap]:
    """Swaps waiting for the other agent or for staff, oldest first (the staff page)."""
    stmt = select(ShiftSwap).where(ShiftSwap.state.in_(OPEN_SWAP_STATES))
    return list(session.scalars(stmt.order_by(ShiftSwap.created_at, ShiftSwap.id)))


def role_label(role: str) -> str:
    return "on duty" if role == DUTY else "backup" if role == BACKUP else role
