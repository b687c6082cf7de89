"""Run a `switchboard` command with its web UI timed from inside (for bench/flood.py only).

    python bench/flood_probe.py OUT.json [--profile OUT.prof] -- web --port 8080 ...

Its one job: wrap the Flask app that the command builds (webui.create_app, patched before
the command imports it) in a middleware that records, per request, where the time went,
and write the records to OUT.json when the process exits:

- `queued`: seconds between waitress handing the request to its task queue and a worker
  thread starting it (a request waits there while every thread is busy);
- `wall`: seconds in the application (the middleware's call and the body's iteration);
- `cpu`: the thread's CPU time in that span (`time.thread_time`); wall - cpu is time spent
  waiting: for the GIL, the database, locks;
- `sql`, `queries`: seconds inside cursor.execute (SQLAlchemy's before/after_cursor_execute
  events on this thread) and how many statements, commits included;
- `commit`: seconds inside the DBAPI commit (SQLite's fsync; PostgreSQL's WAL flush);
- `lock`: seconds waiting for the write lock (SQLite's BEGIN IMMEDIATE, which waits on
  busy_timeout; PostgreSQL's advisory lock of the abuse controls), part of `sql`.

Every lock taken on any thread of the process (runners, gateway, web) is also recorded: how
long it was waited for and how long it was held, until commit or rollback.

With `--profile`, each GET of an agent's page (not /report, not /static) also runs under its
own cProfile.Profile, and the statistics of all of them are added up into OUT.prof (read it
with `python -m pstats`). Profiling slows the pages it profiles: a run with it measures where
the time goes, not how much there is.

Nothing here is imported by the application; the command runs as `python -m switchboard`
would run it.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import json
import pstats
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

_local = threading.local()
_records: list[dict[str, Any]] = []
_locks: list[dict[str, Any]] = []
_records_lock = threading.Lock()
_profile_lock = threading.Lock()
_stats: list[pstats.Stats] = []


def _hook_waitress() -> None:
    """Stamp the time a channel is queued, and hand it to the thread that serves it."""
    from waitress.channel import HTTPChannel
    from waitress.task import ThreadedTaskDispatcher

    add_task = ThreadedTaskDispatcher.add_task
    service = HTTPChannel.service

    def stamped_add_task(self: Any, task: Any) -> None:
        task._bench_queued = time.perf_counter()
        add_task(self, task)

    def stamped_service(self: Any) -> None:
        _local.queued = getattr(self, "_bench_queued", None)
        service(self)

    ThreadedTaskDispatcher.add_task = stamped_add_task
    HTTPChannel.service = stamped_service


def _is_lock(statement: str) -> bool:
    """The statements that wait for the write lock: SQLite's BEGIN IMMEDIATE, and the
    abuse controls' advisory lock on PostgreSQL (queues.abuse.gate.serialize)."""
    return statement.startswith("BEGIN IMMEDIATE") or "pg_advisory_xact_lock" in statement


def _hook_sql() -> None:
    """Time every statement and commit on the thread that runs it (a request's figures), and
    every lock taken: how long it was waited for and how long it was held, on any thread."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.default import DefaultDialect

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        _local.sql_began = time.perf_counter()

    def after(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        began = getattr(_local, "sql_began", None)
        if began is None:
            return
        now = time.perf_counter()
        if _is_lock(statement):
            _local.lock_waited, _local.lock_taken = now - began, now
        if getattr(_local, "active", False):
            _local.sql += now - began
            _local.queries += 1
            if _is_lock(statement):
                _local.lock += now - began

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)

    # The end of a transaction is not a cursor execute: wrap the dialect's instead (the
    # pool's reset on return rolls back through it too).
    def ending(original: Callable[[Any, Any], None], count: bool) -> Callable[[Any, Any], None]:
        def timed(self: Any, conn: Any) -> None:
            began = time.perf_counter()
            try:
                original(self, conn)
            finally:
                now = time.perf_counter()
                if count and getattr(_local, "active", False):
                    _local.commit += now - began
                    _local.queries += 1
                taken = getattr(_local, "lock_taken", None)
                if taken is not None:
                    _local.lock_taken = None
                    with _records_lock:
                        _locks.append(
                            {
                                "thread": threading.current_thread().name,
                                "waited": _local.lock_waited,
                                "held": now - taken,
                            }
                        )

        return timed

    DefaultDialect.do_commit = ending(DefaultDialect.do_commit, True)  # type: ignore[method-assign]
    DefaultDialect.do_rollback = ending(DefaultDialect.do_rollback, False)  # type: ignore[method-assign]


def _profiled(path: str, method: str) -> bool:
    return method == "GET" and not path.startswith(("/report", "/static", "/status"))


def _middleware(app: Callable[..., Iterable[bytes]], profile: bool) -> Callable[..., Any]:
    def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        began, cpu_began = time.perf_counter(), time.thread_time()
        queued = getattr(_local, "queued", None)
        _local.queued = None
        _local.active, _local.sql, _local.commit, _local.queries = True, 0.0, 0.0, 0
        _local.lock = 0.0
        status: list[str] = []

        def recording_start(code: str, headers: Any, *rest: Any) -> Any:
            status.append(code.split(" ", 1)[0])
            return start_response(code, headers, *rest)

        profiler = cProfile.Profile() if profile and _profiled(path, method) else None
        try:
            if profiler is not None:
                profiler.enable()
            body = app(environ, recording_start)
            try:
                yield from body
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        finally:
            if profiler is not None:
                profiler.disable()
                with _profile_lock:
                    _stats.append(pstats.Stats(profiler))
            _local.active = False
            record = {
                "path": path,
                "method": method,
                "status": status[0] if status else "",
                "at": began,
                "queued": None if queued is None else began - queued,
                "wall": time.perf_counter() - began,
                "cpu": time.thread_time() - cpu_began,
                "sql": _local.sql,
                "commit": _local.commit,
                "lock": _local.lock,
                "queries": _local.queries,
                "thread": threading.current_thread().name,
            }
            with _records_lock:
                _records.append(record)

    return timed


def _write(out: Path, profile_out: Path | None) -> None:
    with _records_lock:
        out.write_text(json.dumps({"requests": _records, "locks": _locks}))
    if profile_out is not None and _stats:
        with _profile_lock:
            total = _stats[0]
            for more in _stats[1:]:
                total.add(more)
            total.dump_stats(str(profile_out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    import webui

    create_app = webui.create_app

    def probed_create_app(*a: Any, **kw: Any) -> Any:
        app = create_app(*a, **kw)
        app.wsgi_app = _middleware(app.wsgi_app, args.profile is not None)  # type: ignore[method-assign]
        return app

    webui.create_app = probed_create_app
    _hook_waitress()
    _hook_sql()
    atexit.register(_write, args.out, args.profile)

    from switchboard.cli import main as switchboard

    switchboard(command, prog_name="switchboard")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
