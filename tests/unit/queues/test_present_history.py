"""queues.present: history rows and links about another ticket, per kind and per viewer.

The rule of each kind (module docstring of queues.present): agents' merges, links and police
reports stay with the other ticket nameless; anything else about a hidden ticket is left
out, as for a number that does not exist. The operator (viewer None) sees every number.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Queue, Role, Ticket, TicketEvent, TicketLink, User
from queues.present import (
    RESTRICTED,
    TICKET_MARK,
    history_dict,
    present_event,
    ticket_history,
    ticket_links,
)

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
OTHER = 7
SEEN = {OTHER: "20261204000007"}


def event(kind: str, detail: str, ref: int | None = OTHER) -> TicketEvent:
    return TicketEvent(
        at=AT, actor="agent@example.org", kind=kind, detail=detail, ref_ticket_id=ref
    )


@pytest.mark.parametrize(
    ("kind", "detail", "seen", "hidden"),
    [
        ("merged", f"merged into {TICKET_MARK} (2 articles moved; was open)",
         "merged into ticket 20261204000007 (2 articles moved; was open)",
         f"merged into {RESTRICTED} (2 articles moved; was open)"),
        ("merged-from", f"{TICKET_MARK} merged into this one (2 articles)",
         "ticket 20261204000007 merged into this one (2 articles)",
         f"{RESTRICTED} merged into this one (2 articles)"),
        ("link", f"linked to {TICKET_MARK}", "linked to ticket 20261204000007",
         f"linked to {RESTRICTED}"),
        ("liaison-request", "report to police requested by s@example.org",
         "report to police requested by s@example.org (ticket 20261204000007)",
         "report to police requested by s@example.org"),
        ("linked", f"subject named {TICKET_MARK} but the sender is not a participant",
         "subject named ticket 20261204000007 but the sender is not a participant", None),
        ("routing", f"quotes {TICKET_MARK}", "quotes ticket 20261204000007", None),
        ("quoted", "a stranger quoted this ticket's number",
         "a stranger quoted this ticket's number (ticket 20261204000007)", None),
        ("some-new-kind", "anything", "anything (ticket 20261204000007)", None),
    ],
)  # fmt: skip
def test_each_kind_for_a_viewer_who_sees_the_other_ticket_and_one_who_does_not(
    kind: str, detail: str, seen: str, hidden: str | None
) -> None:
    shown = present_event(event(kind, detail), SEEN)
    assert shown is not None and shown.detail == seen and shown.number == SEEN[OTHER]
    not_seen = present_event(event(kind, detail), {})
    if hidden is None:
        assert not_seen is None  # left out: the rows of a number that does not exist
    else:
        assert not_seen is not None and not_seen.detail == hidden and not_seen.number is None


def test_rows_about_nothing_else_are_shown_as_written() -> None:
    # Even with braces in them: a routing rule's name is typed by staff.
    row = event("routing", f"routing rule #3 '{TICKET_MARK}' matched: flag", ref=None)
    shown = present_event(row, {})
    assert shown is not None and shown.detail == row.detail and not shown.names_ticket


def test_a_ticket_that_is_gone_counts_as_hidden() -> None:
    """ref_ticket_id is SET NULL when the other ticket is deleted; the mark stays."""
    gone = present_event(event("merged", f"merged into {TICKET_MARK} (1 articles)", None), SEEN)
    assert gone is not None and gone.detail == f"merged into {RESTRICTED} (1 articles)"
    assert present_event(event("linked", f"subject named {TICKET_MARK}", None), SEEN) is None


# --- from the database, per viewer -----------------------------------------------------------


def _ticket(session: Session, number: str, slug: str) -> Ticket:
    queue = session.scalars(select(Queue).where(Queue.slug == slug)).one()
    ticket = Ticket(number=number, subject=f"subject {number}", queue_id=queue.id)
    session.add(ticket)
    session.flush()
    return ticket


def test_history_and_links_per_viewer(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        general = _ticket(session, "20261204000101", "general-help")
        safety = _ticket(session, "20261204000102", "specialist-safety")
        police = _ticket(session, "20261204000103", "police-liaison")
        quoting = _ticket(session, "20261204000104", "specialist-safety")
        merged = _ticket(session, "20261204000105", "general-help")
        merged.merged_into_id = general.id
        users = {
            role: User(email=f"{role.value}@example.org", role=role, password_hash="x")
            for role in Role
        }
        session.add_all(users.values())
        session.add_all(
            [
                TicketLink(source_id=general.id, target_id=safety.id, kind="related"),
                TicketLink(source_id=general.id, target_id=police.id, kind="liaison-case"),
                TicketLink(source_id=quoting.id, target_id=general.id, kind="quoted-number"),
            ]
        )
        for kind, detail, ref in [
            ("link", f"linked to {TICKET_MARK}", safety.id),
            ("liaison-request", "report to police requested", police.id),
            ("quoted", "number quoted", quoting.id),
            ("state", "state new -> open", None),
        ]:
            session.add(
                TicketEvent(ticket_id=general.id, kind=kind, detail=detail, ref_ticket_id=ref)
            )
    with factory() as session:
        general = session.scalars(select(Ticket).where(Ticket.number == "20261204000101")).one()
        users = {u.role: u for u in session.scalars(select(User))}

        def view(viewer: User | None) -> tuple[list[str | None], list[tuple[str | None, str]]]:
            history = [history_dict(e) for e in ticket_history(session, general, viewer)]
            links = [
                (link.ticket.number if link.ticket else None, link.label)
                for link in ticket_links(session, general, viewer)
            ]
            return [h["detail"] for h in history], links

        details, links = view(users[Role.VOLUNTEER])
        assert details == [
            f"linked to {RESTRICTED}",
            "report to police requested",
            "state new -> open",
        ]
        assert links == [
            (None, "related"),
            (None, "liaison case"),
            ("20261204000105", "merged into this ticket"),
        ]
        details, links = view(users[Role.SPECIALIST])
        assert details == [
            "linked to ticket 20261204000102",
            "report to police requested",
            "number quoted (ticket 20261204000104)",
            "state new -> open",
        ]
        assert links[2] == (
            "20261204000104",
            "its sender quoted this ticket's number in a new message",
        )
        for viewer in (users[Role.STAFF], None):
            details, links = view(viewer)
            assert "report to police requested (ticket 20261204000103)" in details
            assert [number for number, _ in links] == [
                "20261204000102",
                "20261204000103",
                "20261204000104",
                "20261204000105",
            ]
