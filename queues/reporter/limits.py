"""Per-client limits of the public forms: the report form, a status page's messages, new links.

A post counts against its client (`client_key`: an IPv4 address, or the IPv6 /64 that one
host usually holds) in `form_posts`, kept in the database so that every web process sees
the same counts. Rows older than two days count for nothing and are pruned as new ones
come. The limits themselves are settings (report_per_client_per_hour and _per_day,
status_messages_per_day).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from queues.reporter.models import FormPost

KEEP = timedelta(days=2)
REPORT, STATUS_MESSAGE, NEW_LINK = "report", "status-message", "new-link"


def client_key(remote_addr: str | None) -> str:
    """The client a limit counts against: IPv4 address, IPv6 /64 network, or "unknown"."""
    try:
        address = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def posts_since(session: Session, client: str, kind: str, since: datetime) -> int:
    count = session.scalar(
        select(func.count(FormPost.id)).where(
            FormPost.client == client, FormPost.kind == kind, FormPost.at > since
        )
    )
    return int(count or 0)


def over_limit(
    session: Session, client: str, kind: str, now: datetime, limits: Iterable[tuple[int, timedelta]]
) -> bool:
    """Whether `client` already made `limit` posts of `kind` within any (limit, window)."""
    return any(
        posts_since(session, client, kind, now - window) >= limit for limit, window in limits
    )


def count_post(session: Session, client: str, kind: str, now: datetime) -> None:
    session.add(FormPost(client=client[:100], kind=kind, at=now))
    session.execute(delete(FormPost).where(FormPost.at < now - KEEP))
