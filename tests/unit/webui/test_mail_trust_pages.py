"""Issue 8 on the ticket page: "sender not verified", the envelope sender, and staff revoking
a ticket's reply addresses."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Article, ArticleKind, Role, Ticket, TicketEvent
from queues.trust import replytokens
from queues.trust.models import ReplyToken

from .conftest import Auth


def _ticket_id(factory: sessionmaker[Session], number: str) -> int:
    with factory() as session:
        return session.scalars(select(Ticket.id).where(Ticket.number == number)).one()


def _add_article(factory: sessionmaker[Session], number: str, **values: object) -> None:
    with factory.begin() as session:
        session.add(
            Article(
                ticket_id=_ticket_id(factory, number),
                kind=ArticleKind.INCOMING,
                subject="forged",
                body_text="close my case",
                **values,
            )
        )


def test_a_failed_verdict_and_a_different_envelope_sender_are_shown(
    auth: Auth, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["general-help"]
    _add_article(
        factory,
        number,
        from_email="victim@example.net",
        envelope_from="attacker@evil.test",
        auth_verdict="fail",
        auth_summary="dmarc=fail (p=reject) header.from=example.net",
    )
    _add_article(
        factory,
        number,
        from_email="victim@example.net",
        envelope_from="Victim@Example.net",
        auth_verdict="pass",
        auth_summary="dkim=pass header.d=example.net",
    )
    page = auth.as_role(Role.VOLUNTEER).get(f"/tickets/{number}").get_data(as_text=True)
    assert page.count("sender not verified") == 1
    assert "(dmarc=fail (p=reject) header.from=example.net)" in page
    assert page.count("Envelope sender") == 1 and "attacker@evil.test" in page


def _revoke(client: FlaskClient, auth: Auth, number: str) -> int:
    token = auth.csrf(client, f"/tickets/{number}")
    response = client.post(f"/tickets/{number}/reply-addresses/revoke", data={"csrf_token": token})
    return response.status_code


def test_staff_revoke_a_tickets_reply_addresses(
    auth: Auth, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["general-help"]
    tid = _ticket_id(factory, number)
    with factory.begin() as session:
        replytokens.issue(session.connection(), tid, "m1@example.org")
        replytokens.issue(session.connection(), tid, "m2@example.org")
    volunteer = auth.as_role(Role.VOLUNTEER)
    page = volunteer.get(f"/tickets/{number}").get_data(as_text=True)
    assert "Revoke reply addresses" not in page
    assert _revoke(volunteer, auth, number) == 404
    staff = auth.as_role(Role.STAFF)
    assert "Revoke reply addresses" in staff.get(f"/tickets/{number}").get_data(as_text=True)
    assert _revoke(staff, auth, number) == 303
    with factory() as session:
        rows = session.scalars(select(ReplyToken).where(ReplyToken.ticket_id == tid)).all()
        assert [r.revoked_by for r in rows] == [auth.people.email(Role.STAFF)] * 2
        event = session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == tid, TicketEvent.kind == "reply-address-revoked"
            )
        ).one()
        assert event.detail.startswith("2 reply addresses revoked")
