"""Routing: which queue a new ticket goes to, and the staff-defined routing rules.

Order of decisions (DESIGN.md "Decide"): the recipient address picks the queue; then the
ordered rules stored in the database, first match wins, every hit recorded; then safety
triage (queues.triage), which may only ever move a ticket *into* specialist-safety.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from typing import Protocol

import regex
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from queues.mail import IncomingMail
from queues.models import Priority, RoutingRule, table_of
from queues.settings import Settings

FIELDS = ("subject", "from", "to", "body")
MATCHES = ("words", "contains", "regex")
# Rules look at the first part of a body only: enough for any signature or phrase, and it
# bounds the work a pathological message can cause.
BODY_LIMIT = 200_000


class RuleError(ValueError):
    """A routing rule that cannot work (bad field, bad regular expression, bad action)."""


@dataclass
class RoutingDecision:
    queue_slug: str
    our_address: str  # the address of ours the mail was sent to (replies come from it)
    priority: int = int(Priority.NORMAL)
    flagged: bool = False
    ignore: bool = False
    hits: list[str] = field(default_factory=list)  # human-readable, for the ticket history


def our_recipient(
    envelope_to: Sequence[str],
    mail: IncomingMail,
    settings: Settings,
    restricted_queues: Set[str] = frozenset(),
) -> str | None:
    """Which of our addresses the message was for: the envelope if it names one of ours,
    else the headers. Mail to several of ours goes to a restricted queue if one is among them
    (a report copied to help@ and safety@ is a safety report)."""
    found = [a.lower() for a in envelope_to if a.lower() in settings.addresses]
    if not found:
        headers = [*mail.delivered_to, *(a.email.lower() for a in (*mail.to, *mail.cc))]
        found = [a for a in headers if a in settings.addresses]
    for address in found:
        if settings.addresses[address] in restricted_queues:
            return address
    return found[0] if found else None


def queue_for_recipient(
    envelope_to: Sequence[str],
    mail: IncomingMail,
    settings: Settings,
    restricted_queues: Set[str] = frozenset(),
) -> RoutingDecision:
    address = our_recipient(envelope_to, mail, settings, restricted_queues)
    if address is None:
        fallback = next(
            (a for a, q in settings.addresses.items() if q == settings.default_queue),
            next(iter(settings.addresses), "help@localhost"),
        )
        return RoutingDecision(queue_slug=settings.default_queue, our_address=fallback)
    return RoutingDecision(queue_slug=settings.addresses[address], our_address=address)


def field_text(mail: IncomingMail, name: str) -> str:
    """The text a rule on `name` looks at."""
    key = name.lower()
    if key == "subject":
        return mail.subject
    if key == "from":
        return str(mail.from_) if mail.from_ else mail.header("from")
    if key == "to":
        return ", ".join(str(a) for a in (*mail.to, *mail.cc))
    if key == "body":
        return mail.body_text[:BODY_LIMIT]
    if key.startswith("header:"):
        return mail.header(key.partition(":")[2].strip())
    raise RuleError(f"unknown rule field {name!r}")


def validate_rule(rule: RoutingRule, known_queues: Iterable[str]) -> None:
    """Raise RuleError if `rule` could never work; called before a rule is saved."""
    if rule.field.lower() not in FIELDS and not rule.field.lower().startswith("header:"):
        raise RuleError(f"field must be one of {', '.join(FIELDS)} or header:<Name>")
    if rule.match not in MATCHES:
        raise RuleError(f"match must be one of {', '.join(MATCHES)}")
    if not rule.pattern.strip():
        raise RuleError("pattern must not be empty")
    if rule.match == "regex":
        try:
            regex.compile(rule.pattern, regex.IGNORECASE)
        except regex.error as exc:
            raise RuleError(f"invalid regular expression: {exc}") from exc
    if rule.set_queue is not None and rule.set_queue not in set(known_queues):
        raise RuleError(f"no queue {rule.set_queue!r}")
    if rule.set_priority is not None and not 1 <= rule.set_priority <= 5:
        raise RuleError("priority must be between 1 and 5")
    if not (rule.set_queue or rule.set_priority or rule.flag or rule.ignore):
        raise RuleError("a rule needs at least one action")


def rule_matches(rule: Rule, mail: IncomingMail, timeout: float) -> bool:
    """Does `rule` match `mail`? A regex that runs past `timeout` counts as no match."""
    text = field_text(mail, rule.field)
    if rule.match == "contains":
        return rule.pattern.casefold() in text.casefold()
    if rule.match == "words":
        words = rule.pattern.split()
        return all(
            regex.search(rf"(?<!\w){regex.escape(w)}(?!\w)", text, regex.IGNORECASE) for w in words
        )
    try:
        # The regex module's timeout stops a catastrophic pattern (ReDoS) from stalling ingest.
        return regex.search(rule.pattern, text, regex.IGNORECASE, timeout=timeout) is not None
    except TimeoutError:
        return False
    except regex.error:
        return False


class Rule(Protocol):
    """What matching and applying a rule reads: a RoutingRule, or a row of its table."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def match(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def set_queue(self) -> str | None: ...
    @property
    def set_priority(self) -> int | None: ...
    @property
    def flag(self) -> bool: ...
    @property
    def ignore(self) -> bool: ...


_R = table_of(RoutingRule)
# Read for every new ticket: plain rows, not ORM entities.
_ENABLED_RULES = select(_R).where(_R.c.enabled).order_by(_R.c.position, _R.c.id)
_COUNT_HIT = update(_R).where(_R.c.id == bindparam("rid")).values(hits=_R.c.hits + 1)


def first_matching_rule(session: Session, mail: IncomingMail, settings: Settings) -> Rule | None:
    rule: Rule
    for rule in session.connection().execute(_ENABLED_RULES):
        if rule_matches(rule, mail, settings.rule_timeout_seconds):
            return rule
    return None


def apply_rule(rule: Rule, decision: RoutingDecision) -> None:
    actions = []
    if rule.set_queue:
        decision.queue_slug = rule.set_queue
        actions.append(f"queue {rule.set_queue}")
    if rule.set_priority:
        decision.priority = rule.set_priority
        actions.append(f"priority {rule.set_priority}")
    if rule.flag:
        decision.flagged = True
        actions.append("flag")
    if rule.ignore:
        decision.ignore = True
        actions.append("ignore")
    decision.hits.append(f"routing rule #{rule.id} {rule.name!r} matched: {', '.join(actions)}")


def route_new(
    session: Session,
    envelope_to: Sequence[str],
    mail: IncomingMail,
    settings: Settings,
    restricted_queues: Set[str] = frozenset(),
) -> RoutingDecision:
    """Recipient first, then the first matching rule (its hit counted in the same transaction)."""
    decision = queue_for_recipient(envelope_to, mail, settings, restricted_queues)
    rule = first_matching_rule(session, mail, settings)
    if rule is not None:
        apply_rule(rule, decision)
        session.connection().execute(_COUNT_HIT, {"rid": rule.id})
    return decision
