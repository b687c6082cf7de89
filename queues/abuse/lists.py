"""Block, allow and abusive entries: by address or by a whole domain, with reason and expiry.

- block: the sender's mail is held for staff (or ignored: `abuse_blocked_action`), new
  reports and follow-ups alike; never answered automatically.
- abusive: an agent marked the sender on a ticket: no more automatic mail to them, and their
  later new reports are held for staff (follow-ups still reach their tickets).
- allow: wins over block and abusive entries and exempts the sender from the per-sender cap
  and flood collapsing (a partner who forwards many reports, a tester).

A domain entry covers the domain and its subdomains. An entry counts from its creation until
it expires or is removed; removed entries stay as the record (who, when, why). Addresses
and domains are compared lower-cased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, or_, select
from sqlalchemy.orm import Session

from queues.abuse.models import ABUSIVE, ADDRESS, ALLOW, BLOCK, DOMAIN, RULE_KINDS, SenderRule
from queues.models import table_of
from queues.outgoing import AddressError, split_mailbox

MAX_REASON = 2000


class ListError(ValueError):
    """An entry that cannot be made; the message is meant for staff."""


@dataclass(frozen=True)
class Standing:
    """What the lists say about one sender now."""

    allowed: SenderRule | None = None
    blocked: SenderRule | None = None
    abusive: SenderRule | None = None

    @property
    def is_allowed(self) -> bool:
        return self.allowed is not None

    @property
    def hold_all(self) -> SenderRule | None:
        """The block entry that stops all of the sender's mail, unless allowed."""
        return None if self.allowed else self.blocked

    @property
    def hold_new(self) -> SenderRule | None:
        """The entry that holds the sender's new reports, unless allowed."""
        return None if self.allowed else (self.blocked or self.abusive)

    @property
    def no_automatic_mail(self) -> bool:
        return self.hold_new is not None


def domains_of(email: str) -> list[str]:
    """The domain of `email` and each parent domain: a.b.example.org, b.example.org, ..."""
    domain = email.rpartition("@")[2].strip().lower().rstrip(".")
    parts = domain.split(".")
    return [".".join(parts[i:]) for i in range(len(parts)) if parts[i]]


_R = table_of(SenderRule)
_STANDING = select(_R).where(
    _R.c.value.in_(bindparam("values", expanding=True)),
    _R.c.removed_at.is_(None),
    or_(_R.c.expires_at.is_(None), _R.c.expires_at > bindparam("now")),
)


def standing(conn: Connection, email: str, now: datetime) -> Standing:
    """The sender's entries in force at `now` (the most specific of each kind wins)."""
    email = email.strip().lower()
    if not email:
        return Standing()
    values = [email, *domains_of(email)]
    found: dict[str, tuple[int, SenderRule]] = {}
    for row in conn.execute(_STANDING, {"values": values, "now": now}):
        rank = 0 if row.scope == ADDRESS and row.value == email else 1 + values.index(row.value)
        if row.scope == DOMAIN and row.value == email:
            continue  # a domain entry cannot equal an address
        rule = SenderRule(**row._asdict())
        if row.kind not in found or rank < found[row.kind][0]:
            found[row.kind] = (rank, rule)
    return Standing(
        allowed=found[ALLOW][1] if ALLOW in found else None,
        blocked=found[BLOCK][1] if BLOCK in found else None,
        abusive=found[ABUSIVE][1] if ABUSIVE in found else None,
    )


def parse_target(value: str) -> tuple[str, str]:
    """(scope, value) for an address ("x@example.org") or a domain ("example.org")."""
    text = value.strip().lower()
    if text.startswith("@"):
        text = text[1:]
    if not text or len(text) > 320 or any(c.isspace() for c in text):
        raise ListError("Give an address (name@example.org) or a domain (example.org).")
    if "@" in text:
        try:
            local, domain = split_mailbox(text)
        except AddressError as exc:
            raise ListError(f"Not an address mail can come from: {exc}.") from None
        return ADDRESS, f"{local}@{domain}"
    try:
        _, domain = split_mailbox(f"x@{text}")
    except AddressError:
        raise ListError(f"Not a domain: {text[:100]!r}.") from None
    if "." not in domain:
        raise ListError("A domain needs at least one dot (example.org).")
    return DOMAIN, domain


def add_rule(
    session: Session,
    kind: str,
    target: str,
    reason: str,
    actor: str,
    now: datetime,
    *,
    expires_at: datetime | None = None,
    ticket_id: int | None = None,
) -> SenderRule:
    """A new entry; the caller records it in the audit log."""
    if kind not in RULE_KINDS:
        raise ListError("Choose block, allow or abusive.")
    scope, value = parse_target(target)
    reason = reason.replace("\0", "").strip()
    if not reason:
        raise ListError("Give a reason: staff who read the list later need it.")
    if len(reason) > MAX_REASON:
        raise ListError(f"A reason can have at most {MAX_REASON} characters.")
    if expires_at is not None and expires_at <= now:
        raise ListError("The expiry must be in the future.")
    rule = SenderRule(
        kind=kind,
        scope=scope,
        value=value,
        reason=reason,
        expires_at=expires_at,
        created_at=now,
        created_by=actor,
        ticket_id=ticket_id,
    )
    session.add(rule)
    session.flush()
    return rule


def remove_rule(session: Session, rule: SenderRule, actor: str, now: datetime) -> None:
    """End an entry now; the row stays as the record."""
    if rule.removed_at is not None:
        raise ListError("This entry was already removed.")
    rule.removed_at = now
    rule.removed_by = actor
    session.flush()


def in_force(rule: SenderRule, now: datetime) -> bool:
    return rule.removed_at is None and (rule.expires_at is None or rule.expires_at > now)


def rules(session: Session, now: datetime, *, current: bool = True) -> list[SenderRule]:
    """The entries in force (current) or the ended ones (removed or expired), newest first."""
    stmt = select(SenderRule).order_by(SenderRule.created_at.desc(), SenderRule.id.desc())
    live = (SenderRule.removed_at.is_(None)) & (
        SenderRule.expires_at.is_(None) | (SenderRule.expires_at > now)
    )
    stmt = stmt.where(live) if current else stmt.where(~live).limit(200)
    return list(session.scalars(stmt))


def abusive_entry_for(session: Session, email: str, now: datetime) -> SenderRule | None:
    """The abusive entry in force for exactly this address, if any (the ticket page)."""
    return session.scalar(
        select(SenderRule).where(
            SenderRule.kind == ABUSIVE,
            SenderRule.scope == ADDRESS,
            SenderRule.value == email.strip().lower(),
            SenderRule.removed_at.is_(None),
            or_(SenderRule.expires_at.is_(None), SenderRule.expires_at > now),
        )
    )


__all__ = ["ABUSIVE", "ALLOW", "BLOCK", "ListError", "Standing", "standing"]
