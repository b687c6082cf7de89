"""Browser tests: Debian's Chromium driven by Playwright against the app served by waitress.

Playwright cannot download its own browsers here, so it launches /usr/bin/chromium
(README, "Tests and benchmarks"); without it the tests skip, or fail under
SWITCHBOARD_REQUIRE_SERVICES=1.
The app runs exactly as `switchboard web` runs it (waitress, Secure cookies: Chromium accepts
them from http://127.0.0.1), on a database of its own per backend, with one agent per role and
one ticket per queue.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker
from waitress import create_server

from queues.accounts import hash_password
from queues.db import make_engine
from queues.migrate import upgrade
from queues.models import Queue, Role, Ticket, User
from queues.seed import seed_queues
from queues.settings import Settings
from tests.conftest import new_pg_database, service_missing
from webui import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # No DNS at all, except for the server under test.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]
PASSWORD = "browser test passphrase"


@dataclass(frozen=True)
class LiveServer:
    url: str
    tickets: dict[str, str]  # queue slug -> ticket number

    def email(self, role: Role) -> str:
        return f"{role.value}@example.org"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if shutil.which(CHROMIUM) is None:
        service_missing(f"Chromium is not installed at {CHROMIUM} (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as exc:
            service_missing(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield browser
        browser.close()


def _fill(engine: Engine) -> dict[str, str]:
    upgrade(engine)
    factory = sessionmaker(bind=engine)
    password_hash = hash_password(PASSWORD)
    tickets = {}
    with factory.begin() as session:
        seed_queues(session)
        for role in Role:
            session.add(
                User(email=f"{role.value}@example.org", role=role, password_hash=password_hash)
            )
        for i, queue in enumerate(session.scalars(select(Queue).order_by(Queue.id)), 1):
            number = f"20261122{i:04d}"
            session.add(Ticket(number=number, subject=f"about {queue.slug}", queue_id=queue.id))
            tickets[queue.slug] = number
    return tickets


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('browser') / 'web.db'}"
        return
    request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with new_pg_database("switchboard_web") as url:
        yield url


@pytest.fixture(scope="module")
def live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    engine = make_engine(database_url)
    tickets = _fill(engine)
    engine.dispose()
    var_dir = Path(tmp_path_factory.mktemp("var"))
    # Two-factor sign-in has its own journey (test_team_journey, as shipped); here staff and
    # specialists sign in with the password alone so that these pages are reached directly.
    settings = Settings(database_url=database_url, var_dir=var_dir, twofactor_required_roles=())
    app = create_app(settings=settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="switchboard")
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.effective_port}", tickets)
    server.close()
    thread.join(timeout=5)
