"""Fixtures for the web UI: an app per backend on a rolled-back transaction, agents, tickets.

`app` runs on the migrated test database of tests/conftest.py (SQLite and PostgreSQL) through
the `factory` of that file: everything a test writes, through the app or directly, is rolled
back at its end. Every agent has the same password, hashed once per test session (argon2
is deliberately slow). `auth.sign_in(role)` goes through the real form; `auth.as_role(role)`
starts a session directly, for tests about what comes after signing in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from queues.accounts import hash_password
from queues.models import Queue, Role, Ticket, TicketState, User
from queues.settings import Settings
from webui import create_app, sessions

PASSWORD = "correct horse battery staple"
SECRET = "test-secret-key-that-is-long-enough-0123456789"
ROLES = (Role.VOLUNTEER, Role.SPECIALIST, Role.STAFF)
QUEUE_SLUGS = ("general-help", "specialist-safety", "police-liaison")
_CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


def make_app(factory: sessionmaker[Session], tmp_path: Path, **config: object) -> Flask:
    # The lexicon alone triages (tests/conftest.py says why).
    settings = Settings(var_dir=tmp_path / "var", database_url="sqlite://", triage_model=False)
    base: dict[str, object] = {
        "TESTING": True,
        "DB_SESSIONMAKER": factory,
        "SECRET_KEY": SECRET,
        # The test client then speaks HTTPS, as in production: the session cookie is
        # Secure and named __Host-switchboard.
        "PREFERRED_URL_SCHEME": "https",
    }
    return create_app({**base, **config}, settings=settings)


@pytest.fixture
def app(factory: sessionmaker[Session], tmp_path: Path) -> Flask:
    return make_app(factory, tmp_path)


def new_client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return new_client(app)


@dataclass
class People:
    """One active account per role, plus a second volunteer to act upon."""

    by_role: dict[Role, User]
    target: User

    def email(self, role: Role) -> str:
        return self.by_role[role].email


@pytest.fixture
def people(factory: sessionmaker[Session], password_hash: str) -> People:
    with factory.begin() as session:
        by_role = {
            role: User(email=f"{role.value}@example.org", role=role, password_hash=password_hash)
            for role in ROLES
        }
        target = User(email="target@example.org", role=Role.VOLUNTEER, password_hash=password_hash)
        session.add_all([*by_role.values(), target])
    return People(by_role, target)


@pytest.fixture
def tickets(factory: sessionmaker[Session]) -> dict[str, str]:
    """One ticket in each queue: queue slug -> ticket number."""
    numbers: dict[str, str] = {}
    with factory.begin() as session:
        for i, slug in enumerate(QUEUE_SLUGS, 1):
            queue = session.scalars(select(Queue).where(Queue.slug == slug)).one()
            number = f"2026112200{i:02d}"
            session.add(Ticket(number=number, subject=f"secret subject {slug}", queue_id=queue.id))
            numbers[slug] = number
    return numbers


def add_ticket(factory: sessionmaker[Session], slug: str, number: str, state: TicketState) -> None:
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == slug)).one()
        session.add(Ticket(number=number, subject="s", queue_id=queue.id, state=state))


def csrf_from(response: TestResponse) -> str:
    found = _CSRF.search(response.get_data(as_text=True))
    assert found, "no CSRF token on the page"
    return found.group(1)


class Auth:
    def __init__(
        self, app: Flask, client: FlaskClient, factory: sessionmaker[Session], people: People
    ) -> None:
        self.app = app
        self.client = client
        self.factory = factory
        self.people = people

    def sign_in(
        self,
        who: Role | str,
        password: str = PASSWORD,
        client: FlaskClient | None = None,
        next_url: str | None = None,
    ) -> TestResponse:
        """Sign in through the login form, as a browser would."""
        client = client or self.client
        email = self.people.email(who) if isinstance(who, Role) else who
        token = csrf_from(client.get("/login"))
        url = "/login" if next_url is None else f"/login?next={next_url}"
        return client.post(url, data={"csrf_token": token, "email": email, "password": password})

    def as_role(self, role: Role, client: FlaskClient | None = None) -> FlaskClient:
        """Start a session for `role` without the (slow) password check."""
        return self.as_account(self.people.email(role), client)

    def as_account(self, email: str, client: FlaskClient | None = None) -> FlaskClient:
        """Start a session for the account `email` as a completed sign-in would (password and,
        where the role needs one, the second factor), without the slow password check."""
        client = client or self.client
        with self.factory.begin() as session:
            user = session.scalars(select(User).where(User.email == email)).one()
            token = sessions.start(session, user, "192.0.2.1", datetime.now(UTC))
        with client.session_transaction() as browser_session:
            browser_session.clear()
            browser_session["_user_id"] = token
            browser_session["_fresh"] = True
        return client

    def csrf(self, client: FlaskClient | None = None, page: str = "/") -> str:
        return csrf_from((client or self.client).get(page))

    def sign_out(self, client: FlaskClient | None = None) -> TestResponse:
        client = client or self.client
        return client.post("/logout", data={"csrf_token": self.csrf(client)})


@pytest.fixture
def auth(
    app: Flask, client: FlaskClient, factory: sessionmaker[Session], people: People
) -> Iterator[Auth]:
    yield Auth(app, client, factory, people)
