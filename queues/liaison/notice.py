"""The reporter's notice: a fixed-wording message that we reported to the police.

Sent when a referral is handed over, unless staff recorded why not (`LiaisonCase.
notify_reporter`, `no_notice_reason`). It names the country and the partner force and
gives the partner's link for reporting directly. The wording is a trusted template file
(templates/mail/police_report_notice/, its sentences in the gettext catalogs), not
staff-edited text: what a harassed person is told about the police must not drift case by
case. It is in the reporter's language (the ticket's), the country named in it too; for a
ticket whose language is unknown, in English with the other languages below.

It is threaded on the source ticket like a reply (In-Reply-To its latest incoming message,
our tag in the subject) and leaves through the outbox. It never names the liaison case.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from queues.liaison.countries import country_name_in
from queues.liaison.models import LiaisonCase, Partner
from queues.mailtemplates import RenderedMail, render_mail
from queues.models import Article, ArticleKind, Ticket, TicketEvent
from queues.numbers import format_tag, tagged_subject
from queues.outgoing import OutgoingMail, domain_of, make_message_id, queue_outgoing
from queues.replies import answered_article, sender_address, threading
from queues.reporter.texts import in_language
from queues.settings import Settings

KIND = "police-report-notice"  # the outbox row's and the history row's kind
TEMPLATE = "police_report_notice"  # templates/mail/police_report_notice/


def queue_notice(
    session: Session,
    case: LiaisonCase,
    source: Ticket,
    partner: Partner,
    actor: str,
    settings: Settings,
    now: datetime,
) -> int | None:
    """Queue the notice to the source ticket's requester; the outbox id, or None when staff
    recorded why the reporter is not told (that reason goes in the history instead)."""
    if not case.notify_reporter:
        why = f"the reporter was not told of the report to police: {case.no_notice_reason}"
        session.add(
            TicketEvent(ticket_id=source.id, at=now, actor=actor, kind=KIND, detail=why[:2000])
        )
        return None
    requester = source.requester
    if requester is None or not requester.email:
        # queues.liaison.checks refuses this before anything is sent; never mail no one.
        raise ValueError("the source ticket has no requester address")
    tag = format_tag(settings.ticket_tag_prefix, source.number)
    context = {
        "tag": tag,
        "number": source.number,
        "requester_name": requester.name,
        "partner": partner.name,
        "report_url": partner.report_url,
        "organisation": settings.organisation,
    }

    def render(language: str, values: Mapping[str, Any]) -> RenderedMail:
        # The country in the language of each version of the text.
        named = {**values, "country": country_name_in(case.country, language)}
        return render_mail(TEMPLATE, named, language)

    # In the reporter's language (queues.reporter.texts), like every fixed-wording mail.
    rendered = in_language(render, context, source.language, settings)
    subject = tagged_subject(rendered.subject, settings.ticket_tag_prefix, source.number, False)
    answered = answered_article(session, source)
    in_reply_to, references = threading(answered)
    our_address = sender_address(source.queue, settings)
    message_id = make_message_id(domain_of(our_address) or settings.hostname)
    article = Article(
        ticket_id=source.id,
        kind=ArticleKind.OUTGOING,
        from_email=our_address,
        from_name=settings.organisation,
        to=[requester.email],
        subject=subject,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        date=now,
        content_type="text/plain",
        body_text=rendered.body_text,
        created_at=now,
    )
    session.add(article)
    session.flush()
    queued = queue_outgoing(
        session,
        OutgoingMail(
            from_email=our_address,
            from_name=settings.organisation,
            to=[(requester.name, requester.email)],
            subject=subject,
            body_text=rendered.body_text,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=references,
            date=now,
        ),
        kind=KIND,
        envelope_from=our_address,
        ticket_id=source.id,
        article_id=article.id,
        deadline=timedelta(hours=settings.outbox_deadline_hours),
    )
    session.add(
        TicketEvent(
            ticket_id=source.id,
            at=now,
            actor=actor,
            kind=KIND,
            detail=f"the reporter was told of the report to police ({requester.email})",
        )
    )
    session.flush()
    return queued.id
