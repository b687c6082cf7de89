"""Triage's reasons as a person checks them: each reason with the report's words that fired
it, and those words marked in the messages of the ticket.

The marks are worked out at view time, by running triage again over each incoming message
as stored (subject and text), rather than from offsets stored on arrival:

- the offsets always fit the text the page shows, for every ticket, old ones included,
  with nothing new to store or migrate;
- it is cheap: triage takes under 2 ms for an ordinary message (bench/triage.py), and only
  tickets with reasons are scanned, at most MAX_ARTICLES messages each;
- the reasons stored on the ticket stay the record of what fired when the mail came in. A
  reason the lexicon of today still finds names the message it is in, and its words are
  marked there; one it no longer finds (an entry staff switched off since) is shown as it
  was stored, without marks.

Pure functions of the articles' text and a lexicon: the core's part of the ticket page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from queues.models import Article, ArticleKind
from queues.triage import Lexicon, TriageHit, triage
from queues.triage.hits import EXTERNAL_SIGNALS

MAX_ARTICLES: Final = 50  # incoming messages scanned per ticket (the first ones)
# `threat of harm: "…he will come to my house…" (phrase en/come-to-my-house)`, and the
# wording model's `threat of harm: "…" (wording model, score 0.87)` (queues.triage.hits)
_REASON: Final = re.compile(
    r'^(?P<label>[^:"]+):(?: "(?P<quote>.*)")? '
    r"\((?P<how>phrase|rule|own words|wording model),? "
    r"(?P<ref>[a-z]{2,3}/[^)\s]+|score [01]\.[0-9]{2})\)$",
    re.DOTALL,
)
_SPACE: Final = re.compile(r"\s+")


@dataclass(frozen=True)
class Segment:
    """A piece of text, marked (the words that fired) or not."""

    text: str
    marked: bool = False


@dataclass(frozen=True)
class ArticleMarks:
    """What triage finds in one message today: its hits and the marked subject and text."""

    article_id: int
    hits: tuple[TriageHit, ...]
    subject: tuple[Segment, ...]
    body: tuple[Segment, ...]


@dataclass(frozen=True)
class Reason:
    """One stored reason, taken apart for the page.

    `label` is the kind of risk (or "signal" for a signal from outside the text), `quote`
    the report's words as stored (as segments: the words that fired are marked when a
    message still shows them), `how` and `ref` what fired ("phrase", "en/kill-you"), and
    `articles` the messages the words are in today (empty: not found again).
    """

    text: str
    label: str
    quote: tuple[Segment, ...] = ()
    how: str = ""
    ref: str = ""
    signal: bool = False
    articles: tuple[int, ...] = ()


def segments(text: str, spans: Iterable[tuple[int, int]]) -> tuple[Segment, ...]:
    """`text` cut into segments, the parts inside `spans` ((start, end) offsets) marked;
    overlapping or touching spans make one mark, spans outside the text are clipped."""
    ranges = sorted((max(0, a), min(len(text), b)) for a, b in spans)
    merged: list[list[int]] = []
    for start, end in ranges:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[Segment] = []
    at = 0
    for start, end in merged:
        if start > at:
            out.append(Segment(text[at:start]))
        out.append(Segment(text[start:end], marked=True))
        at = end
    if at < len(text) or not out:
        out.append(Segment(text[at:]))
    return tuple(out)


def article_marks(
    articles: Sequence[Article], lexicon: Lexicon | None = None, model: bool = True
) -> dict[int, ArticleMarks]:
    """Article id -> what triage finds in it today, for the first MAX_ARTICLES incoming
    messages of `articles` in which it finds anything (`model`: the wording model too).

    The wording model's hit marks its whole sentence; in a message where the lexicon also
    fires, only the lexicon's words are marked, which say more precisely what fired (the
    model's reason still shows its sentence)."""
    found: dict[int, ArticleMarks] = {}
    incoming = [a for a in articles if a.kind is ArticleKind.INCOMING][:MAX_ARTICLES]
    for article in incoming:
        subject, body = article.subject or "", article.body_text or ""
        hits = tuple(triage(subject, body, lexicon, model=model))
        if not hits:
            continue
        precise = [hit for hit in hits if hit.signal != "model"] or hits
        spans = [s for hit in precise for s in hit.spans]
        found[article.id] = ArticleMarks(
            article.id,
            hits,
            segments(subject, [(s.start, s.end) for s in spans if s.field == "subject"]),
            segments(body, [(s.start, s.end) for s in spans if s.field == "body"]),
        )
    return found


def reasons(stored: Sequence[str], marks: dict[int, ArticleMarks]) -> list[Reason]:
    """The stored reasons of a ticket for the page, each tied to the messages whose hit
    gives the same reason today, with the words that fired marked in its quote."""
    where: dict[str, list[tuple[int, TriageHit]]] = {}
    for article_id, found in marks.items():
        for hit in found.hits:
            where.setdefault(hit.reason(), []).append((article_id, hit))
    out = []
    for text in stored:
        if text in EXTERNAL_SIGNALS.values():
            out.append(Reason(text, "signal", signal=True))
            continue
        parsed = _REASON.match(text)
        if parsed is None:  # written before issue 9, or by hand: shown as it is
            out.append(Reason(text, text))
            continue
        places = where.get(text, [])
        quote = parsed.group("quote") or ""
        words = _words_of(places[0][1], marks[places[0][0]]) if places else []
        out.append(
            Reason(
                text,
                parsed.group("label"),
                _mark_in(quote, words) if quote else (),
                parsed.group("how"),
                parsed.group("ref"),
                articles=tuple(dict.fromkeys(article_id for article_id, _ in places)),
            )
        )
    return out


def _words_of(hit: TriageHit, found: ArticleMarks) -> list[str]:
    """The words `hit` matched, on one line as in an excerpt."""
    text = {"subject": _joined(found.subject), "body": _joined(found.body)}
    return [_SPACE.sub(" ", text[s.field][s.start : s.end]).strip() for s in hit.spans]


def _joined(parts: tuple[Segment, ...]) -> str:
    return "".join(p.text for p in parts)


def _mark_in(quote: str, words: list[str]) -> tuple[Segment, ...]:
    """`quote` with each of `words` marked where it first occurs (in order), if it does."""
    spans = []
    at = 0
    for word in words:
        if not word:
            continue
        start = quote.find(word, at)
        if start < 0:
            start = quote.lower().find(word.lower(), at)
        if start >= 0:
            spans.append((start, start + len(word)))
            at = start + len(word)
    return segments(quote, spans)
