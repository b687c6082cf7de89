"""Replies (queues.replies): threading headers, the tag, the signature, templates, the lock,
header injection, and what a sent reply changes on the ticket, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from queues import replies
from queues import tickets as work
from queues.db import make_sessionmaker
from queues.models import (
    Article,
    ArticleKind,
    OutboxMessage,
    Participant,
    Queue,
    ReplyTemplate,
    Role,
    Ticket,
    TicketEvent,
    TicketState,
    User,
)
from queues.settings import Settings

from .builders import FakeGate, make_mail

NOW = datetime.now(UTC)


@pytest.fixture
def gate(factory: sessionmaker[Session], settings: Settings) -> FakeGate:
    return FakeGate(factory, settings)


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Session:
    return factory()


@pytest.fixture
def agents(session: Session) -> dict[str, User]:
    users = {
        name: User(
            email=f"{name}@example.org", name=name.capitalize(), role=role, password_hash="x"
        )
        for name, role in (
            ("vera", Role.VOLUNTEER),
            ("victor", Role.VOLUNTEER),
            ("sam", Role.STAFF),
        )
    }
    session.add_all(users.values())
    session.flush()
    return users


def new_ticket(gate: FakeGate, session: Session, **mail: object) -> Ticket:
    values: dict[str, object] = {
        "message_id": "first@example.net",
        "references": ["root@example.net"],
    }
    values.update(mail)
    outcome = gate.send(make_mail(**values))  # type: ignore[arg-type]
    ticket = session.scalar(select(Ticket).where(Ticket.number == outcome.ticket_number))
    assert ticket is not None
    return ticket


def reply_rows(session: Session) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.kind == "reply").order_by(OutboxMessage.id)
    return list(session.scalars(stmt))


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_reply_is_threaded_tagged_signed_and_queued_with_its_article(
    gate: FakeGate, session: Session, agents: dict[str, User], settings: Settings
) -> None:
    ticket = new_ticket(gate, session)
    ticket.queue.signature = "Kind regards,\n{{ agent.name }} for {{ queue.name }}"
    assert ticket.waiting_since is not None
    sent = replies.send_reply(
        session,
        ticket,
        agents["vera"],
        replies.Draft(body="Hello Alice,\r\n\r\nwe are on it.\r\n", cc="Bob <bob@example.net>"),
        settings,
        NOW,
    )
    [row] = reply_rows(session)
    assert row.article_id == sent.article_id and row.ticket_id == ticket.id
    assert row.envelope_from == "help@example.org"
    assert row.recipients == ["alice@example.net", "bob@example.net"]
    msg = parsed(row.raw)
    assert msg["In-Reply-To"] == "<first@example.net>"
    assert msg["References"] == "<root@example.net> <first@example.net>"
    assert msg["Message-ID"] == f"<{sent.message_id}>" == f"<{row.message_id}>"
    assert msg["Subject"] == f"Re: [Ticket#{ticket.number}] Someone keeps messaging me"
    assert msg["To"] == "Alice Example <alice@example.net>"
    assert msg["Cc"] == "Bob <bob@example.net>"
    assert msg["From"] == f"{settings.organisation} <help@example.org>"
    assert "Auto-Submitted" not in msg  # a human reply
    body = msg.get_content().replace("\r\n", "\n")
    # agent.name is the agent's public name (no signature name chosen: the team's), never
    # their real name "Vera" (issue 10)
    assert body == (
        "Hello Alice,\n\nwe are on it.\n\n-- \nKind regards,\n"
        "Switchboard help team for General help\n"
    )

    article = session.get_one(Article, sent.article_id)
    assert article.kind is ArticleKind.OUTGOING and article.message_id == sent.message_id
    assert article.in_reply_to == "first@example.net"
    assert article.references == ["root@example.net", "first@example.net"]
    assert article.body_text == body
    assert ticket.waiting_since is None
    assert ticket.state is TicketState.OPEN and ticket.owner_id == agents["vera"].id
    assert ticket.locked_by_id is None  # the lock taken for the send is given back
    kinds = [
        e.kind
        for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
    ]
    assert "reply" in kinds
    participants = session.scalars(
        select(Participant.email).where(Participant.ticket_id == ticket.id)
    )
    assert "bob@example.net" in set(participants)


def test_default_answers_latest_incoming_or_the_article_chosen(
    gate: FakeGate, session: Session, agents: dict[str, User], settings: Settings
) -> None:
    ticket = new_ticket(gate, session)
    ack = session.scalars(
        select(Article).where(Article.ticket_id == ticket.id, Article.kind == ArticleKind.AUTO)
    ).one()
    follow = make_mail(
        subject=f"Re: [Ticket#{ticket.number}] Someone keeps messaging me",
        message_id="second@example.net",
        in_reply_to=[ack.message_id or ""],
        references=["root@example.net", "first@example.net", ack.message_id or ""],
    )
    gate.send(follow)
    session.expire_all()
    latest = replies.answered_article(session, ticket)
    assert latest is not None and latest.message_id == "second@example.net"
    replies.send_reply(session, ticket, agents["vera"], replies.Draft(body="a"), settings, NOW)
    msg = parsed(reply_rows(session)[-1].raw)
    assert msg["In-Reply-To"] == "<second@example.net>"
    assert msg["References"] == (
        f"<root@example.net> <first@example.net> <{ack.message_id}> <second@example.net>"
    )
    first = session.scalars(select(Article).where(Article.message_id == "first@example.net")).one()
    draft = replies.Draft(body="b", answer_to_id=first.id, subject="New subject")
    sent = replies.send_reply(session, ticket, agents["vera"], draft, settings, NOW)
    msg = parsed(reply_rows(session)[-1].raw)
    assert msg["In-Reply-To"] == "<first@example.net>"
    assert msg["References"] == "<root@example.net> <first@example.net>"
    assert sent.subject == msg["Subject"] == f"Re: [Ticket#{ticket.number}] New subject"
    with pytest.raises(work.TicketError, match="not part of this ticket"):
        replies.send_reply(
            session, ticket, agents["vera"], replies.Draft(body="c", answer_to_id=-5), settings, NOW
        )


@pytest.mark.parametrize(
    "field",
    [
        {"subject": "Hi\r\nBcc: victim@example.net"},
        {"subject": "Hi\nX: y"},
        {"cc": "bob@example.net\r\nBcc: x@example.net"},
        {"to": "alice@example.net\0"},
        {"to": "not an address"},
        {"cc": "a@example.net, <broken"},
    ],
)
def test_header_injection_and_bad_addresses_are_refused(
    gate: FakeGate,
    session: Session,
    agents: dict[str, User],
    settings: Settings,
    field: dict[str, str],
) -> None:
    ticket = new_ticket(gate, session)
    draft = replies.Draft(body="hello", **field)  # type: ignore[arg-type]
    with pytest.raises(work.TicketError):
        replies.send_reply(session, ticket, agents["vera"], draft, settings, NOW)
    assert reply_rows(session) == []
    assert ticket.waiting_since is not None


def test_second_agent_cannot_send_over_the_lock_until_it_expires_or_is_broken(
    gate: FakeGate, session: Session, agents: dict[str, User], settings: Settings
) -> None:
    ticket = new_ticket(gate, session)
    until = replies.open_reply(session, ticket, agents["vera"], NOW)
    with pytest.raises(work.LockHeld, match="Vera is answering"):
        replies.open_reply(session, ticket, agents["victor"], NOW)
    with pytest.raises(work.LockHeld):
        replies.send_reply(
            session, ticket, agents["victor"], replies.Draft(body="x"), settings, NOW
        )
    assert reply_rows(session) == []
    # after the lock ran out the other agent may send
    replies.send_reply(
        session,
        ticket,
        agents["victor"],
        replies.Draft(body="x"),
        settings,
        until + timedelta(seconds=1),
    )
    assert len(reply_rows(session)) == 1
    # staff break a lock, then the other agent may send
    replies.open_reply(session, ticket, agents["vera"], NOW)
    work.release_lock(session, ticket, agents["sam"], NOW)
    replies.send_reply(session, ticket, agents["victor"], replies.Draft(body="y"), settings, NOW)
    assert len(reply_rows(session)) == 2


def test_reply_can_set_pending_and_refuses_a_past_date(
    gate: FakeGate, session: Session, agents: dict[str, User], settings: Settings
) -> None:
    ticket = new_ticket(gate, session)
    past = replies.Draft(body="x", state=TicketState.PENDING, pending_until=NOW - timedelta(days=1))
    with pytest.raises(work.TicketError, match="in the future"):
        replies.send_reply(session, ticket, agents["vera"], past, settings, NOW)
    assert reply_rows(session) == []
    later = NOW + timedelta(days=2)
    draft = replies.Draft(body="x", state=TicketState.PENDING, pending_until=later)
    replies.send_reply(session, ticket, agents["vera"], draft, settings, NOW)
    assert ticket.state is TicketState.PENDING and ticket.pending_until == later


def test_queue_sender_address_is_used_and_notes_never_leave(
    gate: FakeGate, session: Session, agents: dict[str, User], settings: Settings
) -> None:
    ticket = new_ticket(gate, session)
    ticket.queue.sender_address = "answers@example.org"
    work.add_note(session, ticket, agents["vera"], "internal only", NOW)
    replies.send_reply(session, ticket, agents["vera"], replies.Draft(body="x"), settings, NOW)
    [row] = reply_rows(session)
    assert parsed(row.raw)["From"].addresses[0].addr_spec == "answers@example.org"
    assert b"internal only" not in row.raw
    assert row.envelope_from == "answers@example.org"


def test_templates_offered_per_queue_and_rendered_in_the_sandbox(
    gate: FakeGate, session: Session, agents: dict[str, User], settings: Settings
) -> None:
    ticket = new_ticket(gate, session)
    safety = session.scalars(select(Queue).where(Queue.slug == "specialist-safety")).one()
    everywhere = ReplyTemplate(
        name="Thanks",
        subject="About {{ ticket.subject }}",
        body=(
            "Hello {{ requester.name | default('there') }},\n"
            "ticket {{ ticket.number }} in {{ queue.name }}, {{ agent.name }}."
        ),
    )
    elsewhere = ReplyTemplate(name="Safety", queue_id=safety.id, body="x")
    inactive = ReplyTemplate(name="Old", body="x", active=False)
    hostile = ReplyTemplate(name="Hostile", body="{{ ticket.__class__ }}")
    session.add_all([everywhere, elsewhere, inactive, hostile])
    session.flush()
    offered = [t.name for t in replies.templates_for(session, ticket)]
    assert "Thanks" in offered and "Hostile" in offered
    assert "Safety" not in offered and "Old" not in offered
    with pytest.raises(work.TicketError, match="does not exist"):
        replies.template_for(session, ticket, elsewhere.id)

    context = replies.template_context(ticket, agents["vera"], settings)
    assert all(isinstance(v, (str, dict)) for v in context.values())
    rendered = replies.render_reply_template(
        replies.template_for(session, ticket, everywhere.id), context
    )
    assert rendered.body == (
        f"Hello Alice Example,\nticket {ticket.number} in General help, Switchboard help team."
    )
    assert rendered.subject == "About Someone keeps messaging me"
    with pytest.raises(work.TicketError, match="'Hostile' cannot be used"):
        replies.render_reply_template(hostile, context)


def test_a_merged_ticket_takes_no_replies(
    gate: FakeGate, session: Session, agents: dict[str, User], settings: Settings
) -> None:
    a = new_ticket(gate, session)
    b = new_ticket(gate, session, message_id="other@example.net", references=[])
    work.merge(session, a, b.number, agents["vera"], NOW)
    with pytest.raises(work.TicketError, match="merged"):
        replies.send_reply(session, a, agents["vera"], replies.Draft(body="x"), settings, NOW)


def test_postgresql_row_lock_makes_a_racing_send_wait_and_fail(
    pg_engine: Engine, settings: Settings
) -> None:
    """Agent A takes the lock in a transaction that is still open; agent B's send blocks on
    the ticket's row lock (SELECT ... FOR UPDATE), then sees A's lock and is refused."""
    token = uuid.uuid4().hex[:8]
    factory = make_sessionmaker(pg_engine)
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        a = User(email=f"a-{token}@example.org", role=Role.VOLUNTEER, password_hash="x")
        b = User(email=f"b-{token}@example.org", role=Role.VOLUNTEER, password_hash="x")
        ticket = Ticket(number=f"race{token}", subject="race", queue_id=queue.id)
        session.add_all([a, b, ticket])
        session.flush()
        ids = (a.id, b.id, ticket.id)
    a_holds = threading.Event()
    outcome: list[str] = []

    def agent_a() -> None:
        with factory.begin() as session:
            t = work.lock_for_update(session, ids[2])
            work.acquire_lock(session, t, session.get_one(User, ids[0]), datetime.now(UTC))
            a_holds.set()
            time.sleep(0.5)  # B must wait for this commit

    def agent_b() -> None:
        a_holds.wait(5)
        started = time.monotonic()
        try:
            with factory.begin() as session:
                t = session.get_one(Ticket, ids[2])
                user = session.get_one(User, ids[1])
                draft = replies.Draft(body="x", to="r@example.net")
                replies.send_reply(session, t, user, draft, settings, datetime.now(UTC))
            outcome.append("sent")
        except work.LockHeld:
            outcome.append(f"refused after {time.monotonic() - started:.1f}s")

    threads = [threading.Thread(target=agent_a), threading.Thread(target=agent_b)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(outcome) == 1 and outcome[0].startswith("refused after")
        assert float(outcome[0].split()[-1][:-1]) >= 0.3  # it waited for A's commit
    finally:
        with factory.begin() as session:
            session.execute(delete(Ticket).where(Ticket.id == ids[2]))
            session.execute(delete(User).where(User.id.in_(ids[:2])))
