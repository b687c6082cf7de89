"""Abuse controls in the web UI (webui.staff_abuse) on SQLite and PostgreSQL: staff keep the
block and allow lists (added, ended, kept as the record, in the audit log), decide held mail
(release, keep held); any agent marks a ticket's sender abusive from the ticket's page."""

from __future__ import annotations

import hashlib

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.abuse.models import DONE, HELD, OPEN, RELEASED, AbuseAction, SenderRule
from queues.models import AuditEvent, Contact, InboundMail, InboundState, Role, Ticket

from .conftest import Auth


def _post(auth: Auth, client: FlaskClient, url: str, **form: str) -> str:
    token = auth.csrf(client, "/staff/abuse" if url.startswith("/staff") else "/")
    response = client.post(url, data={"csrf_token": token, **form}, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_staff_add_and_end_entries_and_it_is_recorded(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    page = _post(
        auth,
        client,
        "/staff/abuse/entries",
        kind="block",
        target="spam.example",
        reason="a spam run",
        expires_days="7",
    )
    assert "Block entry added for spam.example." in page
    assert "a spam run" in page
    with factory() as s:
        entry = s.scalars(select(SenderRule)).one()
        assert entry.scope == "domain" and entry.expires_at is not None
    page = _post(auth, client, f"/staff/abuse/entries/{entry.id}/remove")
    assert "ended" in page and "Ended entries (1)" in page
    with factory() as s:
        audits = [a.detail for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert audits[-2:] == [
        f"abuse list: block entry {entry.id} added",
        f"abuse list: block entry {entry.id} ended",
    ]
    # A bad entry is refused with a reason, nothing is added.
    page = _post(auth, client, "/staff/abuse/entries", kind="block", target="x@", reason="r")
    assert "Not an address" in page or "Give an address" in page
    page = _post(auth, client, "/staff/abuse/entries", kind="allow", target="a@b.example")
    assert "Give a reason" in page


def test_held_mail_is_released_or_kept(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    raw = b"From: m@example.net\r\nSubject: x\r\n\r\nhello\r\n"
    with factory.begin() as s:
        inbound = InboundMail(
            source="smtp",
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
            state=InboundState.IGNORED,
        )
        s.add(inbound)
        s.flush()
        first = AbuseAction(kind=HELD, state=OPEN, sender="m@example.net", inbound_id=inbound.id)
        second = AbuseAction(kind=HELD, state=OPEN, sender="n@example.net", inbound_id=inbound.id)
        s.add_all([first, second])
    auth.as_role(Role.STAFF)
    page = client.get("/staff/abuse").get_data(as_text=True)
    assert "Held for a decision (2)" in page and "m@example.net" in page
    page = _post(auth, client, f"/staff/abuse/actions/{first.id}/release")
    assert "Message released" in page
    with factory() as s:
        assert s.get_one(InboundMail, inbound.id).state is InboundState.NEW
        assert s.get_one(AbuseAction, first.id).state == DONE
        assert s.scalars(select(AbuseAction).where(AbuseAction.kind == RELEASED)).one()
    page = _post(auth, client, f"/staff/abuse/actions/{second.id}/discard")
    assert "stays held" in page and "Held for a decision (0)" in page
    page = _post(auth, client, f"/staff/abuse/actions/{first.id}/release")
    assert "already" in page


def test_an_agent_marks_the_sender_abusive_on_the_ticket(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["general-help"]
    with factory.begin() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        ticket.requester = Contact(email="troll@example.net")
    auth.as_role(Role.VOLUNTEER)
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert "Mark the sender as abusive" in page
    page = _post(auth, client, f"/tickets/{number}/abusive", reason="")
    assert "Give a reason" in page
    page = _post(auth, client, f"/tickets/{number}/abusive", reason="insults our volunteers")
    assert "The sender is marked abusive" in page
    assert "troll@example.net is marked abusive (insults our volunteers)" in page
    with factory() as s:
        entry = s.scalars(select(SenderRule)).one()
        assert (entry.kind, entry.value, entry.created_by) == (
            "abusive",
            "troll@example.net",
            "volunteer@example.org",
        )
    # Staff see it on their page and can end it.
    auth.as_role(Role.STAFF)
    page = client.get("/staff/abuse").get_data(as_text=True)
    assert "troll@example.net" in page and "Marked abusive" in page
