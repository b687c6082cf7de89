"""Mail loops: Switchboard against another Switchboard and against auto-answering robots.

A small "internet" runs on 127.0.0.1: one SMTP server (tests/integration/relay_sink.py)
that every party uses as its relay. Each round, the test hands what it received to the
recipient's domain: a Switchboard installation's real gateway (mailgate.gateway, by SMTP),
or a robot that answers every message it gets. Each installation has a database of its own,
its real ingest runner (the real parser) and its real outbox runner, whose relay is the
internet. Rounds go on until a round moves nothing; a loop would never get there.

What must hold (DESIGN.md, "Loops and floods"): however the other side behaves, we send at
most one automatic reply into a conversation with a robot, and each ticket's history says
why an acknowledgement was not sent.

Robots are modelled on real ones, and each answers *everything*, to the From address, even
our acknowledgements (which are sent from the null reverse-path with Auto-Submitted, so a
well-behaved responder, RFC 3834, would stay silent). A robot that threads its answer
(In-Reply-To, References) lands in the ticket as a follow-up, which is never acknowledged;
one that does not (a fixed subject, no references) makes a new ticket and meets the loop
guard. Both kinds are tested.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.delivery import OutboxRunner
from mailgate.gateway import make_controller, shutdown
from mailgate.parser import parse_message
from mailgate.runners import IngestRunner
from queues.db import make_engine, make_sessionmaker
from queues.models import OutboxMessage, Ticket, TicketEvent
from queues.settings import Settings
from tests.integration.gateway_helpers import free_port, fresh_database
from tests.integration.relay_sink import Received, RelaySink

MAX_ROUNDS = 40  # far more than any finite exchange here needs
SUPPRESSED = "autoreply-suppressed"
QUEUED = "autoreply-queued"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    return str(request.param)


# --- The parties ---------------------------------------------------------------------------


@dataclass
class Installation:
    """One Switchboard: database, gateway, ingest runner and outbox runner."""

    address: str
    settings: Settings
    factory: sessionmaker[Session]
    gateway_port: int
    ingest: IngestRunner
    outbox: OutboxRunner

    @property
    def domain(self) -> str:
        return self.address.partition("@")[2]

    def step(self) -> int:
        """Process what came in, send what went out; returns how much was done."""
        done = 0
        while handled := self.ingest.run_once():
            done += handled
        while handled := self.outbox.run_once():
            done += handled
        return done

    def acknowledgements(self) -> list[OutboxMessage]:
        with self.factory() as session:
            return list(
                session.scalars(
                    select(OutboxMessage).where(OutboxMessage.kind == "acknowledgement")
                )
            )

    def histories(self) -> dict[str, list[tuple[str, str]]]:
        """Each ticket's acknowledgement events: number -> [(kind, detail)]."""
        with self.factory() as session:
            rows = session.execute(
                select(Ticket.number, TicketEvent.kind, TicketEvent.detail)
                .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
                .where(TicketEvent.kind.in_((QUEUED, SUPPRESSED)))
                .order_by(TicketEvent.id)
            ).all()
            numbers = session.scalars(select(Ticket.number)).all()
        found: dict[str, list[tuple[str, str]]] = {n: [] for n in numbers}
        for number, kind, detail in rows:
            found[number].append((kind, detail))
        return found


def robot_message(
    sender: str,
    to: str,
    subject: str,
    body: str,
    headers: dict[str, str],
    answering: EmailMessage | None = None,
) -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate()
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@robot.example>"
    if answering is not None:
        msg["In-Reply-To"] = answering["Message-ID"]
        refs = str(answering.get("References", "")).split()
        msg["References"] = " ".join([*refs, str(answering["Message-ID"])])
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


@dataclass(frozen=True)
class RobotKind:
    """How a robot answers: its headers, its subject, its envelope sender."""

    name: str
    headers: dict[str, str]
    subject: str  # "{subject}" is the subject it answers
    null_sender: bool = False  # MAIL FROM:<> (bounce-style)
    reason: str = ""  # what our loop guard must say when its answer is a new ticket


ROBOTS = [
    # Gmail's vacation responder and RFC 3834 responders (Sieve vacation, RFC 5230).
    RobotKind(
        "rfc3834-vacation",
        {"Auto-Submitted": "auto-replied"},
        "Re: {subject}",
        reason="Auto-Submitted: auto-replied",
    ),
    # Exchange/Outlook "Automatic reply" (OOF): auto-generated, plus its suppress header.
    RobotKind(
        "exchange-oof",
        {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
        "Automatic reply: {subject}",
        reason="Auto-Submitted: auto-generated",
    ),
    # The old Unix vacation(1): a fixed "away from my mail" and Precedence: bulk; no
    # Auto-Submitted. The parser takes the subject with the Precedence as an auto-reply.
    RobotKind(
        "unix-vacation",
        {"Precedence": "bulk"},
        "away from my mail",
        reason="the message is an automatic reply",
    ),
    # A home-made responder (mailing-list software style): only Precedence: bulk.
    RobotKind(
        "precedence-bulk",
        {"Precedence": "bulk"},
        "Thank you for your email",
        reason="list or bulk mail",
    ),
    # Hosting-panel autoresponders (qmail autorespond, cPanel/Exim): only X-Autoreply.
    RobotKind(
        "x-autoreply",
        {"X-Autoreply": "yes"},
        "Thank you for your email",
        reason="the message is an automatic reply",
    ),
    # A responder that marks nothing in its headers but sends from the null reverse-path.
    RobotKind(
        "null-return-path",
        {},
        "Thank you for your email",
        null_sender=True,
        reason="empty return path",
    ),
]


@dataclass
class Robot:
    """A mailbox whose responder answers every message it gets, to the message's From."""

    address: str
    kind: RobotKind
    threads: bool  # In-Reply-To/References and the original subject, or a fixed subject
    got: list[EmailMessage] = field(default_factory=list)

    def answer(self, raw: bytes) -> tuple[str, bytes]:
        """(envelope sender, message) of the answer to `raw`."""
        msg = message_from_bytes(raw, _class=EmailMessage, policy=SMTP_POLICY)
        self.got.append(msg)
        subject = self.kind.subject.format(subject=msg["Subject"])
        if not self.threads and "{subject}" in self.kind.subject:
            subject = "Out of the office"  # no threading: not the subject either
        answer = robot_message(
            self.address,
            str(msg["From"]),
            subject,
            "I am away and will read your message when I am back.\n",
            self.kind.headers,
            answering=msg if self.threads else None,
        )
        return ("" if self.kind.null_sender else self.address), answer


@dataclass
class World:
    """The internet: who lives at which domain, and what went over the wire."""

    internet: RelaySink
    installations: dict[str, Installation] = field(default_factory=dict)
    robots: dict[str, Robot] = field(default_factory=dict)
    delivered: int = 0  # how many of internet.messages have been handed on

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> None:
        """Anyone's mail goes into the internet first."""
        with smtplib.SMTP(self.internet.host, self.internet.port, timeout=10) as client:
            client.sendmail(envelope_from, [recipient], raw)

    def route(self, message: Received) -> None:
        for rcpt in message.rcpt_tos:
            domain = rcpt.rpartition("@")[2].lower()
            if rcpt in self.robots:
                sender, answer = self.robots[rcpt].answer(message.content)
                self.send(sender, recipient_of(message), answer)
            elif domain in self.installations:
                port = self.installations[domain].gateway_port
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                    client.sendmail(message.mail_from, [rcpt], message.content)
            else:
                raise AssertionError(f"mail to nowhere: {rcpt}")

    def exchange(self) -> int:
        """Rounds until nothing moves; fails if that never happens (a loop)."""
        for rounds in range(1, MAX_ROUNDS + 1):
            moved = sum(inst.step() for inst in self.installations.values())
            with self.internet.lock:
                new = self.internet.messages[self.delivered :]
            self.delivered += len(new)
            for message in new:
                self.route(message)
            if not moved and not new:
                return rounds
        raise AssertionError(f"still exchanging mail after {MAX_ROUNDS} rounds: a mail loop")

    def automatic_mail_from_us(self) -> list[Received]:
        """What went over the wire marked with our loop header."""
        with self.internet.lock:
            return [
                m
                for m in self.internet.messages
                if message_from_bytes(m.content).get("X-Switchboard-Loop")
            ]


def recipient_of(message: Received) -> str:
    """Where a robot's answer goes: the From of what it got (not the null return path)."""
    return parseaddr(str(message_from_bytes(message.content)["From"]))[1]


@contextmanager
def internet_world(
    backend: str, tmp_path: Path, addresses: list[str], **changes: object
) -> Iterator[World]:
    with ExitStack() as stack:
        internet = stack.enter_context(RelaySink())
        world = World(internet)
        for address in addresses:
            url = stack.enter_context(fresh_database(backend, tmp_path))
            inst = stack.enter_context(
                installation(address, url, tmp_path, internet.port, **changes)
            )
            world.installations[inst.domain] = inst
        yield world


@contextmanager
def installation(
    address: str, url: str, tmp_path: Path, relay_port: int, **changes: object
) -> Iterator[Installation]:
    domain = address.partition("@")[2]
    settings = Settings(  # type: ignore[arg-type]
        database_url=url,
        var_dir=tmp_path / domain,
        addresses={address: "general-help"},
        organisation=f"Help team at {domain}",
        hostname=f"mx.{domain}",
        relay_host="127.0.0.1",
        relay_port=relay_port,
        **changes,
    )
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    port = free_port()
    controller = make_controller(factory, settings, port=port)
    controller.start()
    try:
        yield Installation(
            address,
            settings,
            factory,
            port,
            IngestRunner(factory, settings, parse_message),
            OutboxRunner(factory, settings, timeout=10),
        )
    finally:
        shutdown(controller, grace=5)
        engine.dispose()


def person_message(sender: str, to: str, subject: str, cc: str | None = None) -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = formatdate()
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.net>"
    msg.set_content("Someone keeps writing to me and I do not know what to do.\n")
    return msg.as_bytes()


def assert_every_ticket_says_why(
    histories: dict[str, list[tuple[str, str]]], reasons: Callable[[str], bool]
) -> None:
    """Each ticket has one acknowledgement decision; a suppressed one names its reason."""
    for number, events in histories.items():
        assert len(events) == 1, (number, events)
        kind, detail = events[0]
        if kind == SUPPRESSED:
            prefix = "acknowledgement not sent: "
            assert detail.startswith(prefix) and reasons(detail.removeprefix(prefix)), detail


# --- Switchboard against Switchboard ------------------------------------------------------


@pytest.mark.parametrize("copy_to_b", [False, True], ids=["to-a", "to-a-cc-b"])
def test_two_switchboards_send_at_most_one_automatic_reply(
    backend: str, tmp_path: Path, copy_to_b: bool
) -> None:
    """Someone writes to A from B's address (as B's robot would); A and B exchange mail."""
    with internet_world(backend, tmp_path, ["help@a.example", "help@b.example"]) as world:
        a, b = world.installations["a.example"], world.installations["b.example"]
        first = person_message(
            "Help team at b.example <help@b.example>",
            "help@a.example",
            "Please look at this account",
            cc="help@b.example" if copy_to_b else None,
        )
        for rcpt in ["help@a.example", "help@b.example"] if copy_to_b else ["help@a.example"]:
            world.send("help@b.example", rcpt, first)
        rounds = world.exchange()

        acks_a, acks_b = a.acknowledgements(), b.acknowledgements()
        histories_a, histories_b = a.histories(), b.histories()
        on_the_wire = world.automatic_mail_from_us()

    print(f"\nquiet after {rounds} rounds; A: {histories_a}; B: {histories_b}")
    # A took help@b.example for a person and answered once; B answered nobody.
    assert len(acks_a) + len(acks_b) == 1
    assert len(on_the_wire) == 1 and on_the_wire[0].rcpt_tos == ["help@b.example"]
    assert on_the_wire[0].mail_from == ""  # the null reverse-path: no bounce can come back
    assert list(histories_a.values()) == [[(QUEUED, "acknowledgement to help@b.example")]]
    # B's tickets. Copied, the first is the message from B's own address; A's acknowledgement
    # answers it (In-Reply-To), but that Message-ID is one B *received*, which anyone may
    # know, and A is not its requester or a participant: a new linked ticket (issue 8).
    # Otherwise B has A's acknowledgement alone.
    ours, auto = "sender is one of our own addresses", "Auto-Submitted: auto-replied"
    reasons = [ours, auto] if copy_to_b else [auto]
    assert list(histories_b.values()) == [
        [(SUPPRESSED, f"acknowledgement not sent: {reason}")] for reason in reasons
    ]


# --- Switchboard against robots -----------------------------------------------------------


@pytest.mark.parametrize("threads", [True, False], ids=["threads", "new-thread"])
@pytest.mark.parametrize("kind", ROBOTS, ids=[k.name for k in ROBOTS])
def test_robot_that_answers_everything_gets_one_automatic_reply(
    backend: str, tmp_path: Path, kind: RobotKind, threads: bool
) -> None:
    """Carol writes to us; her responder answers our acknowledgement, and whatever follows."""
    with internet_world(backend, tmp_path, ["help@a.example"]) as world:
        a = world.installations["a.example"]
        carol = Robot("carol@robot.example", kind, threads)
        world.robots[carol.address] = carol
        world.send(
            carol.address,
            "help@a.example",
            person_message("Carol <carol@robot.example>", "help@a.example", "Threats by DM"),
        )
        rounds = world.exchange()
        acks = a.acknowledgements()
        histories = a.histories()
        on_the_wire = world.automatic_mail_from_us()

    print(f"\n{kind.name} ({'threads' if threads else 'new thread'}): quiet after {rounds} rounds")
    assert len(acks) == 1 and acks[0].recipients == [carol.address]
    assert len(on_the_wire) == 1
    assert len(carol.got) == 1  # the robot answered once, and got nothing back
    assert carol.got[0]["Auto-Submitted"] == "auto-replied"  # we mark ours
    if threads:
        # The answer went into Carol's ticket as a follow-up: one ticket, one decision.
        assert list(histories.values()) == [[(QUEUED, f"acknowledgement to {carol.address}")]]
    else:
        # The answer made a second ticket, and its history says why it got no reply.
        assert len(histories) == 2
        assert_every_ticket_says_why(histories, lambda reason: reason == kind.reason)
        assert sorted(events[0][0] for events in histories.values()) == [QUEUED, SUPPRESSED]


@pytest.mark.parametrize("ticket_cap", [True, False], ids=["ticket-cap", "ack-cap-alone"])
def test_robot_without_any_marker_is_stopped_by_the_per_sender_cap(
    backend: str, tmp_path: Path, ticket_cap: bool
) -> None:
    """The last guards: a responder that looks like a person in every header and starts a
    new thread each time gets `ack_per_sender_per_day` acknowledgements, then no more.
    As shipped, the abuse cap on new tickets per sender (the same five a day) adds its next
    mail to its newest ticket; without that cap each further mail is a ticket that says
    why it got no acknowledgement."""
    naked = RobotKind("naked", {}, "Thank you for your email")
    changes = {} if ticket_cap else {"abuse_tickets_per_sender_per_day": 0}
    with internet_world(backend, tmp_path, ["help@a.example"], **changes) as world:
        a = world.installations["a.example"]
        cap = a.settings.ack_per_sender_per_day
        robot = Robot("info@robot.example", naked, threads=False)
        world.robots[robot.address] = robot
        world.send(
            robot.address,
            "help@a.example",
            person_message("Info desk <info@robot.example>", "help@a.example", "Question"),
        )
        rounds = world.exchange()
        acks = a.acknowledgements()
        histories = a.histories()
        with a.factory() as session:
            capped = session.scalars(
                select(TicketEvent.detail).where(TicketEvent.kind == "capped")
            ).all()

    print(f"\nnaked robot: quiet after {rounds} rounds, {len(acks)} acknowledgements")
    assert len(acks) == cap == len(robot.got)
    if ticket_cap:
        assert a.settings.abuse_tickets_per_sender_per_day == cap  # the shipped values
        assert len(histories) == cap
        assert capped  # the robot's answers went into its newest ticket, unanswered
        assert all("past the cap" in detail for detail in capped)
        return
    assert len(histories) == cap + 1
    assert_every_ticket_says_why(
        histories, lambda reason: reason == f"per-sender cap reached ({cap} in 24 hours)"
    )
