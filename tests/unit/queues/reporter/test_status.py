"""Status mail: once per change of hands, in the reporter's language, threaded, through the
outbox, never more than `status_mail_per_day` a day, never to senders we do not answer.
The clock is passed in (`now`), never read."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import tickets
from queues.abuse import lists
from queues.models import Article, Contact, OutboxMessage, Role, Ticket, TicketState, User
from queues.reporter import status
from queues.reporter.models import StatusMail
from queues.reporter.statuslink import ticket_of
from queues.settings import Settings
from queues.triage.feedback import record_escalation
from tests.unit.queues.builders import FakeGate, make_mail

GERMAN = "Hallo, ein Benutzer schreibt mir seit Wochen unfreundliche Nachrichten. Was kann ich tun?"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def configured(settings: Settings) -> Settings:
    return replace(settings, web_base_url="https://help.example.org", status_mail_per_day=4)


@pytest.fixture
def agents(factory: sessionmaker[Session]) -> dict[Role, int]:
    with factory.begin() as session:
        users = {
            role: User(email=f"{role.value}@example.org", role=role, password_hash="x")
            for role in Role
        }
        session.add_all(users.values())
        session.flush()
        return {role: user.id for role, user in users.items()}


def new_ticket(
    factory: sessionmaker[Session], settings: Settings, body: str = GERMAN, **kw: object
) -> int:
    outcome = FakeGate(factory, settings).send(make_mail(body=body, **kw))  # type: ignore[arg-type]
    assert outcome.ticket_number is not None
    with factory() as session:
        return session.scalars(
            select(Ticket.id).where(Ticket.number == outcome.ticket_number)
        ).one()


def act(
    factory: sessionmaker[Session], ticket_id: int, user_id: int, what: str, now: datetime
) -> None:
    with factory.begin() as session:
        ticket = session.get_one(Ticket, ticket_id)
        user = session.get_one(User, user_id)
        if what == "take":
            tickets.take(session, ticket, user, now)
        elif what == "release":
            tickets.release(session, ticket, user, now)
        elif what == "pending":
            tickets.set_state(
                session,
                ticket,
                user,
                TicketState.PENDING,
                now,
                pending_until=now + timedelta(days=3),
            )
        elif what == "open":
            tickets.set_state(session, ticket, user, TicketState.OPEN, now)
        elif what == "close":
            tickets.set_state(
                session, ticket, user, TicketState.CLOSED, now, no_answer_reason="done"
            )
        elif what == "escalate":
            record_escalation(session, ticket, user, "sounds serious", now=now)
        elif what == "move-to-safety":
            tickets.move(session, ticket, user, "specialist-safety", now)
        else:
            raise AssertionError(what)


def send(factory: sessionmaker[Session], settings: Settings, now: datetime) -> list[status.Told]:
    with factory.begin() as session:
        return status.send_due(session, settings, now)


def mails(factory: sessionmaker[Session], ticket_id: int) -> list[email.message.EmailMessage]:
    with factory() as session:
        raws = session.scalars(
            select(OutboxMessage.raw)
            .where(OutboxMessage.ticket_id == ticket_id, OutboxMessage.kind == "status")
            .order_by(OutboxMessage.id)
        ).all()
    found = [email.message_from_bytes(r, policy=email.policy.default) for r in raws]
    return [m for m in found if isinstance(m, email.message.EmailMessage)]


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_take_pending_close_each_send_one_mail_in_the_reporters_language(
    factory: sessionmaker[Session], configured: Settings, agents: dict[Role, int]
) -> None:
    ticket_id = new_ticket(factory, configured)
    volunteer = agents[Role.VOLUNTEER]
    assert send(factory, configured, T0) == []  # nothing changed yet
    act(factory, ticket_id, volunteer, "take", T0)
    told = send(factory, configured, T0 + timedelta(seconds=10))
    assert [(t.outcome, t.change) for t in told] == [("sent", "taken")]
    assert send(factory, configured, T0 + timedelta(seconds=20)) == []  # once
    act(factory, ticket_id, volunteer, "pending", T0 + timedelta(minutes=5))
    act(factory, ticket_id, volunteer, "close", T0 + timedelta(minutes=9))
    # Both changes seen at once: the reporter is told the latest one, once.
    told = send(factory, configured, T0 + timedelta(minutes=10))
    assert [(t.outcome, t.change) for t in told] == [("sent", "closed")]
    act(factory, ticket_id, volunteer, "open", T0 + timedelta(minutes=11))
    send(factory, configured, T0 + timedelta(minutes=12))  # seen: nothing to tell
    act(factory, ticket_id, volunteer, "pending", T0 + timedelta(minutes=13))
    send(factory, configured, T0 + timedelta(minutes=14))

    sent = mails(factory, ticket_id)
    subjects = [str(m["Subject"]).split("] ", 1)[1] for m in sent]
    assert subjects == [
        "Ein Mensch kümmert sich um Ihre Meldung",
        "Ihre Meldung ist abgeschlossen",
        "Wir warten auf Ihre Antwort",
    ]
    for message in sent:
        assert message["To"] == "alice@example.net"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["In-Reply-To"]  # threaded to the reporter's message
        assert str(message["Reply-To"]).startswith("help+")
        assert "Ticket#" in str(message["Subject"])
    closed = text_of(sent[1])
    assert "Ihre Meldung wird wieder geöffnet" in " ".join(closed.split())  # how to reopen
    link = next(line for line in closed.splitlines() if "/status/" in line)
    with factory() as session:
        assert ticket_of(session, link.rsplit("/", 1)[1]) is not None
        history = session.scalars(
            select(StatusMail.outcome)
            .where(StatusMail.ticket_id == ticket_id)
            .order_by(StatusMail.id)
        ).all()
    assert history == ["start", "sent", "sent", "seen", "sent"]


def test_take_and_release_within_one_look_tells_nothing(
    factory: sessionmaker[Session], configured: Settings, agents: dict[Role, int]
) -> None:
    ticket_id = new_ticket(factory, configured)
    act(factory, ticket_id, agents[Role.VOLUNTEER], "take", T0)
    act(factory, ticket_id, agents[Role.VOLUNTEER], "release", T0 + timedelta(seconds=3))
    # (Taking opened the ticket: a change, but nothing to tell.)
    assert [t.outcome for t in send(factory, configured, T0 + timedelta(seconds=10))] == ["seen"]
    assert mails(factory, ticket_id) == []
    with factory() as session:
        due = session.scalars(select(StatusMail).where(StatusMail.outcome == "due")).all()
    assert due == []  # looked at, and gone


@pytest.mark.parametrize("how", ["escalate", "move-to-safety"])
def test_passed_to_specialists_without_naming_them(
    factory: sessionmaker[Session], configured: Settings, agents: dict[Role, int], how: str
) -> None:
    body = "Someone keeps undoing my edits on the article about our town. What can I do?"
    ticket_id = new_ticket(factory, configured, body=body)
    user = agents[Role.STAFF if how == "move-to-safety" else Role.VOLUNTEER]
    act(factory, ticket_id, user, how, T0)
    told = send(factory, configured, T0 + timedelta(seconds=5))
    assert [(t.outcome, t.change) for t in told] == [("sent", "specialists")]
    message = mails(factory, ticket_id)[0]
    text = text_of(message)
    text = " ".join(text.split())
    assert "colleagues in our team who have more experience" in text
    assert "does not mean that you have done anything wrong" in text
    whole = message.as_string().lower()
    assert "specialist" not in whole and "safety" not in whole  # never names the queue


def test_the_daily_cap_holds_mail_back_and_says_so(
    factory: sessionmaker[Session], configured: Settings, agents: dict[Role, int]
) -> None:
    capped = replace(configured, status_mail_per_day=2)
    ticket_id = new_ticket(factory, capped)
    volunteer = agents[Role.VOLUNTEER]
    steps = ["take", "pending", "open", "close", "open", "pending"]
    for minute, what in enumerate(steps):
        act(factory, ticket_id, volunteer, what, T0 + timedelta(minutes=minute))
        send(factory, capped, T0 + timedelta(minutes=minute, seconds=30))
    assert len(mails(factory, ticket_id)) == 2
    with factory() as session:
        held = session.scalars(
            select(StatusMail.detail).where(
                StatusMail.ticket_id == ticket_id, StatusMail.outcome == "held"
            )
        ).all()
        events = session.scalars(select(Ticket).where(Ticket.id == ticket_id)).one().events
    assert held and all("daily cap reached (2" in d for d in held)
    assert any(e.kind == "status-mail-held" for e in events)
    # A day later the reporter hears again.
    later = T0 + timedelta(days=1, minutes=10)
    act(factory, ticket_id, volunteer, "close", later)
    assert [t.outcome for t in send(factory, capped, later)] == ["sent"]


def test_senders_we_do_not_answer_never_get_status_mail(
    factory: sessionmaker[Session], configured: Settings, agents: dict[Role, int]
) -> None:
    automatic = new_ticket(factory, configured, headers={"Auto-Submitted": "auto-generated"})
    bulk = new_ticket(factory, configured, is_list_or_bulk=True)
    for ticket_id in (automatic, bulk):
        act(factory, ticket_id, agents[Role.VOLUNTEER], "take", T0)
    assert send(factory, configured, T0 + timedelta(seconds=5)) == []
    # A sender blocked after the acknowledgement: held, with the reason.
    answered = new_ticket(factory, configured, sender=("Bo", "bo@example.net"))
    with factory.begin() as session:
        session.scalars(
            select(Contact).where(Contact.email == "bo@example.net")
        ).one().blocked = True
    act(factory, answered, agents[Role.VOLUNTEER], "take", T0)
    told = send(factory, configured, T0 + timedelta(seconds=6))
    assert [(t.outcome, t.detail) for t in told] == [("held", "the sender is blocked")]
    assert mails(factory, automatic) == mails(factory, bulk) == mails(factory, answered) == []


def test_a_sender_listed_by_staff_after_the_acknowledgement_gets_no_status_mail(
    factory: sessionmaker[Session], configured: Settings, agents: dict[Role, int]
) -> None:
    abusive = new_ticket(factory, configured, sender=("Al", "al@flood.example"))
    domain_blocked = new_ticket(factory, configured, sender=("Cy", "cy@blocked.example"))
    with factory.begin() as session:
        lists.add_rule(session, "abusive", "al@flood.example", "floods the line", "staff", T0)
        lists.add_rule(session, "block", "blocked.example", "forged reports", "staff", T0)
    for ticket_id in (abusive, domain_blocked):
        act(factory, ticket_id, agents[Role.VOLUNTEER], "take", T0)
    told = send(factory, configured, T0 + timedelta(seconds=5))
    assert (
        sorted((t.outcome, t.detail) for t in told)
        == [("held", "the sender is blocked or marked abusive")] * 2
    )
    assert mails(factory, abusive) == mails(factory, domain_blocked) == []


def test_a_mail_that_cannot_be_built_is_a_history_row(
    factory: sessionmaker[Session],
    configured: Settings,
    agents: dict[Role, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticket_id = new_ticket(factory, configured)
    act(factory, ticket_id, agents[Role.VOLUNTEER], "take", T0)

    def broken(*_args: object) -> str:
        raise RuntimeError("template went missing")

    monkeypatch.setattr(status, "queue_status_mail", broken)
    told = send(factory, configured, T0 + timedelta(seconds=5))
    assert [t.outcome for t in told] == ["held"]
    with factory() as session:
        ticket = session.get_one(Ticket, ticket_id)
        assert any(
            e.kind == "status-mail-failed" and "template went missing" in e.detail
            for e in ticket.events
        )
        articles = session.scalars(select(Article).where(Article.ticket_id == ticket_id)).all()
    assert [a.kind.value for a in articles] == ["incoming", "auto"]  # the ticket is untouched


def test_a_reopening_follow_up_lets_a_second_close_be_told(
    factory: sessionmaker[Session], configured: Settings, agents: dict[Role, int]
) -> None:
    gate = FakeGate(factory, configured)
    first = make_mail(body=GERMAN)
    outcome = gate.send(first)
    assert outcome.ticket_number is not None
    with factory() as session:
        ticket_id = session.scalars(
            select(Ticket.id).where(Ticket.number == outcome.ticket_number)
        ).one()
    act(factory, ticket_id, agents[Role.VOLUNTEER], "close", T0)
    send(factory, configured, T0 + timedelta(seconds=5))
    reply = make_mail(
        subject=f"Re: [Ticket#{outcome.ticket_number}] more",
        body="Er hat wieder geschrieben.",
        in_reply_to=[first.message_id or ""],
    )
    assert gate.send(reply).kind == "followup"  # reopens: a change the reporter made
    send(factory, configured, T0 + timedelta(minutes=1))
    act(factory, ticket_id, agents[Role.VOLUNTEER], "close", T0 + timedelta(minutes=2))
    send(factory, configured, T0 + timedelta(minutes=3))
    subjects = [str(m["Subject"]) for m in mails(factory, ticket_id)]
    assert len(subjects) == 2 and all("abgeschlossen" in s for s in subjects)


class OneRound(threading.Event):
    """A stop event that is set when the timer first waits: exactly one round runs."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def test_the_work_timer_sends_what_is_due(
    factory: sessionmaker[Session], configured: Settings, agents: dict[Role, int]
) -> None:
    ticket_id = new_ticket(factory, configured)
    act(factory, ticket_id, agents[Role.VOLUNTEER], "take", datetime.now(UTC))
    status.run_timer(factory, configured, OneRound())
    assert len(mails(factory, ticket_id)) == 1
