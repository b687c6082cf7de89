"""Staff pages for stuck mail: quarantined inbound (list, download, re-run), failed outbox."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.ingest import ingest_bytes, process_stored
from queues.mail import IncomingMail
from queues.models import (
    AuditEvent,
    InboundMail,
    InboundState,
    OutboxMessage,
    OutboxState,
    Role,
    Ticket,
    TicketEvent,
    utcnow,
)
from queues.settings import Settings
from tests.unit.queues.builders import make_mail

from .conftest import Auth, People, make_app, new_client

RAW = b"From: Victim <victim@example.net>\r\nSubject: <b>help</b>\r\n\r\n<script>x()</script>\r\n"


def broken_parser(raw: bytes) -> IncomingMail:
    raise RuntimeError("parser exploded on this one")


def good_parser(raw: bytes) -> IncomingMail:
    return dataclasses.replace(
        make_mail(subject="Help please", message_id=None), raw_sha256="", size=len(raw)
    )


def quarantine(factory: sessionmaker[Session], settings: Settings, raw: bytes = RAW) -> int:
    once = dataclasses.replace(settings, ingest_max_attempts=1)
    outcome = ingest_bytes(factory, raw, once, broken_parser, source="file:test.eml")
    assert outcome.kind == "quarantined"
    return outcome.inbound_id


def inbound(factory: sessionmaker[Session], inbound_id: int) -> InboundMail:
    with factory() as session:
        return session.get_one(InboundMail, inbound_id)


def post(auth: Auth, client: FlaskClient, url: str, **form: str) -> str:
    response = client.post(url, data={"csrf_token": auth.csrf(client), **form})
    assert response.status_code == 302, response.status_code
    return client.get(response.headers["Location"]).get_data(as_text=True)


# --- quarantined inbound mail --------------------------------------------------------------------


def test_the_list_shows_the_error_never_the_content(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    inbound_id = quarantine(factory, settings)
    auth.as_role(Role.STAFF)
    page = client.get("/staff/mail/quarantine").get_data(as_text=True)
    assert "parser exploded on this one" in page and "file:test.eml" in page
    assert f">{len(RAW)}<" in page and "1 message waiting" in page
    assert "<script>" not in page and "help</b>" not in page and "Victim" not in page
    assert f"/staff/mail/quarantine/{inbound_id}/rerun" in page


def test_raw_download_is_an_attachment_and_audited(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    inbound_id = quarantine(factory, settings)
    auth.as_role(Role.STAFF)
    response = client.get(f"/staff/mail/quarantine/{inbound_id}/raw")
    assert response.status_code == 200 and response.data == RAW
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert f"inbound-{inbound_id}.eml" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    with factory() as session:
        (event,) = session.scalars(select(AuditEvent))
    assert event.actor == "staff@example.org" and "downloaded" in event.detail
    assert client.get("/staff/mail/quarantine/999999/raw").status_code == 404


def test_rerun_hands_the_message_back_and_a_runner_then_processes_it(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    inbound_id = quarantine(factory, settings)
    auth.as_role(Role.STAFF)
    page = post(auth, client, f"/staff/mail/quarantine/{inbound_id}/rerun")
    assert "handed back to the ingest runners" in page and "Nothing is quarantined" in page
    row = inbound(factory, inbound_id)
    assert row.state is InboundState.NEW and row.attempts == 0
    # What the ingest runner does next, now with a parser that works.
    outcome = process_stored(factory, inbound_id, settings, good_parser)
    assert outcome.kind == "new" and outcome.ticket_number
    assert inbound(factory, inbound_id).state is InboundState.DONE
    with factory() as session:
        (event,) = session.scalars(select(AuditEvent))
    assert event.detail == f"inbound message {inbound_id} re-run"
    # Once processed it is no longer quarantined: re-running it again only says so.
    assert "no longer quarantined" in post(
        auth, client, f"/staff/mail/quarantine/{inbound_id}/rerun"
    )


def test_rerun_processes_at_once_when_the_app_has_the_parser(
    auth: Auth,
    factory: sessionmaker[Session],
    settings: Settings,
    people: People,
    tmp_path: Path,
) -> None:
    first, second = quarantine(factory, settings), quarantine(factory, settings, RAW + b"2")
    app: Flask = make_app(factory, tmp_path, INGEST_PARSER=good_parser)
    client = new_client(app)
    auth.as_role(Role.STAFF, client)
    assert "processes it again at once" in client.get("/staff/mail/quarantine").get_data(
        as_text=True
    )
    page = post(auth, client, f"/staff/mail/quarantine/{first}/rerun")
    assert "Re-ran 1 message(s): 1 new." in page
    assert inbound(factory, first).state is InboundState.DONE
    assert inbound(factory, second).state is InboundState.QUARANTINED
    with factory() as session:
        ticket_id = inbound(factory, first).ticket_id
        assert ticket_id is not None
        assert session.get_one(Ticket, ticket_id).subject == "Help please"


def test_rerun_all(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    ids = [quarantine(factory, settings, RAW + bytes([65 + i])) for i in range(3)]
    auth.as_role(Role.STAFF)
    page = post(auth, client, "/staff/mail/quarantine/rerun-all")
    assert "3 message(s) handed back" in page
    assert {inbound(factory, i).state for i in ids} == {InboundState.NEW}
    assert "0 message(s)" in post(auth, client, "/staff/mail/quarantine/rerun-all")


def test_rerun_of_unknown_message(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.STAFF)
    token = auth.csrf()
    response = client.post("/staff/mail/quarantine/999999/rerun", data={"csrf_token": token})
    assert response.status_code == 404


# --- outgoing mail -------------------------------------------------------------------------------


def failed_outbox(
    factory: sessionmaker[Session], number: str, *, state: OutboxState = OutboxState.FAILED
) -> int:
    with factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        past = utcnow() - timedelta(days=3)
        row = OutboxMessage(
            ticket_id=ticket.id,
            kind="reply",
            message_id=f"reply-{number}-{state.value}@example.org",
            recipients=["victim@example.net"],
            raw=b"Subject: x\r\n\r\nsecret reply text\r\n",
            state=state,
            attempts=7,
            created_at=past,
            next_attempt_at=past,
            deadline=past + timedelta(days=2),
            last_error="550 5.1.1 <victim@example.net>: no such user",
        )
        session.add(row)
        session.flush()
        return row.id


def outbox_row(factory: sessionmaker[Session], outbox_id: int) -> OutboxMessage | None:
    with factory() as session:
        return session.get(OutboxMessage, outbox_id)


def events(factory: sessionmaker[Session], number: str) -> list[TicketEvent]:
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
        return list(session.scalars(stmt.order_by(TicketEvent.id)))


def test_outbox_lists_failed_and_long_queued_mail(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    failed = failed_outbox(factory, tickets["general-help"])
    queued = failed_outbox(factory, tickets["general-help"], state=OutboxState.QUEUED)
    sent = failed_outbox(factory, tickets["specialist-safety"], state=OutboxState.SENT)
    auth.as_role(Role.STAFF)
    page = client.get("/staff/mail/outbox").get_data(as_text=True)
    assert f"/staff/mail/outbox/{failed}/retry" in page
    assert f"/staff/mail/outbox/{queued}/retry" in page
    assert f"/staff/mail/outbox/{sent}/retry" not in page
    assert "no such user" in page and "victim@example.net" in page
    assert f'href="/tickets/{tickets["general-help"]}"' in page
    assert "secret reply text" not in page


def test_retry_keeps_the_message_id_and_gives_a_fresh_deadline(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["specialist-safety"]
    outbox_id = failed_outbox(factory, number)
    before = outbox_row(factory, outbox_id)
    auth.as_role(Role.STAFF)
    page = post(auth, client, f"/staff/mail/outbox/{outbox_id}/retry")
    assert "is queued again" in page
    row = outbox_row(factory, outbox_id)
    assert row is not None and before is not None
    assert row.state is OutboxState.QUEUED and row.attempts == 0
    assert row.message_id == before.message_id and row.raw == before.raw
    assert row.next_attempt_at <= utcnow() and row.deadline is not None
    assert row.deadline > utcnow() + timedelta(hours=47)
    (event,) = events(factory, number)
    assert event.kind == "delivery-retry" and event.actor == "staff@example.org"
    with factory() as session:  # a restricted ticket: audited too
        (audit,) = session.scalars(select(AuditEvent))
    assert audit.action == "change" and audit.detail == f"outgoing message {outbox_id} retried"


def test_discard_needs_a_note_which_goes_on_the_ticket(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["general-help"]
    outbox_id = failed_outbox(factory, number)
    auth.as_role(Role.STAFF)
    page = post(auth, client, f"/staff/mail/outbox/{outbox_id}/discard", note="  ")
    assert "Say why the message is discarded" in page
    assert outbox_row(factory, outbox_id) is not None
    note = "The address is dead; we wrote to them through the site instead."
    page = post(auth, client, f"/staff/mail/outbox/{outbox_id}/discard", note=note)
    assert "is discarded" in page
    assert outbox_row(factory, outbox_id) is None
    (event,) = events(factory, number)
    assert event.kind == "delivery-discarded" and event.actor == "staff@example.org"
    assert note in event.detail and "victim@example.net" in event.detail
    token = auth.csrf()
    gone = client.post(f"/staff/mail/outbox/{outbox_id}/retry", data={"csrf_token": token})
    assert gone.status_code == 404


def test_sent_mail_is_not_requeued(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    outbox_id = failed_outbox(factory, tickets["general-help"], state=OutboxState.SENT)
    auth.as_role(Role.STAFF)
    assert "was sent meanwhile" in post(auth, client, f"/staff/mail/outbox/{outbox_id}/retry")
    row = outbox_row(factory, outbox_id)
    assert row is not None and row.state is OutboxState.SENT


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.SPECIALIST])
def test_not_for_agents(
    auth: Auth,
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    tickets: dict[str, str],
    role: Role,
) -> None:
    inbound_id = quarantine(factory, settings)
    outbox_id = failed_outbox(factory, tickets["general-help"])
    auth.as_role(role)
    for url in ("/staff/mail/quarantine", "/staff/mail/outbox"):
        assert client.get(url).status_code == 404
    assert client.get(f"/staff/mail/quarantine/{inbound_id}/raw").status_code == 404
    token = auth.csrf()
    for url in (
        f"/staff/mail/quarantine/{inbound_id}/rerun",
        "/staff/mail/quarantine/rerun-all",
        f"/staff/mail/outbox/{outbox_id}/retry",
        f"/staff/mail/outbox/{outbox_id}/discard",
    ):
        assert client.post(url, data={"csrf_token": token, "note": "x"}).status_code == 404
    assert inbound(factory, inbound_id).state is InboundState.QUARANTINED
    row = outbox_row(factory, outbox_id)
    assert row is not None and row.state is OutboxState.FAILED
