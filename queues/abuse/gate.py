"""What ingest asks the abuse controls at decide time, and how it records their answers.

In order (queues.ingest): a blocked sender's mail is held for staff or ignored
(`abuse_blocked_action`); a new report from a sender marked abusive is held; past
`abuse_tickets_per_sender_per_day` new tickets in 24 hours, a sender's mail is added to
their newest open ticket; a report within `abuse_flood_max_distance` bits of reports from
at least `abuse_flood_min_senders` senders (its own included) in the last
`abuse_flood_window_minutes` is collapsed into the first of them, which counts them
(`floods`). An allowed sender passes all of these. A message staff released passes them
too (`released`): releasing is how a hold is undone.

Every answer that changed what became of a message is an `abuse_actions` row: what, to
whose mail, which entry or rule, and where the message went. All functions take `now`, so
caps and windows are tested on a controlled clock.

Several runners decide at once on PostgreSQL: two messages from one sender counted in two
transactions could both find the sender under the cap, and two flood reports could each
miss the other. `serialize` takes a transaction-scoped advisory lock before the counting,
so those decisions take turns (new tickets take turns anyway, on the ticket number
counter); SQLite's single writer already does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from queues.abuse.models import RELEASED, AbuseAction, Flood, ReportFingerprint
from queues.abuse.similarity import distance
from queues.models import Ticket, TicketState, table_of
from queues.settings import Settings

DAY = timedelta(days=1)
# The most recent keys a new report is compared with (a bound on the work per message).
MAX_CANDIDATES = 2000
# The advisory lock key of the controls' decisions (any constant of our own).
LOCK_KEY = 0x5357_4142  # "SWAB"

_A = table_of(AbuseAction)
_T = table_of(Ticket)
_F = table_of(ReportFingerprint)
_FL = table_of(Flood)
_INSERT_ACTION = insert(_A).returning(_A.c.id)
_RELEASED = select(_A.c.id).where(_A.c.inbound_id == bindparam("iid"), _A.c.kind == RELEASED)
_TODAY = select(func.count()).where(
    _T.c.requester_id == bindparam("rid"),
    _T.c.created_at >= bindparam("since"),
    _T.c.merged_into_id.is_(None),
)
# The sender's newest ticket that is not closed (not merged), else their newest.
_NEWEST = (
    select(_T.c.id)
    .where(_T.c.requester_id == bindparam("rid"), _T.c.merged_into_id.is_(None))
    .order_by((_T.c.state == TicketState.CLOSED).asc(), _T.c.created_at.desc(), _T.c.id.desc())
    .limit(1)
)
_RECENT = (
    select(_F.c.ticket_id, _F.c.sender, _F.c.simhash)
    .where(_F.c.at >= bindparam("since"))
    .order_by(_F.c.at.desc())
    .limit(MAX_CANDIDATES)
)
_INSERT_FINGERPRINT = insert(_F)


def record(
    conn: Connection,
    kind: str,
    at: datetime,
    *,
    state: str,
    sender: str = "",
    inbound_id: int | None = None,
    ticket_id: int | None = None,
    article_id: int | None = None,
    rule_id: int | None = None,
    detail: str = "",
    actor: str = "system",
    decides_id: int | None = None,
) -> int:
    """One `abuse_actions` row; returns its id."""
    action_id: int = conn.execute(
        _INSERT_ACTION,
        {
            "at": at,
            "kind": kind,
            "state": state,
            "actor": actor[:320],
            "sender": sender[:320],
            "inbound_id": inbound_id,
            "ticket_id": ticket_id,
            "article_id": article_id,
            "rule_id": rule_id,
            "detail": detail,
            "decides_id": decides_id,
        },
    ).scalar_one()
    return action_id


def serialize(conn: Connection) -> None:
    """Let one transaction at a time count caps and floods (PostgreSQL; until commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def released(conn: Connection, inbound_id: int) -> bool:
    """Did staff release this message (it then passes the controls)?"""
    return conn.execute(_RELEASED, {"iid": inbound_id}).first() is not None


def over_cap(conn: Connection, requester_id: int, settings: Settings, now: datetime) -> int | None:
    """The ticket to add the sender's mail to when they are at the cap, else None."""
    cap = settings.abuse_tickets_per_sender_per_day
    if cap <= 0:
        return None
    made = conn.execute(_TODAY, {"rid": requester_id, "since": now - DAY}).scalar_one()
    if made < cap:
        return None
    host: int | None = conn.execute(_NEWEST, {"rid": requester_id}).scalar()
    return host


def flood_host(
    conn: Connection, key: int, sender: str, settings: Settings, now: datetime
) -> int | None:
    """The ticket a near-identical flood is collapsed into, or None (a report of its own).

    A flood already counting (a `floods` row among the near reports) takes it; otherwise the
    near reports' senders, this one's included, must reach `abuse_flood_min_senders`, and the
    earliest of them becomes the flood's ticket.
    """
    if settings.abuse_flood_min_senders <= 1:
        return None
    since = now - timedelta(minutes=settings.abuse_flood_window_minutes)
    near = [
        r
        for r in conn.execute(_RECENT, {"since": since})
        if distance(r.simhash, key) <= settings.abuse_flood_max_distance
    ]
    if not near:
        return None
    ids = sorted({r.ticket_id for r in near})
    counting = conn.execute(
        select(_FL.c.ticket_id).where(_FL.c.ticket_id.in_(ids)).order_by(_FL.c.first_at).limit(1)
    ).scalar()
    if counting is not None:
        return int(counting)
    senders = {r.sender for r in near} | {sender.lower()}
    if len(senders) < settings.abuse_flood_min_senders:
        return None
    first: int = ids[0]
    return first


def note_fingerprint(conn: Connection, ticket_id: int, sender: str, key: int, at: datetime) -> None:
    """Keep a report's key (on its own ticket, or on the flood's it was collapsed into)."""
    conn.execute(
        _INSERT_FINGERPRINT,
        {"ticket_id": ticket_id, "sender": sender.lower()[:320], "at": at, "simhash": key},
    )


def count_flood(conn: Connection, ticket_id: int, at: datetime) -> int:
    """One more report collapsed into the flood's ticket; returns the reports it now holds."""
    found = conn.execute(select(_FL.c.reports).where(_FL.c.ticket_id == ticket_id)).scalar()
    if found is None:
        conn.execute(insert(_FL).values(ticket_id=ticket_id, reports=2, first_at=at, last_at=at))
        return 2
    conn.execute(
        update(_FL)
        .where(_FL.c.ticket_id == ticket_id)
        .values(reports=_FL.c.reports + 1, last_at=at)
    )
    return int(found) + 1
