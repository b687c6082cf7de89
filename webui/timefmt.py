"""Times and durations as the pages show them: "3 h 12 min", "2026-12-02 17:05 UTC"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def duration(delta: timedelta) -> str:
    """A short, readable length of time, to the minute ("2 d 4 h", "3 h 12 min", "5 min")."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def since(moment: datetime, now: datetime | None = None) -> str:
    """How long ago `moment` was, as `duration` writes it."""
    return duration((now or datetime.now(UTC)) - moment)


def stamp(moment: datetime) -> str:
    """A UTC time to the minute, for tables."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
