"""Working a ticket (queues.tickets): ownership, the answering lock, state, priority, queue,
merge, link and notes, with their history and audit events, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import tickets as work
from queues.models import (
    Article,
    ArticleKind,
    AuditEvent,
    Contact,
    OutboxMessage,
    Participant,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketState,
    User,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass
class World:
    session: Session
    volunteer: User
    volunteer2: User
    specialist: User
    staff: User
    queues: dict[str, Queue]

    def ticket(self, slug: str = "general-help", number: str = "20261202000001") -> Ticket:
        requester = self.session.scalar(select(Contact).where(Contact.email == "r@example.net"))
        if requester is None:
            requester = Contact(email="r@example.net", name="Rita Requester")
        ticket = Ticket(number=number, subject="help", queue=self.queues[slug], requester=requester)
        self.session.add(ticket)
        self.session.flush()
        return ticket

    def events(self, ticket: Ticket) -> list[tuple[str, str, str]]:
        stmt = (
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
        return [(e.actor, e.kind, e.detail) for e in self.session.scalars(stmt)]

    def audits(self, ticket: Ticket) -> list[tuple[str, str, str]]:
        stmt = select(AuditEvent).where(AuditEvent.ticket_id == ticket.id).order_by(AuditEvent.id)
        return [(a.actor, a.action, a.detail) for a in self.session.scalars(stmt)]


@pytest.fixture
def world(factory: sessionmaker[Session]) -> World:
    session = factory()
    users = {
        name: User(
            email=f"{name}@example.org", name=name.capitalize(), role=role, password_hash="x"
        )
        for name, role in (
            ("volunteer", Role.VOLUNTEER),
            ("volunteer2", Role.VOLUNTEER),
            ("specialist", Role.SPECIALIST),
            ("staff", Role.STAFF),
        )
    }
    session.add_all(users.values())
    session.flush()
    queues = {q.slug: q for q in session.scalars(select(Queue))}
    return World(session, **users, queues=queues)


# --- ownership --------------------------------------------------------------------------------


def test_take_and_release_with_history(world: World) -> None:
    t = world.ticket()
    work.take(world.session, t, world.volunteer, NOW)
    assert t.owner_id == world.volunteer.id and t.state is TicketState.OPEN
    with pytest.raises(work.TicketError, match="Volunteer owns this ticket"):
        work.take(world.session, t, world.volunteer2, NOW)
    with pytest.raises(work.TicketError, match="Only the owner or staff"):
        work.release(world.session, t, world.volunteer2, NOW)
    work.take(world.session, t, world.staff, NOW)  # staff may take over
    assert t.owner_id == world.staff.id
    work.release(world.session, t, world.staff, NOW)
    assert t.owner_id is None
    with pytest.raises(work.TicketError, match="Nobody owns"):
        work.release(world.session, t, world.staff, NOW)
    kinds = [(actor, kind) for actor, kind, _ in world.events(t)]
    assert kinds == [
        ("volunteer@example.org", "owner"),
        ("staff@example.org", "owner"),
        ("staff@example.org", "owner"),
    ]
    assert world.audits(t) == []  # general-help is not restricted


def test_nobody_acts_on_a_ticket_they_cannot_see(world: World) -> None:
    t = world.ticket("specialist-safety")
    for act in (
        lambda: work.take(world.session, t, world.volunteer, NOW),
        lambda: work.acquire_lock(world.session, t, world.volunteer, NOW),
        lambda: work.add_note(world.session, t, world.volunteer, "x", NOW),
        lambda: work.set_priority(world.session, t, world.volunteer, 5, NOW),
    ):
        with pytest.raises(work.TicketError, match="no such ticket"):
            act()
    assert world.events(t) == []


# --- the answering lock -----------------------------------------------------------------------


def test_lock_conflict_expiry_release_and_staff_break(world: World) -> None:
    t = world.ticket()
    until = work.acquire_lock(world.session, t, world.volunteer, NOW)
    assert until == NOW + work.LOCK_DURATION
    # renewed on activity, without a second history entry
    later = NOW + timedelta(minutes=4)
    assert work.acquire_lock(world.session, t, world.volunteer, later) == later + work.LOCK_DURATION
    with pytest.raises(work.LockHeld) as refused:
        work.acquire_lock(world.session, t, world.volunteer2, later)
    assert refused.value.holder == "Volunteer"
    assert refused.value.until == later + work.LOCK_DURATION
    assert "Volunteer is answering this ticket until 2026-12-02 12:14 UTC" in str(refused.value)
    info = work.current_lock(world.session, t, later)
    assert info is not None and info.user_id == world.volunteer.id
    # a non-holder who is not staff cannot release it; staff can break it
    with pytest.raises(work.TicketError, match="only they or staff"):
        work.release_lock(world.session, t, world.volunteer2, later)
    work.release_lock(world.session, t, world.staff, later)
    assert t.locked_by_id is None
    # an expired lock is free for anyone
    work.acquire_lock(world.session, t, world.volunteer2, later)
    expired = later + work.LOCK_DURATION + timedelta(seconds=1)
    assert work.current_lock(world.session, t, expired) is None
    work.acquire_lock(world.session, t, world.volunteer, expired)
    work.release_lock(world.session, t, world.volunteer, expired)
    kinds = [kind for _, kind, _ in world.events(t)]
    assert kinds == ["lock", "lock-broken", "lock", "lock", "lock-released"]


def test_restricted_ticket_changes_are_audited_without_content(world: World) -> None:
    t = world.ticket("specialist-safety")
    work.acquire_lock(world.session, t, world.specialist, NOW, client="192.0.2.9")
    work.add_note(world.session, t, world.specialist, "the harasser's name is Bob", NOW)
    audits = world.audits(t)
    assert [(a[0], a[1]) for a in audits] == [("specialist@example.org", "change")] * 2
    assert all("Bob" not in a[2] for a in audits)


# --- state and priority ------------------------------------------------------------------------


def test_state_changes_pending_needs_a_future_date(world: World) -> None:
    t = world.ticket()
    with pytest.raises(work.TicketError, match="needs a date"):
        work.set_state(world.session, t, world.volunteer, "pending", NOW)
    with pytest.raises(work.TicketError, match="must be in the future"):
        work.set_state(world.session, t, world.volunteer, "pending", NOW, pending_until=NOW)
    with pytest.raises(work.TicketError, match="open, pending or closed"):
        work.set_state(world.session, t, world.volunteer, "new", NOW)
    with pytest.raises(work.TicketError, match="open, pending or closed"):
        work.set_state(world.session, t, world.volunteer, "deleted", NOW)
    until = NOW + timedelta(days=3)
    work.set_state(world.session, t, world.volunteer, "pending", NOW, pending_until=until)
    assert t.state is TicketState.PENDING and t.pending_until == until
    with pytest.raises(work.TicketError, match="no answer from us needs a reason"):
        work.set_state(world.session, t, world.volunteer, TicketState.CLOSED, NOW)
    work.set_state(
        world.session, t, world.volunteer, TicketState.CLOSED, NOW, no_answer_reason="spam"
    )
    assert t.state.value == "closed" and t.closed_at == NOW and t.pending_until is None
    with pytest.raises(work.TicketError, match="already closed"):
        work.set_state(world.session, t, world.volunteer, "closed", NOW)
    work.reopen(world.session, t, world.volunteer, NOW)
    assert t.state.value == "open" and t.closed_at is None
    details = [d for _, k, d in world.events(t) if k == "state"]
    assert details == [
        "state new -> pending until 2026-12-05 12:00 UTC",
        "state pending -> closed without an answer to the requester: spam",
        "state closed -> open",
    ]


def test_priority_from_one_to_five(world: World) -> None:
    t = world.ticket()
    for bad in ("0", "6", "high", "", 3):
        with pytest.raises(work.TicketError):
            work.set_priority(world.session, t, world.volunteer, bad, NOW)
    work.set_priority(world.session, t, world.volunteer, "5", NOW)
    assert t.priority == 5
    assert world.events(t)[-1] == ("volunteer@example.org", "priority", "priority 3 -> 5")


# --- moving ------------------------------------------------------------------------------------


def test_a_volunteer_cannot_move_into_a_queue_they_cannot_see(world: World) -> None:
    t = world.ticket()
    for slug in ("specialist-safety", "police-liaison", "no-such-queue"):
        with pytest.raises(work.TicketError, match="There is no such queue"):
            work.move(world.session, t, world.volunteer, slug, NOW)
    assert t.queue.slug == "general-help"


def test_moving_into_and_out_of_safety_is_recorded(world: World) -> None:
    t = world.ticket()
    work.take(world.session, t, world.volunteer, NOW)
    work.move(world.session, t, world.specialist, "specialist-safety", NOW, client="192.0.2.5")
    assert t.queue_id == world.queues["specialist-safety"].id
    assert t.owner_id is None  # the volunteer owner cannot see it any more
    work.move(world.session, t, world.specialist, "general-help", NOW, reason="not serious")
    assert t.queue_id == world.queues["general-help"].id
    moves = [(k, d) for _, k, d in world.events(t) if k.startswith("queue")]
    assert moves == [
        ("queue", "queue general-help -> specialist-safety"),
        ("queue-out-of-restricted", "queue specialist-safety -> general-help"),
    ]
    assert [a[2] for a in world.audits(t)] == [
        "queue general-help -> specialist-safety",
        "queue specialist-safety -> general-help",
    ]
    with pytest.raises(work.TicketError, match="already in"):
        work.move(world.session, t, world.staff, "general-help", NOW)


# --- merge and link ----------------------------------------------------------------------------


def _article(world: World, t: Ticket, message_id: str, email: str) -> Article:
    a = Article(ticket_id=t.id, kind=ArticleKind.INCOMING, from_email=email, message_id=message_id)
    world.session.add(a)
    world.session.flush()
    return a


def test_merge_moves_articles_closes_the_source_and_records_both(world: World) -> None:
    a = world.ticket(number="20261202000001")
    b = world.ticket(number="20261202000002")
    a.requester = Contact(email="other@example.net", name="Other")
    a.waiting_since = NOW - timedelta(hours=5)
    b.waiting_since = NOW - timedelta(hours=1)
    first = _article(world, a, "a1@x", "other@example.net")
    _article(world, b, "b1@x", "r@example.net")
    with pytest.raises(work.TicketError, match="That is this ticket"):
        work.merge(world.session, a, a.number, world.volunteer, NOW)
    with pytest.raises(work.TicketError, match="There is no ticket 999"):
        work.merge(world.session, a, "999", world.volunteer, NOW)
    target = work.merge(world.session, a, f"#{b.number}", world.volunteer, NOW)
    assert target.id == b.id
    world.session.refresh(first)
    assert first.ticket_id == b.id
    assert a.state is TicketState.CLOSED and a.merged_into_id == b.id and a.closed_at == NOW
    assert a.waiting_since is None and b.waiting_since == NOW - timedelta(hours=5)
    emails = set(
        world.session.scalars(select(Participant.email).where(Participant.ticket_id == b.id))
    )
    assert emails == {"other@example.net"}
    # The other ticket is named by reference, never by number (queues.present).
    assert world.events(a)[-1][1:] == (
        "merged",
        "merged into {ticket} (1 articles moved; was new)",
    )
    assert world.events(b)[-1][1:] == ("merged-from", "{ticket} merged into this one (1 articles)")
    assert [e.ref_ticket_id for e in a.events][-1] == b.id
    assert [e.ref_ticket_id for e in b.events][-1] == a.id
    with pytest.raises(work.TicketError, match="merged into ticket 20261202000002"):
        work.merge(world.session, a, b.number, world.volunteer, NOW)
    with pytest.raises(work.TicketError, match="merged into ticket 20261202000002"):
        work.set_state(world.session, a, world.volunteer, "open", NOW)


def test_merge_needs_both_visible_and_never_widens_the_audience(world: World) -> None:
    public = world.ticket(number="20261202000001")
    safety = world.ticket("specialist-safety", number="20261202000002")
    with pytest.raises(work.TicketError, match="There is no ticket 20261202000002"):
        work.merge(world.session, public, safety.number, world.volunteer, NOW)
    with pytest.raises(work.TicketError, match="more people may see"):
        work.merge(world.session, safety, public.number, world.specialist, NOW)
    work.merge(world.session, public, safety.number, world.specialist, NOW)
    assert public.merged_into_id == safety.id
    assert [a[1] for a in world.audits(safety)] == ["change"]


def test_link_related_tickets_once(world: World) -> None:
    a = world.ticket(number="20261202000001")
    b = world.ticket(number="20261202000002")
    hidden = world.ticket("specialist-safety", number="20261202000003")
    work.link(world.session, a, b.number, world.volunteer, NOW)
    with pytest.raises(work.TicketError, match="already linked"):
        work.link(world.session, b, a.number, world.volunteer, NOW)
    with pytest.raises(work.TicketError, match="There is no ticket"):
        work.link(world.session, a, hidden.number, world.volunteer, NOW)
    work.link(world.session, a, hidden.number, world.specialist, NOW)
    links = world.session.scalars(select(TicketLink).where(TicketLink.source_id == a.id)).all()
    assert {(link.target_id, link.kind) for link in links} == {
        (b.id, "related"),
        (hidden.id, "related"),
    }
    assert [t.number for t in work.related(world.session, a, world.volunteer)] == [b.number]
    assert len(work.related(world.session, a, world.specialist)) == 2
    assert world.events(b)[-1][1:] == ("link", "linked to {ticket}")
    assert [e.ref_ticket_id for e in b.events][-1] == a.id


# --- notes -------------------------------------------------------------------------------------


def test_a_note_is_an_article_and_never_mail(world: World) -> None:
    t = world.ticket()
    with pytest.raises(work.TicketError, match="Write something"):
        work.add_note(world.session, t, world.volunteer, "  \n ", NOW)
    note = work.add_note(world.session, t, world.volunteer, "Called the police liaison.\r\n", NOW)
    assert note.kind is ArticleKind.NOTE and note.body_text == "Called the police liaison."
    assert note.from_email == "volunteer@example.org"
    assert world.session.scalars(select(OutboxMessage)).all() == []
    assert world.events(t)[-1][1] == "note"


def test_pending_tickets_open_again_when_their_date_comes(
    factory: sessionmaker[Session],
) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        due = Ticket(
            number="20261202000901",
            subject="due",
            queue_id=queue.id,
            state=TicketState.PENDING,
            pending_until=now - timedelta(minutes=1),
        )
        later = Ticket(
            number="20261202000902",
            subject="later",
            queue_id=queue.id,
            state=TicketState.PENDING,
            pending_until=now + timedelta(days=1),
        )
        session.add_all([due, later])
    with factory.begin() as session:
        assert work.reopen_due_pending(session, now) == ["20261202000901"]
    with factory.begin() as session:
        assert work.reopen_due_pending(session, now) == []  # once only
        tickets = {t.number: t for t in session.scalars(select(Ticket))}
        reopened = tickets["20261202000901"]
        assert reopened.state == TicketState.OPEN and reopened.pending_until is None
        assert [e.actor for e in reopened.events if e.kind == "state"] == ["system"]
        assert tickets["20261202000902"].state == TicketState.PENDING
