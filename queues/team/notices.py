"""Mail to applicants and agents about the team (not about a ticket), through the outbox.

Fixed wording only: each kind is a trusted template directory under templates/mail/
(application_received, application_approved, application_declined, mentor_review_waiting)
rendered with a plain context, in the reader's language where a catalog has it. None of
them carries anything a reporter wrote.

The mail leaves from `settings.team_sender_address` (else our first receiving address)
under the organisation's name, and is marked as automatic (RFC 3834): out-of-office
replies to it must not come back as tickets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from queues.mailtemplates import render_mail
from queues.outgoing import OutgoingMail, domain_of, make_message_id, queue_outgoing
from queues.settings import Settings


def team_address(settings: Settings) -> str:
    if settings.team_sender_address:
        return settings.team_sender_address
    return next(iter(settings.addresses), f"help@{settings.hostname}")


def queue_notice(
    session: Session,
    kind: str,
    to: tuple[str, str],
    context: dict[str, Any],
    settings: Settings,
    now: datetime,
    *,
    language: str = "en",
) -> int:
    """Render templates/mail/<kind>/ and queue it to `to` (name, address); the outbox id."""
    rendered = render_mail(kind, {"organisation": settings.organisation, **context}, language)
    sender = team_address(settings)
    mail = OutgoingMail(
        from_email=sender,
        from_name=settings.organisation,
        to=[to],
        subject=rendered.subject,
        body_text=rendered.body_text,
        message_id=make_message_id(domain_of(sender) or settings.hostname),
        date=now,
        extra_headers={"Auto-Submitted": "auto-generated", settings.loop_header: sender},
    )
    queued = queue_outgoing(
        session,
        mail,
        kind=kind.replace("_", "-"),
        envelope_from=sender,
        deadline=timedelta(hours=settings.outbox_deadline_hours),
    )
    return queued.id
