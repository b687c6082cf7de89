"""Staff changes to the triage lexicon: add a phrase, switch any entry or rule off and on,
preview a phrase over recent tickets. The API under the staff lexicon page.

Every change is checked like a data-file entry (LexiconError says what is wrong, before
anything is stored) and written to the audit log with the change, in the caller's
transaction. `current_lexicon(session)` is the lexicon the ingest path triages with: the
data files plus these rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.audit import record_staff_change
from queues.models import Article, ArticleKind, Ticket, User
from queues.triage import default_lexicon
from queues.triage.engine import Compiled
from queues.triage.hits import TriageHit
from queues.triage.lexicon import Entry, Lexicon, LexiconError, StaffEntry, staff_entry
from queues.triage.models import TriageEntry

DEFAULT_PREVIEW = 200  # tickets a preview runs over
MAX_PREVIEW = 2000


@dataclass(frozen=True)
class EntryState:
    """One entry or window rule as the staff page lists it."""

    language: str
    id: str
    kind: str  # "phrase" (an entry) or "rule" (a window rule)
    origin: str  # "file" or "staff"
    category: str
    pattern: str  # as written; for a rule, its groups of concepts
    enabled: bool
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class PreviewHit:
    ticket_id: int
    number: str
    already_flagged: bool  # the ticket has triage reasons already
    hit: TriageHit


@dataclass(frozen=True)
class Preview:
    """What an entry would have flagged among the last `looked_at` tickets."""

    looked_at: int
    hits: tuple[PreviewHit, ...]

    @property
    def flagged(self) -> int:
        return len(self.hits)

    @property
    def newly_flagged(self) -> int:
        """Flagged by this entry and by nothing before."""
        return sum(1 for hit in self.hits if not hit.already_flagged)


def staff_rows(session: Session) -> list[StaffEntry]:
    """The staff rows as the lexicon takes them, in a stable order."""
    rows = session.scalars(select(TriageEntry).order_by(TriageEntry.id))
    return [
        StaffEntry(
            language=row.language,
            id=row.entry_id,
            enabled=row.enabled,
            category=row.category if row.origin == "staff" else "",
            pattern=row.pattern if row.origin == "staff" else "",
            positive=tuple(row.positive),
            negative=tuple(row.negative),
            note=row.note,
        )
        for row in rows
    ]


def current_lexicon(session: Session) -> Lexicon:
    """The data files plus staff changes: what the ingest path triages with."""
    rows = staff_rows(session)
    base = default_lexicon()
    return base.with_staff(rows) if rows else base


def entries(session: Session) -> list[EntryState]:
    """Every entry and window rule of every language, with its state, for the staff page."""
    lexicon = current_lexicon(session)
    states: list[EntryState] = []
    for language in lexicon.languages:
        for entry in language.entries:
            states.append(_state(entry, lexicon))
        for rule in lexicon.rules:
            pos, neg = language.examples.get(rule.id, ((), ()))
            states.append(
                EntryState(
                    language.code,
                    rule.id,
                    "rule",
                    "file",
                    rule.category,
                    " + ".join("(" + " | ".join(group) + ")" for group in rule.groups),
                    (language.code, rule.id) not in lexicon.disabled,
                    pos,
                    neg,
                    rule.note,
                )
            )
    for entry in lexicon.staff:
        states.append(_state(entry, lexicon))
    return states


def _state(entry: Entry, lexicon: Lexicon) -> EntryState:
    return EntryState(
        entry.language,
        entry.id,
        "phrase",
        entry.origin,
        entry.category,
        entry.pattern,
        (entry.language, entry.id) not in lexicon.disabled,
        entry.positive,
        entry.negative,
        entry.note,
    )


def check_entry(
    language: str,
    category: str,
    pattern: str,
    positive: Sequence[str] = (),
    negative: Sequence[str] = (),
    entry_id: str = "staff-new",
    examples: bool = True,
) -> Entry:
    """A staff phrase checked like a data-file entry, and against its own examples: each
    positive example must fire it and no negative one (`examples` False: none needed, for
    a preview). Raises LexiconError."""
    base = default_lexicon()
    try:
        lang = base.language(language)
    except KeyError:
        raise LexiconError(f"no lexicon for language {language!r}") from None
    entry = staff_entry(lang, entry_id, category, pattern, positive, negative, examples)
    alone = _alone(base, entry)
    for text in entry.positive:
        if not alone.scan("", text):
            raise LexiconError(f"staff entry {language}/{entry_id}: misses its example {text!r}")
    for text in entry.negative:
        if alone.scan("", text):
            raise LexiconError(f"staff entry {language}/{entry_id}: fires on {text!r}")
    return entry


def add_entry(
    session: Session,
    user: User,
    remote_addr: str | None,
    *,
    language: str,
    category: str,
    pattern: str,
    positive: Sequence[str],
    negative: Sequence[str] = (),
    note: str = "",
) -> TriageEntry:
    """Add a staff phrase (checked, see check_entry), audited. Its id is "staff-<n>"."""
    number = (session.scalar(select(TriageEntry.id).order_by(TriageEntry.id.desc())) or 0) + 1
    entry_id = f"staff-{number}"
    check_entry(language, category, pattern, positive, negative, entry_id)
    row = TriageEntry(
        language=language,
        entry_id=entry_id,
        origin="staff",
        enabled=True,
        category=category,
        pattern=pattern,
        positive=list(positive),
        negative=list(negative),
        note=note,
        created_by=user.email,
        updated_by=user.email,
    )
    session.add(row)
    session.flush()
    record_staff_change(session, user, remote_addr, f"triage entry {language}/{entry_id} added")
    return row


def set_enabled(
    session: Session,
    user: User,
    remote_addr: str | None,
    language: str,
    entry_id: str,
    enabled: bool,
) -> TriageEntry:
    """Switch an entry or window rule (data file or staff) on or off, audited. Raises
    LexiconError for an id no lexicon has."""
    row = session.scalars(
        select(TriageEntry).where(
            TriageEntry.language == language, TriageEntry.entry_id == entry_id
        )
    ).one_or_none()
    if row is None:
        base = default_lexicon()
        known = {(lang.code, e.id) for lang in base.languages for e in lang.entries}
        known |= {(lang.code, r.id) for lang in base.languages for r in base.rules}
        if (language, entry_id) not in known:
            raise LexiconError(f"no triage entry or rule {language}/{entry_id}")
        row = TriageEntry(
            language=language,
            entry_id=entry_id,
            origin="file",
            created_by=user.email,
            positive=[],
            negative=[],
        )
        session.add(row)
    row.enabled = enabled
    row.updated_by = user.email
    session.flush()
    state = "enabled" if enabled else "disabled"
    record_staff_change(session, user, remote_addr, f"triage entry {language}/{entry_id} {state}")
    return row


def recent_texts(session: Session, last: int = DEFAULT_PREVIEW) -> list[tuple[int, str, str, str]]:
    """The last `last` tickets as (ticket id, number, subject, first incoming body)."""
    last = max(1, min(last, MAX_PREVIEW))
    tickets = session.execute(
        select(Ticket.id, Ticket.number, Ticket.subject).order_by(Ticket.id.desc()).limit(last)
    ).all()
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    first_body: dict[int, str] = {}
    for ticket_id, body in session.execute(
        select(Article.ticket_id, Article.body_text)
        .where(Article.ticket_id.in_(ids), Article.kind == ArticleKind.INCOMING)
        .order_by(Article.id)
    ):
        first_body.setdefault(ticket_id, body)
    return [(t.id, t.number, t.subject, first_body.get(t.id, "")) for t in tickets]


def preview(
    session: Session,
    *,
    language: str,
    category: str,
    pattern: str,
    last: int = DEFAULT_PREVIEW,
) -> Preview:
    """What a phrase would have flagged among the last `last` tickets (nothing is stored).
    Raises LexiconError if the phrase is not valid."""
    entry = check_entry(language, category, pattern, examples=False)
    alone = _alone(default_lexicon(), entry)
    texts = recent_texts(session, last)
    flagged = {
        ticket_id: bool(reasons)
        for ticket_id, reasons in session.execute(
            select(Ticket.id, Ticket.triage_reasons).where(Ticket.id.in_([t[0] for t in texts]))
        )
    }
    hits = []
    for ticket_id, number, subject, body in texts:
        found = alone.scan(subject, body)
        if found:
            hits.append(PreviewHit(ticket_id, number, flagged.get(ticket_id, False), found[0]))
    return Preview(len(texts), tuple(hits))


def _alone(base: Lexicon, entry: Entry) -> Compiled:
    """`entry` as the only phrase (with the files' guards and contexts), compiled; not kept
    in the process's cache of compiled lexicons (a preview is a one-off)."""
    languages = tuple(replace(language, entries=()) for language in base.languages)
    return Compiled(Lexicon(languages, (), frozenset(), f"{base.digest}-alone", (entry,)))
