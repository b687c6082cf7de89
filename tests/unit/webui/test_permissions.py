"""The permission matrix: every role x every queue x every route and method -> allowed or 404.

The cases are generated from `app.url_map`, so a new route cannot escape: its endpoint must
have an entry in POLICY below (or this test fails), and each of its URL arguments must be
one the matrix knows how to fill with real data. POLICY and QUEUE_AUDIENCE are declared
here, apart from the code under test, so a mistake in the app does not excuse itself.

For a signed-in agent "denied" means exactly 404, with the same page as a URL that does
not exist; "allowed" means anything but 404, 403, 405, 400 or a 5xx. An anonymous visitor
is sent to the login page for every non-public route, whatever the ticket. And no page an
agent may see mentions a queue they may not see: its name, slug, tickets' numbers or
subjects (lists and counts included).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import time
from enum import Enum
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import Rule

from queues.abuse.models import AbuseAction, SenderRule
from queues.liaison.models import (
    CaseIdentifier,
    IdentifierKind,
    LiaisonCase,
    Partner,
    ReferralTemplate,
)
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    Blob,
    InboundMail,
    InboundState,
    OutboxMessage,
    OutboxState,
    Queue,
    ReplyTemplate,
    Role,
    RoutingRule,
    Ticket,
    User,
)
from queues.reporter import statuslink
from queues.team.models import Application, ChecklistItem, HeldReply
from queues.team.rota_models import Shift
from webui.security import public

from .conftest import Auth, People, csrf_from, make_app, new_client


class Audience(Enum):
    PUBLIC = "anyone, signed in or not"
    AGENT = "any signed-in agent"
    SPECIALIST = "specialists and staff"
    STAFF = "staff only"


@dataclass(frozen=True)
class Policy:
    audience: Audience
    # The URL names a ticket: on top of `audience`, 404 unless the agent may see its queue.
    ticket: bool = False
    # The URL names a queue (its slug): on top of `audience`, 404 unless the agent may see it.
    queue: bool = False


POLICY: dict[str, Policy] = {
    "static": Policy(Audience.PUBLIC),
    "auth.login": Policy(Audience.PUBLIC),
    "auth.logout": Policy(Audience.AGENT),
    "auth.password": Policy(Audience.AGENT),
    "account.index": Policy(Audience.AGENT),
    "home.index": Policy(Audience.AGENT),
    "lists.queue": Policy(Audience.AGENT, queue=True),
    "lists.mine": Policy(Audience.AGENT),
    "lists.search": Policy(Audience.AGENT),
    "staff.users": Policy(Audience.STAFF),
    "staff.add_user": Policy(Audience.STAFF),
    "staff.disable": Policy(Audience.STAFF),
    "staff.change_role": Policy(Audience.STAFF),
    "staff.enable": Policy(Audience.STAFF),
    "staff.reset_password": Policy(Audience.STAFF),
    "staff.ticket_audit": Policy(Audience.STAFF, ticket=True),
    "staff.read_audit": Policy(Audience.STAFF, ticket=True),
    "staffhub.index": Policy(Audience.STAFF),
    "staff_templates.index": Policy(Audience.STAFF),
    "staff_templates.new": Policy(Audience.STAFF),
    "staff_templates.edit": Policy(Audience.STAFF),
    "staff_templates.delete": Policy(Audience.STAFF),
    "staff_templates.signature": Policy(Audience.STAFF),
    "staff_rules.index": Policy(Audience.STAFF),
    "staff_rules.new": Policy(Audience.STAFF),
    "staff_rules.edit": Policy(Audience.STAFF),
    "staff_rules.try_saved": Policy(Audience.STAFF),
    "staff_rules.toggle": Policy(Audience.STAFF),
    "staff_rules.move": Policy(Audience.STAFF),
    "staff_rules.delete": Policy(Audience.STAFF),
    "staff_mail.quarantine": Policy(Audience.STAFF),
    "staff_mail.raw": Policy(Audience.STAFF),
    "staff_mail.rerun": Policy(Audience.STAFF),
    "staff_mail.rerun_all": Policy(Audience.STAFF),
    "staff_mail.outbox": Policy(Audience.STAFF),
    "staff_mail.retry": Policy(Audience.STAFF),
    "staff_mail.discard": Policy(Audience.STAFF),
    "tickets.view": Policy(Audience.AGENT, ticket=True),
    "tickets.article_html": Policy(Audience.AGENT, ticket=True),
    "tickets.attachment": Policy(Audience.AGENT, ticket=True),
    "work.take": Policy(Audience.AGENT, ticket=True),
    "work.release": Policy(Audience.AGENT, ticket=True),
    "work.release_lock": Policy(Audience.AGENT, ticket=True),
    "work.state": Policy(Audience.AGENT, ticket=True),
    "work.priority": Policy(Audience.AGENT, ticket=True),
    "work.move": Policy(Audience.AGENT, ticket=True),
    "work.merge": Policy(Audience.AGENT, ticket=True),
    "work.link": Policy(Audience.AGENT, ticket=True),
    "work.note": Policy(Audience.AGENT, ticket=True),
    "work.revoke_reply_addresses": Policy(Audience.STAFF, ticket=True),
    "work.reply": Policy(Audience.AGENT, ticket=True),
    # The way back (webui.escalate): any agent escalates a ticket they see and keeps a trace
    # of numbers only.
    "escalate.escalate": Policy(Audience.AGENT, ticket=True),
    "escalate.trace": Policy(Audience.AGENT),
    "staff_triage.index": Policy(Audience.STAFF),
    "staff_triage.new": Policy(Audience.STAFF),
    "staff_triage.toggle": Policy(Audience.STAFF),
    "staff_triage.live_figures": Policy(Audience.STAFF),
    # Police liaison (webui.liaison, webui.partners): specialists and staff ask for a report
    # on a ticket they see; every case page, package and the register is for staff only.
    "liaison.report": Policy(Audience.SPECIALIST, ticket=True),
    "liaison.mine": Policy(Audience.SPECIALIST),
    "liaison.index": Policy(Audience.STAFF),
    "liaison.case": Policy(Audience.STAFF),
    "liaison.review": Policy(Audience.STAFF),
    "liaison.country": Policy(Audience.STAFF),
    "liaison.identifiers": Policy(Audience.STAFF),
    "liaison.remove_identifier": Policy(Audience.STAFF),
    "liaison.partner": Policy(Audience.STAFF),
    "liaison.evidence": Policy(Audience.STAFF),
    "liaison.notice": Policy(Audience.STAFF),
    "liaison.approve": Policy(Audience.STAFF),
    "liaison.confirm": Policy(Audience.STAFF),
    "liaison.decline": Policy(Audience.STAFF),
    "liaison.download": Policy(Audience.STAFF),
    "liaison.disclosures": Policy(Audience.STAFF),
    "liaison.export_register": Policy(Audience.STAFF),
    "partners.index": Policy(Audience.STAFF),
    "partners.new": Policy(Audience.STAFF),
    "partners.edit": Policy(Audience.STAFF),
    "partners.set_policy": Policy(Audience.STAFF),
    "partners.new_template": Policy(Audience.STAFF),
    "partners.edit_template": Policy(Audience.STAFF),
    # The team (issue 12). Applying and setting one's password by link need no account;
    # the code step of signing in is public (it checks its own pending sign-in).
    "apply.form": Policy(Audience.PUBLIC),
    "apply.thanks": Policy(Audience.PUBLIC),
    "apply.set_password": Policy(Audience.PUBLIC),
    "twofactor.code": Policy(Audience.PUBLIC),
    "twofactor.index": Policy(Audience.AGENT),
    "twofactor.enrol": Policy(Audience.AGENT),
    "twofactor.recovery_codes": Policy(Audience.AGENT),
    "twofactor.turn_off": Policy(Audience.AGENT),
    # Vetting, texts, checklist and agents' pages are staff's. An agent's page (and ticking
    # their checklist) is also open to the agent and their mentor: the matrix's agent
    # (user_id) is nobody's account here and has no mentor, so only staff get in.
    "team.applications": Policy(Audience.STAFF),
    "team.application": Policy(Audience.STAFF),
    "team.approve": Policy(Audience.STAFF),
    "team.decline": Policy(Audience.STAFF),
    "team.texts": Policy(Audience.STAFF),
    "team.checklist": Policy(Audience.STAFF),
    "team.checklist_item": Policy(Audience.STAFF),
    "team.checklist_active": Policy(Audience.STAFF),
    "team.agents": Policy(Audience.STAFF),
    "team.agent": Policy(Audience.STAFF),
    "team.tick": Policy(Audience.STAFF),
    "team.profile": Policy(Audience.STAFF),
    "team.mentor": Policy(Audience.STAFF),
    "team.probation": Policy(Audience.STAFF),
    "team.role": Policy(Audience.STAFF),
    "team.twofactor": Policy(Audience.STAFF),
    "team.link": Policy(Audience.STAFF),
    "team.leave": Policy(Audience.STAFF),
    # Every agent has the review lists. A held reply is for its author, their mentor and
    # staff: the matrix's is the volunteer target's with the specialist as mentor, so
    # volunteers (neither) get the 404 (webui.mentor; tested further in test_mentor).
    "mentor.index": Policy(Audience.AGENT),
    "mentor.reply": Policy(Audience.SPECIALIST),
    "mentor.approve": Policy(Audience.SPECIALIST),
    "mentor.edit": Policy(Audience.SPECIALIST),
    "mentor.return": Policy(Audience.SPECIALIST),
    # Issue 13: the dashboard is every agent's (over the queues they may see: test_dashboard);
    # response targets and abuse controls are staff's; any agent who sees a ticket may mark
    # its sender abusive.
    "dashboard.index": Policy(Audience.AGENT),
    "dashboard.chart": Policy(Audience.AGENT),
    "dashboard.export": Policy(Audience.AGENT),
    "targets.index": Policy(Audience.STAFF),
    "targets.save": Policy(Audience.STAFF),
    "staff_abuse.index": Policy(Audience.STAFF),
    "staff_abuse.add": Policy(Audience.STAFF),
    "staff_abuse.remove": Policy(Audience.STAFF),
    "staff_abuse.release": Policy(Audience.STAFF),
    "staff_abuse.discard": Policy(Audience.STAFF),
    "staff_abuse.split": Policy(Audience.STAFF),
    "staff_abuse.mark": Policy(Audience.AGENT, ticket=True),
    # The reporter's pages (issue 13): the report form and a status page (by its token) are
    # anyone's; a ticket's status links and the acknowledgements are staff's.
    "report.form": Policy(Audience.PUBLIC),
    "report.sent": Policy(Audience.PUBLIC),
    "status.page": Policy(Audience.PUBLIC),
    "status.new_link": Policy(Audience.PUBLIC),
    "status.find_links": Policy(Audience.STAFF),
    "status.links": Policy(Audience.STAFF, ticket=True),
    "status.revoke": Policy(Audience.STAFF, ticket=True),
    "status.send": Policy(Audience.STAFF, ticket=True),
    "staff_ack.index": Policy(Audience.STAFF),
    "staff_ack.edit": Policy(Audience.STAFF),
    "staff_ack.reset": Policy(Audience.STAFF),
    # The rota (webui.rota, webui.rota_staff): every agent sees the week of the queues they
    # may see (a hidden queue in the query is a 404, tested in test_rota), signs up, leaves
    # and asks for swaps; staff define shifts and decide swaps.
    "rota.week": Policy(Audience.AGENT),
    "rota.timezone": Policy(Audience.AGENT),
    "rota.signup": Policy(Audience.AGENT),
    "rota.leave": Policy(Audience.AGENT),
    "rota.mine": Policy(Audience.AGENT),
    "rota.swap": Policy(Audience.AGENT),
    "rota.answer": Policy(Audience.AGENT),
    "rota_staff.index": Policy(Audience.STAFF),
    "rota_staff.new_shift": Policy(Audience.STAFF),
    "rota_staff.edit_shift": Policy(Audience.STAFF),
    "rota_staff.retire": Policy(Audience.STAFF),
    "rota_staff.decide": Policy(Audience.STAFF),
    "rota_staff.end_signup": Policy(Audience.STAFF),
}

# Who may see each queue (DESIGN.md "Need to know").
QUEUE_AUDIENCE: dict[str, set[Role]] = {
    "general-help": {Role.VOLUNTEER, Role.SPECIALIST, Role.STAFF},
    "specialist-safety": {Role.SPECIALIST, Role.STAFF},
    "police-liaison": {Role.STAFF},
}
MISSING = "missing"  # stands for a ticket number that does not exist
TICKET_ARGUMENTS = {"number"}
# Parts of the ticket in the URL, filled with one of that ticket's own (webui.tickets); for
# the missing ticket, with a part of another ticket (which must be a 404 all the same).
TICKET_PART_ARGUMENTS = {"article_id", "attachment_id"}
# A queue's slug: filled with every queue's, and with MISSING for a queue that does not exist.
QUEUE_ARGUMENTS = {"slug"}
# Rows the staff pages act on (webui.staff_templates, staff_rules, staff_mail). An endpoint
# that removes its row gets a spare one, so the pages after it still find theirs.
STAFF_OBJECT_ARGUMENTS = {"template_id", "rule_id", "inbound_id", "outbox_id", "queue_id"}
# ... and the police-liaison rows (a case with an identifier, a partner, a referral template).
STAFF_OBJECT_ARGUMENTS |= {"case_id", "identifier_id", "partner_id", "referral_template_id"}
# ... and the team's: an application, a checklist item, a reply held for a mentor.
STAFF_OBJECT_ARGUMENTS |= {"application_id", "item_id", "held_id"}
# A link's secret (a set-password link): one that does not exist.
LINK_ARGUMENTS = {"token": "no-such-link-0123456789"}
# An acknowledgement's language (webui.staff_ack).
REPORTER_ARGUMENTS = {"language": "de"}
# ... and a shift of the rota (taking it off the rota removes it from the pages).
STAFF_OBJECT_ARGUMENTS |= {"shift_id"}
# ... and an abuse list entry and a held message (webui.staff_abuse).
STAFF_OBJECT_ARGUMENTS |= {"entry_id", "action_id"}
# A dashboard figure's key (webui.dashboard).
FIGURE_ARGUMENTS = {"key": "backlog"}
REMOVING_ENDPOINTS = (
    "staff_templates.delete",
    "staff_rules.delete",
    "staff_mail.discard",
    "rota_staff.retire",
    "staff_abuse.remove",
)
ROLES: tuple[Role | None, ...] = (None, Role.VOLUNTEER, Role.SPECIALIST, Role.STAFF)


@dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    url: str
    queue: str | None  # the queue named by the URL (its ticket's or its slug); MISSING; None


@dataclass(frozen=True)
class Data:
    tickets: dict[str, str]  # queue slug -> ticket number
    user_id: int  # an account to act upon (a volunteer)
    markers: dict[str, list[str]]  # queue slug -> texts that must not show outside it
    parts: dict[str, dict[str, int]]  # queue slug -> {"article_id": .., "attachment_id": ..}
    # STAFF_OBJECT_ARGUMENTS -> a row's id; `spares` for REMOVING_ENDPOINTS.
    staff_rows: dict[str, int] = field(default_factory=dict)
    spares: dict[str, int] = field(default_factory=dict)
    # A working status link of the general-help ticket (webui.status: an unknown one is a
    # 404 page of its own, on purpose).
    status_token: str = ""


def coverage_problems(app: Flask) -> list[str]:
    """Endpoints without a policy, policies without an endpoint, arguments we cannot fill."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    problems = [f"no POLICY entry for endpoint {e!r}" for e in sorted(endpoints - set(POLICY))]
    problems += [f"POLICY names unknown endpoint {e!r}" for e in sorted(set(POLICY) - endpoints)]
    for rule in app.url_map.iter_rules():
        unknown = set(rule.arguments) - TICKET_ARGUMENTS - TICKET_PART_ARGUMENTS
        unknown -= {"user_id", "filename"} | QUEUE_ARGUMENTS | STAFF_OBJECT_ARGUMENTS
        unknown -= set(LINK_ARGUMENTS) | set(REPORTER_ARGUMENTS)
        unknown -= set(FIGURE_ARGUMENTS)
        if unknown:
            problems.append(f"{rule.rule}: teach the matrix to fill {sorted(unknown)}")
        policy = POLICY.get(rule.endpoint)
        if policy is not None and policy.ticket != bool(TICKET_ARGUMENTS & rule.arguments):
            problems.append(f"{rule.endpoint}: POLICY.ticket disagrees with the URL {rule.rule}")
        if policy is not None and policy.queue != bool(QUEUE_ARGUMENTS & rule.arguments):
            problems.append(f"{rule.endpoint}: POLICY.queue disagrees with the URL {rule.rule}")
    return problems


def cases(app: Flask, data: Data) -> Iterator[Case]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for queue, values in _fillings(rule, data):
                yield Case(rule.endpoint, method, _build(app, rule, values), queue)


def _fillings(rule: Rule, data: Data) -> Iterator[tuple[str | None, dict[str, object]]]:
    values: dict[str, object] = {}
    if "user_id" in rule.arguments:
        values["user_id"] = data.user_id
    if "filename" in rule.arguments:
        values["filename"] = "switchboard.css"
    values |= {k: v for k, v in LINK_ARGUMENTS.items() if k in rule.arguments}
    values |= {k: v for k, v in REPORTER_ARGUMENTS.items() if k in rule.arguments}
    if rule.endpoint == "status.page":
        values["token"] = data.status_token
    values |= {k: v for k, v in FIGURE_ARGUMENTS.items() if k in rule.arguments}
    rows = data.spares if rule.endpoint in REMOVING_ENDPOINTS else data.staff_rows
    values |= {name: rows[name] for name in STAFF_OBJECT_ARGUMENTS & rule.arguments}
    if QUEUE_ARGUMENTS & rule.arguments:
        for queue in [*QUEUE_AUDIENCE, MISSING]:
            yield queue, {**values, "slug": queue}
        return
    if not TICKET_ARGUMENTS & rule.arguments:
        yield None, values
        return
    for queue in [*QUEUE_AUDIENCE, MISSING]:
        number = data.tickets.get(queue, "1999000099")
        parts = data.parts.get(queue, data.parts["general-help"])
        wanted = {k: v for k, v in parts.items() if k in rule.arguments}
        yield queue, {**values, "number": number, **wanted}


def _build(app: Flask, rule: Rule, values: dict[str, object]) -> str:
    with app.test_request_context():
        adapter = app.url_map.bind("localhost")
        return adapter.build(rule.endpoint, values, force_external=False)


def expected_allowed(case: Case, role: Role | None) -> bool:
    policy = POLICY[case.endpoint]
    if policy.audience is Audience.PUBLIC:
        return True
    if role is None:
        return False
    if policy.audience is Audience.STAFF and role is not Role.STAFF:
        return False
    if policy.audience is Audience.SPECIALIST and role is Role.VOLUNTEER:
        return False
    if case.queue is not None:
        return case.queue != MISSING and role in QUEUE_AUDIENCE[case.queue]
    return True


def leaks(body: str, role: Role, data: Data) -> list[str]:
    hidden = [q for q, audience in QUEUE_AUDIENCE.items() if role not in audience]
    return [m for q in hidden for m in data.markers[q] if m in body]


def run_case(app: Flask, auth: Auth, case: Case, role: Role | None) -> tuple[int, str]:
    """Send the request as `role` in a fresh browser; returns (status, location or body)."""
    client = new_client(app)
    if role is not None:
        auth.as_role(role, client)
        token = csrf_from(client.get("/password"))
    else:
        token = csrf_from(client.get("/login"))
    data = {"csrf_token": token} if case.method == "POST" else None
    response = client.open(case.url, method=case.method, data=data)
    if response.status_code in (301, 302, 303, 307, 308):
        return response.status_code, response.headers["Location"]
    return response.status_code, response.get_data(as_text=True)


def verdict(status: int, detail: str, role: Role | None, not_found_page: str) -> str:
    is_login_redirect = status == 302 and detail.split("?")[0] == "/login"
    if role is None:
        if is_login_redirect:
            return "login"
        return "allowed" if status < 400 else f"error {status}"
    if status == 404:
        return "404" if detail == not_found_page else "404 with a different page"
    if status in (400, 403, 405) or status >= 500:
        return f"error {status}"
    return "allowed"


@pytest.fixture
def data(tickets: dict[str, str], people: People, factory: sessionmaker[Session]) -> Data:
    with factory() as session:
        queues = {q.slug: q.name for q in session.scalars(select(Queue))}
        subjects = {t.number: t.subject for t in session.scalars(select(Ticket))}
    markers = {
        slug: [queues[slug], slug, number, subjects[number]] for slug, number in tickets.items()
    }
    parts = {slug: _add_parts(factory, number) for slug, number in tickets.items()}
    return Data(
        tickets=tickets,
        user_id=people.target.id,
        markers=markers,
        parts=parts,
        staff_rows=_add_staff_rows(factory, tickets["general-help"])
        | _add_team_rows(factory, people, tickets["general-help"]),
        spares=_add_staff_rows(factory, tickets["general-help"]),
        status_token=_add_status_token(factory),
    )


def _add_status_token(factory: sessionmaker[Session]) -> str:
    """A status link of a general-help ticket of its own (staff revoke the matrix tickets')."""
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        ticket = Ticket(number="2026112299", subject="matrix status page", queue_id=queue.id)
        session.add(ticket)
        session.flush()
        return statuslink.issue(session.connection(), ticket.id)


def _add_staff_rows(factory: sessionmaker[Session], number: str) -> dict[str, int]:
    """A reply template, a routing rule, a quarantined message and a failed outgoing one."""
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        template = ReplyTemplate(name="Matrix template", body="Hello {{ requester.name }}")
        rule = RoutingRule(
            position=10,
            name="Matrix rule",
            field="subject",
            match="contains",
            pattern="x",
            flag=True,
        )
        raw = b"Subject: stuck\r\n\r\nbody\r\n"
        inbound = InboundMail(
            source="file:matrix",
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
            state=InboundState.QUARANTINED,
            attempts=3,
            last_error="boom",
        )
        outbox = OutboxMessage(
            ticket_id=ticket.id,
            kind="reply",
            message_id=f"{uuid.uuid4().hex}@matrix",
            recipients=["someone@example.net"],
            raw=raw,
            state=OutboxState.FAILED,
            attempts=1,
            last_error="550 no such user",
        )
        session.add_all([template, rule, inbound, outbox])
        session.flush()
        return (
            {
                "template_id": template.id,
                "rule_id": rule.id,
                "inbound_id": inbound.id,
                "outbox_id": outbox.id,
                "queue_id": queue.id,
                "shift_id": _add_shift(session, queue),
            }
            | _add_liaison_rows(session, ticket)
            | _add_abuse_rows(session, inbound)
        )


def _add_abuse_rows(session: Session, inbound: InboundMail) -> dict[str, int]:
    """A block list entry and a message held for staff (webui.staff_abuse)."""
    entry = SenderRule(
        kind="block",
        scope="address",
        value=f"matrix-{uuid.uuid4().hex[:6]}@example.net",
        reason="matrix",
        created_by="staff@example.org",
    )
    session.add(entry)
    session.flush()
    held = AbuseAction(
        kind="held", state="open", sender=entry.value, inbound_id=inbound.id, rule_id=entry.id
    )
    session.add(held)
    session.flush()
    return {"entry_id": entry.id, "action_id": held.id}


def _add_shift(session: Session, queue: Queue) -> int:
    """A weekly shift of the rota in `queue`."""
    shift = Shift(queue_id=queue.id, weekday=0, start=time(9), end=time(17), timezone="UTC")
    session.add(shift)
    session.flush()
    return shift.id


def _add_team_rows(factory: sessionmaker[Session], people: People, number: str) -> dict[str, int]:
    """An application, a checklist item, and a reply of the target held on `number` with
    the specialist as its mentor (webui.team, webui.mentor)."""
    with factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        application = Application(
            name="Matrix Applicant",
            email=f"matrix-{uuid.uuid4().hex[:6]}@example.net",
            languages=["en"],
            hours="some",
            pledge_version=1,
            conduct_version=1,
        )
        item = ChecklistItem(title="Matrix item")
        held = HeldReply(
            ticket_id=ticket.id,
            author_id=people.target.id,
            mentor_id=people.by_role[Role.SPECIALIST].id,
            body="A held reply",
        )
        session.add_all([application, item, held])
        session.flush()
        return {"application_id": application.id, "item_id": item.id, "held_id": held.id}


def _add_liaison_rows(session: Session, source: Ticket) -> dict[str, int]:
    """A police-liaison case on `source` (its own ticket, an identifier), a partner force
    and a referral template."""
    police = session.scalars(select(Queue).where(Queue.slug == "police-liaison")).one()
    token = uuid.uuid4().hex[:6]
    requester = User(email=f"matrix-{token}@example.org", role=Role.SPECIALIST, password_hash="x")
    case_ticket = Ticket(number=f"20261123{int(token, 16) % 10**6:06d}", queue_id=police.id)
    partner = Partner(name=f"Matrix police {token}", referral_addresses=["p@police.example"])
    template = ReferralTemplate(language=f"x{token}", subject="s", body="b")
    session.add_all([requester, case_ticket, partner, template])
    session.flush()
    case = LiaisonCase(
        ticket_id=case_ticket.id,
        source_ticket_id=source.id,
        requested_by_id=requester.id,
        what_happened="matrix",
    )
    session.add(case)
    session.flush()
    identifier = CaseIdentifier(case_id=case.id, kind=IdentifierKind.ACCOUNT, value="x")
    session.add(identifier)
    session.flush()
    return {
        "case_id": case.id,
        "identifier_id": identifier.id,
        "partner_id": partner.id,
        "referral_template_id": template.id,
    }


def _add_parts(factory: sessionmaker[Session], number: str) -> dict[str, int]:
    """An incoming article with HTML and an attachment on ticket `number`."""
    with factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        article = Article(
            ticket_id=ticket.id,
            kind=ArticleKind.INCOMING,
            from_email="someone@example.net",
            subject=ticket.subject,
            body_text="text",
            body_html="<p>html</p>",
        )
        session.add(article)
        session.flush()
        data = f"attachment of {number}".encode()
        digest = hashlib.sha256(data).hexdigest()
        session.add(Blob(sha256=digest, size=len(data), data=data))
        session.flush()
        attachment = Attachment(
            article_id=article.id,
            filename="report.txt",
            content_type="text/plain",
            size=len(data),
            sha256=digest,
        )
        session.add(attachment)
        session.flush()
        return {"article_id": article.id, "attachment_id": attachment.id}


def test_every_route_has_a_policy(app: Flask) -> None:
    assert coverage_problems(app) == []


def test_a_new_route_without_a_policy_is_caught_and_protected(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    app = make_app(factory, tmp_path)

    @app.route("/tickets/<number>/export.json")
    def export(number: str) -> str:
        return "{}"

    @app.route("/reports/<int:report_id>")
    @public
    def report(report_id: int) -> str:
        return ""

    problems = coverage_problems(app)
    assert "no POLICY entry for endpoint 'export'" in problems
    assert any("report_id" in p for p in problems)
    # Secure by default: a view nobody marked public needs a signed-in agent.
    assert new_client(app).get("/tickets/1/export.json").headers["Location"].startswith("/login")


def test_permission_matrix(app: Flask, auth: Auth, data: Data) -> None:
    assert coverage_problems(app) == []
    all_cases = list(cases(app, data))
    ticket_cases = [c for c in all_cases if c.queue is not None]
    assert {c.queue for c in ticket_cases} == {*QUEUE_AUDIENCE, MISSING}

    not_found = {}
    for role in ROLES:
        client = new_client(app)
        if role is not None:
            auth.as_role(role, client)
        not_found[role] = client.get("/no-such-page").get_data(as_text=True)

    mismatches = []
    for case in all_cases:
        for role in ROLES:
            status, detail = run_case(app, auth, case, role)
            got = verdict(status, detail, role, not_found[role])
            if role is None:
                want = "allowed" if expected_allowed(case, None) else "login"
            else:
                want = "allowed" if expected_allowed(case, role) else "404"
            who = role.value if role else "anonymous"
            where = f"{case.method} {case.url} ({case.endpoint}, queue {case.queue}) as {who}"
            if got != want:
                mismatches.append(f"{where}: want {want}, got {got} (status {status})")
            elif role is not None and got == "allowed" and case.endpoint != "static":
                mismatches += [f"{where}: shows {m!r}" for m in leaks(detail, role, data)]
    assert not mismatches, "\n".join(mismatches)
    assert len(all_cases) * len(ROLES) >= 4 * len(POLICY)  # the matrix really ran
