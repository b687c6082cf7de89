"""Handing a referral over: the mail through the outbox with the package encrypted to the
partner's key (decrypted and checked here with gpg and sha256sum, outside our code), the
download when it is too large, the disclosure register, the reporter's notice, the
partner's reply threading into the case, and nothing recorded when building fails."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.parser import parse_message
from queues.audit import AuditAction
from queues.ingest import ingest_bytes
from queues.liaison import cases, referral
from queues.liaison.cases import LiaisonError
from queues.liaison.evidence.keys import public_key
from queues.liaison.models import CaseState, Disclosure, ReferralTemplate
from queues.models import (
    Article,
    AuditEvent,
    OutboxMessage,
    Participant,
    Ticket,
    TicketEvent,
)

from .keyring import check_outside, decrypt
from .world import NOW, REQUESTER, World


def _send(world: World) -> int:
    case_id = world.request()
    world.ready(case_id)
    with world.factory.begin() as session:
        cases.approve(session, world.case(session, case_id), world.user(session, "staff_a"), NOW)
    with world.factory.begin() as session:
        case = world.case(session, case_id)
        cases.confirm(session, case, world.user(session, "staff_b"), world.settings, NOW)
    return case_id


def _outbox(session: Session, kind: str) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    return list(session.scalars(stmt))


def _mail(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _attachment(message: EmailMessage) -> tuple[str, bytes]:
    [part] = list(message.iter_attachments())
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(part.get_filename()), payload


def test_the_referral_leaves_encrypted_and_checks_out_with_gpg_and_sha256sum(
    world: World, tmp_path: Path
) -> None:
    case_id = _send(world)
    with world.factory() as session:
        case = world.case(session, case_id)
        ticket = session.get_one(Ticket, case.ticket_id)
        assert case.state is CaseState.SENT and case.delivery == "mail"
        [row] = _outbox(session, "referral")
        assert row.ticket_id == ticket.id and row.recipients == ["referrals@police.example"]
        assert row.id == case.referral_outbox_id
        message = _mail(row.raw)
        assert f"[Ticket#{ticket.number}]" in message["Subject"]
        assert "Germany" in message["Subject"]
        assert message["To"] == "referrals@police.example"
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "Test Police Cybercrime" in text and "sha256sum -c SHA256SUMS" in text
        assert "darkstar99" not in text  # no content of the report outside the package
        filename, encrypted = _attachment(message)
        assert filename == f"evidence-{ticket.number}.zip.gpg"
        assert hashlib.sha256(encrypted).hexdigest() in text
        # The partner's replies: our Message-ID on an article of the case; they may also
        # write in by the tag.
        article = session.get_one(Article, row.article_id)
        assert article.ticket_id == ticket.id and f"<{article.message_id}>" == message["Message-ID"]
        emails = session.scalars(
            select(Participant.email).where(Participant.ticket_id == ticket.id)
        ).all()
        assert "referrals@police.example" in emails
        org_key = public_key(world.settings)

    package = decrypt(world.partner_key, encrypted)
    files = check_outside(package, org_key, tmp_path / "unpacked")
    assert files["raw/001.eml"] == world.raw  # byte for byte what was received
    manifest = json.loads(files["manifest.json"])
    text_of_manifest = json.dumps(manifest)
    for expected in ("staff_a@example.org", "staff_b@example.org", "Test Police Cybercrime"):
        assert expected in text_of_manifest
    assert "darkstar99" in files["summary.txt"].decode()

    with world.factory() as session:
        [entry] = session.scalars(select(Disclosure)).all()
        assert entry.case_id == case_id and entry.channel == "mail"
        assert entry.recipient == "Test Police Cybercrime"
        assert entry.recipient_address == "referrals@police.example"
        assert entry.approved_by == "staff_a@example.org, staff_b@example.org"
        assert entry.handed_over_by == "staff_b@example.org"
        assert entry.package_sha256 == hashlib.sha256(package).hexdigest()
        assert entry.message_count == 1 and "consent: given" in entry.basis
        exports = session.scalars(
            select(AuditEvent.ticket_id).where(AuditEvent.action == AuditAction.EXPORT.value)
        ).all()
        assert case.ticket_id in exports


def test_the_reporter_is_told_in_their_thread(world: World) -> None:
    _send(world)
    with world.factory() as session:
        source = world.source(session)
        [row] = _outbox(session, "police-report-notice")
        assert row.ticket_id == source.id and row.recipients == [REQUESTER]
        message = _mail(row.raw)
        report = session.scalars(select(Article).where(Article.ticket_id == source.id)).first()
        assert report is not None
        assert message["In-Reply-To"] == f"<{report.message_id}>"
        assert message["Subject"] == (
            f"[Ticket#{source.number}] We have reported the harassment to the police"
        )
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "acts from: Germany" in text and "https://police.example/report" in text
        case_ticket = session.scalars(
            select(Ticket).where(Ticket.queue.has(slug="police-liaison"))
        ).one()
        assert case_ticket.number not in text  # the reporter never learns the case's number


def test_the_reporter_is_told_in_their_language(world: World) -> None:
    with world.factory.begin() as session:
        world.source(session).language = "es"
    _send(world)
    with world.factory() as session:
        [row] = _outbox(session, "police-report-notice")
        message = _mail(row.raw)
        assert message["Subject"].endswith("Hemos denunciado el acoso a la policía")
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "actúa la persona que le acosa: Alemania (" in text  # the country in Spanish
        assert "Si está en peligro" in text and "police in" not in text


def test_staff_may_record_why_the_reporter_is_not_told(world: World) -> None:
    case_id = world.request()
    with world.factory.begin() as session, pytest.raises(LiaisonError, match="why the reporter"):
        case = world.case(session, case_id)
        cases.set_notice(session, case, world.user(session, "staff_a"), False, " ", NOW)
    with world.factory.begin() as session:
        case = world.case(session, case_id)
        reason = "The reporter asked us not to write about the police."
        cases.set_notice(session, case, world.user(session, "staff_a"), False, reason, NOW)
    world.ready(case_id)
    with world.factory.begin() as session:
        cases.approve(session, world.case(session, case_id), world.user(session, "staff_a"), NOW)
    with world.factory.begin() as session:
        case = world.case(session, case_id)
        cases.confirm(session, case, world.user(session, "staff_b"), world.settings, NOW)
    with world.factory() as session:
        assert _outbox(session, "police-report-notice") == []
        assert len(_outbox(session, "referral")) == 1
        details = session.scalars(
            select(TicketEvent.detail).where(TicketEvent.kind == "police-report-notice")
        ).all()
        assert details == [
            "the reporter was not told of the report to police: "
            "The reporter asked us not to write about the police."
        ]


def test_a_package_too_large_for_mail_waits_for_a_staff_download(world: World) -> None:
    world.settings = dataclasses.replace(world.settings, liaison_max_mail_bytes=2000)
    case_id = _send(world)
    with world.factory() as session:
        case = world.case(session, case_id)
        assert (case.state, case.delivery) == (CaseState.CONFIRMED, "download")
        assert _outbox(session, "referral") == [] and _outbox(session, "police-report-notice") == []
        assert session.scalars(select(Disclosure)).all() == []
    with world.factory.begin() as session, pytest.raises(LiaisonError, match="Only staff"):
        case = world.case(session, case_id)
        referral.download(session, case, world.user(session, "specialist"), world.settings, NOW)
    with world.factory.begin() as session:
        case = world.case(session, case_id)
        got = referral.download(session, case, world.user(session, "staff_c"), world.settings, NOW)
    assert got.filename.endswith(".zip.gpg")
    package = decrypt(world.partner_key, got.data)
    assert package[:2] == b"PK"
    with world.factory() as session:
        case = world.case(session, case_id)
        assert case.state is CaseState.SENT
        [entry] = session.scalars(select(Disclosure)).all()
        assert (entry.channel, entry.handed_over_by) == ("download", "staff_c@example.org")
        assert entry.package_sha256 == hashlib.sha256(package).hexdigest()
        assert len(_outbox(session, "police-report-notice")) == 1  # told once it is handed over


def test_nothing_is_recorded_as_sent_when_the_package_cannot_be_built(world: World) -> None:
    case_id = world.request()
    world.ready(case_id)
    with world.factory.begin() as session:
        cases.approve(session, world.case(session, case_id), world.user(session, "staff_a"), NOW)
    keyless = dataclasses.replace(world.settings, gnupg_home=str(world.settings.var_dir / "none"))
    with pytest.raises(LiaisonError, match="cannot be built"), world.factory.begin() as session:
        case = world.case(session, case_id)
        cases.confirm(session, case, world.user(session, "staff_b"), keyless, NOW)
    with world.factory() as session:
        assert world.case(session, case_id).state is CaseState.APPROVED
        assert _outbox(session, "referral") == []
        assert session.scalars(select(Disclosure)).all() == []


def test_the_referral_uses_the_partners_language(world: World) -> None:
    with world.factory.begin() as session:
        staff = world.user(session, "staff_a")
        with pytest.raises(LiaisonError, match="cannot be used"):
            referral.save_template(session, None, "de", "Fall {{ case.number", "x", staff, NOW)
        referral.save_template(
            session,
            None,
            "de",
            "Weiterleitung: Belästigung aus {{ case.country_code }}",
            "Sehr geehrte Kolleginnen und Kollegen von {{ partner.name }}, ...",
            staff,
            NOW,
        )
    _send(world)
    with world.factory() as session:
        [row] = _outbox(session, "referral")
        message = _mail(row.raw)
        assert "Weiterleitung: Belästigung aus DE" in message["Subject"]
        languages = session.scalars(select(ReferralTemplate.language)).all()
        assert sorted(languages) == ["de", "en"]  # English seeded from templates/mail/referral


def test_the_partners_reply_threads_into_the_case(world: World) -> None:
    case_id = _send(world)
    with world.factory() as session:
        [row] = _outbox(session, "referral")
        case_number = session.get_one(Ticket, world.case(session, case_id).ticket_id).number
        message_id = row.message_id
    reply = (
        "From: Test Police <referrals@police.example>\r\n"
        "To: help@example.org\r\n"
        f"Subject: Re: [Ticket#{case_number}] received\r\n"
        f"In-Reply-To: <{message_id}>\r\n"
        f"References: <{message_id}>\r\n"
        "Message-ID: <ack-1@police.example>\r\n"
        "Date: Thu, 03 Dec 2026 09:00:00 +0000\r\n"
        "\r\n"
        "We have received the package and opened an investigation.\r\n"
    ).encode()
    outcome = ingest_bytes(world.factory, reply, world.settings, parse_message, source="test")
    assert (outcome.kind, outcome.ticket_number) == ("followup", case_number)
