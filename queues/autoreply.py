"""Automatic replies: whether one may be sent (loop and flood guards) and queueing it.

RFC 3834 governs automatic responses: never answer mail that is itself automatic
(Auto-Submitted other than "no"), bulk or list mail, bounces, or mail with an empty return
path; mark our own with "Auto-Submitted: auto-replied"; send it to the null reverse-path
so that its bounces cannot start a loop (RFC 3834 section 3.3).

Issue 8: automatic mail goes to the message's requester (`IncomingMail.requester`, else
From); never to an address that sender authentication refuted (we must not mail a ticket
number and a reply address to someone whose name was forged: the history says why), nor to
one that mail cannot be sent to. It carries a fresh reply address of the ticket in
Reply-To (queues.trust.replytokens). Everything that depends on the message's content (the
template, the headers, the addresses) is built before anything is written, and the caller
(queues.ingest) runs the whole in a savepoint: an acknowledgement that fails never stops a
ticket.

Issue 13: the acknowledgement is the queue's own (specialist-safety puts the emergency route
first and says what happens now and how soon), in the reporter's language, or in English
with the other languages below when that is not known (queues.reporter.texts); staff may
rewrite it per queue and language (queues.reporter.acks, rendered in the sandbox). It
carries a status link (queues.reporter.statuslink) when `web_base_url` is set. A report
from the public form is acknowledged without echoing its subject or the name given: its
address is unverified, and we must not become a way to send someone else's words to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from queues.mail import Address, IncomingMail
from queues.models import ArticleKind, AutoReplyLog, table_of, utcnow
from queues.numbers import clean_subject, format_tag
from queues.outgoing import (
    OutgoingMail,
    domain_of,
    mailbox,
    make_message_id,
    queue_outgoing,
    usable_address,
)
from queues.reporter import acks, statuslink
from queues.reporter.signals import TRUSTED_SOURCES
from queues.reporter.texts import in_language
from queues.rows import INSERT_AUTOREPLY, QueueRef, insert_article
from queues.settings import Settings
from queues.trust import replytokens
from queues.trust.verdict import FAIL, AuthVerdict

_DAEMON_LOCALPARTS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_NOREPLY_LOCALPARTS = ("noreply", "no-reply", "no_reply", "donotreply", "do-not-reply")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


def recipient_of(mail: IncomingMail) -> Address | None:
    """Who an automatic reply to `mail` goes to: its requester, else From."""
    return mail.requester or mail.from_


def loop_guard(
    mail: IncomingMail,
    envelope_from: str | None,
    settings: Settings,
    auth: AuthVerdict | None = None,
) -> Verdict:
    """May we answer `mail` automatically at all? The reason says why not."""
    auto = mail.header("auto-submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return Verdict(False, f"Auto-Submitted: {auto}")
    if mail.header(settings.loop_header):
        return Verdict(False, f"carries our loop header {settings.loop_header}")
    if mail.is_auto_submitted:
        return Verdict(False, "the message is an automatic reply")
    if mail.is_bounce:
        return Verdict(False, "the message is a bounce")
    if mail.is_list_or_bulk:
        return Verdict(False, "list or bulk mail")
    if envelope_from is not None and envelope_from.strip("<> ") == "":
        return Verdict(False, "empty return path")
    recipient = recipient_of(mail)
    if recipient is None:
        return Verdict(False, "no usable From address")
    if auth is not None and auth.verdict == FAIL:
        return Verdict(False, f"sender authentication failed ({auth.summary()})")
    local = recipient.email.partition("@")[0].lower()
    if local in _DAEMON_LOCALPARTS or local.startswith("mailer-daemon"):
        return Verdict(False, f"sender is {recipient.email}")
    if local in _NOREPLY_LOCALPARTS:
        return Verdict(False, "sender is a no-reply address")
    if replytokens.is_ours(recipient.email, settings.all_own_addresses):
        return Verdict(False, "sender is one of our own addresses")
    if not usable_address(recipient.email):
        return Verdict(False, f"mail cannot be sent to {recipient.email[:100]!r}")
    return Verdict(True)


_L = table_of(AutoReplyLog)
# Both counts in one statement: this runs for every new ticket.
_CAP_COUNTS = select(func.count(case((_L.c.email == bindparam("email"), 1))), func.count()).where(
    _L.c.at >= bindparam("since")
)


def cap_guard(session: Session, email: str, settings: Settings) -> Verdict:
    """Flood guard: at most N automatic replies per sender and M overall per day."""
    since = utcnow() - timedelta(days=1)
    per_sender, total = (
        session.connection().execute(_CAP_COUNTS, {"email": email.lower(), "since": since}).one()
    )
    if (per_sender or 0) >= settings.ack_per_sender_per_day:
        return Verdict(
            False, f"per-sender cap reached ({settings.ack_per_sender_per_day} in 24 hours)"
        )
    if (total or 0) >= settings.ack_global_per_day:
        return Verdict(False, f"global cap reached ({settings.ack_global_per_day} in 24 hours)")
    return Verdict(True)


def acknowledgement_context(
    number: str, mail: IncomingMail, settings: Settings, source: str = "", status_url: str = ""
) -> dict[str, str]:
    """What the acknowledgement template may use: only these names (queues.reporter.acks)."""
    recipient = recipient_of(mail)
    ours = source in TRUSTED_SOURCES  # the form: never echo words to an unverified address
    return {
        "number": number,
        "tag": format_tag(settings.ticket_tag_prefix, number),
        "subject": "" if ours else clean_subject(mail.subject, settings.ticket_tag_prefix),
        "requester_name": recipient.name if recipient and not ours else "",
        "organisation": settings.organisation,
        "emergency_text": settings.emergency_text,
        "status_url": status_url,
    }


@dataclass(frozen=True)
class AckResult:
    """The acknowledgement's article (None if none was sent) and the history entry saying so."""

    article_id: int | None
    event: tuple[str, str]  # (kind, detail) for the ticket's history


def queue_acknowledgement(
    session: Session,
    ticket_id: int,
    number: str,
    mail: IncomingMail,
    envelope_from: str | None,
    our_address: str,
    settings: Settings,
    auth: AuthVerdict | None = None,
    *,
    queue: QueueRef | None = None,
    language: str | None = None,
    source: str = "",
) -> AckResult:
    """Queue the acknowledgement of a new ticket, or say why not (for the ticket's history).

    `queue` is the ticket's (its own acknowledgement), `language` the reporter's (None:
    English with the others below), `source` the inbound source ("form": no echo).

    The reply is stored as an automatic article of the ticket and put in the outbox in the
    caller's transaction: it leaves only if the ticket exists. It may raise on anything the
    guards did not foresee; the caller records that on the ticket and keeps the ticket.
    """
    verdict = loop_guard(mail, envelope_from, settings, auth)
    recipient = recipient_of(mail)
    if verdict.allowed and recipient is not None:
        verdict = cap_guard(session, recipient.email, settings)
    if not verdict.allowed or recipient is None:
        return AckResult(
            None, ("autoreply-suppressed", f"acknowledgement not sent: {verdict.reason}")
        )
    # Everything that depends on the message is built first: nothing is written if it fails.
    to = mailbox(recipient.email)
    conn = session.connection()
    status_url = statuslink.link(conn, ticket_id, settings.web_base_url)
    context = acknowledgement_context(number, mail, settings, source, status_url)
    render = acks.renderer(session, queue.id if queue else None, queue.slug if queue else None)
    rendered = in_language(render, context, language, settings)
    message_id = make_message_id(domain_of(our_address))
    refs = [*mail.references[-20:], mail.message_id] if mail.message_id else []
    token = replytokens.new_token()
    out = OutgoingMail(
        from_email=our_address,
        from_name=settings.organisation,
        # The form's name is unverified: not ours to repeat, not even in To.
        to=[("" if source in TRUSTED_SOURCES else recipient.name, to)],
        subject=rendered.subject,
        body_text=rendered.body_text,
        message_id=message_id,
        in_reply_to=mail.message_id,
        references=refs,
        reply_to=replytokens.reply_address(our_address, token),
        extra_headers={
            "Auto-Submitted": "auto-replied",
            settings.loop_header: our_address,
            # Ask Exchange and others not to answer our automatic mail with theirs.
            "X-Auto-Response-Suppress": "All",
            "Precedence": "auto_reply",
        },
    )
    raw = out.build()
    now = utcnow()
    article_id = insert_article(
        conn,
        {
            "ticket_id": ticket_id,
            "kind": ArticleKind.AUTO,
            "from_email": our_address,
            "from_name": settings.organisation,
            "to": [to],
            "cc": [],
            "subject": rendered.subject,
            "message_id": message_id,
            "in_reply_to": mail.message_id,
            "references": refs,
            "date": now,
            "body_text": rendered.body_text,
            "defects": [],
            "created_at": now,
        },
    )
    replytokens.store(conn, ticket_id, token, message_id)
    queue_outgoing(
        session,
        out,
        kind="acknowledgement",
        envelope_from="",  # RFC 3834 3.3: the null reverse-path, so bounces cannot loop
        ticket_id=ticket_id,
        article_id=article_id,
        deadline=timedelta(hours=settings.outbox_deadline_hours),
        raw=raw,
    )
    conn.execute(INSERT_AUTOREPLY, {"email": recipient.email.lower()[:320], "at": now})
    return AckResult(article_id, ("autoreply-queued", f"acknowledgement to {to}"))
