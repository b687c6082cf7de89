"""Acknowledgements per queue and language: the queue's own text (specialist-safety: the
emergency route first), the reporter's language or English with the others below, staff's
own text rendered in the sandbox, a status link, and no echo of an unverified form."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import OutboxMessage, Queue, Ticket
from queues.reporter.acks import shipped_source
from queues.reporter.models import AckTemplate, StatusMail
from queues.reporter.statuslink import ticket_of
from queues.settings import Settings
from tests.unit.queues.builders import FakeGate, make_mail

GERMAN = "Hallo, ein Benutzer schreibt mir seit Wochen unfreundliche Nachrichten. Was kann ich tun?"
THREAT = "He wrote that he knows where I live and will come to my house tonight. I am scared."


def ack_of(factory: sessionmaker[Session], number: str) -> email.message.EmailMessage:
    with factory() as session:
        raw = session.scalars(
            select(OutboxMessage.raw)
            .join(Ticket, Ticket.id == OutboxMessage.ticket_id)
            .where(Ticket.number == number, OutboxMessage.kind == "acknowledgement")
        ).one()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_general_help_in_the_reporters_language(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    outcome = FakeGate(factory, settings).send(make_mail(subject="Nachrichten", body=GERMAN))
    assert outcome.ticket_number is not None
    ack = ack_of(factory, outcome.ticket_number)
    text = text_of(ack)
    assert (
        ack["Subject"]
        == f"[Ticket#{outcome.ticket_number}] Wir haben Ihre Nachricht erhalten: Nachrichten"
    )
    assert text.startswith("Hallo Alice Example,\n\nvielen Dank")
    assert "innerhalb von ein bis zwei Tagen" in text
    assert "---- " not in text  # one language only
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        assert ticket.language == "de"


def test_specialist_safety_puts_the_emergency_route_first(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    outcome = FakeGate(factory, settings).send(make_mail(subject="threat", body=THREAT))
    assert outcome.ticket_number is not None
    ack = ack_of(factory, outcome.ticket_number)
    text = text_of(ack)
    assert ack["Subject"] == f"[Ticket#{outcome.ticket_number}] Your report is with our safety team"
    assert text.startswith(
        "If you are in danger now\n\nIf you or someone else is in immediate danger"
    )
    assert "usually within an hour, day and night" in text  # how soon
    assert text.index("emergency") < text.index("Hello") < text.index("What happens now")
    assert "a few days" not in text


def test_unknown_language_reads_in_english_with_the_others_below(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    outcome = FakeGate(factory, settings).send(make_mail(subject="x", body="ok"))
    assert outcome.ticket_number is not None
    text = text_of(ack_of(factory, outcome.ticket_number))
    assert text.startswith("Hello Alice Example,")
    positions = [text.index(f"---- {name} ----") for name in ("Deutsch", "français", "español")]
    assert positions == sorted(positions)
    assert "Wenn Sie oder jemand anderes in unmittelbarer Gefahr sind" in text
    assert "Si vous ou quelqu'un d'autre êtes en danger immédiat" in text
    assert "Si usted u otra persona está en peligro inmediato" in text
    with factory() as session:
        assert session.scalars(select(Ticket.language)).all()[-1] is None


def test_a_status_link_when_the_web_address_is_known(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    configured = replace(settings, web_base_url="https://help.example.org/")
    outcome = FakeGate(factory, configured).send(make_mail())
    assert outcome.ticket_number is not None
    text = text_of(ack_of(factory, outcome.ticket_number))
    link = next(line for line in text.splitlines() if "/status/" in line)
    assert link.startswith("https://help.example.org/status/")
    with factory() as session:
        ticket = ticket_of(session, link.rsplit("/", 1)[1])
        assert ticket is not None and ticket.number == outcome.ticket_number
        # The reporter hears of every change from now on.
        start = session.scalars(select(StatusMail).where(StatusMail.ticket_id == ticket.id)).one()
        assert (start.outcome, start.state, start.specialists) == ("start", "new", False)
    # Without it, no link (and no broken one).
    other = FakeGate(factory, settings).send(make_mail())
    assert other.ticket_number is not None
    assert "/status/" not in text_of(ack_of(factory, other.ticket_number))


def test_staff_text_per_queue_and_language_in_the_sandbox(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        session.add(
            AckTemplate(
                queue_id=queue.id,
                language="de",
                subject="{{ tag }} Danke!",
                body="Ticket {{ number }}. {{ emergency_text }}",
            )
        )
        session.add(
            AckTemplate(queue_id=queue.id, language="fr", subject="", body="{{ ''.__class__ }}")
        )
    gate = FakeGate(factory, settings)
    german = gate.send(make_mail(body=GERMAN))
    assert german.ticket_number is not None
    ack = ack_of(factory, german.ticket_number)
    assert ack["Subject"] == f"[Ticket#{german.ticket_number}] Danke!"
    text = text_of(ack)
    assert text.startswith(f"Ticket {german.ticket_number}. Wenn Sie oder jemand anderes")
    # A staff text the sandbox refuses (no name starting with _ is reachable) falls back to
    # the shipped one: the reporter still hears from us.
    french = gate.send(
        make_mail(body="Bonjour, je ne comprends pas pourquoi ma modification a été annulée hier.")
    )
    assert french.ticket_number is not None
    assert "Merci de nous avoir écrit" in text_of(ack_of(factory, french.ticket_number))


def test_a_form_report_is_acknowledged_without_echoing_it(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    gate = FakeGate(factory, settings)
    mail = make_mail(subject="YOU WILL REGRET THIS", sender=("Your stalker", "victim@example.net"))
    raw = gate.raw_for(mail)
    from queues.ingest import ingest_bytes

    outcome = ingest_bytes(factory, raw, settings, gate.parse, source="form")
    assert outcome.ticket_number is not None
    ack = ack_of(factory, outcome.ticket_number)
    assert "REGRET" not in str(ack["Subject"]) and "stalker" not in ack.as_string()
    assert "\nHello,\n" in text_of(ack)


def test_staff_start_from_the_shipped_text_as_sandbox_source() -> None:
    subject, body = shipped_source("specialist-safety", "de")
    assert subject == "{{ tag }} Ihre Meldung ist bei unserem Sicherheitsteam"
    assert body.startswith("Wenn Sie jetzt in Gefahr sind\n\n{{ emergency_text }}")
    assert "{{ number }}" in body and "{{ status_url }}" in body
