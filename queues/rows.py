"""Table-level reads and writes for the ingest hot path, without the ORM's unit of work.

Every message that arrives runs through these, so they are plain SQLAlchemy Core
statements built once (cached compilation) and executed with a parameter dictionary on the
session's connection. Measured on this project's mail mix, the ORM's flush and entity loads
cost more per message than parsing it; the ORM models stay the shape of the data and are
used everywhere else (web UI, `show`, staff commands). The statements follow the models'
tables, so a column added to a model is added here only if ingest must set it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from queues.access import ROLE_ORDER
from queues.mail import IncomingAttachment
from queues.models import (
    Article,
    Attachment,
    AutoReplyLog,
    Blob,
    Contact,
    InboundMail,
    InboundState,
    Participant,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketState,
    table_of,
    utcnow,
)

_T = table_of(Ticket)
_A = table_of(Article)
_I = table_of(InboundMail)
_C = table_of(Contact)
_Q = table_of(Queue)
_P = table_of(Participant)
_B = table_of(Blob)

INSERT_TICKET = insert(_T).returning(_T.c.id)
INSERT_ARTICLE = insert(_A).returning(_A.c.id)
INSERT_ATTACHMENT = insert(table_of(Attachment))
INSERT_EVENT = insert(table_of(TicketEvent))
INSERT_PARTICIPANT = insert(_P)
INSERT_LINK = insert(table_of(TicketLink))
INSERT_AUTOREPLY = insert(table_of(AutoReplyLog))
UPDATE_TICKET = update(_T).where(_T.c.id == bindparam("tid"))
# The requester waits from their first unanswered message on (an agent's reply clears it).
START_WAITING = (
    update(_T)
    .where(_T.c.id == bindparam("tid"), _T.c.waiting_since.is_(None))
    .values(waiting_since=bindparam("since"))
)
# Only a message still waiting may be finished: if a second runner processed it after our
# lease ran out, this matches no row (PostgreSQL re-checks the condition once the other
# transaction commits) and the caller rolls back instead of making a second ticket.
UPDATE_INBOUND = update(_I).where(
    _I.c.id == bindparam("iid"), _I.c.state.in_([InboundState.NEW, InboundState.FAILED])
)

SELECT_INBOUND = select(
    _I.c.id,
    _I.c.state,
    _I.c.raw,
    _I.c.raw_sha256,
    _I.c.source,
    _I.c.envelope_from,
    _I.c.envelope_to,
    _I.c.auth,
).where(_I.c.id == bindparam("iid"))
SELECT_DUPLICATE = select(_I.c.id).where(
    _I.c.dedupe_key == bindparam("key"), _I.c.id != bindparam("iid")
)
SELECT_QUEUES = select(_Q.c.id, _Q.c.slug, _Q.c.restricted, _Q.c.followup_closed, _Q.c.min_role)
SELECT_CONTACT = select(_C.c.id, _C.c.name, _C.c.blocked).where(_C.c.email == bindparam("email"))
_TICKET_COLUMNS = (
    _T.c.id,
    _T.c.number,
    _T.c.state,
    _T.c.queue_id,
    _T.c.priority,
    _T.c.triage_reasons,
    _C.c.email,
    _T.c.merged_into_id,
)
_TICKET_FROM = _T.outerjoin(_C, _T.c.requester_id == _C.c.id)
SELECT_TICKET_BY_ID = (
    select(*_TICKET_COLUMNS).select_from(_TICKET_FROM).where(_T.c.id == bindparam("tid"))
)
SELECT_TICKET_BY_NUMBER = (
    select(*_TICKET_COLUMNS)
    .select_from(_TICKET_FROM)
    .where(_T.c.number.in_(bindparam("numbers", expanding=True)))
    .order_by(_T.c.id)
    .limit(1)
)
SELECT_PARTICIPANT = select(_P.c.id).where(
    _P.c.ticket_id == bindparam("tid"), _P.c.email == bindparam("email")
)


@dataclass(frozen=True)
class StoredMail:
    """An inbound row as processing needs it."""

    id: int
    state: str
    raw: bytes
    raw_sha256: str
    source: str
    envelope_from: str | None
    envelope_to: list[str]
    auth: dict[str, Any] | None = None  # the verdict made at acceptance (queues.trust.verdict)


@dataclass(frozen=True)
class QueueRef:
    id: int
    slug: str
    restricted: bool
    followup_closed: str  # "reopen" or "new"
    min_role: Role = Role.VOLUNTEER  # the lowest role that may see it (queues.access)

    @property
    def rank(self) -> int:
        """How restricted the queue is: the position of its `min_role` among the roles."""
        return ROLE_ORDER.index(self.min_role)


@dataclass(frozen=True)
class ContactRef:
    id: int
    name: str
    blocked: bool


@dataclass(frozen=True)
class TicketRef:
    """What follow-up handling needs to know about an existing ticket."""

    id: int
    number: str
    state: TicketState
    queue_id: int
    priority: int
    triage_reasons: list[str]
    requester_email: str | None
    merged_into_id: int | None = None  # merged: its mail now belongs to that ticket


def load_stored(conn: Connection, inbound_id: int) -> StoredMail | None:
    row = conn.execute(SELECT_INBOUND, {"iid": inbound_id}).one_or_none()
    if row is None:
        return None
    return StoredMail(
        id=row.id,
        state=str(row.state),
        raw=row.raw,
        raw_sha256=row.raw_sha256,
        source=row.source,
        envelope_from=row.envelope_from,
        envelope_to=list(row.envelope_to or []),
        auth=row.auth,
    )


def is_duplicate(conn: Connection, inbound_id: int, dedupe_key: str) -> bool:
    found = conn.execute(SELECT_DUPLICATE, {"key": dedupe_key, "iid": inbound_id}).first()
    return found is not None


def load_queues(conn: Connection) -> dict[str, QueueRef]:
    return {
        r.slug: QueueRef(
            r.id, r.slug, bool(r.restricted), r.followup_closed, Role(r.min_role or "volunteer")
        )
        for r in conn.execute(SELECT_QUEUES)
    }


def _ticket_ref(row: Any) -> TicketRef:
    return TicketRef(
        id=row.id,
        number=row.number,
        state=TicketState(row.state),
        queue_id=row.queue_id,
        priority=row.priority,
        triage_reasons=list(row.triage_reasons or []),
        requester_email=row.email,
        merged_into_id=row.merged_into_id,
    )


def ticket_by_id(conn: Connection, ticket_id: int) -> TicketRef | None:
    row = conn.execute(SELECT_TICKET_BY_ID, {"tid": ticket_id}).first()
    return _ticket_ref(row) if row is not None else None


def ticket_by_numbers(conn: Connection, numbers: Sequence[str]) -> TicketRef | None:
    row = conn.execute(SELECT_TICKET_BY_NUMBER, {"numbers": list(numbers)}).first()
    return _ticket_ref(row) if row is not None else None


def is_participant(conn: Connection, ticket_id: int, email: str) -> bool:
    found = conn.execute(SELECT_PARTICIPANT, {"tid": ticket_id, "email": email}).first()
    return found is not None


def _on_conflict_do_nothing(conn: Connection, table: Any, key: str, values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike (races are harmless)."""
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert_(table).on_conflict_do_nothing(index_elements=[key]), values)


def get_contact(conn: Connection, email: str, name: str) -> ContactRef:
    """The contact for `email` (lower-cased by the caller), created if new."""
    row = conn.execute(SELECT_CONTACT, {"email": email}).first()
    if row is None:
        values = {"email": email, "name": name[:200], "blocked": False, "created_at": utcnow()}
        _on_conflict_do_nothing(conn, _C, "email", values)
        row = conn.execute(SELECT_CONTACT, {"email": email}).one()
    elif name and not row.name:
        conn.execute(update(_C).where(_C.c.id == row.id).values(name=name[:200]))
    return ContactRef(row.id, row.name or name[:200], bool(row.blocked))


def insert_article(
    conn: Connection, values: dict[str, Any], attachments: Iterable[IncomingAttachment] = ()
) -> int:
    """One article and its attachments; each attachment's content is stored once (by SHA-256)."""
    article_id: int = conn.execute(INSERT_ARTICLE, values).scalar_one()
    rows = []
    for att in attachments:
        blob = {"sha256": att.sha256, "size": att.size, "data": att.data}
        _on_conflict_do_nothing(conn, _B, "sha256", blob)
        rows.append(
            {
                "article_id": article_id,
                "filename": att.filename,
                "content_type": att.content_type,
                "size": att.size,
                "sha256": att.sha256,
                "content_id": att.content_id,
                "inline": att.inline,
            }
        )
    if rows:
        conn.execute(INSERT_ATTACHMENT, rows)
    return article_id


def add_events(
    conn: Connection,
    ticket_id: int,
    events: Sequence[tuple[str, str] | tuple[str, str, int | None]],
) -> None:
    """Append (kind, detail[, ref_ticket_id]) entries to a ticket's history, in order.

    A row about another ticket names it by `ref_ticket_id`, never by number in `detail`.
    """
    if not events:
        return
    now = utcnow()
    conn.execute(
        INSERT_EVENT,
        [
            {
                "ticket_id": ticket_id,
                "at": now,
                "actor": "system",
                "kind": e[0],
                "detail": e[1],
                "ref_ticket_id": e[2] if len(e) > 2 else None,
            }
            for e in events
        ],
    )
