"""The `staff_rules` blueprint: the ordered routing rules, edited by staff, and trying one out.

Rules are checked with queues.routing.validate_rule before they are saved and tried with
queues.routing.rule_matches and apply_rule, the functions ingest itself uses, so what the
page says is what mail will get. "Try on a ticket" looks at that ticket's first incoming
message and changes nothing; header rules see the headers of the message as stored (decoded
with the standard library). Every change is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.utils import getaddresses

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from queues.access import ticket_for
from queues.audit import AuditAction, record, record_staff_change
from queues.mail import Address, IncomingMail
from queues.models import Article, ArticleKind, InboundMail, Queue, RoutingRule, Ticket
from queues.routing import (
    MATCHES,
    RoutingDecision,
    RuleError,
    apply_rule,
    field_text,
    first_matching_rule,
    rule_matches,
    validate_rule,
)
from webui import db
from webui.config import settings as _settings
from webui.login import agent, client_address
from webui.staff import ActionForm, staff_only
from webui.staff_templates import label

bp = Blueprint("staff_rules", __name__, url_prefix="/staff/rules")
bp.before_request(staff_only)

MATCH_LABELS = {
    "words": "all of these words",
    "contains": "contains this text",
    "regex": "regular expression",
}
MAX_PATTERN = 2_000
EXCERPT = 600


class RuleForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    field = StringField("Look at", default="subject", validators=[DataRequired(), Length(max=200)])
    match = SelectField("Match", choices=[SelectChoice(m, MATCH_LABELS[m]) for m in MATCHES])
    pattern = StringField("Pattern", validators=[DataRequired(), Length(max=MAX_PATTERN)])
    set_queue = SelectField("Move to queue", choices=[], default="")
    set_priority = SelectField(
        "Set priority",
        choices=[SelectChoice("", "leave as is")]
        + [SelectChoice(str(p), str(p)) for p in range(1, 6)],
        default="",
    )
    flag = BooleanField("Flag the ticket")
    ignore = BooleanField("Ignore the message (no ticket)")
    enabled = BooleanField("Enabled", default=True)
    try_ticket = StringField("Try on ticket", validators=[Optional(), Length(max=32)])


class TryForm(FlaskForm):  # type: ignore[misc]
    """The ticket number on the "try a saved rule" page (a GET form: no token)."""

    class Meta:
        csrf = False

    number = StringField("Ticket number", validators=[Optional(), Length(max=32)])


@dataclass
class Trial:
    """What a rule would do to a ticket's first incoming message."""

    number: str
    matched: bool
    field: str
    text: str
    action: str
    first_rule: str  # which enabled rule matches that message first today


def _ordered() -> list[RoutingRule]:
    stmt = select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)
    return list(db.session().scalars(stmt))


def _slugs() -> list[str]:
    return list(db.session().scalars(select(Queue.slug).order_by(Queue.id)))


def actions_of(rule: RoutingRule) -> str:
    """The rule's actions in words (what apply_rule records on a ticket)."""
    decision = RoutingDecision(queue_slug="", our_address="")
    apply_rule(rule, decision)
    return decision.hits[0].partition("matched: ")[2] if decision.hits else ""


@bp.route("/")
def index() -> str:
    return render_template(
        "webui/staff_rules/index.html",
        rules=_ordered(),
        actions_of=actions_of,
        match_labels=MATCH_LABELS,
        action_form=ActionForm(),
    )


# --- trying a rule ---------------------------------------------------------------------------


def _addresses(values: list[str]) -> list[Address]:
    return [Address(email=e, name=n) for n, e in getaddresses(values) if e]


def _headers(raw: bytes) -> dict[str, str]:
    """Decoded headers of a stored message, as IncomingMail.headers holds them."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    parsed = message_from_bytes(head, policy=policy.default)
    headers: dict[str, str] = {}
    for name in dict.fromkeys(parsed):
        try:
            values = [str(v) for v in parsed.get_all(name, [])]
        except Exception:  # a header the standard library cannot decode: leave it out
            values = []
        if values:
            headers[name.lower()] = "\n".join(values)
    return headers


def mail_of(ticket: Ticket) -> IncomingMail | None:
    """The ticket's first incoming message as routing saw it (near enough: from storage)."""
    session = db.session()
    article = session.scalar(
        select(Article)
        .where(Article.ticket_id == ticket.id, Article.kind == ArticleKind.INCOMING)
        .order_by(Article.id)
        .limit(1)
    )
    if article is None:
        return None
    headers: dict[str, str] = {}
    if article.inbound_id is not None:
        raw = session.scalar(select(InboundMail.raw).where(InboundMail.id == article.inbound_id))
        if raw:
            headers = _headers(raw)
    headers.setdefault("subject", article.subject)
    return IncomingMail(
        raw_sha256="",
        size=0,
        message_id=article.message_id,
        subject=article.subject,
        from_=Address(email=article.from_email, name=article.from_name)
        if article.from_email
        else None,
        to=_addresses(list(article.to)),
        cc=_addresses(list(article.cc)),
        body_text=article.body_text,
        headers=headers,
    )


def try_rule(rule: RoutingRule, number: str, error_field: StringField) -> Trial | None:
    """Match `rule` against ticket `number` (audited if restricted); None after a field error."""
    me = agent()
    ticket = ticket_for(db.session(), me.user, number)
    if ticket is None:
        error_field.errors.append("There is no ticket with that number.")
        return None
    mail = mail_of(ticket)
    if mail is None:
        error_field.errors.append("That ticket has no incoming message to try the rule on.")
        return None
    with db.writing() as writer:
        record(writer, me.user, AuditAction.VIEW, ticket, client_address(), "routing rule trial")
    settings = _settings()
    try:
        text = field_text(mail, rule.field)
    except RuleError as exc:
        error_field.errors.append(str(exc))
        return None
    matched = rule_matches(rule, mail, settings.rule_timeout_seconds)
    first = first_matching_rule(db.session(), mail, settings)
    first_rule = "none" if first is None else f"#{first.id} {first.name}"
    excerpt = text if len(text) <= EXCERPT else text[:EXCERPT] + " …"
    return Trial(
        number=ticket.number,
        matched=matched,
        field=rule.field,
        text=excerpt,
        action=actions_of(rule),
        first_rule=first_rule,
    )


@bp.route("/<int:rule_id>/try")
def try_saved(rule_id: int) -> str:
    rule = db.session().get(RoutingRule, rule_id)
    if rule is None:
        abort(404)
    form = TryForm(request.args)
    number = (form.number.data or "").strip()
    trial = try_rule(rule, number, form.number) if form.validate() and number else None
    return render_template("webui/staff_rules/try.html", rule=rule, form=form, trial=trial)


# --- adding and changing ---------------------------------------------------------------------


def _form_page(form: RuleForm, rule: RoutingRule | None, trial: Trial | None) -> str:
    return render_template("webui/staff_rules/edit.html", form=form, rule=rule, trial=trial)


_ERROR_FIELDS = (
    ("field", "field"),
    ("match", "match"),
    ("pattern", "pattern"),
    ("invalid regular expression", "pattern"),
    ("no queue", "set_queue"),
    ("priority", "set_priority"),
)


def _from_form(form: RuleForm, rule: RoutingRule) -> None:
    rule.name = form.name.data.strip()
    rule.field = form.field.data.strip()
    rule.match = form.match.data
    rule.pattern = form.pattern.data
    rule.set_queue = form.set_queue.data or None
    rule.set_priority = int(form.set_priority.data) if form.set_priority.data else None
    rule.flag = bool(form.flag.data)
    rule.ignore = bool(form.ignore.data)
    rule.enabled = bool(form.enabled.data)


def _validate(form: RuleForm, candidate: RoutingRule) -> str | None:
    """Field errors on the form; returns a message for the whole form if none fits a field."""
    try:
        validate_rule(candidate, _slugs())
    except RuleError as exc:
        message = str(exc)
        text = f"{message[:1].upper()}{message[1:]}."
        for prefix, name in _ERROR_FIELDS:
            if message.startswith(prefix):
                getattr(form, name).errors.append(text)
                return None
        return text
    return None


def _edit(rule: RoutingRule | None) -> str | Response:
    form = RuleForm(obj=rule)
    form.set_queue.choices = [SelectChoice("", "leave as is")] + [
        SelectChoice(s, s) for s in _slugs()
    ]
    if request.method == "GET" and rule is not None:
        form.set_queue.data = rule.set_queue or ""
        form.set_priority.data = str(rule.set_priority) if rule.set_priority else ""
    if not form.validate_on_submit():
        return _form_page(form, rule, None)
    candidate = RoutingRule(id=rule.id if rule is not None else None)
    _from_form(form, candidate)
    problem = _validate(form, candidate)
    if problem is not None or any(f.errors for f in form):
        return render_template(
            "webui/staff_rules/edit.html", form=form, rule=rule, trial=None, problem=problem
        )
    if request.form.get("action") == "try":
        number = (form.try_ticket.data or "").strip()
        if not number:
            form.try_ticket.errors.append("Give a ticket number to try the rule on.")
            return _form_page(form, rule, None)
        candidate.id = rule.id if rule is not None else 0
        return _form_page(form, rule, try_rule(candidate, number, form.try_ticket))
    me = agent()
    with db.writing() as writer:
        if rule is None:
            last = writer.scalar(select(func.max(RoutingRule.position)))
            row = RoutingRule(position=(last or 0) + 10, hits=0)
            writer.add(row)
        else:
            found = writer.get(RoutingRule, rule.id)
            if found is None:
                abort(404)
            row = found
        _from_form(form, row)
        writer.flush()
        verb = "added" if rule is None else "changed"
        detail = f"routing rule {row.id} {label(row.name)!r} {verb}"
        record_staff_change(writer, me.user, client_address(), detail)
        name = row.name
    flash(f"The routing rule {name!r} is saved.")
    return redirect(url_for("staff_rules.index"))


@bp.route("/new", methods=["GET", "POST"])
def new() -> str | Response:
    return _edit(None)


@bp.route("/<int:rule_id>", methods=["GET", "POST"])
def edit(rule_id: int) -> str | Response:
    rule = db.session().get(RoutingRule, rule_id)
    if rule is None:
        abort(404)
    return _edit(rule)


def _change(rule_id: int, what: str) -> tuple[str, bool]:
    """Toggle or delete a rule in one transaction; returns (its name, enabled after)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    me = agent()
    with db.writing() as writer:
        rule = writer.get(RoutingRule, rule_id)
        if rule is None:
            abort(404)
        name, enabled = rule.name, rule.enabled
        if what == "toggle":
            rule.enabled = enabled = not rule.enabled
            what = "enabled" if enabled else "disabled"
        else:
            writer.delete(rule)
            what = "deleted"
        detail = f"routing rule {rule_id} {label(name)!r} {what}"
        record_staff_change(writer, me.user, client_address(), detail)
    return name, enabled


@bp.route("/<int:rule_id>/toggle", methods=["POST"])
def toggle(rule_id: int) -> Response:
    name, enabled = _change(rule_id, "toggle")
    flash(f"The routing rule {name!r} is {'enabled' if enabled else 'disabled'}.")
    return redirect(url_for("staff_rules.index"))


@bp.route("/<int:rule_id>/delete", methods=["POST"])
def delete(rule_id: int) -> Response:
    name, _ = _change(rule_id, "delete")
    flash(f"The routing rule {name!r} is deleted.")
    return redirect(url_for("staff_rules.index"))


@bp.route("/<int:rule_id>/move", methods=["POST"])
def move(rule_id: int) -> Response:
    """Move a rule one place up or down (renumbering every rule 10, 20, ... on the way)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    step = -1 if request.form.get("direction") == "up" else 1
    me = agent()
    with db.writing() as writer:
        rules = list(
            writer.scalars(
                select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id).with_for_update()
            )
        )
        index = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
        if index is None:
            abort(404)
        other = index + step
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
            for position, rule in enumerate(rules, 1):
                rule.position = position * 10
            direction = "up" if step < 0 else "down"
            record_staff_change(
                writer, me.user, client_address(), f"routing rule {rule_id} moved {direction}"
            )
    return redirect(url_for("staff_rules.index"))
