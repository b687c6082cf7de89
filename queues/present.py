"""Tickets as plain data for a viewer: the `show --json` contract, history rows and links.

`ticket_summary`, `article_dict` and `ticket_detail` are the `show --json` and
`tickets --json` contract of DESIGN.md.

History rows and links that concern another ticket are shown through `ticket_history` and
`ticket_links`, which know who is looking (need to know, DESIGN.md). A history row names the
other ticket by `TicketEvent.ref_ticket_id`, never by number in `detail`; where the sentence
names it, `detail` holds the mark `{ticket}` (TICKET_MARK), else the other ticket is named
after the text, in parentheses. For a viewer who may see the other ticket it appears as
"ticket <number>" (a link on pages); otherwise the row is treated by its kind:

    kind           written by                          the other ticket hidden (or gone)
    merged         an agent's merge, on the ticket     "merged into a restricted ticket"
                   merged away
    merged-from    the same merge, on the ticket       "a restricted ticket merged into
                   merged into                         this one"
    link           an agent's link, on both tickets    "linked to a restricted ticket"
    liaison-*      a report to police, on the ticket   the text as written (it names no
                   it was made from                    ticket)
    any other      ingest: someone quoted the number   the row is left out
    (linked,       of an existing ticket; rows that
    routing...)    exist only because of that ticket

The named kinds record what an agent did to *this* ticket (the agent could see both, and
the viewer may need to know that its messages went elsewhere or that it was reported), so
the row stays and the other ticket is nameless. A row of any other kind exists only because
the other ticket exists (a stranger quoting its number): shown without the number it would
still tell that such a ticket exists, which a number that does not exist would not, so the
viewer gets no row at all, exactly as for a number that matches nothing. The default for a
kind not named here is to leave the row out: a new kind can only err on the side of silence.

Links (`ticket_links`) follow the same rule: a link an agent made (`related`, a police
report's `liaison-case`) and a merge are shown as "a restricted ticket" without number or
subject; any other link to a hidden ticket (`quoted-number`) is left out.

Rows written before migration 0006 had the number in `detail`; that migration moved it into
`ref_ticket_id` and the mark. `viewer=None` is the operator at the command line (`switchboard
show`), who sees every ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from queues.access import visible_tickets
from queues.models import Article, Ticket, TicketEvent, TicketLink, User
from queues.ticketsummary import summary

TICKET_MARK = "{ticket}"
RESTRICTED = "a restricted ticket"
# Rows an agent made about this ticket: kept with the other ticket nameless when hidden.
NAMELESS_WHEN_HIDDEN = frozenset({"merged", "merged-from", "link"})
NAMELESS_PREFIXES = ("liaison-",)
# Kinds whose rows name another ticket (by TICKET_MARK) even when it is gone (SET NULL).
REF_KINDS = NAMELESS_WHEN_HIDDEN | {"linked"}
# Link kinds made by agents; any other (quoted-number) exists only because of the other.
AGENT_LINK_KINDS = frozenset({"related", "liaison-case"})


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    """The top-level fields shared by `tickets --json` and `show --json`."""
    requester = ticket.requester
    return summary(
        number=ticket.number,
        subject=ticket.subject,
        queue=ticket.queue.slug,
        state=ticket.state.value,
        priority=ticket.priority,
        created_at=ticket.created_at,
        requester_email=requester.email if requester else None,
        requester_name=requester.name if requester else None,
        reasons=list(ticket.triage_reasons),
    )


def article_dict(article: Article) -> dict[str, Any]:
    from_display = (
        f"{article.from_name} <{article.from_email}>" if article.from_name else article.from_email
    )
    return {
        "kind": article.kind.value,
        "from": from_display,
        "from_email": article.from_email,
        "from_name": article.from_name,
        "to": list(article.to),
        "cc": list(article.cc),
        "subject": article.subject,
        "message_id": article.message_id,
        "date": article.date.isoformat() if article.date else None,
        "content_type": article.content_type,
        "body_text": article.body_text,
        "body_html": article.body_html,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in article.attachments
        ],
    }


def ticket_detail(ticket: Ticket) -> dict[str, Any]:
    return {**ticket_summary(ticket), "articles": [article_dict(a) for a in ticket.articles]}


# --- history and links, as a viewer may see them ---------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One history row as shown to one viewer.

    When `names_ticket`, the text is `before` + the other ticket + `after`, the other ticket
    being "ticket <number>" if `number` is set, else RESTRICTED.
    """

    at: datetime
    actor: str
    kind: str
    before: str
    after: str = ""
    names_ticket: bool = False
    number: str | None = None

    @property
    def detail(self) -> str:
        if not self.names_ticket:
            return self.before
        other = f"ticket {self.number}" if self.number is not None else RESTRICTED
        return f"{self.before}{other}{self.after}"


@dataclass(frozen=True)
class LinkEntry:
    """Another ticket related to this one, as shown to one viewer (`ticket` None: hidden)."""

    ticket: Ticket | None
    label: str


def _numbers_seen(session: Session, ids: set[int], viewer: User | None) -> dict[int, str]:
    """Id -> number of the tickets among `ids` that `viewer` may see (all for None)."""
    if not ids:
        return {}
    base = select(Ticket) if viewer is None else visible_tickets(viewer)
    stmt = base.with_only_columns(Ticket.id, Ticket.number).where(Ticket.id.in_(ids))
    return {ticket_id: number for ticket_id, number in session.execute(stmt)}


def nameless_when_hidden(kind: str) -> bool:
    """Whether a row of `kind` stays, without the other ticket, for one who may not see it."""
    return kind in NAMELESS_WHEN_HIDDEN or kind.startswith(NAMELESS_PREFIXES)


def present_event(event: TicketEvent, seen: dict[int, str]) -> HistoryEntry | None:
    """`event` for a viewer who may see the tickets in `seen` (id -> number); None: left out."""
    names = event.ref_ticket_id is not None or (
        event.kind in REF_KINDS and TICKET_MARK in event.detail
    )
    if not names:
        return HistoryEntry(event.at, event.actor, event.kind, event.detail)
    number = seen.get(event.ref_ticket_id) if event.ref_ticket_id is not None else None
    if number is None and not nameless_when_hidden(event.kind):
        return None
    before, mark, after = event.detail.partition(TICKET_MARK)
    if not mark:  # the text does not name the ticket: name it after, if it may be named
        if number is None:
            return HistoryEntry(event.at, event.actor, event.kind, event.detail)
        before, after = (f"{before} (", ")") if before else ("", "")
    return HistoryEntry(
        event.at,
        event.actor,
        event.kind,
        before,
        after.replace(TICKET_MARK, RESTRICTED if number is None else f"ticket {number}"),
        names_ticket=True,
        number=number,
    )


def ticket_history(session: Session, ticket: Ticket, viewer: User | None) -> list[HistoryEntry]:
    """`ticket`'s history, oldest first, as `viewer` may see it (None: the operator, all)."""
    events = list(
        session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    )
    refs = {e.ref_ticket_id for e in events if e.ref_ticket_id is not None}
    seen = _numbers_seen(session, refs, viewer)
    return [entry for e in events if (entry := present_event(e, seen)) is not None]


def history_dict(entry: HistoryEntry) -> dict[str, Any]:
    """A history row for JSON: `ticket` is the other ticket's number or None."""
    return {
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "kind": entry.kind,
        "detail": entry.detail,
        "ticket": entry.number,
    }


def _link_label(kind: str, outgoing: bool) -> str:
    if kind == "quoted-number":
        if outgoing:
            return "this ticket's sender quoted its number"
        return "its sender quoted this ticket's number in a new message"
    return kind.replace("-", " ")


def ticket_links(session: Session, ticket: Ticket, viewer: User | None) -> list[LinkEntry]:
    """Linked tickets and tickets merged into this one, as `viewer` may see them.

    A hidden ticket that an agent linked or merged appears without number or subject; a
    hidden ticket linked because a stranger quoted a number is left out (module docstring).
    """
    rows = list(
        session.scalars(
            select(TicketLink)
            .where(or_(TicketLink.source_id == ticket.id, TicketLink.target_id == ticket.id))
            .order_by(TicketLink.id)
        )
    )
    merged_in = list(
        session.scalars(
            select(Ticket.id).where(Ticket.merged_into_id == ticket.id).order_by(Ticket.id)
        )
    )
    others = {r.target_id if r.source_id == ticket.id else r.source_id for r in rows}
    others |= set(merged_in)
    visible: dict[int, Ticket] = {}
    if others:
        base = select(Ticket) if viewer is None else visible_tickets(viewer)
        visible = {t.id: t for t in session.scalars(base.where(Ticket.id.in_(others)))}
    links = []
    for row in rows:
        outgoing = row.source_id == ticket.id
        other = visible.get(row.target_id if outgoing else row.source_id)
        if other is None and row.kind not in AGENT_LINK_KINDS:
            continue
        links.append(LinkEntry(other, _link_label(row.kind, outgoing)))
    links += [LinkEntry(visible.get(i), "merged into this ticket") for i in merged_in]
    return links


def merged_into(session: Session, ticket: Ticket, viewer: User | None) -> Ticket | None:
    """The ticket `ticket` was merged into, if `viewer` may see it (None when hidden)."""
    if ticket.merged_into_id is None:
        return None
    base = select(Ticket) if viewer is None else visible_tickets(viewer)
    return session.scalar(base.where(Ticket.id == ticket.merged_into_id))
