"""Full-text search over ticket subjects and article bodies, ranked, within what a user may see.

The index is kept by the database (migration 0004): FTS5 tables with triggers on SQLite,
a generated tsvector column with a GIN index on PostgreSQL. Both ignore accents and case
and do no stemming, so the four languages of our requesters are treated alike.

What a person types is never handed to FTS5 MATCH or to_tsquery as syntax. `parse_query`
reads it as words, "quoted phrases" and `prefix*` words (all must match); everything else
(operators, column filters, brackets, NEAR, stray quotes) is only a separator, and the
terms are rebuilt as quoted FTS5 strings or passed to plainto_tsquery/phraseto_tsquery as
bound parameters. A query that is a ticket number (or our tag) finds that ticket directly.

Permissions: hits are joined to `visible_tickets` before anything is ranked, limited or
counted, so a ticket in a queue the user cannot see changes no figure.

Cost: subject hits and body hits are each read newest first, at most CANDIDATES of each,
and only those are ranked (best score of a ticket's hits, subjects weighted higher). A
query matching more says so (`capped`): at 300,000 articles, ranking every match of a
common word would cost hundreds of milliseconds (bench/pages.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    column,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Session

from queues.access import ticket_for, visible_tickets
from queues.models import Ticket, User

MAX_QUERY_CHARS = 500
MAX_TERMS = 12
MAX_TERM_CHARS = 64
MIN_PREFIX_CHARS = 3
# At most this many tickets are listed and counted; a broader query is told to narrow down.
MAX_RESULTS = 1000
# Subject hits and body hits are each read newest first, at most this many: a query that
# matches more ranks its most recent matches (and says there may be more). Reading every
# match of a common word to rank it costs hundreds of milliseconds at 300,000 articles.
CANDIDATES = 2000
# PostgreSQL looks for body hits among the newest WINDOW articles first (see _body_hits).
WINDOW = 50_000
# A subject hit counts this much more than a body hit.
SUBJECT_WEIGHT = 2.0
PG_CONFIG = "switchboard_search"  # migration 0004

_TOKEN = re.compile(r'"([^"]*)"?|(\w+)(\*?)')
_WORD = re.compile(r"\w+")
# A ticket number alone, or in our tag: "20261122000042", "[Ticket#20261122000042]".
_NUMBER = re.compile(r"^\[?\s*(?:ticket\s*#?\s*:?\s*)?(\d{4,32})\s*\]?$", re.I)


@dataclass(frozen=True)
class Term:
    """One thing that must match: a word, a phrase (several words in a row) or a prefix."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class SearchResults:
    tickets: list[Ticket]  # this page, best first
    total: int  # visible matches, at most MAX_RESULTS
    capped: bool  # there may be more than `total`
    exact: Ticket | None  # the query was this ticket's number (or tag)
    terms: tuple[Term, ...]  # what was searched for, as understood


def parse_query(text: str) -> tuple[Term, ...]:
    """The terms in what a person typed; syntax characters are only separators."""
    terms: list[Term] = []
    for match in _TOKEN.finditer(text[:MAX_QUERY_CHARS]):
        phrase, word, star = match.groups()
        if phrase is not None:
            words = tuple(w[:MAX_TERM_CHARS].lower() for w in _WORD.findall(phrase))
            if words:
                terms.append(Term(words[:MAX_TERMS]))
        elif word:
            word = word[:MAX_TERM_CHARS].lower()
            terms.append(Term((word,), prefix=bool(star) and len(word) >= MIN_PREFIX_CHARS))
        if len(terms) >= MAX_TERMS:
            break
    return tuple(dict.fromkeys(terms))


def fts5_query(terms: Sequence[Term]) -> str:
    """An FTS5 MATCH expression for `terms`: each one a quoted string, all required."""
    parts = []
    for term in terms:
        # _WORD only yields word characters, so no quote can be inside; double any anyway.
        quoted = '"' + " ".join(term.words).replace('"', '""') + '"'
        parts.append(quoted + ("*" if term.prefix else ""))
    return " AND ".join(parts)


def _pg_tsquery(terms: Sequence[Term]) -> ColumnElement[object]:
    config: ColumnElement[object] = literal_column(f"'{PG_CONFIG}'::regconfig")
    queries: list[ColumnElement[object]] = []
    for term in terms:
        if term.prefix:
            # The word is \w+ only (no tsquery syntax); ':*' asks for the prefix.
            queries.append(func.to_tsquery(config, term.words[0] + ":*"))
        elif len(term.words) > 1:
            queries.append(func.phraseto_tsquery(config, " ".join(term.words)))
        else:
            queries.append(func.plainto_tsquery(config, term.words[0]))
    combined = queries[0]
    for query in queries[1:]:
        combined = combined.op("&&")(query)
    return combined


def _branches(
    user: User, terms: Sequence[Term], is_pg: bool
) -> tuple[Select[int, float], Select[int, float], Any]:
    """The subject hits and the body hits (visible only, newest first) and the article id."""
    visible = visible_tickets(user)
    if is_pg:
        query = _pg_tsquery(terms)
        # The column the models do not know, on the tickets table of visible_tickets.
        vector = literal_column("tickets.search_vector", type_=TSVECTOR)
        articles = table(
            "articles",
            column("id", Integer),
            column("ticket_id", Integer),
            column("search_vector", TSVECTOR),
        )
        subject_score: ColumnElement[float] = func.ts_rank(vector, query, type_=Float)
        subjects = (
            visible.with_only_columns(Ticket.id, subject_score * SUBJECT_WEIGHT)
            .where(vector.op("@@")(query))
            .order_by(Ticket.id.desc())
        )
        bodies = (
            visible.with_only_columns(
                Ticket.id, func.ts_rank(articles.c.search_vector, query, type_=Float)
            )
            .join(articles, articles.c.ticket_id == Ticket.id)
            .where(articles.c.search_vector.op("@@")(query))
            .order_by(articles.c.id.desc())
        )
    else:
        match = fts5_query(terms)
        tickets_fts = table("tickets_fts", column("rowid", Integer))
        articles_fts = table("articles_fts", column("rowid", Integer))
        articles = table("articles", column("id", Integer), column("ticket_id", Integer))
        # bm25 is negative, better hits more so: negate it so that higher is better.
        subject_score = -func.bm25(literal_column("tickets_fts"), type_=Float)
        subjects = (
            visible.with_only_columns(Ticket.id, subject_score * SUBJECT_WEIGHT)
            .join(tickets_fts, tickets_fts.c.rowid == Ticket.id)
            .where(literal_column("tickets_fts").op("MATCH")(match))
            .order_by(tickets_fts.c.rowid.desc())
        )
        body_score = -func.bm25(literal_column("articles_fts"), type_=Float)
        bodies = (
            visible.with_only_columns(Ticket.id, body_score)
            .join(articles, articles.c.ticket_id == Ticket.id)
            .join(articles_fts, articles_fts.c.rowid == articles.c.id)
            .where(literal_column("articles_fts").op("MATCH")(match))
            .order_by(articles_fts.c.rowid.desc())
        )
        return subjects, bodies, articles_fts.c.rowid
    return subjects, bodies, articles.c.id


def _body_hits(
    session: Session, bodies: Select[int, float], article_id: Any, is_pg: bool
) -> list[tuple[int, float]]:
    """Up to CANDIDATES body hits, newest first.

    FTS5 walks its matches in rowid order and stops at the limit. PostgreSQL's GIN index
    cannot: it would fetch every matching row of a common word to sort them. So it looks
    at the newest WINDOW articles first and widens the window (x8) only when that held
    fewer than CANDIDATES hits; the pages it reads stay proportional to what it returns.
    """
    if not is_pg:
        return [(i, s) for i, s in session.execute(bodies.limit(CANDIDATES))]
    top = session.scalar(select(func.max(article_id))) or 0
    window = WINDOW
    while True:
        lower = top - window
        limited = bodies.where(article_id > lower).limit(CANDIDATES)
        hits = [(i, s) for i, s in session.execute(limited)]
        if len(hits) >= CANDIDATES or lower <= 0:
            return hits
        window *= 8


def exact_number(session: Session, user: User, text: str) -> Ticket | None:
    """The visible ticket whose number (or tag, "[Ticket#N]") `text` is, else None."""
    found = _NUMBER.match(text.strip())
    return ticket_for(session, user, found.group(1)) if found else None


def search_tickets(
    session: Session, user: User, query: str, *, limit: int = 50, offset: int = 0
) -> SearchResults:
    """Visible tickets matching every term of `query` in the subject or a body, best first."""
    exact = exact_number(session, user, query)
    terms = parse_query(query)
    if not terms:
        return SearchResults([], 0, False, exact, terms)
    is_pg = session.get_bind().dialect.name == "postgresql"
    best: dict[int, float] = {}
    capped = False
    subjects, bodies, article_id = _branches(user, terms, is_pg)
    subject_hits = [(i, s) for i, s in session.execute(subjects.limit(CANDIDATES))]
    for hits in (subject_hits, _body_hits(session, bodies, article_id, is_pg)):
        capped = capped or len(hits) >= CANDIDATES
        for ticket_id, score in hits:
            if score > best.get(ticket_id, float("-inf")):
                best[ticket_id] = score
    ranked = sorted(best, key=lambda i: (best[i], i), reverse=True)
    capped = capped or len(ranked) > MAX_RESULTS
    ids = ranked[:MAX_RESULTS]
    page_ids = ids[max(offset, 0) : max(offset, 0) + max(limit, 0)]
    by_id = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(page_ids)))}
    tickets = [by_id[i] for i in page_ids if i in by_id]
    return SearchResults(tickets, len(ids), capped, exact, terms)
