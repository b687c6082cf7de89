"""Server-side sign-in sessions: started at login, checked on every request, ended on the server.

The browser's (signed) Flask session holds only a random token; the row that makes it valid
is in `web_sessions`. A session is valid while its row exists, its account is active, its
`session_version` equals the account's (a password change or disabling bumps it), and it is
neither idle nor older than the configured limits. Logout deletes the row, so a copy of the
cookie taken before logout is worthless after it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from queues.models import User, WebSession

# Updating last_seen_at on every request would make every page a write.
TOUCH_EVERY = timedelta(seconds=60)
TOKEN_BYTES = 32


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    maximum: timedelta


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User, client: str | None, now: datetime) -> str:
    """Create a session for `user`; returns the token for the browser (shown nowhere else)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        WebSession(
            token_sha256=digest(token),
            user_id=user.id,
            session_version=user.session_version,
            created_at=now,
            last_seen_at=now,
            client=client,
        )
    )
    session.flush()
    return token


def resume(
    session: Session, token: str, now: datetime, limits: Lifetimes
) -> tuple[WebSession, User] | None:
    """The session and account for `token` if the session is still valid, else None."""
    if not token or len(token) > 200:
        return None
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_sha256 == digest(token))
    ).one_or_none()
    if row is None:
        return None
    web, user = row
    if (
        not user.active
        or web.session_version != user.session_version
        or now - web.last_seen_at > limits.idle
        or now - web.created_at > limits.maximum
    ):
        return None
    return web, user


def needs_touch(web: WebSession, now: datetime) -> bool:
    return now - web.last_seen_at >= TOUCH_EVERY


def touch(session: Session, token: str, now: datetime) -> None:
    session.execute(
        update(WebSession).where(WebSession.token_sha256 == digest(token)).values(last_seen_at=now)
    )


def end(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_sha256 == digest(token)))


def prune(session: Session, now: datetime, limits: Lifetimes) -> int:
    """Delete sessions that can no longer be valid; returns how many."""
    stale_version = (
        select(User.id)
        .where(User.id == WebSession.user_id)
        .where(or_(User.session_version != WebSession.session_version, ~User.active))
        .exists()
    )
    result = session.execute(
        delete(WebSession).where(
            or_(
                WebSession.last_seen_at < now - limits.idle,
                WebSession.created_at < now - limits.maximum,
                stale_version,
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
