"""The agent's day in the core (issue 10), on SQLite and PostgreSQL: a move to a queue more
people may see needs a reason and counts as a false alarm; closing without an answer needs a
reason; a reply with a template's placeholder is refused and says where; the default
templates and signatures are ready to send; an agent's real name never reaches mail; note
rows say what they are."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import replies
from queues import tickets as work
from queues.models import (
    ArticleKind,
    AuditEvent,
    OutboxMessage,
    Queue,
    ReplyTemplate,
    Role,
    Ticket,
    TicketEvent,
    TicketState,
    User,
)
from queues.placeholders import find_placeholders
from queues.seed import (
    DEFAULT_REPLY_TEMPLATES,
    DEFAULT_SIGNATURES,
    RETIRED_BODIES,
    seed_queue_signatures,
    seed_reply_templates,
)
from queues.settings import Settings
from queues.triage.feedback_models import FALSE_ALARM, TriageFeedback

from .builders import FakeGate, make_mail

NOW = datetime.now(UTC)
MARKERS = Settings().placeholder_markers
REAL_NAME = "Valentina Quillfeather"


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Session:
    return factory()


@pytest.fixture
def agents(session: Session) -> dict[Role, User]:
    users = {
        role: User(
            email=f"valentina.quillfeather.{role.value}@example.org",
            name=REAL_NAME,
            role=role,
            password_hash="x",
        )
        for role in (Role.VOLUNTEER, Role.SPECIALIST, Role.STAFF)
    }
    session.add_all(users.values())
    session.flush()
    return users


def mail_ticket(factory: sessionmaker[Session], session: Session, settings: Settings) -> Ticket:
    outcome = FakeGate(factory, settings).send(
        make_mail(message_id="first@example.net", to=("help@example.org",))
    )
    ticket = session.scalar(select(Ticket).where(Ticket.number == outcome.ticket_number))
    assert ticket is not None
    ticket.queue = queue(session, "general-help")  # whatever triage made of the wording
    session.flush()
    return ticket


def queue(session: Session, slug: str) -> Queue:
    return session.scalars(select(Queue).where(Queue.slug == slug)).one()


def events(session: Session, ticket: Ticket) -> list[tuple[str, str]]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    return [(e.kind, e.detail) for e in session.scalars(stmt)]


# --- placeholders ------------------------------------------------------------------------------


def test_placeholders_are_bracketed_instructions_or_markers() -> None:
    text = (
        "Hello [Name],\n"  # line 1
        "I have read it. [What happens next, in plain words.]\n"  # 2
        "> [Quoted From The Requester] stays theirs\n"  # 3
        "Re: [Ticket#2026120200001] see [1], [...] and [sic].\n"  # 4
        "The site is [[site name]] and TODO: check the link\n"  # 5
        "[ok] [x] [https://example.net]\n"  # 6
    )
    found = [(p.line, p.text) for p in find_placeholders(text, MARKERS)]
    assert found == [
        (1, "[Name]"),
        (2, "[What happens next, in plain words.]"),
        (5, "[[site name]] and TODO: check the link"),
    ]
    assert find_placeholders("TODO: x", ()) == []  # markers are a setting
    assert [p.text for p in find_placeholders("FIXME here", ("FIXME",))] == ["FIXME here"]
    assert find_placeholders("Dear Rita,\nwe are on it.\n", MARKERS) == []


def test_a_reply_with_a_placeholder_is_refused_saying_where(
    factory: sessionmaker[Session], session: Session, agents: dict[Role, User], settings: Settings
) -> None:
    ticket = mail_ticket(factory, session, settings)
    body = "Hello Alice,\n\nI have read what you sent. [What happens next, in plain words.]\n"
    with pytest.raises(replies.PlaceholderLeft) as caught:
        replies.send_reply(
            session, ticket, agents[Role.VOLUNTEER], replies.Draft(body=body), settings, NOW
        )
    assert "the message, line 3: [What happens next, in plain words.]" in str(caught.value)
    with pytest.raises(replies.PlaceholderLeft, match=r"the subject, line 1: TODO: fix"):
        draft = replies.Draft(body="Hello Alice.", subject="TODO: fix")
        replies.send_reply(session, ticket, agents[Role.VOLUNTEER], draft, settings, NOW)
    ticket.queue.signature = "[Your name here]"
    with pytest.raises(replies.PlaceholderLeft, match=r"the queue's signature, line 1"):
        draft = replies.Draft(body="Hello Alice.")
        replies.send_reply(session, ticket, agents[Role.VOLUNTEER], draft, settings, NOW)
    assert session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reply")).all() == []
    # the marker is the installation's choice
    ticket.queue.signature = ""
    custom = replace(settings, placeholder_markers=("XXX",))
    with pytest.raises(replies.PlaceholderLeft, match="XXX"):
        draft = replies.Draft(body="Hello Alice, see XXX.")
        replies.send_reply(session, ticket, agents[Role.VOLUNTEER], draft, custom, NOW)
    sent = replies.send_reply(
        session, ticket, agents[Role.VOLUNTEER], replies.Draft(body="Hello, TODO: ok"), custom, NOW
    )
    assert sent.outbox_id


def test_every_default_template_and_signature_is_ready_to_send(
    factory: sessionmaker[Session], session: Session, agents: dict[Role, User], settings: Settings
) -> None:
    ticket = mail_ticket(factory, session, settings)
    safety = queue(session, "specialist-safety")
    seed_queue_signatures(session, [q.slug for q in session.scalars(select(Queue))])
    seed_reply_templates(session)
    templates = session.scalars(select(ReplyTemplate)).all()
    assert {t.name for t in templates} == {name for name, *_ in DEFAULT_REPLY_TEMPLATES}
    for agent in agents.values():
        for with_name in ("", "Val"):
            agent.signature_name = with_name
            context = replies.template_context(ticket, agent, settings)
            for template in templates:
                rendered = replies.render_reply_template(template, context)
                assert find_placeholders(rendered.body, MARKERS) == [], template.name
                # no variable rendered empty in the middle of a sentence
                assert all("  " not in line for line in rendered.body.split("\n"))
                assert REAL_NAME not in rendered.body
            for slug in DEFAULT_SIGNATURES:
                signature = replies.render_signature(queue(session, slug), context)
                assert find_placeholders(signature, MARKERS) == [], slug
                assert signature.startswith(with_name or settings.organisation)
                assert signature.count(settings.organisation) == 1
    for body in [b for bodies in RETIRED_BODIES.values() for b in bodies]:
        assert find_placeholders(body, MARKERS)  # why they were retired
    assert "emergency" in (safety.signature or "")


def test_init_renews_an_unedited_retired_template_and_leaves_edited_ones(
    session: Session,
) -> None:
    old_first = RETIRED_BODIES["First reply"][0]
    session.add(ReplyTemplate(name="First reply", body=old_first, updated_by="switchboard init"))
    edited = RETIRED_BODIES["Safety: first reply"][0] + "\nOur own words.\n"
    safety = queue(session, "specialist-safety")
    session.add(ReplyTemplate(name="Safety: first reply", queue_id=safety.id, body=edited))
    session.flush()
    created = seed_reply_templates(session)
    assert "First reply" not in created and "Safety: first reply" not in created
    by_name = {t.name: t for t in session.scalars(select(ReplyTemplate))}
    assert by_name["First reply"].body == DEFAULT_REPLY_TEMPLATES[0][3]
    assert by_name["Safety: first reply"].body == edited


def test_queue_signatures_are_seeded_only_where_there_is_none(session: Session) -> None:
    general = queue(session, "general-help")
    general.signature = "Our own"
    session.flush()
    signed = seed_queue_signatures(session, ["general-help", "specialist-safety"])
    assert signed == ["specialist-safety"]
    assert general.signature == "Our own"
    assert queue(session, "specialist-safety").signature == DEFAULT_SIGNATURES["specialist-safety"]


# --- real names never go out -------------------------------------------------------------------


def test_a_reply_never_carries_the_agents_real_name_or_address(
    factory: sessionmaker[Session], session: Session, agents: dict[Role, User], settings: Settings
) -> None:
    ticket = mail_ticket(factory, session, settings)
    seed_queue_signatures(session, ["general-help"])
    agent = agents[Role.VOLUNTEER]
    template = ReplyTemplate(
        name="Old style",
        body="My name is {{ agent.name }} ({{ agent_name }}), write to {{ agent.email }}.",
    )
    session.add(template)
    session.flush()
    for chosen, shown in (("", settings.organisation), ("  Val  ", "Val")):
        agent.signature_name = chosen
        context = replies.template_context(ticket, agent, settings)
        body = replies.render_reply_template(template, context).body
        assert body == f"My name is {shown} ({shown}), write to help@example.org."
        replies.open_reply(session, ticket, agent, NOW)
        replies.send_reply(session, ticket, agent, replies.Draft(body=body), settings, NOW)
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "reply").order_by(OutboxMessage.id)
    ).all()
    assert len(rows) == 2
    for row in rows:
        raw = row.raw.lower()
        for secret in (REAL_NAME, "Quillfeather", agent.email):
            assert secret.lower().encode() not in raw
    assert b"\nVal\n" in rows[1].raw.replace(b"\r\n", b"\n")  # signed with the chosen name


# --- moving to a queue more people may see -----------------------------------------------------


def test_a_wider_queue_needs_a_reason_recorded_as_a_false_alarm(
    session: Session, agents: dict[Role, User]
) -> None:
    specialist = agents[Role.SPECIALIST]
    ticket = Ticket(number="20261203000001", subject="s", queue=queue(session, "specialist-safety"))
    session.add(ticket)
    session.flush()
    for reason in ("", "   \n "):
        with pytest.raises(work.TicketError, match="more people may see, needs a reason"):
            work.move(session, ticket, specialist, "general-help", NOW, reason=reason)
    assert ticket.queue.slug == "specialist-safety"
    assert session.scalars(select(TriageFeedback)).all() == []
    work.move(session, ticket, specialist, "general-help", NOW, reason=" A policy question. ")
    assert ticket.queue.slug == "general-help"
    [feedback] = session.scalars(select(TriageFeedback)).all()
    assert feedback.kind == FALSE_ALARM and feedback.reason == "A policy question."
    assert (feedback.from_queue, feedback.to_queue) == ("specialist-safety", "general-help")
    assert events(session, ticket) == [
        ("queue-out-of-restricted", "queue specialist-safety -> general-help"),
        ("false-alarm", "specialist-safety -> general-help: A policy question."),
    ]
    audits = session.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket.id)).all()
    assert [a.detail for a in audits] == ["queue specialist-safety -> general-help"]  # no reason
    # to a queue fewer people may see: no question asked, no false alarm
    work.move(session, ticket, specialist, "specialist-safety", NOW)
    staff = agents[Role.STAFF]
    work.move(session, ticket, staff, "police-liaison", NOW)
    with pytest.raises(work.TicketError, match="needs a reason"):
        work.move(session, ticket, staff, "specialist-safety", NOW)
    assert len(session.scalars(select(TriageFeedback)).all()) == 1


def test_audience_names_who_may_see_a_queue(session: Session, agents: dict[Role, User]) -> None:
    session.add(User(email="off@example.org", role=Role.VOLUNTEER, password_hash="x", active=False))
    session.add(User(email="v2@example.org", role=Role.VOLUNTEER, password_hash="x"))
    session.flush()
    general = work.audience(session, queue(session, "general-help"))
    assert general.counts == {Role.VOLUNTEER: 2, Role.SPECIALIST: 1, Role.STAFF: 1}
    assert general.describe() == "all volunteers, specialists and staff (4 agents)"
    safety = work.audience(session, queue(session, "specialist-safety"))
    assert safety.describe() == "all specialists and staff (2 agents)"
    police = work.audience(session, queue(session, "police-liaison"))
    assert police.describe() == "all staff (1 agent)"


# --- closing without an answer -----------------------------------------------------------------


def test_closing_without_an_answer_needs_a_reason_once(
    factory: sessionmaker[Session], session: Session, agents: dict[Role, User], settings: Settings
) -> None:
    ticket = mail_ticket(factory, session, settings)
    agent = agents[Role.VOLUNTEER]
    assert [a.kind for a in ticket.articles] == [ArticleKind.INCOMING, ArticleKind.AUTO]
    assert not work.answered(session, ticket)  # the acknowledgement is no answer
    with pytest.raises(work.TicketError, match="no answer from us needs a reason"):
        work.set_state(session, ticket, agent, TicketState.CLOSED, NOW)
    work.set_state(
        session, ticket, agent, TicketState.CLOSED, NOW, no_answer_reason="Spam, no person."
    )
    assert ticket.state is TicketState.CLOSED
    assert events(session, ticket)[-1] == (
        "state",
        "state new -> closed without an answer to the requester: Spam, no person.",
    )
    work.reopen(session, ticket, agent, NOW)
    replies.send_reply(session, ticket, agent, replies.Draft(body="Hello."), settings, NOW)
    work.set_state(session, ticket, agent, TicketState.CLOSED, NOW)  # answered: no question
    assert events(session, ticket)[-1] == ("state", "state open -> closed")


def test_a_reply_that_closes_is_an_answer(
    factory: sessionmaker[Session], session: Session, agents: dict[Role, User], settings: Settings
) -> None:
    ticket = mail_ticket(factory, session, settings)
    draft = replies.Draft(body="We are closing this.", state=TicketState.CLOSED)
    replies.send_reply(session, ticket, agents[Role.VOLUNTEER], draft, settings, NOW)
    assert ticket.state is TicketState.CLOSED


def test_a_note_row_says_what_it_is(session: Session, agents: dict[Role, User]) -> None:
    ticket = Ticket(number="20261203000002", subject="s", queue=queue(session, "general-help"))
    session.add(ticket)
    session.flush()
    note = work.add_note(session, ticket, agents[Role.VOLUNTEER], "Called back.", NOW)
    assert events(session, ticket) == [("note", "internal note added")]
    assert str(note.id) not in events(session, ticket)[0][1]
