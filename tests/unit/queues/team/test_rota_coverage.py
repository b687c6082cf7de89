"""Coverage hour by hour (queues.team.coverage): every hour without cover is marked, in the
viewer's time zone, in weeks that cross a daylight-saving change too. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy.orm import Session, sessionmaker

from queues.team.coverage import (
    COVERED,
    GAP,
    NO_SUCH_HOUR,
    PARTIAL,
    SHORT,
    Gap,
    uncovered,
    week_cover,
)
from queues.team.rota_models import BACKUP

from .rota_helpers import agent, on, queue, staff, weekly

SAFETY = "specialist-safety"
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _round_the_clock_but_wednesday_night(session: Session) -> None:
    """Day (08-20) and night (20-08) shifts in UTC every day; nobody on Wednesday night."""
    boss = staff(session)
    ann = agent(session, "ann@example.org", name="Ann")
    bob = agent(session, "bob@example.org", name="Bob")
    for weekday in range(7):
        on(session, ann, weekly(session, boss, SAFETY, weekday, time(8), time(20)))
        night = weekly(session, boss, SAFETY, weekday, time(20), time(8))
        if weekday != 2:
            on(session, bob, night)


def test_a_week_marks_every_hour_without_cover(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        _round_the_clock_but_wednesday_night(session)
        week = week_cover(session, queue(session, SAFETY), "UTC", date(2026, 3, 2))
        # Wednesday 20:00 to Thursday 08:00: twelve hours nobody covers.
        assert week.hours_without_cover == 12
        wednesday, thursday = week.days[2], week.days[3]
        assert [c.hour for c in wednesday.cells if c.without_cover] == [20, 21, 22, 23]
        assert [c.hour for c in thursday.cells if c.without_cover] == list(range(8))
        assert wednesday.gaps == (("20:00", "24:00"),) and thursday.gaps == (("00:00", "08:00"),)
        assert wednesday.cells[20].status == GAP and wednesday.cells[20].on_duty == ()
        assert wednesday.cells[9].on_duty == ("Ann",) and wednesday.cells[9].status == COVERED
        assert week.days[0].cells[3].on_duty == ("Bob",)
        assert all(d.hours == 24 for d in week.days)
        gaps = uncovered(session, queue(session, SAFETY), utc(2026, 3, 2), utc(2026, 3, 9))
        assert gaps == [Gap(utc(2026, 3, 4, 20), utc(2026, 3, 5, 8))]


def test_the_week_is_the_viewers_own_time_zone(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        boss = staff(session)
        ann = agent(session, "ann@example.org", name="Ann")
        # Mondays 09:00-17:00 in Berlin (UTC+1 in March) ...
        on(session, ann, weekly(session, boss, SAFETY, 0, time(9), time(17), BERLIN))
        week = week_cover(session, queue(session, SAFETY), NEW_YORK, date(2026, 3, 9))
        monday = week.days[0]
        # ... are 04:00-12:00 in New York, which is on summer time (UTC-4) since 8 March.
        assert [c.hour for c in monday.cells if not c.without_cover] == list(range(4, 12))
        assert monday.gaps == (("00:00", "04:00"), ("12:00", "24:00"))


def test_a_week_in_which_the_clocks_go_forward(factory: sessionmaker[Session]) -> None:
    """The viewer in Berlin: Sunday 29 March 2026 has 23 hours and no 02:00; a shift of 24
    hours every day, defined in UTC, covers every one of them."""
    with factory.begin() as session:
        boss = staff(session)
        ann = agent(session, "ann@example.org", name="Ann")
        for weekday in range(7):
            on(session, ann, weekly(session, boss, SAFETY, weekday, time(0), time(0)))
        week = week_cover(session, queue(session, SAFETY), BERLIN, date(2026, 3, 23))
        sunday = week.days[6]
        assert sunday.day == date(2026, 3, 29) and sunday.hours == 23
        assert sunday.cells[2].status == NO_SUCH_HOUR and sunday.cells[2].start is None
        assert sunday.cells[3].start == utc(2026, 3, 29, 1)
        assert week.hours_without_cover == 0
        assert [d.hours for d in week.days] == [24] * 6 + [23]


def test_a_week_in_which_the_clocks_go_back_has_a_repeated_hour(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        boss = staff(session)
        ann = agent(session, "ann@example.org", name="Ann")
        bob = agent(session, "bob@example.org", name="Bob")
        # Sunday 25 October 2026 in Berlin: 02:00-03:00 happens twice (00:00-01:00 UTC in
        # summer time, 01:00-02:00 UTC in winter time). Ann covers the first only.
        on(session, ann, weekly(session, boss, SAFETY, 6, time(0), time(1)))
        on(session, bob, weekly(session, boss, SAFETY, 6, time(3), time(4)))
        week = week_cover(session, queue(session, SAFETY), BERLIN, date(2026, 10, 19))
        sunday = week.days[6]
        assert sunday.hours == 25
        two = sunday.cells[2]
        assert two.repeated and two.on_duty == ("Ann",) and two.status == GAP
        assert sunday.cells[4].on_duty == ("Bob",)  # 03:00 UTC is 04:00 winter time
        # Every real hour of the week but Ann's and Bob's is without cover.
        assert week.hours_without_cover == 24 * 6 + 25 - 2


def test_partial_and_short_hours(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        boss = staff(session)
        ann = agent(session, "ann@example.org", name="Ann")
        bob = agent(session, "bob@example.org", name="Bob")
        on(session, ann, weekly(session, boss, SAFETY, 0, time(9, 30), time(12), needed=2))
        on(session, bob, weekly(session, boss, SAFETY, 0, time(9, 30), time(12), needed=2), BACKUP)
        monday = week_cover(session, queue(session, SAFETY), "UTC", date(2026, 3, 2)).days[0]
        assert monday.cells[9].status == PARTIAL and monday.cells[9].without_cover
        assert monday.cells[10].status == SHORT and not monday.cells[10].without_cover
        assert monday.cells[10].backups == ("Bob",)
        assert monday.gaps == (("00:00", "09:30"), ("12:00", "24:00"))
        assert monday.hours_without_cover == 24 - 2  # 10:00 and 11:00 are (short) covered
