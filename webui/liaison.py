"""The `liaison` blueprint: "Report to police" on a ticket, the requester's list, and the
staff's case pages (review, country, identifiers, partner, evidence, notice, approve,
confirm, decline, download) and the disclosure register.

Who sees what (DESIGN.md, need to know):
- the request form on a ticket: specialists and staff who may see the ticket; for
  volunteers it is a 404 (they escalate to specialists);
- "my requests": specialists and staff (their own requests on tickets they still see);
- every case page, package download and the register: staff only, a 404 for everyone
  else, like a page that does not exist.

The source ticket's page shows its requests' status (requested, in review, declined with
the reason, sent) to whoever may see it, through the Jinja global `police_requests`
(templates/webui/liaison/_source_status.html); a case ticket's number only to staff.
Approving, confirming, downloading a package and exporting the register ask for the
password again (webui.reauth). Every change runs in one short transaction through
queues.liaison, which re-checks the rules; refusals come back as a flash on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from queues.audit import AuditAction, record, record_staff_change
from queues.liaison import cases, checks, countries, geo, partners, referral
from queues.liaison.cases import (
    BASIS_LABELS,
    CONSENT_LABELS,
    IDENTIFIER_LABELS,
    URGENCY_LABELS,
    IdentifierInput,
    LiaisonError,
    RequestInput,
)
from queues.liaison.disclosure import register, to_csv
from queues.liaison.models import (
    CaseState,
    Consent,
    CountryBasis,
    IdentifierKind,
    LiaisonCase,
    Partner,
    PolicyKind,
    Urgency,
)
from queues.models import Article, ArticleKind, Role, Ticket, TicketEvent, User
from webui import db, downloads, reauth
from webui.config import settings
from webui.login import agent, client_address, signed_in
from webui.need_to_know import ticket_or_404
from webui.tickets import ticket_url

bp = Blueprint("liaison", __name__)

IDENTIFIER_ROWS = 4  # empty identifier rows on a form (more can be added on the case page)
MAX_FIELD = 2000
MAX_TEXT = cases.MAX_TEXT


def utcnow() -> datetime:
    return datetime.now(UTC)


def _staff() -> User:
    """The signed-in staff member; 404 for everyone else (the page does not exist)."""
    me = signed_in()
    if me is None or not me.user.active or me.role is not Role.STAFF:
        abort(404)
    return me.user


def _text(name: str, limit: int = MAX_FIELD) -> str:
    return request.form.get(name, "")[:limit]


def _ids(name: str) -> list[int]:
    values = request.form.getlist(name)[:500]
    return [int(v) for v in values if v.isdigit() and len(v) < 19]


def _when(value: str) -> datetime | None:
    """A datetime-local field ("2026-12-02T10:00"), read as UTC; None when empty."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise LiaisonError(f"{value[:40]!r} is not a date and time (2026-12-02T10:00).") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _identifier_rows() -> list[IdentifierInput]:
    kinds = request.form.getlist("id_kind")[: cases.MAX_IDENTIFIERS + IDENTIFIER_ROWS]
    values = request.form.getlist("id_value")
    seen = request.form.getlist("id_seen")
    notes = request.form.getlist("id_note")
    rows = []
    for i, kind in enumerate(kinds):
        rows.append(
            IdentifierInput(
                kind=kind[:20],
                value=values[i][:MAX_FIELD] if i < len(values) else "",
                seen_at=_when(seen[i][:40]) if i < len(seen) else None,
                note=notes[i][:MAX_FIELD] if i < len(notes) else "",
            )
        )
    return rows


@dataclass
class Choices:
    """The fixed choices of the liaison forms, with the labels people read."""

    countries: list[tuple[str, str]] = field(default_factory=countries.all_countries)
    urgency: dict[Urgency, str] = field(default_factory=lambda: dict(URGENCY_LABELS))
    consent: dict[Consent, str] = field(default_factory=lambda: dict(CONSENT_LABELS))
    basis: dict[CountryBasis, str] = field(default_factory=lambda: dict(BASIS_LABELS))
    identifier: dict[IdentifierKind, str] = field(default_factory=lambda: dict(IDENTIFIER_LABELS))


def _never_countries(session: Session) -> list[countries.PolicyView]:
    return [v for v in countries.policies(session) if v.policy is PolicyKind.NEVER]


# --- the source ticket: status and the request form ---------------------------------------------


@dataclass
class SourcePanel:
    statuses: list[cases.RequestStatus]
    may_request: bool


def police_requests(ticket: Ticket) -> SourcePanel:
    """What the source ticket's page shows (the caller's page already checked that the
    signed-in agent may see `ticket`)."""
    me = agent().user
    statuses = cases.statuses_for_source(db.session(), ticket, me)
    return SourcePanel(statuses, cases.may_request(me))


def _incoming(ticket: Ticket) -> list[Article]:
    return list(
        db.session().scalars(
            select(Article)
            .where(Article.ticket_id == ticket.id, Article.kind == ArticleKind.INCOMING)
            .order_by(Article.id)
        )
    )


@dataclass
class RequestPage:
    ticket: Ticket
    data: RequestInput
    articles: list[Article]
    identifier_rows: list[IdentifierInput]
    never: list[countries.PolicyView]
    choices: Choices
    error: str = ""


def _request_page(page: RequestPage, status: int = 200) -> tuple[str, int]:
    return render_template("webui/liaison/report.html", page=page), status


@bp.route("/tickets/<number>/police", methods=["GET", "POST"])
def report(number: str) -> tuple[str, int] | Response:
    what = "police report form" if request.method == "GET" else "police report requested"
    ticket = ticket_or_404(number, AuditAction.VIEW, what)
    me = agent()
    if not cases.may_request(me.user):
        abort(404)  # volunteers escalate to specialists; the form does not exist for them
    articles = _incoming(ticket)
    if request.method == "GET":
        data = RequestInput(
            what_happened="",
            article_ids=[a.id for a in articles],
            urgency="",
            consent="",
        )
        rows = [IdentifierInput(kind="account", value="") for _ in range(IDENTIFIER_ROWS)]
        page = RequestPage(ticket, data, articles, rows, _never_countries(db.session()), Choices())
        return _request_page(page)
    page = RequestPage(
        ticket,
        RequestInput(
            what_happened=_text("what_happened", MAX_TEXT + 1),
            article_ids=_ids("article"),
            urgency=_text("urgency", 20),
            consent=_text("consent", 20),
            consent_reason=_text("consent_reason"),
            country=_text("country", 60),
            country_basis=_text("country_basis", 20),
            country_note=_text("country_note"),
            victim_country=_text("victim_country", 60),
        ),
        articles,
        [],
        _never_countries(db.session()),
        Choices(),
    )
    try:
        page.identifier_rows = _identifier_rows()
        page.data.identifiers = page.identifier_rows
        ticket_id, user_id = ticket.id, me.user.id
        with db.writing() as writer:
            source = writer.get_one(Ticket, ticket_id)
            user = writer.get_one(User, user_id)
            cases.file_request(
                writer, source, user, page.data, settings(), utcnow(), client=client_address()
            )
    except LiaisonError as exc:
        page.error = str(exc)
        while len(page.identifier_rows) < IDENTIFIER_ROWS:
            page.identifier_rows.append(IdentifierInput(kind="account", value=""))
        return _request_page(page)
    flash("Your report to police is requested. Staff will review it; its status shows here.")
    return redirect(ticket_url(ticket.number), code=303)


@bp.route("/liaison/mine")
def mine() -> str:
    me = signed_in()
    if me is None or not cases.may_request(me.user):
        abort(404)
    requests = cases.requests_by(db.session(), me.user)
    return render_template("webui/liaison/mine.html", requests=requests)


# --- staff: the cases -------------------------------------------------------------------------


@dataclass
class CaseRow:
    case: LiaisonCase
    number: str
    source_number: str | None
    requested_by: str
    partner: str | None


def _rows(session: Session, found: list[LiaisonCase]) -> list[CaseRow]:
    rows = []
    for case in found:
        ticket = session.get_one(Ticket, case.ticket_id)
        source = cases.source_ticket(session, case)
        requester = session.get(User, case.requested_by_id)
        partner = session.get(Partner, case.partner_id) if case.partner_id else None
        rows.append(
            CaseRow(
                case,
                ticket.number,
                source.number if source is not None else None,
                requester.email if requester is not None else "a former account",
                partner.name if partner is not None else None,
            )
        )
    return rows


@bp.route("/liaison/")
def index() -> str:
    _staff()
    session = db.session()
    found = cases.case_list(session)
    open_rows = _rows(session, [c for c in found if c.state in cases.OPEN_STATES])
    closed_rows = _rows(session, [c for c in found if c.state not in cases.OPEN_STATES])
    return render_template(
        "webui/liaison/index.html",
        open_rows=open_rows,
        closed_rows=closed_rows,
        urgency=URGENCY_LABELS,
        country_name=countries.country_name,
        status=cases.STATUS_LABELS,
    )


@dataclass
class IdentifierView:
    id: int
    kind: str
    value: str
    seen_at: datetime | None
    note: str
    added_by: str
    geo_country: str | None


@dataclass
class PartnerOption:
    partner: Partner
    problems: list[str]


@dataclass
class CasePage:
    case: LiaisonCase
    ticket: Ticket
    source: Ticket | None
    requester: str
    identifiers: list[IdentifierView]
    suggestion: geo.Suggestion | None
    geo_available: bool
    policy: countries.PolicyView | None
    partner: Partner | None
    partner_options: list[PartnerOption]
    articles: list[Article]
    approvals: list[tuple[str, str, datetime]]
    problems: list[str]
    events: list[TicketEvent]
    disclosures: list[object]
    editable: bool
    can_approve: str | None  # None: may approve; else why not
    can_confirm: str | None
    can_decline: str | None
    can_download: bool
    choices: Choices
    identifier_rows: list[IdentifierInput]


def _case_or_404(case_id: int) -> LiaisonCase:
    case = db.session().get(LiaisonCase, case_id)
    if case is None:
        abort(404)
    return case


def _why_not_approve(case: LiaisonCase, me: User, problems: list[str]) -> str | None:
    if case.state not in cases.EDITABLE:
        return "It is approved or closed already."
    if me.id == case.requested_by_id:
        return "You made this request: two other staff members must approve it."
    if problems:
        return "Not yet: " + " ".join(problems)
    return None


def _why_not_confirm(case: LiaisonCase, me: User, problems: list[str]) -> str | None:
    if case.state is not CaseState.APPROVED:
        return "Only an approved case can be confirmed."
    if me.id == case.requested_by_id:
        return "You made this request: two other staff members must approve it."
    if me.id == cases.approver_id(case):
        return "You approved this case: a different staff member must confirm it."
    if problems:
        return "Not now: " + " ".join(problems)
    return None


def _why_not_decline(case: LiaisonCase, me: User) -> str | None:
    if case.state not in cases.OPEN_STATES:
        return "The case is closed."
    if me.id == case.requested_by_id:
        return "You made this request: another staff member decides on it."
    return None


def _case_page(case: LiaisonCase, me: User) -> CasePage:
    session = db.session()
    conf = settings()
    ticket = session.get_one(Ticket, case.ticket_id)
    source = cases.source_ticket(session, case)
    requester = session.get(User, case.requested_by_id)
    identifiers = [
        IdentifierView(
            i.id,
            IDENTIFIER_LABELS[i.kind],
            i.value,
            i.seen_at,
            i.note,
            i.added_by,
            geo.country_of(conf, i.value) if i.kind is IdentifierKind.IP else None,
        )
        for i in case.identifiers
    ]
    ips = [i.value for i in case.identifiers if i.kind is IdentifierKind.IP]
    policy = countries.policy_of(session, case.country) if case.country else None
    partner = session.get(Partner, case.partner_id) if case.partner_id else None
    options = [
        PartnerOption(p, partners.usability_problems(p))
        for p in (partners.partners_for(session, case.country) if case.country else [])
    ]
    problems = checks.referral_problems(session, case)
    events = list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.like("liaison-%"))
            .order_by(TicketEvent.id)
        )
    )
    disclosures = [d for d in register(session) if d.case_id == case.id]
    return CasePage(
        case=case,
        ticket=ticket,
        source=source,
        requester=requester.email if requester is not None else "a former account",
        identifiers=identifiers,
        suggestion=geo.suggest(conf, ips),
        geo_available=geo.available(conf),
        policy=policy,
        partner=partner,
        partner_options=options,
        articles=_incoming(source) if source is not None else [],
        approvals=[(a.step.value, a.user_email, a.at) for a in case.approvals],
        problems=problems,
        events=events,
        disclosures=list(disclosures),
        editable=case.state in cases.EDITABLE,
        can_approve=_why_not_approve(case, me, problems),
        can_confirm=_why_not_confirm(case, me, problems),
        can_decline=_why_not_decline(case, me),
        can_download=case.delivery == "download"
        and case.state in (CaseState.CONFIRMED, CaseState.SENT),
        choices=Choices(),
        identifier_rows=[IdentifierInput(kind="account", value="") for _ in range(IDENTIFIER_ROWS)],
    )


def case_url(case_id: int) -> str:
    return url_for("liaison.case", case_id=case_id)


def staff_case(case_id: int) -> LiaisonCase:
    """404 unless a staff member is signed in and the case exists."""
    _staff()
    return _case_or_404(case_id)


@bp.route("/liaison/cases/<int:case_id>")
def case(case_id: int) -> str:
    me = _staff()
    found = _case_or_404(case_id)
    ticket = db.session().get_one(Ticket, found.ticket_id)
    source = cases.source_ticket(db.session(), found)
    with db.writing() as writer:
        record(
            writer,
            me,
            AuditAction.VIEW,
            writer.get_one(Ticket, ticket.id),
            client_address(),
            f"liaison case {case_id}",
        )
        if source is not None:
            record(
                writer,
                me,
                AuditAction.VIEW,
                writer.get_one(Ticket, source.id),
                client_address(),
                f"liaison case {case_id}",
            )
    found = _case_or_404(case_id)
    return render_template(
        "webui/liaison/case.html",
        page=_case_page(found, me),
        country_name=countries.country_name,
        status=cases.STATUS_LABELS,
        urgency=URGENCY_LABELS,
        consent=CONSENT_LABELS,
        basis=BASIS_LABELS,
        ticket_url=ticket_url,
    )


Step = Callable[[Session, LiaisonCase, User, datetime], str]


def _step(case_id: int, apply: Step) -> Response:
    """Run one step on the case in its own transaction; flash its message or the refusal."""
    me = _staff()
    _case_or_404(case_id)
    try:
        with db.writing() as writer:
            fresh = cases.lock_case(writer, case_id)
            user = writer.get_one(User, me.id)
            message = apply(writer, fresh, user, utcnow())
    except LiaisonError as exc:
        message = str(exc)
    flash(message)
    return redirect(case_url(case_id), code=303)


@bp.route("/liaison/cases/<int:case_id>/review", methods=["POST"])
def review(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        cases.start_review(s, c, u, now, client=client_address())
        return "You are reviewing this case."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/country", methods=["POST"])
def country(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        cases.set_country(
            s,
            c,
            u,
            _text("country", 60),
            _text("country_basis", 20),
            _text("country_note"),
            now,
            client=client_address(),
        )
        return f"The harasser's country is {countries.country_name(c.country)} now."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/identifiers", methods=["POST"])
def identifiers(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        added = cases.add_identifiers(s, c, u, _identifier_rows(), now, client=client_address())
        return f"{added} identifiers added."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/identifiers/<int:identifier_id>/delete", methods=["POST"])
def remove_identifier(case_id: int, identifier_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        cases.remove_identifier(s, c, u, identifier_id, now, client=client_address())
        return "The identifier is removed."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/partner", methods=["POST"])
def partner(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        wanted = _text("partner", 20)
        if not wanted.isdigit():
            raise LiaisonError("Choose the partner force.")
        chosen = cases.choose_partner(s, c, u, int(wanted), now, client=client_address())
        return f"The referral goes to {chosen.name}."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/evidence", methods=["POST"])
def evidence(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        cases.set_evidence(s, c, u, _ids("article"), now, client=client_address())
        return f"{len(c.evidence_article_ids)} messages are the evidence now."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/notice", methods=["POST"])
def notice(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        notify = _text("notify", 5) != "no"
        cases.set_notice(s, c, u, notify, _text("no_notice_reason"), now, client=client_address())
        if notify:
            return "The reporter will be told when the referral is handed over."
        return "The reporter will not be told; the reason is on record."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/approve", methods=["POST"])
@reauth.required("approve this referral", case_url, guard=staff_case)
def approve(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        cases.approve(s, c, u, now, client=client_address())
        return "You approved the referral. A second staff member must confirm it."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/confirm", methods=["POST"])
@reauth.required("confirm this referral", case_url, guard=staff_case)
def confirm(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        cases.confirm(s, c, u, settings(), now, client=client_address())
        if c.state is CaseState.SENT:
            return "Confirmed: the referral is queued for sending, encrypted to the partner."
        return (
            "Confirmed. The package is too large for mail: download it below and hand it "
            "over another way."
        )

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/decline", methods=["POST"])
def decline(case_id: int) -> Response:
    def apply(s: Session, c: LiaisonCase, u: User, now: datetime) -> str:
        cases.decline(s, c, u, _text("reason", cases.MAX_REASON + 1), now, client=client_address())
        return "The referral is declined; the requester sees your reason."

    return _step(case_id, apply)


@bp.route("/liaison/cases/<int:case_id>/download", methods=["POST"])
@reauth.required("download the evidence package", case_url, guard=staff_case)
def download(case_id: int) -> Response:
    me = _staff()
    _case_or_404(case_id)
    try:
        with db.writing() as writer:
            user = writer.get_one(User, me.id)
            found = writer.get_one(LiaisonCase, case_id)
            package = referral.download(
                writer, found, user, settings(), utcnow(), client=client_address()
            )
    except LiaisonError as exc:
        flash(str(exc))
        return redirect(case_url(case_id), code=303)
    response = current_app.response_class(package.data)
    for name, value in downloads.download_headers(package.filename, "evidence.zip.gpg").items():
        response.headers[name] = value
    return response


# --- staff: the disclosure register ---------------------------------------------------------


@bp.route("/liaison/register")
def disclosures() -> str:
    _staff()
    return render_template("webui/liaison/register.html", rows=register(db.session()))


@bp.route("/liaison/register.csv", methods=["POST"])
@reauth.required(
    "export the disclosure register", lambda: url_for("liaison.disclosures"), guard=_staff
)
def export_register() -> Response:
    me = _staff()
    rows = register(db.session())
    text = to_csv(rows)
    with db.writing() as writer:
        detail = f"disclosure register exported ({len(rows)} rows)"
        record_staff_change(writer, writer.get_one(User, me.id), client_address(), detail)
    response = current_app.response_class(text.encode("utf-8"))
    stamp = f"{utcnow():%Y%m%d-%H%M%S}"
    for name, value in downloads.download_headers(
        f"disclosure-register-{stamp}.csv", "disclosure-register.csv"
    ).items():
        response.headers[name] = value
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    return response


def init_app(app: Flask) -> None:
    """Register the blueprint and the Jinja global the source ticket's page uses."""
    app.register_blueprint(bp)
    app.jinja_env.globals["police_requests"] = police_requests
