"""Coverage: who covers each hour of a week in the viewer's time zone, and every hour without.

Cover means at least one agent on duty (backups do not count: they are told only when
nobody on duty takes a new ticket). `uncovered` gives the stretches without cover as UTC
intervals (the dashboard's "next seven days' gaps" too); `week_cover` lays a week out hour
by hour for the rota page.

The week is the viewer's: seven local days from Monday, each from local midnight to the
next, cut into real hours. A day on which the clocks go forward has 23 of them and one wall
hour that does not exist (shown as such); a day on which they go back has 25, and the
repeated wall hour holds both real hours (the worst of the two counts). Each hour is
"covered", "short" (a shift overlapping it has fewer agents on duty than it needs),
"partial" (someone for part of the hour only) or "gap" (nobody). `uncovered` is how long
nobody is on duty in all; `hours_without_cover` counts the real hours touched by that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from queues.models import Queue
from queues.team.rota import Assignment, assignments, dates, local_midnight, safe_zone
from queues.team.rota_models import BACKUP, DUTY

HOUR = timedelta(hours=1)
COVERED, SHORT, PARTIAL, GAP, NO_SUCH_HOUR = "covered", "short", "partial", "gap", "none"
_SEVERITY = {NO_SUCH_HOUR: 0, COVERED: 1, SHORT: 2, PARTIAL: 3, GAP: 4}
WITHOUT_COVER = frozenset({PARTIAL, GAP})


@dataclass(frozen=True)
class Gap:
    """A stretch of time without anyone on duty, in UTC."""

    start: datetime
    end: datetime


def gaps_between(rows: Sequence[Assignment], start: datetime, end: datetime) -> list[Gap]:
    """The parts of [start, end) that no duty assignment in `rows` covers."""
    spans = sorted(
        (max(a.occurrence.start, start), min(a.occurrence.end, end))
        for a in rows
        if a.role == DUTY and a.occurrence.end > start and a.occurrence.start < end
    )
    found: list[Gap] = []
    cursor = start
    for span_start, span_end in spans:
        if span_start > cursor:
            found.append(Gap(cursor, span_start))
        cursor = max(cursor, span_end)
    if cursor < end:
        found.append(Gap(cursor, end))
    return found


def uncovered(session: Session, queue: Queue, start: datetime, end: datetime) -> list[Gap]:
    """The stretches of [start, end) in which nobody is on duty in `queue`."""
    return gaps_between(assignments(session, [queue.id], start, end), start, end)


@dataclass(frozen=True)
class HourCell:
    """One wall-clock hour of a day in the viewer's time zone."""

    hour: int  # 0-23, the local hour it starts at
    start: datetime | None  # its (first) real start in UTC; None: the hour does not exist
    on_duty: tuple[str, ...]
    backups: tuple[str, ...]
    status: str
    repeated: bool = False  # the clocks went back: this wall hour happened twice

    @property
    def without_cover(self) -> bool:
        return self.status in WITHOUT_COVER


@dataclass(frozen=True)
class DayCover:
    day: date
    cells: tuple[HourCell, ...]  # 24, by local hour
    hours: int  # real hours in the day: 23, 24 or 25
    hours_without_cover: int
    gaps: tuple[tuple[str, str], ...]  # local "HH:MM" ranges without cover ("24:00" = midnight)
    uncovered: timedelta  # how long nobody is on duty this day


@dataclass(frozen=True)
class WeekCover:
    queue: Queue
    timezone: str
    monday: date
    days: tuple[DayCover, ...]
    assignments: tuple[Assignment, ...]

    @property
    def hours_without_cover(self) -> int:
        """Real hours of the week with nobody on duty for all or part of them."""
        return sum(d.hours_without_cover for d in self.days)

    @property
    def uncovered(self) -> timedelta:
        """How long, in all, nobody is on duty this week."""
        return sum((d.uncovered for d in self.days), timedelta(0))

    @property
    def start(self) -> datetime:
        return local_midnight(self.monday, safe_zone(self.timezone))


@dataclass(frozen=True)
class _Segment:
    hour: int
    start: datetime
    on_duty: tuple[str, ...]
    backups: tuple[str, ...]
    status: str


def week_cover(session: Session, queue: Queue, timezone: str, monday: date) -> WeekCover:
    """The week from local Monday `monday` in `timezone`, hour by hour, for `queue`."""
    tz = safe_zone(timezone)
    start = local_midnight(monday, tz)
    end = local_midnight(monday + timedelta(days=7), tz)
    rows = assignments(session, [queue.id], start, end)
    gaps = gaps_between(rows, start, end)
    on_duty_count = Counter(
        (a.occurrence.shift_id, a.occurrence.on_date) for a in rows if a.role == DUTY
    )
    days = []
    for day in dates(monday, monday + timedelta(days=6)):
        day_start, day_end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
        segments = []
        at = day_start
        while at < day_end:
            segment_end = min(at + HOUR, day_end)
            segments.append(_segment(rows, gaps, on_duty_count, at, segment_end, tz.key))
            at = segment_end
        days.append(
            DayCover(
                day=day,
                cells=_cells(segments),
                hours=len(segments),
                hours_without_cover=sum(1 for s in segments if s.status in WITHOUT_COVER),
                gaps=tuple(_local_ranges(gaps, day_start, day_end, tz.key)),
                uncovered=sum(
                    (
                        min(g.end, day_end) - max(g.start, day_start)
                        for g in gaps
                        if g.start < day_end and g.end > day_start
                    ),
                    timedelta(0),
                ),
            )
        )
    return WeekCover(queue, tz.key, monday, tuple(days), tuple(rows))


def _segment(
    rows: Sequence[Assignment],
    gaps: Sequence[Gap],
    on_duty_count: Counter[tuple[int, date]],
    start: datetime,
    end: datetime,
    timezone: str,
) -> _Segment:
    here = [a for a in rows if a.occurrence.start < end and a.occurrence.end > start]
    duty = tuple(dict.fromkeys(a.name for a in here if a.role == DUTY))
    backups = tuple(dict.fromkeys(a.name for a in here if a.role == BACKUP))
    missing = sum(
        (min(g.end, end) - max(g.start, start)).total_seconds()
        for g in gaps
        if g.start < end and g.end > start
    )
    if missing >= (end - start).total_seconds():
        status = GAP
    elif missing > 0:
        status = PARTIAL
    elif any(
        on_duty_count[(a.occurrence.shift_id, a.occurrence.on_date)] < a.occurrence.needed
        for a in here
    ):
        status = SHORT
    else:
        status = COVERED
    hour = start.astimezone(safe_zone(timezone)).hour
    return _Segment(hour, start, duty, backups, status)


def _cells(segments: Sequence[_Segment]) -> tuple[HourCell, ...]:
    by_hour: dict[int, list[_Segment]] = {}
    for segment in segments:
        by_hour.setdefault(segment.hour, []).append(segment)
    cells = []
    for hour in range(24):
        found = by_hour.get(hour, [])
        if not found:
            cells.append(HourCell(hour, None, (), (), NO_SUCH_HOUR))
            continue
        cells.append(
            HourCell(
                hour=hour,
                start=found[0].start,
                on_duty=tuple(dict.fromkeys(n for s in found for n in s.on_duty)),
                backups=tuple(dict.fromkeys(n for s in found for n in s.backups)),
                status=max((s.status for s in found), key=_SEVERITY.__getitem__),
                repeated=len(found) > 1,
            )
        )
    return tuple(cells)


def _local_ranges(
    gaps: Sequence[Gap], day_start: datetime, day_end: datetime, timezone: str
) -> list[tuple[str, str]]:
    tz = safe_zone(timezone)
    ranges = []
    for gap in gaps:
        if gap.end <= day_start or gap.start >= day_end:
            continue
        first, last = max(gap.start, day_start), min(gap.end, day_end)
        end_label = "24:00" if last == day_end else f"{last.astimezone(tz):%H:%M}"
        ranges.append((f"{first.astimezone(tz):%H:%M}", end_label))
    return ranges
