"""Login throttling per account, client and device, kept in the database for every process.

A failed sign-in from an untrusted client (no valid device cookie for the address typed,
webui.devices) counts against two keys: the address typed (whether or not an account has
it, so being throttled tells nothing about accounts) and the client (IPv4 address, or the
IPv6 /64 network, since one IPv6 host usually holds a whole /64). A failed sign-in from a
trusted client counts against its device cookie's key alone. A key with `limit` failures in
the current window is refused until the window ends. A successful sign-in clears the key it
was counted against (the device's, or the account's for an untrusted client) but never the
client key: otherwise an attacker with one valid account could reset their own counter
between guesses at other accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from queues.models import LoginThrottle


@dataclass(frozen=True)
class Limit:
    key: str
    limit: int


def account_key(secret: str, email: str) -> str:
    """A key for the address typed; keyed-hashed, as people sometimes type a password there."""
    normalized = email.strip().lower().encode()
    mac = hmac.new(secret.encode(), normalized, hashlib.sha256).hexdigest()
    return f"account:{mac[:48]}"


def client_key(remote_addr: str | None) -> str:
    try:
        address = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return "client:unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"client:{address.ipv4_mapped}"
        return f"client:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"client:{address}"


def blocked_until(
    session: Session, limits: list[Limit], now: datetime, window: timedelta
) -> datetime | None:
    """When the last of the blocks on these keys ends, or None if none is blocked now."""
    until: datetime | None = None
    for item in limits:
        row = session.get(LoginThrottle, item.key)
        if row is None or row.failures < item.limit:
            continue
        end = row.window_start + window
        if end > now and (until is None or end > until):
            until = end
    return until


def record_failure(session: Session, keys: list[str], now: datetime, window: timedelta) -> None:
    """Count one failure against each key (atomically: web processes may race)."""
    for key in keys:
        _increment(session, key, now, window)
    # Keep the table small: rows whose window ended long ago count for nothing.
    session.execute(delete(LoginThrottle).where(LoginThrottle.window_start < now - 2 * window))


def _increment(session: Session, key: str, now: datetime, window: timedelta) -> None:
    expired = LoginThrottle.window_start <= now - window
    # Typed like the column, so that SQLite stores the same UTC text as for an insert.
    start = literal(now, LoginThrottle.window_start.type)
    stmt = (
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(
            failures=case((expired, 1), else_=LoginThrottle.failures + 1),
            window_start=case((expired, start), else_=LoginThrottle.window_start),
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(session.execute(stmt), "rowcount", 0):
        return
    try:
        with session.begin_nested():
            session.add(LoginThrottle(key=key, failures=1, window_start=now))
    except IntegrityError:
        session.execute(stmt)  # another process inserted it first


def clear(session: Session, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
