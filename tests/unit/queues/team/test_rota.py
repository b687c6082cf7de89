"""The rota (queues.team.rota): shifts in their own time zone across daylight-saving changes,
sign-up rules, leaving, and swaps that the other agent agrees to and staff approve.
Every test runs on SQLite and PostgreSQL, on a controlled clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Role, User
from queues.team.rota import (
    RotaError,
    ShiftSpec,
    answer_swap,
    ask_swap,
    check_spec,
    covering,
    decide_swap,
    leave,
    occurrences,
    retire_shift,
    sign_up,
    upcoming,
    withdraw_swap,
)
from queues.team.rota_models import BACKUP, DUTY, Shift, ShiftCover, ShiftSignup

from .rota_helpers import BEFORE, agent, on, once, queue, staff, weekly

SAFETY = "specialist-safety"
HELP = "general-help"
BERLIN = "Europe/Berlin"
SATURDAY, SUNDAY, MONDAY = 5, 6, 0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- occurrences and daylight saving ----------------------------------------------------------


def test_an_overnight_shift_is_as_long_as_the_wall_clock_says_across_dst(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        boss = staff(session)
        night = weekly(session, boss, SAFETY, SATURDAY, time(22), time(6), BERLIN)
        found = occurrences(night, utc(2026, 3, 14), utc(2026, 4, 5))
        by_date = {o.on_date: o for o in found}
        # Winter time (UTC+1): 22:00-06:00 is 21:00-05:00 UTC, eight hours.
        winter = by_date[date(2026, 3, 21)]
        assert (winter.start, winter.end) == (utc(2026, 3, 21, 21), utc(2026, 3, 22, 5))
        # The night the clocks go forward (Sunday 29 March, 02:00 -> 03:00): seven hours.
        spring = by_date[date(2026, 3, 28)]
        assert (spring.start, spring.end) == (utc(2026, 3, 28, 21), utc(2026, 3, 29, 4))
        assert spring.end - spring.start == timedelta(hours=7)
        # Summer time (UTC+2) afterwards.
        summer = by_date[date(2026, 4, 4)]
        assert (summer.start, summer.end) == (utc(2026, 4, 4, 20), utc(2026, 4, 5, 4))
        # The night they go back (Sunday 25 October, 03:00 -> 02:00): nine hours.
        autumn = occurrences(night, utc(2026, 10, 24), utc(2026, 10, 26))
        assert [(o.start, o.end) for o in autumn] == [(utc(2026, 10, 24, 20), utc(2026, 10, 25, 5))]


def test_a_start_in_the_hour_that_does_not_exist_begins_at_the_same_instant_an_hour_later(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        boss = staff(session)
        odd = weekly(session, boss, SAFETY, SUNDAY, time(2, 30), time(8), BERLIN)
        (spring,) = occurrences(odd, utc(2026, 3, 29), utc(2026, 3, 30))
        # 02:30 does not exist that morning: read with the offset before the change, it is
        # 01:30 UTC, which the wall shows as 03:30 summer time.
        assert spring.start == utc(2026, 3, 29, 1, 30)
        assert spring.end == utc(2026, 3, 29, 6)


def test_a_one_off_shift_happens_once_and_upcoming_lists_what_has_not_ended(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        boss = staff(session)
        event = once(session, boss, SAFETY, date(2026, 5, 1), time(9), time(17), BERLIN)
        assert [o.start for o in occurrences(event, utc(2026, 4, 1), utc(2026, 6, 1))] == [
            utc(2026, 5, 1, 7)
        ]
        assert occurrences(event, utc(2026, 5, 2), utc(2026, 6, 1)) == []
        assert [o.on_date for o in upcoming(event, utc(2026, 5, 1, 10), 3)] == [date(2026, 5, 1)]
        assert upcoming(event, utc(2026, 5, 1, 15, 1), 3) == []
        day = weekly(session, boss, HELP, MONDAY, time(9), time(12))
        assert [o.on_date for o in upcoming(day, utc(2026, 3, 2, 11), 2)] == [
            date(2026, 3, 2),
            date(2026, 3, 9),
        ]


def test_shift_definitions_are_checked(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        boss = staff(session)
        q = queue(session, SAFETY).id
        bad = [
            ShiftSpec(q, "", 1, date(2026, 5, 1), time(9), time(17), "UTC"),
            ShiftSpec(q, "", None, None, time(9), time(17), "UTC"),
            ShiftSpec(q, "", 7, None, time(9), time(17), "UTC"),
            ShiftSpec(q, "", 1, None, time(9), time(17), "Mars/Olympus_Mons"),
            ShiftSpec(q, "", 1, None, time(9), time(17), "UTC", needed=0),
            ShiftSpec(999_999, "", 1, None, time(9), time(17), "UTC"),
        ]
        for spec in bad:
            with pytest.raises(RotaError):
                check_spec(session, spec)
        volunteer = agent(session, "vol@example.org", Role.VOLUNTEER)
        with pytest.raises(RotaError, match="Only staff"):
            weekly(session, volunteer, HELP, MONDAY, time(9), time(12))
        assert weekly(
            session, boss, HELP, MONDAY, time(9), time(12), name="  Early   help "
        ).name == ("Early help")


# --- signing up -------------------------------------------------------------------------------


def test_sign_up_rules(factory: sessionmaker[Session]) -> None:
    now = utc(2026, 3, 4, 12)  # a Wednesday
    with factory.begin() as session:
        boss = staff(session)
        shift = weekly(session, boss, SAFETY, MONDAY, time(18), time(22), needed=1)
        ann = agent(session, "ann@example.org")
        bob = agent(session, "bob@example.org")
        vol = agent(session, "vol@example.org", Role.VOLUNTEER)
        # Need to know: a volunteer cannot see specialist-safety, so its shifts do not exist.
        with pytest.raises(RotaError, match="no such shift"):
            sign_up(session, vol, shift.id, DUTY, date(2026, 3, 9), now)
        with pytest.raises(RotaError, match="today or a later date"):
            sign_up(session, ann, shift.id, DUTY, date(2026, 3, 2), now)
        with pytest.raises(RotaError, match="on duty or as backup"):
            sign_up(session, ann, shift.id, "boss", date(2026, 3, 9), now)
        # A date that is not a Monday starts at the next Monday.
        first = sign_up(session, ann, shift.id, DUTY, date(2026, 3, 5), now)
        assert first.first_date == date(2026, 3, 9)
        with pytest.raises(RotaError, match="already on this shift"):
            sign_up(session, ann, shift.id, BACKUP, date(2026, 3, 16), now)
        # The shift has the one agent it needs on duty: Bob may be backup, not on duty.
        with pytest.raises(RotaError, match="already has the 1 agent"):
            sign_up(session, bob, shift.id, DUTY, date(2026, 3, 9), now)
        sign_up(session, bob, shift.id, BACKUP, date(2026, 3, 9), now)


def test_a_full_shift_has_room_again_after_a_sign_up_ends(factory: sessionmaker[Session]) -> None:
    now = utc(2026, 3, 4, 12)
    with factory.begin() as session:
        boss = staff(session)
        shift = weekly(session, boss, SAFETY, MONDAY, time(18), time(22), needed=1)
        ann, bob = agent(session, "ann@example.org"), agent(session, "bob@example.org")
        sign_up(session, ann, shift.id, DUTY, date(2026, 3, 9), now, last_date=date(2026, 3, 16))
        with pytest.raises(RotaError, match="already has"):
            sign_up(session, bob, shift.id, DUTY, date(2026, 3, 5), now)
        later = sign_up(session, bob, shift.id, DUTY, date(2026, 3, 17), now)
        assert later.first_date == date(2026, 3, 23)
        # ... and a sign-up that would run into a later full stretch is refused too.
        carl = agent(session, "carl@example.org")
        with pytest.raises(RotaError, match="from Mon 23 Mar 2026"):
            sign_up(session, carl, shift.id, DUTY, date(2026, 3, 17), now)


def test_a_shift_that_is_over_or_off_the_rota_cannot_be_joined(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        boss = staff(session)
        event = once(session, boss, SAFETY, date(2026, 5, 1), time(9), time(17))
        ann = agent(session, "ann@example.org")
        with pytest.raises(RotaError, match="over"):
            sign_up(session, ann, event.id, DUTY, date(2026, 5, 1), utc(2026, 5, 1, 17))
        # Today's occurrence of a weekly shift is over: the sign-up starts a week later.
        monday = weekly(session, boss, SAFETY, MONDAY, time(9), time(12))
        joined = sign_up(session, ann, monday.id, DUTY, date(2026, 3, 2), utc(2026, 3, 2, 13))
        assert joined.first_date == date(2026, 3, 9)
        retire_shift(session, monday, boss, utc(2026, 3, 2, 14))
        bob = agent(session, "bob@example.org")
        with pytest.raises(RotaError, match="no such shift"):
            sign_up(session, bob, monday.id, BACKUP, date(2026, 3, 9), utc(2026, 3, 2, 14))
        assert covering(session, queue(session, SAFETY), utc(2026, 3, 9, 10)) == []


def test_leaving_keeps_the_past_and_removes_what_has_not_begun(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        boss = staff(session)
        shift = weekly(session, boss, SAFETY, MONDAY, time(18), time(22))
        ann, bob = agent(session, "ann@example.org"), agent(session, "bob@example.org")
        on(session, ann, shift)
        signup = session.scalars(select(ShiftSignup).where(ShiftSignup.user_id == ann.id)).one()
        now = utc(2026, 3, 4, 12)
        with pytest.raises(RotaError, match="no such sign-up"):
            leave(session, signup, bob, date(2026, 3, 9), now)
        with pytest.raises(RotaError, match="past shifts stay"):
            leave(session, signup, ann, date(2026, 3, 2), now)
        assert leave(session, signup, ann, date(2026, 3, 9), now) == "ended after Sun 08 Mar 2026"
        q = queue(session, SAFETY)
        assert [a.email for a in covering(session, q, utc(2026, 3, 2, 19))] == [ann.email]
        assert covering(session, q, utc(2026, 3, 9, 19)) == []
        later = sign_up(session, bob, shift.id, DUTY, date(2026, 3, 16), now)
        assert leave(session, later, boss, date(2026, 3, 9), now) == "removed"
        assert session.get(ShiftSignup, later.id) is None


def test_agents_who_lost_the_right_to_see_a_queue_or_their_account_cover_nothing(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        boss = staff(session)
        shift = weekly(session, boss, SAFETY, MONDAY, time(18), time(22), needed=2)
        ann, bob = agent(session, "ann@example.org"), agent(session, "bob@example.org")
        on(session, ann, shift)
        on(session, bob, shift)
        q, at = queue(session, SAFETY), utc(2026, 3, 9, 19)
        assert {a.email for a in covering(session, q, at)} == {ann.email, bob.email}
        ann.role = Role.VOLUNTEER
        bob.active = False
        session.flush()
        assert covering(session, q, at) == []


# --- swaps ------------------------------------------------------------------------------------


def _two_agents_on_two_shifts(
    session: Session,
) -> tuple[User, Shift, Shift, User, User, ShiftSignup, ShiftSignup]:
    boss = staff(session)
    monday = weekly(session, boss, SAFETY, MONDAY, time(18), time(22), BERLIN)
    saturday = weekly(session, boss, SAFETY, SATURDAY, time(10), time(14), BERLIN)
    ann, bob = agent(session, "ann@example.org"), agent(session, "bob@example.org")
    on(session, ann, monday)
    on(session, bob, saturday)
    mine = session.scalars(select(ShiftSignup).where(ShiftSignup.user_id == ann.id)).one()
    theirs = session.scalars(select(ShiftSignup).where(ShiftSignup.user_id == bob.id)).one()
    return boss, monday, saturday, ann, bob, mine, theirs


def test_a_swap_agreed_and_approved_changes_those_two_occurrences_only(
    factory: sessionmaker[Session],
) -> None:
    now = utc(2026, 3, 4, 12)
    with factory.begin() as session:
        boss, _monday, _saturday, ann, bob, mine, theirs = _two_agents_on_two_shifts(session)
        q = queue(session, SAFETY)
        swap = ask_swap(
            session,
            ann,
            mine.id,
            date(2026, 3, 9),
            bob,
            now,
            counter_signup_id=theirs.id,
            counter_date=date(2026, 3, 14),
            note="family dinner",
        )
        # Staff cannot approve before Bob agrees.
        with pytest.raises(RotaError, match="both agents agreed"):
            decide_swap(session, swap, boss, True, "", now)
        with pytest.raises(RotaError, match="no such swap"):
            answer_swap(session, swap, ann, True, now)
        answer_swap(session, swap, bob, True, now)
        with pytest.raises(RotaError, match="Only staff"):
            decide_swap(session, swap, ann, True, "", now)
        decide_swap(session, swap, boss, True, "fine", now)
        assert swap.state == "approved" and swap.decided_by == boss.email
        # Monday 9 March 18:00 Berlin (17:00 UTC): Bob; Saturday 14 March: Ann.
        assert [a.email for a in covering(session, q, utc(2026, 3, 9, 17, 30))] == [bob.email]
        assert [a.swapped for a in covering(session, q, utc(2026, 3, 9, 17, 30))] == [True]
        assert [a.email for a in covering(session, q, utc(2026, 3, 14, 10))] == [ann.email]
        # The weeks before and after are the standing rota.
        assert [a.email for a in covering(session, q, utc(2026, 3, 16, 17, 30))] == [ann.email]
        assert [a.email for a in covering(session, q, utc(2026, 3, 21, 10))] == [bob.email]
        assert len(session.scalars(select(ShiftCover)).all()) == 2


def test_swap_rules(factory: sessionmaker[Session]) -> None:
    now = utc(2026, 3, 4, 12)
    with factory.begin() as session:
        _boss, monday, _saturday, ann, bob, mine, theirs = _two_agents_on_two_shifts(session)
        vol = agent(session, "vol@example.org", Role.VOLUNTEER)
        with pytest.raises(RotaError, match="works in that queue"):
            ask_swap(session, ann, mine.id, date(2026, 3, 9), vol, now)
        with pytest.raises(RotaError, match="no shift on"):
            ask_swap(session, ann, mine.id, date(2026, 3, 10), bob, now)
        with pytest.raises(RotaError, match="already begun"):
            ask_swap(session, ann, mine.id, date(2026, 3, 2), bob, now)
        with pytest.raises(RotaError, match="no such sign-up"):
            ask_swap(session, bob, mine.id, date(2026, 3, 9), ann, now)
        with pytest.raises(RotaError, match="Choose another agent"):
            ask_swap(session, ann, mine.id, date(2026, 3, 9), ann, now)
        on(session, bob, monday, BACKUP)
        with pytest.raises(RotaError, match="already on"):
            ask_swap(session, ann, mine.id, date(2026, 3, 9), bob, now)
        carl = agent(session, "carl@example.org")
        swap = ask_swap(session, ann, mine.id, date(2026, 3, 16), carl, now)
        dave = agent(session, "dave@example.org")
        with pytest.raises(RotaError, match="already asked"):
            ask_swap(session, ann, mine.id, date(2026, 3, 16), dave, now)
        withdraw_swap(session, swap, ann, now)
        assert swap.state == "withdrawn"
        refused = ask_swap(session, ann, mine.id, date(2026, 3, 16), carl, now)
        answer_swap(session, refused, carl, False, now)
        assert refused.state == "refused"
        with pytest.raises(RotaError, match="refused already"):
            answer_swap(session, refused, carl, True, now)
        # A counter-offer must be one of the other agent's own shifts.
        with pytest.raises(RotaError, match="one of their shifts"):
            ask_swap(
                session,
                ann,
                mine.id,
                date(2026, 3, 23),
                carl,
                now,
                counter_signup_id=theirs.id,
                counter_date=date(2026, 3, 14),
            )


def test_a_swap_is_void_when_its_shift_changed_hands_before_approval(
    factory: sessionmaker[Session],
) -> None:
    now = utc(2026, 3, 4, 12)
    with factory.begin() as session:
        boss, _monday, _saturday, ann, bob, mine, _theirs = _two_agents_on_two_shifts(session)
        carl = agent(session, "carl@example.org")
        swap = ask_swap(session, ann, mine.id, date(2026, 3, 9), carl, now)
        answer_swap(session, swap, carl, True, now)
        # Ann stops from 9 March on: her open swap of that date is void at once.
        leave(session, mine, ann, date(2026, 3, 9), now)
        assert swap.state == "void"
        with pytest.raises(RotaError, match="void already"):
            decide_swap(session, swap, boss, True, "", now)
        # A swap whose occurrence began before staff got to it cannot be made any more.
        dave = agent(session, "dave@example.org")
        theirs = session.scalars(select(ShiftSignup).where(ShiftSignup.user_id == bob.id)).one()
        late = ask_swap(session, bob, theirs.id, date(2026, 3, 7), dave, now)
        answer_swap(session, late, dave, True, now)
        with pytest.raises(RotaError, match="cannot be made any more"):
            decide_swap(session, late, boss, True, "", utc(2026, 3, 7, 9, 30))
        assert late.state == "void"
        assert session.scalars(select(ShiftCover)).all() == []


def test_staff_may_decline_an_agreed_swap(factory: sessionmaker[Session]) -> None:
    now = utc(2026, 3, 4, 12)
    with factory.begin() as session:
        boss, _monday, _saturday, ann, bob, mine, _theirs = _two_agents_on_two_shifts(session)
        swap = ask_swap(session, ann, mine.id, date(2026, 3, 9), bob, now)
        answer_swap(session, swap, bob, True, now)
        decide_swap(session, swap, boss, False, "we need Ann that night", now)
        assert (swap.state, swap.decision_note) == ("declined", "we need Ann that night")
        q = queue(session, SAFETY)
        assert [a.email for a in covering(session, q, utc(2026, 3, 9, 17, 30))] == [ann.email]


def test_the_before_clock_is_a_monday() -> None:
    assert BEFORE.weekday() == 0
