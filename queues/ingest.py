"""Ingest: store raw mail first, then decide what it becomes, one transaction per message.

One path serves every way mail arrives (SMTP, LMTP, IMAP, files), as in Zulip's email
mirror: `store_inbound` keeps the raw bytes and envelope and is committed before anything
can go wrong; `process_inbound` parses and decides (dedupe, follow-up, routing, triage,
ticket, acknowledgement) in one transaction; a failure is recorded on the inbound row and
retried a bounded number of times, then the message is quarantined, never dropped.

The parser is passed in (`Parser`), because the core must not import the mail edge.

Issue 8: who may write into which ticket is queues.followup's (reply tokens, our own
Message-IDs, and the sender's standing from the verdict made at acceptance); a stranger
quoting a ticket gets a new ticket linked to it, placed at least as restricted as the
quoted one (so whoever sees the new ticket may see the old one, and nobody else learns the
old one exists: its history row names it by id only). Side effects never block a ticket:
the routing rules and the acknowledgement that fail are recorded on the ticket's history
and logged, and the ticket and its article are committed all the same. Addresses that
cannot be stored or answered (over-long, malformed) never become a contact or a
participant.

Issue 13: the abuse controls answer at decide time (queues.abuse.gate): a blocked sender's
mail and a new report from a sender marked abusive are held for staff (or ignored), mail
past the per-sender cap is added to the sender's newest open ticket, and a flood of
near-identical reports from many senders is collapsed into one ticket that counts them;
each answer is recorded, and neither kind of sender is answered automatically. A new
ticket starts its response-target clock (queues.targets.tracking) with its due time.

Issue 13, the reporter: a new ticket stores the reporter's language (queues.reporter.
language: the public form's choice, else detected, else none); the form's at-risk box is a
triage signal to specialist-safety; both are believed only on messages our own pages
stored (queues.reporter.signals). An acknowledged reporter hears of later changes of
hands (queues.reporter.status: a follow-up that reopens or moves a ticket marks it due).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from queues.abuse import gate
from queues.abuse.lists import Standing
from queues.abuse.lists import standing as sender_standing
from queues.abuse.models import BLOCK, CAPPED, COLLAPSED, DONE, HELD, IGNORED, OPEN, SenderRule
from queues.abuse.similarity import fingerprint
from queues.autoreply import queue_acknowledgement
from queues.backlog import DEFAULT_LEASE, mark_started, retry_delay
from queues.followup import FollowupMatch, Sender, claimed_sender, find_followup
from queues.mail import Address, IncomingMail, sha256_hex, with_envelope
from queues.models import (
    ArticleKind,
    InboundMail,
    InboundState,
    Priority,
    TicketState,
    utcnow,
)
from queues.numbers import allocate_number, clean_subject
from queues.outgoing import usable_address
from queues.present import TICKET_MARK
from queues.reporter import status as reporter_status
from queues.reporter.language import choose as choose_language
from queues.reporter.signals import at_risk, chosen_language
from queues.routing import RoutingDecision, queue_for_recipient, route_new
from queues.rows import (
    INSERT_LINK,
    INSERT_PARTICIPANT,
    INSERT_TICKET,
    START_WAITING,
    UPDATE_INBOUND,
    UPDATE_TICKET,
    ContactRef,
    QueueRef,
    StoredMail,
    add_events,
    get_contact,
    insert_article,
    is_duplicate,
    load_queues,
    load_stored,
    ticket_by_id,
)
from queues.settings import Settings
from queues.targets import tracking as target_clock
from queues.triage import Lexicon, TriageHit, remember, signal_reason, triage
from queues.triage import reasons as triage_reasons
from queues.triage.staff import current_lexicon
from queues.trust.replytokens import base_address
from queues.trust.verdict import AuthVerdict

log = logging.getLogger(__name__)

Parser = Callable[[bytes], IncomingMail]
SAFETY_QUEUE = "specialist-safety"


@dataclass(frozen=True)
class Outcome:
    """What became of one inbound message."""

    kind: str  # "new", "followup", "duplicate", "ignored", "failed", "quarantined"
    inbound_id: int
    ticket_number: str | None = None
    detail: str = ""
    # "capped" or "collapsed" when abuse controls added the report to an existing ticket
    # (queues.abuse): nobody is answered, and the sender must not learn that ticket's number.
    joined: str = ""


def store_inbound(
    session: Session,
    raw: bytes,
    *,
    source: str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
    message_id: str | None = None,
    imap_key: str | None = None,
    claim: bool = False,
    client_ip: str | None = None,
    client_helo: str | None = None,
    auth: AuthVerdict | None = None,
) -> InboundMail:
    """Add the raw message to the inbound backlog; the caller commits (and only then says yes).

    `claim` counts the first attempt and leases the row to the caller in the same commit,
    for a caller that processes the message itself right after: if it dies first, a runner
    takes the message over when the lease runs out.
    """
    row = new_inbound(
        raw,
        source=source,
        envelope_from=envelope_from,
        envelope_to=envelope_to,
        message_id=message_id,
        imap_key=imap_key,
        claim=claim,
    )
    row.client_ip = client_ip[:64] if client_ip else None
    row.client_helo = client_helo[:255] if client_helo else None
    row.auth = auth.to_json() if auth is not None else None
    session.add(row)
    session.flush()
    return row


def new_inbound(
    raw: bytes,
    *,
    source: str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
    message_id: str | None = None,
    imap_key: str | None = None,
    claim: bool = False,
) -> InboundMail:
    """The inbound row for `raw`, not yet added to a session (see `store_inbound`)."""
    now = utcnow()
    return InboundMail(
        source=source,
        envelope_from=envelope_from,
        envelope_to=list(envelope_to),
        raw=raw,
        raw_sha256=sha256_hex(raw),
        size=len(raw),
        message_id=message_id,
        imap_key=imap_key,
        state=InboundState.NEW,
        received_at=now,
        attempts=1 if claim else 0,
        next_attempt_at=now + DEFAULT_LEASE if claim else now,
    )


def process_inbound(
    session: Session, inbound: StoredMail, settings: Settings, parse: Parser
) -> Outcome:
    """Parse and decide. Runs inside the caller's transaction; raises on storage errors."""
    mail = with_envelope(parse(inbound.raw), inbound.envelope_from)
    conn = session.connection()
    key = f"{inbound.raw_sha256} {(mail.message_id or '')[:900]}"
    if is_duplicate(conn, inbound.id, key):
        _finish(conn, inbound.id, mail, InboundState.DUPLICATE)
        return Outcome("duplicate", inbound.id, detail="already stored")
    auth = AuthVerdict.from_json(inbound.auth)
    sender = claimed_sender(mail, inbound.envelope_from, auth)
    blocked = _standing(conn, sender).hold_all
    if blocked is not None and (held := _hold(conn, inbound, mail, sender, blocked, settings, key)):
        return held
    match = find_followup(conn, mail, settings, recipients=inbound.envelope_to, sender=sender)
    if match is not None and match.trusted:
        return _append_followup(session, inbound, mail, match, settings, key, auth)
    return _create_ticket(session, inbound, mail, settings, key, match, sender, auth)


def process_stored(
    factory: sessionmaker[Session],
    inbound_id: int,
    settings: Settings,
    parse: Parser,
    *,
    attempt_counted: bool = False,
    mark_next: int | None = None,
    lease_until: datetime | None = None,
    readers: sessionmaker[Session] | None = None,
) -> Outcome:
    """Process one stored message in its own transaction; record failures, never raise.

    The attempt is counted in a committed transaction *before* processing, so a message
    that crashes the whole process (not just raises) is still quarantined in the end.
    `attempt_counted` says the caller already did that (e.g. when storing it). `mark_next`:
    count the attempt of the message the caller starts next in the transaction that ends
    this one, so that it is counted before it starts at no extra commit (see
    queues.backlog.claim_inbound); `lease_until` is the lease the claim set on it.
    `readers`: sessions for reading the message first without the write lock (SQLite).
    """
    if not attempt_counted:
        with factory.begin() as session:
            inbound = session.get(InboundMail, inbound_id)
            if inbound is None or inbound.state not in (InboundState.NEW, InboundState.FAILED):
                state = inbound.state.value if inbound else "missing"
                return Outcome(kind=state, inbound_id=inbound_id)
            inbound.attempts += 1
    try:
        stored, mail = _parse_first(factory, inbound_id, parse, settings, readers)
        with factory.begin() as session:
            if stored is None or mail is None:
                outcome = _process_one(session, inbound_id, settings, parse)
            else:
                outcome = process_inbound(session, stored, settings, lambda _raw: mail)
            if mark_next is not None:
                mark_started(session, mark_next, lease_until)
            return outcome
    except AlreadyProcessed as exc:
        log.warning("%s; our work on it was rolled back", exc)
        if mark_next is not None:
            with factory.begin() as session:
                mark_started(session, mark_next, lease_until)
        return Outcome(kind="already-processed", inbound_id=inbound_id)
    except Exception as exc:
        log.warning("inbound %s failed: %s", inbound_id, exc, exc_info=True)
        with factory.begin() as session:
            if mark_next is not None:
                mark_started(session, mark_next, lease_until)
            return _record_failure(session, inbound_id, exc, settings)


def _parse_first(
    factory: sessionmaker[Session],
    inbound_id: int,
    parse: Parser,
    settings: Settings,
    readers: sessionmaker[Session] | None = None,
) -> tuple[StoredMail | None, IncomingMail | None]:
    """Read and parse the message before the deciding transaction begins.

    Parsing is the slow part (a large message takes a second) and needs no lock; on SQLite
    the deciding transaction holds the database's one write lock, which the other runners,
    the gateway and the web UI then wait for. So are the triage and the language of a new
    report (`_decide_ahead`). Elsewhere (None, None): parse in the transaction. If another
    runner finishes the message in the meantime, finishing ours fails (AlreadyProcessed)
    and rolls back. Read through `readers` (deferred), the read itself takes no write lock
    either; through `factory` it is a BEGIN IMMEDIATE of its own.
    """
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        # PostgreSQL has no such lock, and the extra read measured slower there
        # (bench/latency.py: 52.8 against 37-50 tickets/s); parse inside as before.
        return None, None
    with (readers or factory)() as session:
        stored = load_stored(session.connection(), inbound_id)
    if stored is None or stored.state not in (InboundState.NEW, InboundState.FAILED):
        return stored, None
    mail = parse(stored.raw)
    _decide_ahead(mail, settings)
    return stored, mail


def _decide_ahead(mail: IncomingMail, settings: Settings) -> None:
    """Work out before the write lock what deciding `mail` needs and no row changes: the
    data files' triage hits with the wording model's (handed to queues.triage, which then
    adds only the staff's changes and drops the model's hit where it does not judge) and
    the language detected in it (kept by queues.reporter.language). A few milliseconds a
    message that the gateway and the web UI no longer wait for (bench/README.md)."""
    try:
        hits = triage(mail.subject, mail.body_text, model=settings.triage_model)
        remember(mail.subject, mail.body_text, hits)
        choose_language(None, mail.subject, mail.body_text)
    except Exception:
        # An optimisation only: what fails here is done again in the transaction, where a
        # failure is recorded on the message with its reason.
        log.exception("working out triage ahead failed; it is done in the transaction")


def process_batch(
    factory: sessionmaker[Session], inbound_ids: Sequence[int], settings: Settings, parse: Parser
) -> list[Outcome]:
    """Process claimed messages in one transaction, each in its own savepoint (bulk import).

    A message that fails is rolled back to its savepoint and its failure recorded; the others
    are unaffected. One commit for the batch instead of one per message: on SQLite with
    synchronous=FULL that commit (an fsync) cost more than parsing a message. If the commit
    itself fails, every message is processed again on its own; if the process dies first,
    nothing was committed and the claims' leases hand the messages to a runner later.
    """
    outcomes: list[Outcome] = []
    try:
        with factory.begin() as session:
            for inbound_id in inbound_ids:
                outcomes.append(_process_in_savepoint(session, inbound_id, settings, parse))
    except Exception:
        log.warning("batch commit failed; processing each message on its own", exc_info=True)
        return [process_stored(factory, i, settings, parse) for i in inbound_ids]
    return outcomes


def _process_in_savepoint(
    session: Session, inbound_id: int, settings: Settings, parse: Parser
) -> Outcome:
    try:
        with session.begin_nested():
            return _process_one(session, inbound_id, settings, parse)
    except AlreadyProcessed as exc:
        log.warning("%s; our work on it was rolled back", exc)
        return Outcome(kind="already-processed", inbound_id=inbound_id)
    except Exception as exc:
        log.warning("inbound %s failed: %s", inbound_id, exc, exc_info=True)
        return _record_failure(session, inbound_id, exc, settings)


def _process_one(session: Session, inbound_id: int, settings: Settings, parse: Parser) -> Outcome:
    stored = load_stored(session.connection(), inbound_id)
    if stored is None:
        return Outcome(kind="missing", inbound_id=inbound_id)
    if stored.state not in (InboundState.NEW, InboundState.FAILED):
        return Outcome(kind=stored.state, inbound_id=inbound_id)
    return process_inbound(session, stored, settings, parse)


def _record_failure(
    session: Session, inbound_id: int, exc: BaseException, settings: Settings
) -> Outcome:
    """Keep the error on the message; after the last attempt it is quarantined, never lost."""
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
    inbound = session.get_one(InboundMail, inbound_id)
    inbound.last_error = error
    give_up = inbound.attempts >= settings.ingest_max_attempts
    inbound.state = InboundState.QUARANTINED if give_up else InboundState.FAILED
    inbound.next_attempt_at = utcnow() + retry_delay(inbound.attempts)
    kind = "quarantined" if give_up else "failed"
    return Outcome(kind=kind, inbound_id=inbound_id, detail=error)


def _finish(
    conn: Connection,
    inbound_id: int,
    mail: IncomingMail,
    state: InboundState,
    dedupe_key: str | None = None,
    ticket_id: int | None = None,
    article_id: int | None = None,
) -> None:
    """Record on the inbound row what became of it.

    `dedupe_key` is set only on the row that was made into a ticket (or ignored), so a second
    delivery of the same message fails the unique key even under concurrency.
    """
    values: dict[str, object] = {
        "iid": inbound_id,
        "message_id": mail.message_id,
        "state": state,
        "processed_at": utcnow(),
        "last_error": None,
        "ticket_id": ticket_id,
        "article_id": article_id,
    }
    if dedupe_key is not None:
        values["dedupe_key"] = dedupe_key
    if conn.execute(UPDATE_INBOUND, values).rowcount != 1:
        raise AlreadyProcessed(f"inbound {inbound_id} was processed by someone else meanwhile")


class AlreadyProcessed(Exception):
    """Another runner finished this message first (our lease ran out): roll back ours."""


def incoming_article(
    ticket_id: int,
    inbound_id: int,
    mail: IncomingMail,
    envelope_from: str | None = None,
    auth: AuthVerdict | None = None,
) -> dict[str, object]:
    """The columns of the article that records `mail` in a ticket."""
    return {
        "ticket_id": ticket_id,
        "kind": ArticleKind.INCOMING,
        "inbound_id": inbound_id,
        # A NUL would make PostgreSQL refuse the row (and the ticket): never stored.
        "from_email": mail.from_.email.replace("\0", "")[:320] if mail.from_ else "",
        "from_name": mail.from_.name.replace("\0", "")[:200] if mail.from_ else "",
        "to": [str(a) for a in mail.to],
        "cc": [str(a) for a in mail.cc],
        "subject": mail.subject,
        "message_id": mail.message_id,
        "in_reply_to": mail.in_reply_to[0] if mail.in_reply_to else None,
        "references": mail.references[-50:],
        "date": mail.date,
        "content_type": mail.content_type,
        "body_text": mail.body_text,
        "body_html": mail.body_html,
        "defects": mail.defects[:100],
        "created_at": utcnow(),
        "envelope_from": envelope_from[:320] if envelope_from is not None else None,
        "auth_verdict": auth.verdict if auth is not None else None,
        "auth_summary": auth.summary() if auth is not None else None,
        "requester_email": _requester_email(mail),
        "requester_source": mail.requester_source[:20] or None,
    }


def _requester_email(mail: IncomingMail) -> str | None:
    address = mail.requester or mail.from_
    return address.email.replace("\0", "")[:320] if address is not None else None


@dataclass
class Placement:
    """Where a ticket stands and what happened to it, while a message is being decided."""

    queue: QueueRef
    priority: int
    reasons: list[str]
    events: list[tuple[str, str] | tuple[str, str, int | None]] = field(default_factory=list)


def _apply_triage(
    session: Session,
    place: Placement,
    mail: IncomingMail,
    queues: dict[str, QueueRef],
    settings: Settings,
    report: bool = True,
) -> tuple[list[TriageHit], bool]:
    """Triage `mail` and place the ticket by its hits (`_place_by_triage`); returns the
    hits (so that a report added to another ticket is not triaged twice) and whether the
    placement changed. The wording model
    (settings.triage_model) judges reports by people: not follow-ups (`report=False`), nor
    bounces, auto-replies or list and bulk mail. It learnt from first messages of reports,
    and takes most other mail for serious (two thirds of the real-world corpus in
    tests/data/corpus); the lexicon reads everything."""
    lexicon = current_lexicon(session)  # staff changes too
    machine = mail.is_bounce or mail.is_auto_submitted or mail.is_list_or_bulk
    model = settings.triage_model and report and not machine
    hits = triage(mail.subject, mail.body_text, lexicon, model=model)
    return hits, _place_by_triage(place, hits, queues)


def _place_by_triage(place: Placement, hits: list[TriageHit], queues: dict[str, QueueRef]) -> bool:
    """Serious reports go to specialist-safety at high priority; never out of a restricted
    queue. Returns whether anything changed."""
    new_reasons = [r for r in triage_reasons(hits) if r not in place.reasons]
    if not new_reasons:
        return False
    place.reasons = [*place.reasons, *new_reasons]
    place.priority = max(place.priority, int(Priority.HIGH))
    place.events.append(("triage", "; ".join(new_reasons)))
    if not place.queue.restricted and SAFETY_QUEUE in queues:
        place.events.append(("moved", f"{place.queue.slug} -> {SAFETY_QUEUE} (safety triage)"))
        place.queue = queues[SAFETY_QUEUE]
    return True


def _apply_at_risk(
    place: Placement, inbound: StoredMail, mail: IncomingMail, queues: dict[str, QueueRef]
) -> None:
    """The public form's at-risk box (issue 13): a triage signal to specialist-safety."""
    if not at_risk(inbound.source, mail):
        return
    reason = signal_reason("at-risk-box")
    place.reasons = [*place.reasons, reason]
    place.priority = max(place.priority, int(Priority.HIGH))
    place.events.append(("triage", reason))
    if not place.queue.restricted and SAFETY_QUEUE in queues:
        place.events.append(("moved", f"{place.queue.slug} -> {SAFETY_QUEUE} (at-risk box)"))
        place.queue = queues[SAFETY_QUEUE]


# `warm_up` triages these words only to load what triage loads; its hits are dropped.
_WARM_UP_TEXT = ("Hello", "I would like some help with my account on the site, please.")


def warm_up(lexicon: Lexicon) -> None:
    """Load now what the first message after a start would otherwise wait for: the triage
    patterns of `lexicon` (queues.triage.staff.current_lexicon: with the staff's entries)
    and their anchors, the wording model and the language model, 1-2 s once per process.
    The commands that run the ingest runner call it before any mail is taken, so the first
    report is acknowledged as fast as the next. It takes the lexicon, not a session: on
    SQLite a transaction held open through this would keep every other writer waiting."""
    triage(*_WARM_UP_TEXT, lexicon)
    choose_language(None, *_WARM_UP_TEXT)


def reporter_language(source: str, mail: IncomingMail) -> str | None:
    """The reporter's language: chosen in our form, else detected in what they wrote."""
    return choose_language(chosen_language(source, mail), mail.subject, mail.body_text)


def _choose_queue(
    decision: RoutingDecision, queues: dict[str, QueueRef], settings: Settings
) -> tuple[QueueRef, list[str]]:
    notes: list[str] = []
    recipient_queue = queues.get(settings.addresses.get(decision.our_address, ""))
    queue = queues.get(decision.queue_slug)
    if queue is None:
        notes.append(
            f"queue {decision.queue_slug!r} does not exist; using {settings.default_queue}"
        )
        queue = queues[settings.default_queue]
    if recipient_queue is not None and recipient_queue.restricted and not queue.restricted:
        # Mail sent to the safety address is a safety report whatever a rule says.
        notes.append(f"kept in {recipient_queue.slug}: a rule may not move it to {queue.slug}")
        queue = recipient_queue
    return queue, notes


def _create_ticket(
    session: Session,
    inbound: StoredMail,
    mail: IncomingMail,
    settings: Settings,
    dedupe_key: str,
    quoted: FollowupMatch | None,
    sender: Sender | None = None,
    auth: AuthVerdict | None = None,
) -> Outcome:
    conn = session.connection()
    queues = load_queues(conn)
    sender = sender or claimed_sender(mail, inbound.envelope_from, auth)
    decision, rule_failure = _route(session, inbound, mail, settings, queues)
    person = _storable(sender.address)
    requester = get_contact(conn, person.email.lower(), person.name) if person else None
    if decision.ignore:
        _finish(conn, inbound.id, mail, InboundState.IGNORED, dedupe_key)
        return Outcome("ignored", inbound.id, detail="; ".join(decision.hits))
    if requester is not None and requester.blocked and not settings.blocked_sender_tickets:
        _finish(conn, inbound.id, mail, InboundState.IGNORED, dedupe_key)
        return Outcome("ignored", inbound.id, detail="sender is blocked")
    standing = _standing(conn, sender)
    if standing.hold_new is not None:
        held = _hold(conn, inbound, mail, sender, standing.hold_new, settings, dedupe_key)
        if held is not None:
            return held
    queue, notes = _choose_queue(decision, queues, settings)
    place = Placement(queue=queue, priority=decision.priority, reasons=[])
    place.events.append(("created", f"from {inbound.source} to {queue.slug}"))
    place.events += [("routing", detail) for detail in [*rule_failure, *decision.hits, *notes]]
    fed = queues.get(settings.addresses.get(decision.our_address, ""))
    if fed is not None and fed.restricted:  # the safety address: a signal of its own (issue 9)
        place.reasons = [signal_reason("safety-address")]
        place.events.append(("triage", place.reasons[0]))
    if quoted is not None:
        _place_with_quoted(place, quoted, queues)
    _apply_at_risk(place, inbound, mail, queues)
    hits, _changed = _apply_triage(session, place, mail, queues, settings)
    language = reporter_language(inbound.source, mail)
    now = utcnow()
    key = _similarity_key(mail, settings, standing, quoted)
    host, what = None, ""
    if not standing.is_allowed:
        host, what = _abuse_host(conn, inbound.id, requester, sender, key, place, settings, now)
    if host is not None:
        return _add_to_host(
            session, inbound, mail, host, what, sender, key, settings, dedupe_key, hits
        )
    number = allocate_number(session)
    ticket_id: int = conn.execute(
        INSERT_TICKET,
        {
            "number": number,
            "subject": clean_subject(mail.subject, settings.ticket_tag_prefix)[:2000],
            "queue_id": place.queue.id,
            "state": TicketState.NEW,
            "priority": place.priority,
            # Triaged reports are flagged like a rule's hits (lists, filters and the page).
            "flagged": decision.flagged or bool(place.reasons),
            "requester_id": requester.id if requester else None,
            "triage_reasons": place.reasons,
            "created_at": now,
            "updated_at": now,
            "waiting_since": now,
            "language": language,
            "due_at": target_clock.due_for_new(conn, place.queue.id, now),
        },
    ).scalar_one()
    target_clock.start_for_new(conn, ticket_id, now)
    if key is not None:
        gate.note_fingerprint(conn, ticket_id, sender.email, key, now)
    article_id = insert_article(
        conn,
        incoming_article(ticket_id, inbound.id, mail, inbound.envelope_from, auth),
        mail.attachments,
    )
    _add_participants(conn, ticket_id, mail, settings)
    if quoted is not None:
        place.events.append(_link_quoted(conn, ticket_id, quoted))
    if sender.address is not None and person is None:
        place.events.append(("requester", "the sender's address cannot be stored or answered"))
    if requester is not None and requester.blocked:
        place.events.append(("autoreply-suppressed", "acknowledgement not sent: sender is blocked"))
    elif standing.no_automatic_mail:
        why = "marked abusive" if standing.blocked is None else "on the block list"
        place.events.append(("autoreply-suppressed", f"acknowledgement not sent: sender {why}"))
    else:
        place.events.append(
            _acknowledge(
                session,
                inbound,
                mail,
                settings,
                ticket_id,
                number,
                decision,
                auth,
                place.queue,
                language,
            )
        )
    add_events(conn, ticket_id, place.events)
    _finish(conn, inbound.id, mail, InboundState.DONE, dedupe_key, ticket_id, article_id)
    return Outcome("new", inbound.id, ticket_number=number)


def _route(
    session: Session,
    inbound: StoredMail,
    mail: IncomingMail,
    settings: Settings,
    queues: dict[str, QueueRef],
) -> tuple[RoutingDecision, list[str]]:
    """The routing decision, and what went wrong with the rules (then the recipient decides).

    A rule that raises (a stored rule no longer valid, say) must not stop the ticket: its
    reads and the hit count come after any such error, so nothing needs rolling back.
    """
    recipients = _our_recipients(inbound.envelope_to, mail, settings)
    restricted = {s for s, q in queues.items() if q.restricted}
    try:
        return route_new(session, recipients, mail, settings, restricted), []
    except Exception as exc:
        log.warning("inbound %s: routing rules failed: %s", inbound.id, exc, exc_info=True)
        decision = queue_for_recipient(recipients, mail, settings, restricted)
        return decision, [f"routing rules not applied: {_error_text(exc)}"]


def _our_recipients(envelope_to: list[str], mail: IncomingMail, settings: Settings) -> list[str]:
    """Our addresses the message was for, with `+extensions` (reply tokens) taken off: the
    envelope's when it names one of ours, else the headers' (as queues.routing reads them)."""
    ours = settings.addresses
    found = [b for b in map(base_address, envelope_to) if b in ours]
    if not found:
        headers = [*mail.delivered_to, *(a.email for a in (*mail.to, *mail.cc))]
        found = [b for b in map(base_address, headers) if b in ours]
    return list(dict.fromkeys(found))


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _acknowledge(
    session: Session,
    inbound: StoredMail,
    mail: IncomingMail,
    settings: Settings,
    ticket_id: int,
    number: str,
    decision: RoutingDecision,
    auth: AuthVerdict | None,
    queue: QueueRef | None = None,
    language: str | None = None,
) -> tuple[str, str]:
    """Queue the acknowledgement in a savepoint; a failure is a history row, not a lost ticket.

    An acknowledged reporter hears of every later change of hands (queues.reporter.status).
    """
    try:
        with session.begin_nested():
            ack = queue_acknowledgement(
                session,
                ticket_id,
                number,
                mail,
                inbound.envelope_from,
                decision.our_address,
                settings,
                auth,
                queue=queue,
                language=language,
                source=inbound.source,
            )
            if ack.article_id is not None:
                specialists = queue is not None and queue.slug == SAFETY_QUEUE
                reporter_status.start(session, ticket_id, specialists, utcnow())
        return ack.event
    except Exception as exc:
        log.warning(
            "inbound %s: acknowledgement of %s failed: %s", inbound.id, number, exc, exc_info=True
        )
        return ("autoreply-failed", f"acknowledgement not sent: {_error_text(exc)}")


def _place_with_quoted(
    place: Placement, quoted: FollowupMatch, queues: dict[str, QueueRef]
) -> None:
    """A new ticket that quotes another is at least as restricted as the quoted one.

    Whoever can see the new ticket can then see the quoted one, so its history may name it
    (by id, `ref_ticket_id`); nobody who may not see the quoted ticket sees the new one,
    so no page tells them that a restricted number exists. It is also a safety matter:
    someone quoting a safety or police case belongs with that case.
    """
    old_queue = next((q for q in queues.values() if q.id == quoted.ticket.queue_id), None)
    if old_queue is None or old_queue.rank <= place.queue.rank:
        return
    place.events.append(
        (
            "moved",
            f"{place.queue.slug} -> {old_queue.slug} (the message quoted {TICKET_MARK})",
            quoted.ticket.id,
        )
    )
    place.queue = old_queue


def _link_quoted(
    conn: Connection, ticket_id: int, quoted: FollowupMatch
) -> tuple[str, str, int | None]:
    """Link the new ticket to the one it quoted; the history row names it by id only."""
    old = quoted.ticket
    conn.execute(
        INSERT_LINK,
        {
            "source_id": ticket_id,
            "target_id": old.id,
            "kind": "quoted-number",
            "created_at": utcnow(),
        },
    )
    if quoted.trusted and old.state == TicketState.CLOSED:
        return ("linked", f"follow-up to closed ticket {TICKET_MARK}", old.id)
    return ("linked", quoted.why_not or f"the message quoted {TICKET_MARK}", old.id)


def _storable(address: Address | None) -> Address | None:
    """`address` if it can be a contact or a participant: mail can be sent to it."""
    if address is None or not usable_address(address.email):
        return None
    return address


def _add_participants(
    conn: Connection, ticket_id: int, mail: IncomingMail, settings: Settings
) -> None:
    """The requester and the people they copied may write into the ticket by its tag."""
    own = settings.all_own_addresses
    rows: dict[str, str] = {}
    requester = mail.requester or mail.from_
    people = [requester] if requester else []
    people += mail.cc
    for address in people:
        email = address.email.lower()
        if email in own or email in rows or _storable(address) is None:
            continue
        if base_address(email) in own:
            continue
        rows[email] = "requester" if address is requester else "cc"
    if rows:
        conn.execute(
            INSERT_PARTICIPANT,
            [{"ticket_id": ticket_id, "email": e, "role": r} for e, r in rows.items()],
        )


def _append_followup(
    session: Session,
    inbound: StoredMail,
    mail: IncomingMail,
    match: FollowupMatch,
    settings: Settings,
    dedupe_key: str,
    auth: AuthVerdict | None = None,
) -> Outcome:
    conn = session.connection()
    ticket = match.ticket
    queues = load_queues(conn)
    queue = next(q for q in queues.values() if q.id == ticket.queue_id)
    if ticket.state == TicketState.CLOSED and queue.followup_closed == "new":
        return _create_ticket(session, inbound, mail, settings, dedupe_key, match, auth=auth)
    article_id = insert_article(
        conn,
        incoming_article(ticket.id, inbound.id, mail, inbound.envelope_from, auth),
        mail.attachments,
    )
    place = Placement(queue=queue, priority=ticket.priority, reasons=ticket.triage_reasons)
    place.events.append(("followup", f"matched by {match.via}"))
    now = utcnow()
    changes: dict[str, object] = {"tid": ticket.id, "updated_at": now}
    if ticket.state == TicketState.CLOSED:
        changes |= {"state": TicketState.OPEN, "closed_at": None}
        place.events.append(("reopened", "follow-up to a closed ticket"))
    elif ticket.state == TicketState.PENDING:
        changes["state"] = TicketState.OPEN
        place.events.append(("state", "pending -> open (follow-up)"))
    if _apply_triage(session, place, mail, queues, settings, report=False)[1]:
        changes |= {
            "triage_reasons": place.reasons,
            "priority": place.priority,
            "queue_id": place.queue.id,
        }
    conn.execute(UPDATE_TICKET, changes)
    if "state" in changes or "queue_id" in changes:  # the reporter may hear of it
        reporter_status.mark_due(session, int(str(changes["tid"])), now)
    if "state" in changes or "queue_id" in changes:
        state = changes.get("state")
        new_state = state if isinstance(state, TicketState) else None
        target_clock.follow_ingest(conn, ticket.id, place.queue.id, now, new_state)
    conn.execute(START_WAITING, {"tid": ticket.id, "since": now})
    add_events(conn, ticket.id, place.events)
    _finish(conn, inbound.id, mail, InboundState.DONE, dedupe_key, ticket.id, article_id)
    return Outcome("followup", inbound.id, ticket_number=ticket.number)


# --- abuse controls (queues.abuse) ------------------------------------------------------------


def _standing(conn: Connection, sender: Sender) -> Standing:
    return sender_standing(conn, sender.email, utcnow()) if sender.address else Standing()


def _hold(
    conn: Connection,
    inbound: StoredMail,
    mail: IncomingMail,
    sender: Sender,
    rule: SenderRule,
    settings: Settings,
    dedupe_key: str,
) -> Outcome | None:
    """Hold (or ignore) mail a block or abusive entry covers; None when staff released it."""
    if gate.released(conn, inbound.id):
        return None
    ignore = rule.kind == BLOCK and settings.abuse_blocked_action == "ignore"
    what = "ignored" if ignore else "held for staff"
    detail = f"{what}: the sender is covered by the {rule.kind} entry for {rule.value}"
    gate.record(
        conn,
        IGNORED if ignore else HELD,
        utcnow(),
        state=DONE if ignore else OPEN,
        sender=sender.email,
        inbound_id=inbound.id,
        rule_id=rule.id,
        detail=detail,
    )
    _finish(conn, inbound.id, mail, InboundState.IGNORED, dedupe_key)
    return Outcome("ignored", inbound.id, detail=detail)


def _similarity_key(
    mail: IncomingMail, settings: Settings, standing: Standing, quoted: FollowupMatch | None
) -> int | None:
    """The report's similarity key, when it may take part in flood collapsing."""
    if settings.abuse_flood_min_senders <= 1 or standing.is_allowed or quoted is not None:
        return None
    return fingerprint(mail.subject, mail.body_text, settings.abuse_flood_min_words)


def _abuse_host(
    conn: Connection,
    inbound_id: int,
    requester: ContactRef | None,
    sender: Sender,
    key: int | None,
    place: Placement,
    settings: Settings,
    now: datetime,
) -> tuple[int | None, str]:
    """The ticket the per-sender cap or a flood adds this report to, and which; (None, "")
    for a ticket of its own. Never into a ticket fewer people may see than this report's
    queue (a serious report must not land where volunteers read it)."""
    gate.serialize(conn)
    host, what = None, CAPPED
    if requester is not None:
        host = gate.over_cap(conn, requester.id, settings, now)
    if host is None and key is not None:
        host, what = gate.flood_host(conn, key, sender.email, settings, now), COLLAPSED
    if host is None:
        return None, ""
    ticket = ticket_by_id(conn, host)
    queues = {q.id: q for q in load_queues(conn).values()}
    if ticket is None or queues[ticket.queue_id].rank < place.queue.rank:
        return None, ""
    if gate.released(conn, inbound_id):
        return None, ""
    return host, what


def _add_to_host(
    session: Session,
    inbound: StoredMail,
    mail: IncomingMail,
    host_id: int,
    what: str,
    sender: Sender,
    key: int | None,
    settings: Settings,
    dedupe_key: str,
    hits: list[TriageHit],
) -> Outcome:
    """Add a capped or collapsed report to `host_id` as a follow-up would be, and record it;
    `hits` are the report's triage hits, found when its own ticket was planned.

    Past the cap the sender's ticket reopens as for any follow-up; a flood's ticket only
    counts one more report (its state stays what staff made it). Nobody is answered.
    """
    conn = session.connection()
    ticket = ticket_by_id(conn, host_id)
    assert ticket is not None  # _abuse_host found it in this transaction
    queues = load_queues(conn)
    queue = next(q for q in queues.values() if q.id == ticket.queue_id)
    auth = AuthVerdict.from_json(inbound.auth)
    article_id = insert_article(
        conn,
        incoming_article(host_id, inbound.id, mail, inbound.envelope_from, auth),
        mail.attachments,
    )
    now = utcnow()
    place = Placement(queue=queue, priority=ticket.priority, reasons=ticket.triage_reasons)
    changes: dict[str, object] = {"tid": host_id, "updated_at": now}
    if what == CAPPED:
        cap = settings.abuse_tickets_per_sender_per_day
        detail = f"the sender is past the cap of {cap} new tickets in 24 hours: message added here"
        if ticket.state in (TicketState.CLOSED, TicketState.PENDING):
            changes |= {"state": TicketState.OPEN, "closed_at": None}
            place.events.append(("reopened", f"{ticket.state.value} -> open (capped message)"))
        conn.execute(START_WAITING, {"tid": host_id, "since": now})
    else:
        reports = gate.count_flood(conn, host_id, now)
        if key is not None:
            gate.note_fingerprint(conn, host_id, sender.email, key, now)
        detail = f"a near-identical report from another sender collapsed here ({reports} reports)"
    place.events.insert(0, (what, detail))
    if _place_by_triage(place, hits, queues):
        changes |= {
            "triage_reasons": place.reasons,
            "priority": place.priority,
            "queue_id": place.queue.id,
        }
    conn.execute(UPDATE_TICKET, changes)
    if "state" in changes or "queue_id" in changes:  # the reporter may hear of it
        reporter_status.mark_due(session, int(str(changes["tid"])), now)
    if "state" in changes or "queue_id" in changes:
        state = changes.get("state")
        new_state = state if isinstance(state, TicketState) else None
        target_clock.follow_ingest(conn, host_id, place.queue.id, now, new_state)
    add_events(conn, host_id, place.events)
    gate.record(
        conn,
        what,
        now,
        state=DONE,
        sender=sender.email,
        inbound_id=inbound.id,
        ticket_id=host_id,
        article_id=article_id,
        detail=detail,
    )
    _finish(conn, inbound.id, mail, InboundState.DONE, dedupe_key, host_id, article_id)
    return Outcome("followup", inbound.id, ticket_number=ticket.number, detail=detail, joined=what)


def ingest_bytes(
    factory: sessionmaker[Session],
    raw: bytes,
    settings: Settings,
    parse: Parser,
    *,
    source: str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
) -> Outcome:
    """Store, commit, then process: the whole path for one message (file import, tests).

    The first attempt is counted in the same commit that stores the message.
    """
    with factory.begin() as session:
        row = store_inbound(
            session,
            raw,
            source=source,
            envelope_from=envelope_from,
            envelope_to=envelope_to,
            claim=True,
        )
        inbound_id = row.id
    return process_stored(factory, inbound_id, settings, parse, attempt_counted=True)


def store_batch(factory: sessionmaker[Session], items: Sequence[tuple[bytes, str]]) -> list[int]:
    """Store many (raw, source) messages in one commit, each claimed by the caller.

    For bulk import: one commit (one fsync) for the batch instead of one per message. The
    caller then processes each with `process_stored(..., attempt_counted=True)`, in its own
    transaction as ever, so a failure still touches one message only.
    """
    with factory.begin() as session:
        rows = [new_inbound(raw, source=source, claim=True) for raw, source in items]
        session.add_all(rows)
        session.flush()  # one multi-row INSERT
        return [row.id for row in rows]


def retry_quarantined(factory: sessionmaker[Session], inbound_id: int) -> None:
    """Staff: give a quarantined message a fresh set of attempts."""
    with factory.begin() as session:
        requeue_quarantined(session, inbound_id)


def requeue_quarantined(session: Session, inbound_id: int) -> InboundMail:
    """`retry_quarantined` in the caller's transaction (the web UI's writing session): the
    message is NEW again, due now, with a fresh set of attempts, for the next runner."""
    inbound = session.get(InboundMail, inbound_id)
    if inbound is None:
        raise LookupError(f"no inbound message {inbound_id}")
    if inbound.state not in (InboundState.QUARANTINED, InboundState.FAILED):
        raise ValueError(f"inbound {inbound_id} is {inbound.state.value}, not quarantined")
    inbound.state = InboundState.NEW
    inbound.attempts = 0
    inbound.next_attempt_at = utcnow()
    return inbound
