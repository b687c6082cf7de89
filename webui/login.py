"""Who is signed in: flask-login wired to the server-side sessions of webui.sessions.

flask-login keeps only our opaque session token in the signed cookie (`Agent.get_id`).
On each request the user loader checks that token against `web_sessions`; a dead session
(logged out, password changed, account disabled, idle, too old) makes the request
anonymous. Remember-me cookies are never issued.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from flask import Flask, current_app, request
from flask_login import LoginManager, current_user

from queues.accounts import hash_password
from queues.models import Role, User
from webui import db, sessions


class Agent:
    """The signed-in agent of this request: an account plus the session token it came with."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: User, token: str) -> None:
        self.user = user
        self.token = token

    @property
    def is_active(self) -> bool:
        return self.user.active

    def get_id(self) -> str:
        return self.token

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def email(self) -> str:
        return self.user.email


def agent() -> Agent:
    """The signed-in agent; views behind the login check call this instead of current_user."""
    who = current_user._get_current_object()
    if not isinstance(who, Agent):
        raise RuntimeError("agent() called on a request without a signed-in agent")
    return who


def signed_in() -> Agent | None:
    who = current_user._get_current_object()
    return who if isinstance(who, Agent) else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def lifetimes() -> sessions.Lifetimes:
    config = current_app.config
    return sessions.Lifetimes(
        idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
        maximum=timedelta(hours=config["SESSION_MAX_HOURS"]),
    )


def _load_agent(token: str) -> Agent | None:
    now = utcnow()
    found = sessions.resume(db.session(), token, now, lifetimes())
    if found is None:
        return None
    web, user = found
    if sessions.needs_touch(web, now):
        with db.writing() as writer:
            sessions.touch(writer, token, now)
    return Agent(user, token)


@cache
def dummy_user() -> User:
    """An account that exists nowhere, so a sign-in for an unknown address costs the same."""
    return User(email="", role=Role.VOLUNTEER, password_hash=hash_password("not a password"))


def client_address() -> str | None:
    """The client's IP address (behind a proxy, `switchboard web --trusted-proxy` sets it)."""
    return request.remote_addr


def init_app(app: Flask) -> None:
    manager = LoginManager()
    manager.user_loader(_load_agent)
    manager.login_view = "auth.login"
    # Our server-side sessions are the boundary; flask-login's IP/User-Agent fingerprint
    # would only sign people out when their mobile network changes.
    manager.session_protection = None
    manager.init_app(app)
    dummy_user()  # pay for the hash at start, not on someone's first sign-in
