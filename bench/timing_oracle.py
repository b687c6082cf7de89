"""Benchmark the timing oracle of issue 8: does a hidden ticket's own part answer slower?

Its one job: on a fresh database per backend, with a few thousand tickets (a tenth of them
in specialist-safety, each with an HTML message and an attachment), sign in as a volunteer
and request, through Flask's test client, the article HTML and the attachment URLs of a
hidden ticket in three ways:

- the hidden ticket's own article / attachment id;
- an id that belongs to another (visible) ticket;
- an id that does not exist.

All three must be a 404; before issue 8 the first one was found, then refused, and took
measurably longer. Each case is requested `--requests` times (default 400, interleaved so
that drift hits every case alike, after `--warmup` untimed rounds); the table shows the
median and the 95th percentile of the server time in milliseconds and the statuses. The
test tests/unit/webui/test_hidden_parts.py asserts the cause instead (same statements, same
bytes); this script only prints figures.

    .venv/bin/python bench/timing_oracle.py [--requests N] [--tickets N]
                                            [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queues.db import make_engine  # noqa: E402  (bench/ runs as a script)
from queues.migrate import upgrade  # noqa: E402
from queues.models import (  # noqa: E402
    Article,
    Attachment,
    Blob,
    Queue,
    Role,
    Ticket,
    User,
    table_of,
)
from queues.seed import seed_queues  # noqa: E402
from queues.settings import Settings  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HTML = "<p>Dear helpers, <b>please</b> look at the attached screenshot.</p>" * 20
DATA = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20_000


@dataclass
class Desk:
    volunteer_id: int
    hidden: str  # the number of a specialist-safety ticket
    own_article: int
    own_attachment: int
    foreign_article: int  # of a general-help ticket
    foreign_attachment: int


def generate(engine: Engine, tickets: int) -> Desk:
    upgrade(engine)
    digest = hashlib.sha256(DATA).hexdigest()
    with sessionmaker(bind=engine).begin() as session:
        seed_queues(session)
        volunteer = User(email="volunteer@example.org", role=Role.VOLUNTEER, password_hash="x")
        session.add(volunteer)
        session.add(Blob(sha256=digest, size=len(DATA), data=DATA))
        session.flush()
        volunteer_id = volunteer.id
        queues = {q.slug: q.id for q in session.scalars(select(Queue))}
    with engine.begin() as conn:
        rows = [
            {
                "number": f"20261204{i:06d}",
                "subject": f"Report {i}",
                "queue_id": queues["specialist-safety" if i % 10 == 0 else "general-help"],
                "state": "open",
                "priority": 3,
                "flagged": False,
                "triage_reasons": [],
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(tickets)
        ]
        conn.execute(insert(table_of(Ticket)), rows)
        ids = list(conn.scalars(select(table_of(Ticket).c.id).order_by("id")))
        conn.execute(
            insert(table_of(Article)),
            [
                {
                    "ticket_id": ticket_id,
                    "kind": "incoming",
                    "from_email": "someone@example.net",
                    "from_name": "",
                    "to": ["help@example.org"],
                    "cc": [],
                    "subject": "",
                    "references": [],
                    "content_type": "text/html",
                    "body_text": "Dear helpers, please look at the attached screenshot.",
                    "body_html": HTML,
                    "defects": [],
                    "created_at": NOW,
                }
                for ticket_id in ids
            ],
        )
        articles = list(conn.execute(select(table_of(Article).c.id, table_of(Article).c.ticket_id)))
        conn.execute(
            insert(table_of(Attachment)),
            [
                {
                    "article_id": article_id,
                    "filename": "screenshot.png",
                    "content_type": "image/png",
                    "size": len(DATA),
                    "sha256": digest,
                    "inline": False,
                }
                for article_id, _ in articles
            ],
        )
        by_ticket = {ticket_id: article_id for article_id, ticket_id in articles}
        attachment_rows = conn.execute(
            select(table_of(Attachment).c.article_id, table_of(Attachment).c.id)
        )
        attachments = {article_id: attachment_id for article_id, attachment_id in attachment_rows}
    middle = tickets // 2 - (tickets // 2) % 10  # a specialist-safety ticket (i % 10 == 0)
    hidden_id, foreign_id = ids[middle], ids[middle + 1]
    return Desk(
        volunteer_id=volunteer_id,
        hidden=f"20261204{middle:06d}",
        own_article=by_ticket[hidden_id],
        own_attachment=attachments[by_ticket[hidden_id]],
        foreign_article=by_ticket[foreign_id],
        foreign_attachment=attachments[by_ticket[foreign_id]],
    )


def measure(client: Any, urls: dict[str, str], requests: int, warmup: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {name: [] for name in urls}
    statuses: dict[str, dict[int, int]] = {name: {} for name in urls}
    for i in range(warmup + requests):
        for name, url in urls.items():  # interleaved: drift hits every case alike
            start = time.perf_counter()
            response = client.get(url)
            response.get_data()
            elapsed = (time.perf_counter() - start) * 1000
            counts = statuses[name]
            counts[response.status_code] = counts.get(response.status_code, 0) + 1
            if i >= warmup:
                times[name].append(elapsed)
    figures = {}
    for name, values in times.items():
        values.sort()
        p95 = values[min(len(values) - 1, round(0.95 * len(values)) - 1)]
        summary = ", ".join(f"{code}×{n}" for code, n in sorted(statuses[name].items()))
        figures[name] = (statistics.median(values), p95, summary)
    return figures


def run(backend: str, url: str, engine: Engine, args: argparse.Namespace, var: Path) -> None:
    from webui import create_app, sessions

    desk = generate(engine, args.tickets)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "PREFERRED_URL_SCHEME": "https",
        },
        settings=Settings(var_dir=var, database_url=url),
    )
    client = app.test_client()
    with sessionmaker(bind=engine).begin() as session:
        user = session.get_one(User, desk.volunteer_id)
        token = sessions.start(session, user, "192.0.2.1", datetime.now(UTC))
    with client.session_transaction() as browser:
        browser["_user_id"] = token
        browser["_fresh"] = True
    base = f"/tickets/{desk.hidden}"
    missing = 10**12
    for part, own, foreign, path in (
        ("article html", desk.own_article, desk.foreign_article, "articles/{}/html"),
        ("attachment", desk.own_attachment, desk.foreign_attachment, "attachments/{}"),
    ):
        urls = {
            "hidden ticket's own id": f"{base}/{path.format(own)}",
            "another ticket's id": f"{base}/{path.format(foreign)}",
            "an id that does not exist": f"{base}/{path.format(missing)}",
        }
        for name, (median, p95, statuses) in measure(
            client, urls, args.requests, args.warmup
        ).items():
            print(f"  {backend:10} {part:12} {name:26} {median:8.2f} {p95:8.2f}  {statuses}")


@contextmanager
def sqlite_backend(folder: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{folder / 'timing.db'}"
    engine = make_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()


@contextmanager
def pg_backend(admin_url: str) -> Iterator[tuple[str, Engine]]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = "switchboard_bench_timing_" + uuid.uuid4().hex[:8]
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    args = parser.parse_args(argv)
    print(f"{args.requests} requests per case, signed in as a volunteer; server time in ms")
    print(f"  {'backend':10} {'part':12} {'case':26} {'median':>8} {'p95':>8}  statuses")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="timing-") as tmp:
            folder = Path(tmp)
            chosen = (
                sqlite_backend(folder) if backend == "sqlite" else pg_backend(args.pg_admin_url)
            )
            with chosen as (url, engine):
                run(backend, url, engine, args, folder / "var")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
