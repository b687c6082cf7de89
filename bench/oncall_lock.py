"""Benchmark how long the on-call runner holds SQLite's write lock: prints figures only.

Its one job: on a fresh SQLite file (WAL, synchronous=FULL, as `switchboard init` makes
it), with Ann on duty and Bob her backup in specialist-safety, add one ticket to that queue
at a time and let the runner take a step (it announces the ticket: one mail, one history
row, one alert), then take a second step that finds nothing to do, as it does after every
ingested message that is not new in a watched queue. For each kind of step it prints how
many write transactions it began and how long each held the write lock (BEGIN IMMEDIATE
to COMMIT or ROLLBACK, timed on the writer engine), and the step's wall time. Everything
else that writes (the gateway, the ingest and outbox runners, the web UI) waits that long.

The runner is given deferred sessions for its look where it accepts them (`readers`), as
`work` and `serve` give it; the code of an older commit, whose look took the write lock,
is measured as it was. Run it from the checkout to measure (it imports from there):

    .venv/bin/python bench/oncall_lock.py [--tickets N]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from smtp import code_measured, machine  # noqa: E402
from sqlalchemy import event  # noqa: E402

from queues.db import make_engine, make_sessionmaker  # noqa: E402
from queues.migrate import upgrade  # noqa: E402
from queues.seed import seed_queues  # noqa: E402
from queues.settings import Settings  # noqa: E402
from queues.team.oncall import OnCallRunner  # noqa: E402
from queues.team.rota_models import BACKUP  # noqa: E402
from tests.unit.queues.team.rota_helpers import agent, on, staff, ticket, weekly  # noqa: E402

SAFETY = "specialist-safety"
# Monday 9 March 2026, 14:00 UTC: inside Ann's shift (Mondays 08-20 UTC).
T = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
WARM_UP = 30


class _LockClock:
    """Times every write transaction of one engine, from BEGIN to its end."""

    def __init__(self, engine: Any) -> None:
        self.held: list[float] = []
        self._started = 0.0
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _begin(self, _conn: Any) -> None:
        self._started = time.perf_counter()

    def _end(self, _conn: Any) -> None:
        if self._started:
            self.held.append(time.perf_counter() - self._started)
            self._started = 0.0


def _runner(url: str, factory: Any, settings: Settings) -> tuple[OnCallRunner, str]:
    if "readers" in inspect.signature(OnCallRunner).parameters:
        readers = make_sessionmaker(make_engine(url, sqlite_immediate=False))
        return OnCallRunner(factory, settings, readers=readers), "a deferred look"
    return OnCallRunner(factory, settings), "the look inside the write transaction"


def _report(name: str, holds: list[list[float]], walls: list[float]) -> None:
    flat = [h for step in holds for h in step]
    count = sum(len(step) for step in holds)
    held = f"{statistics.mean(flat) * 1000:.2f} ms each" if flat else "no lock taken"
    per_step = sum(flat) / len(holds) * 1000
    print(
        f"  {name}: {count / len(holds):.2f} write transactions a step, {held}; "
        f"write lock held {per_step:.2f} ms a step; step {statistics.mean(walls) * 1000:.2f} ms "
        f"(median {statistics.median(walls) * 1000:.2f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=200)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="sb-oncall-"))
    url = f"sqlite:///{folder / 'switchboard.db'}"
    settings = Settings(var_dir=folder / "var", database_url=url, triage_model=False)
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        seed_queues(session)
        boss = staff(session)
        ann = agent(session, "ann@example.org", name="Ann")
        bob = agent(session, "bob@example.org", name="Bob")
        day = weekly(session, boss, SAFETY, 0, clock(8), clock(20))
        on(session, ann, day)
        on(session, bob, day, BACKUP)
    runner, how = _runner(url, factory, settings)
    print("On-call runner: SQLite's write lock per step")
    print(f"  {machine()}")
    print(f"  code measured: {code_measured()}; {how}")
    lock = _LockClock(engine)
    new_holds: list[list[float]] = []
    idle_holds: list[list[float]] = []
    new_walls: list[float] = []
    idle_walls: list[float] = []
    for n in range(WARM_UP + args.tickets):
        with factory.begin() as session:
            ticket(session, SAFETY, f"2026030{n:06d}", T)
        for holds, walls in ((new_holds, new_walls), (idle_holds, idle_walls)):
            before = len(lock.held)
            started = time.perf_counter()
            runner.step(T + timedelta(seconds=1))
            if n >= WARM_UP:
                walls.append(time.perf_counter() - started)
                holds.append(lock.held[before:])
    print(f"  {args.tickets} tickets, each announced by one step, then a step with nothing to do")
    _report("a step that announces a ticket", new_holds, new_walls)
    _report("a step with nothing to do", idle_holds, idle_walls)
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
