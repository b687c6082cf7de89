"""Each queue's response targets: the row staff set, else the defaults data file.

Targets are calendar time (every hour of every day). The defaults live in
queues/targets/defaults.toml, keyed by queue slug, in hours; staff's rows in
`queue_targets`, in minutes. None means the queue has no such target.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import Connection, bindparam, select

from queues.models import Queue, table_of
from queues.targets.models import FIRST_RESPONSE, QueueTarget

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
MAX_HOURS = 24 * 366


@dataclass(frozen=True)
class Targets:
    """A queue's targets; None: no such target."""

    first_response: timedelta | None = None
    update: timedelta | None = None
    from_staff: bool = False  # staff set them (else: the defaults file)

    def for_kind(self, kind: str) -> timedelta | None:
        return self.first_response if kind == FIRST_RESPONSE else self.update


NONE = Targets()


def _hours(value: object, where: str) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: hours must be a number")
    if not 0 < value <= MAX_HOURS:
        raise ValueError(f"{where}: hours must be above 0 and at most {MAX_HOURS}")
    return timedelta(hours=value)


def load_defaults(path: Path = DEFAULTS_FILE) -> dict[str, Targets]:
    """The defaults file: queue slug -> Targets. ValueError names a bad entry."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    found: dict[str, Targets] = {}
    for slug, table in data.items():
        if not isinstance(table, dict) or set(table) - {"first_response", "update"}:
            raise ValueError(f"{path.name} [{slug}]: only first_response and update are known")
        found[slug] = Targets(
            _hours(table.get("first_response"), f"[{slug}] first_response"),
            _hours(table.get("update"), f"[{slug}] update"),
        )
    return found


@cache
def default_targets() -> dict[str, Targets]:
    return load_defaults()


_QT = table_of(QueueTarget)
_Q = table_of(Queue)
_SELECT = (
    select(_Q.c.slug, _QT.c.queue_id, _QT.c.first_response_minutes, _QT.c.update_minutes)
    .select_from(_Q.outerjoin(_QT, _QT.c.queue_id == _Q.c.id))
    .where(_Q.c.id == bindparam("qid"))
)


def _minutes(value: int | None) -> timedelta | None:
    return timedelta(minutes=value) if value else None


def targets_for(conn: Connection, queue_id: int) -> Targets:
    """The targets of the queue with this id (one small query: ingest calls it per ticket)."""
    row = conn.execute(_SELECT, {"qid": queue_id}).first()
    if row is None:
        return NONE
    if row.queue_id is not None:
        return Targets(
            _minutes(row.first_response_minutes), _minutes(row.update_minutes), from_staff=True
        )
    return default_targets().get(row.slug, NONE)
