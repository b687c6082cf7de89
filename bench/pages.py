"""Benchmark the agents' pages on a large help desk: prints server times only.

Its one job: fill a fresh database per backend with a seeded, realistic help desk (100,000
tickets and 300,000 articles by default: subjects and bodies in English, German, French
and Spanish, states, priorities, owners, flags, requesters waiting or not), written with
bulk Core inserts, then time the web UI's pages through Flask's test client, signed in
as staff and as a volunteer:

- the overview;
- a queue's list: the first page, the first page sorted and filtered, a deep page (a
  keyset cursor about 40,000 rows in) and the last page;
- a ticket view (GET /tickets/<number>, a different ticket each request);
- "my tickets";
- a search for several words (a different query each request) and for one common word.

Each page is requested `--warmup` times untimed, then `--requests` times; the table shows
the median and the 95th percentile of the server time (the test client calls the WSGI
app in-process, so this is the time Flask, SQLAlchemy and the database take; no network).

SQLite: a fresh file; the generation runs with synchronous=OFF on its own connection,
the pages with the application's normal settings. PostgreSQL: a database created for the
run on the server at --pg-admin-url and dropped afterwards.

    .venv/bin/python bench/pages.py [--tickets N] [--articles N] [--requests N]
                                    [--backends sqlite,postgresql] [--seed S]
                                    [--keep DIR] [--keep-pg]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queues.accounts import hash_password  # noqa: E402  (bench/ runs as a script)
from queues.db import make_engine  # noqa: E402
from queues.migrate import upgrade  # noqa: E402
from queues.models import (  # noqa: E402
    Article,
    Contact,
    Queue,
    Role,
    Ticket,
    User,
    table_of,
)
from queues.seed import seed_queues  # noqa: E402
from queues.settings import Settings  # noqa: E402
from queues.ticketlist import Cursor  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
BATCH = 5000

# --- Text ---------------------------------------------------------------------------------

SUBJECTS = {
    "en": [
        "Someone keeps sending me {thing}",
        "Harassment from {who} on {where}",
        "Fake account using my photos",
        "Threatening messages after I blocked {who}",
        "Help: my address was posted on {where}",
        "Ongoing abuse in the comments",
        "Report about {who}",
        "Stalking across several platforms",
    ],
    "de": [
        "Belästigung durch {who} auf {where}",
        "Jemand schickt mir ständig {thing}",
        "Gefälschtes Profil mit meinen Fotos",
        "Drohungen, nachdem ich {who} blockiert habe",
        "Meine Adresse wurde veröffentlicht",
        "Hilfe bei Beleidigungen in den Kommentaren",
    ],
    "fr": [
        "Harcèlement de la part de {who} sur {where}",
        "Quelqu'un m'envoie sans cesse des {thing}",
        "Faux compte avec mes photos",
        "Menaces après avoir bloqué {who}",
        "Mon adresse a été publiée sur {where}",
        "Insultes répétées dans les commentaires",
    ],
    "es": [
        "Acoso de {who} en {where}",
        "Alguien me envía {thing} sin parar",
        "Cuenta falsa con mis fotos",
        "Amenazas después de bloquear a {who}",
        "Publicaron mi dirección en {where}",
        "Insultos constantes en los comentarios",
    ],
}
FILL = {
    "thing": ["messages", "photos", "voice notes", "friend requests", "emails"],
    "who": ["an ex-partner", "a classmate", "a stranger", "a former colleague", "a neighbour"],
    "where": ["the forum", "the chat", "my profile", "a group", "the marketplace"],
}
SENTENCES = {
    "en": [
        "For three weeks now a user has been writing to me every single day.",
        "I blocked the account but a new one appeared within hours.",
        "The messages became threatening after I stopped answering.",
        "I have screenshots of everything and can send them if that helps.",
        "They posted my home address and the name of my employer.",
        "I am scared to leave the house in the evening.",
        "Please tell me what I can do and whether you can remove the posts.",
        "My friends received messages pretending to come from me.",
        "The account uses my photos and my first name.",
        "I reported it with the button but nothing happened.",
        "Thank you for the quick answer, the account is still online though.",
        "We have reviewed the account and removed the posts you reported.",
    ],
    "de": [
        "Seit drei Wochen schreibt mir ein Nutzer jeden Tag Nachrichten.",
        "Ich habe das Konto blockiert, aber sofort kam ein neues.",
        "Die Nachrichten wurden bedrohlich, als ich nicht mehr geantwortet habe.",
        "Ich habe Screenshots von allem und kann sie schicken.",
        "Meine Adresse und mein Arbeitgeber wurden veröffentlicht.",
        "Ich traue mich abends kaum noch aus dem Haus.",
        "Bitte sagen Sie mir, was ich tun kann. Grüße, Jürgen",
        "Die Belästigung hört einfach nicht auf.",
    ],
    "fr": [
        "Depuis trois semaines, un utilisateur m'écrit tous les jours.",
        "J'ai bloqué le compte, mais un nouveau est apparu aussitôt.",
        "Les messages sont devenus menaçants quand j'ai cessé de répondre.",
        "J'ai des captures d'écran de tout et je peux les envoyer.",
        "Mon adresse et le nom de mon employeur ont été publiés.",
        "J'ai peur de sortir le soir, c'est un vrai harcèlement.",
        "Pouvez-vous supprimer ces publications ? Merci beaucoup.",
        "Mes amis ont reçu des messages envoyés en mon nom.",
    ],
    "es": [
        "Desde hace tres semanas un usuario me escribe todos los días.",
        "Bloqueé la cuenta pero apareció otra enseguida.",
        "Los mensajes se volvieron amenazantes cuando dejé de contestar.",
        "Tengo capturas de pantalla de todo y puedo enviarlas.",
        "Publicaron mi dirección y el nombre de mi empresa.",
        "Tengo miedo de salir de casa por la noche, es acoso.",
        "¿Qué puedo hacer? ¿Pueden borrar las publicaciones?",
        "Un niño de la clase de mi hija también recibió mensajes.",
    ],
}
LANGUAGES = ["en"] * 5 + ["de"] * 2 + ["fr"] * 2 + ["es"]
SEARCHES = [
    "blocked account screenshots",
    "address employer",
    "Belästigung Nachrichten",
    "harcèlement soir",
    "cuenta bloqueé",
    '"new one appeared"',
    "threatening messages answering",
    "photos first name",
    "Konto blockiert",
    "captures écran envoyer",
]


def subject(rng: random.Random, lang: str) -> str:
    template = rng.choice(SUBJECTS[lang])
    return template.format(**{k: rng.choice(v) for k, v in FILL.items()})


def body(rng: random.Random, lang: str) -> str:
    count = rng.randint(3, 10)
    return " ".join(rng.choice(SENTENCES[lang]) for _ in range(count))


# --- Generation ---------------------------------------------------------------------------


@dataclass
class Desk:
    """What was generated and what the measurements need."""

    staff_id: int
    volunteer_id: int
    general_help: str
    numbers: list[str]  # a sample of visible-to-everyone ticket numbers
    seconds: float = 0.0


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def generate(engine: Engine, tickets: int, articles: int, seed: int) -> Desk:
    rng = random.Random(seed)
    start = time.perf_counter()
    upgrade(engine)
    password = hash_password("bench password that is long")
    with sessionmaker(bind=engine).begin() as session:
        seed_queues(session)
        agents = [
            User(email=f"agent{i}@example.org", role=Role.VOLUNTEER, password_hash=password)
            for i in range(20)
        ]
        staff = User(email="staff@example.org", role=Role.STAFF, password_hash=password)
        volunteer = User(email="volunteer@example.org", role=Role.VOLUNTEER, password_hash=password)
        session.add_all([*agents, staff, volunteer])
        session.flush()
        owner_ids = [a.id for a in agents] + [staff.id, volunteer.id]
        queue_ids = {q.slug: q.id for q in session.scalars(select(Queue))}
        staff_id, volunteer_id = staff.id, volunteer.id
    queue_choice = (
        [queue_ids["general-help"]] * 15
        + [queue_ids["specialist-safety"]] * 4
        + [queue_ids["police-liaison"]]
    )
    with engine.begin() as conn:
        contacts = tickets // 3
        conn.execute(
            insert(table_of(Contact)),
            [
                {"email": f"person{i}@example.net", "name": f"Person {i}", "blocked": False}
                | {"created_at": NOW - timedelta(days=400)}
                for i in range(contacts)
            ],
        )
        contact_ids = list(conn.scalars(select(table_of(Contact).c.id)))
        numbers: list[str] = []
        plan: list[tuple[int, str, datetime, str]] = []  # id-to-be, language, created, state

        def ticket_rows() -> Iterator[dict[str, Any]]:
            for i in range(tickets):
                created = NOW - timedelta(days=365) + timedelta(seconds=i * 365 * 86400 / tickets)
                lang = rng.choice(LANGUAGES)
                state = rng.choices(["closed", "open", "new", "pending"], [60, 15, 10, 15])[0]
                queue_id = rng.choice(queue_choice)
                waiting = None
                if state != "closed" and rng.random() < 0.6:
                    waiting = created + timedelta(minutes=rng.randint(0, 600))
                updated = min(created + timedelta(hours=rng.expovariate(1 / 48)), NOW)
                number = f"{created:%Y%m%d}{i:06d}"
                if queue_id == queue_ids["general-help"] and len(numbers) < 2000:
                    numbers.append(number)
                plan.append((i, lang, created, state))
                yield {
                    "number": number,
                    "subject": subject(rng, lang),
                    "queue_id": queue_id,
                    "state": state,
                    "priority": rng.choices([1, 3, 4, 5], [10, 70, 15, 5])[0],
                    "flagged": rng.random() < 0.05,
                    "requester_id": rng.choice(contact_ids),
                    "triage_reasons": [],
                    "created_at": created,
                    "updated_at": updated,
                    "closed_at": updated if state == "closed" else None,
                    "owner_id": rng.choice(owner_ids) if rng.random() < 0.6 else None,
                    "waiting_since": waiting,
                }

        for batch in _batches(ticket_rows()):
            conn.execute(insert(table_of(Ticket)), batch)
        ticket_ids = list(conn.scalars(select(table_of(Ticket).c.id).order_by("id")))

        def article_rows() -> Iterator[dict[str, Any]]:
            # Every ticket has one incoming article; the rest are spread at random.
            extra = max(articles - tickets, 0)
            counts = [1] * len(ticket_ids)
            for _ in range(extra):
                counts[rng.randrange(len(ticket_ids))] += 1
            for (i, lang, created, _state), ticket_id in zip(plan, ticket_ids, strict=True):
                for k in range(counts[i]):
                    kind = "incoming" if k == 0 else rng.choice(["incoming", "outgoing", "note"])
                    yield {
                        "ticket_id": ticket_id,
                        "kind": kind,
                        "from_email": f"person{i % 1000}@example.net",
                        "from_name": "",
                        "to": ["help@example.org"],
                        "cc": [],
                        "subject": "",
                        "references": [],
                        "date": created + timedelta(hours=k),
                        "content_type": "text/plain",
                        "body_text": body(rng, lang),
                        "body_html": None,
                        "defects": [],
                        "created_at": created + timedelta(hours=k),
                    }

        for batch in _batches(article_rows()):
            conn.execute(insert(table_of(Article)), batch)
    # Planner statistics, and on PostgreSQL a visibility map for index-only scans.
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return Desk(
        staff_id,
        volunteer_id,
        "general-help",
        numbers,
        seconds=time.perf_counter() - start,
    )


# --- Measuring ----------------------------------------------------------------------------


@dataclass
class Figure:
    backend: str
    role: str
    page: str
    median_ms: float
    p95_ms: float
    statuses: str


def deep_cursor(engine: Engine, desk: Desk, position: int) -> str:
    """The keyset cursor of the row `position` rows into general-help, default order."""
    with Session(engine) as session:
        rows = (
            select(Ticket.updated_at, Ticket.id)
            .join(Queue, Queue.id == Ticket.queue_id)
            .where(Queue.slug == desk.general_help, Ticket.state != "closed")
        )
        total = len(session.execute(rows).all())
        row = session.execute(
            rows.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .offset(min(position, total // 2))
            .limit(1)
        ).one()
    return Cursor("v", row.updated_at, row.id).encode()


def measure(
    client: Any, urls: Callable[[int], str], requests: int, warmup: int
) -> tuple[float, float, str]:
    times: list[float] = []
    statuses: dict[int, int] = {}
    for i in range(warmup + requests):
        url = urls(i)
        start = time.perf_counter()
        response = client.get(url)
        response.get_data()
        elapsed = time.perf_counter() - start
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if i >= warmup:
            times.append(elapsed * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    summary = ", ".join(f"{code}×{n}" for code, n in sorted(statuses.items()))
    return statistics.median(times), p95, summary


def run_pages(
    backend: str, url: str, engine: Engine, desk: Desk, requests: int, warmup: int, var: Path
) -> list[Figure]:
    from webui import create_app, sessions

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "PREFERRED_URL_SCHEME": "https",
        },
        settings=Settings(var_dir=var, database_url=url),
    )
    has_ticket_view = "tickets.view" in app.view_functions
    deep = deep_cursor(engine, desk, 20_000)
    queue = f"/queues/{desk.general_help}"
    pages: list[tuple[str, Callable[[int], str]]] = [
        ("overview", lambda i: "/"),
        ("queue list, first page", lambda i: queue),
        (
            "queue list, sorted + filtered",
            lambda i: queue + "?state=open&priority=3&sort=waiting&dir=asc",
        ),
        ("queue list, owner + flag filter", lambda i: queue + "?owner=nobody&flagged=yes"),
        ("queue list, deep page (20,000 in)", lambda i: f"{queue}?after={deep}"),
        ("queue list, last page", lambda i: queue + "?state=any&sort=created&last=1"),
        ("my tickets", lambda i: "/mine"),
        ("search, several words", lambda i: "/search?q=" + SEARCHES[i % len(SEARCHES)]),
        ("search, one common word", lambda i: "/search?q=account"),
    ]
    if has_ticket_view:
        numbers = desk.numbers
        pages.insert(6, ("ticket view", lambda i: f"/tickets/{numbers[i % len(numbers)]}"))
    figures: list[Figure] = []
    for role, user_id in (("staff", desk.staff_id), ("volunteer", desk.volunteer_id)):
        client = app.test_client()
        with sessionmaker(bind=engine).begin() as session:
            user = session.get_one(User, user_id)
            token = sessions.start(session, user, "192.0.2.1", datetime.now(UTC))
        with client.session_transaction() as browser:
            browser["_user_id"] = token
            browser["_fresh"] = True
        for name, urls in pages:
            median, p95, statuses = measure(client, urls, requests, warmup)
            figures.append(Figure(backend, role, name, median, p95, statuses))
            print(f"  {backend:10} {role:9} {name:36} {median:8.1f} {p95:8.1f}  {statuses}")
    if not has_ticket_view:
        print("  (no tickets.view route in this build: the ticket view was not measured)")
    return figures


# --- Backends -----------------------------------------------------------------------------


def sqlite_backend(folder: Path) -> Iterator[tuple[str, Engine]]:
    path = folder / "pages.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    # For the generation (and the bench's own reads) only; the app has its own engines.
    event.listen(engine, "connect", _no_sync)
    try:
        yield url, engine
    finally:
        engine.dispose()


def _no_sync(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA synchronous=OFF")


def pg_backend(admin_url: str, keep: bool = False) -> Iterator[tuple[str, Engine]]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = "switchboard_bench_pages_" + uuid.uuid4().hex[:8]
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
        if keep:
            print(f"kept the PostgreSQL database {name!r} (drop it yourself)")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--keep", type=Path, help="keep the SQLite file in this folder")
    parser.add_argument("--keep-pg", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)

    print(
        f"{args.tickets:,} tickets, {args.articles:,} articles; "
        f"{args.requests} requests per page after {args.warmup} untimed; times in ms"
    )
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for backend in args.backends.split(","):
            backends = {
                "sqlite": lambda: sqlite_backend(folder),
                "postgresql": lambda: pg_backend(args.pg_admin_url, args.keep_pg),
            }
            for url, engine in backends[backend]():
                desk = generate(engine, args.tickets, args.articles, args.seed)
                print(f"{backend}: generated in {desk.seconds:.1f} s")
                print(f"  {'backend':10} {'role':9} {'page':36} {'median':>8} {'p95':>8}")
                figures += run_pages(
                    backend, url, engine, desk, args.requests, args.warmup, folder / "var"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
