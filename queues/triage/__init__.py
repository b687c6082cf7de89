"""Safety triage: flag reports that show serious risk so they go to the specialist-safety queue.

`triage(subject, body)` returns the hits in a report: lexicon phrases, window rules over
a few sentences, and the reporter's own words of fear, each with the words of the report
that fired it (hits.TriageHit); then the wording model's hit, when its probability that the
report is serious reaches its threshold (queues.triage.model: a small classifier trained
on labelled reports, for indirect wording no entry names). A report is serious when
either fires. `reasons(hits)` are the strings stored on the ticket.
`signal_reason("safety-address")` is the reason for a signal from outside the text.

The lexicon is data (queues/triage/lexicon/*.toml, checked by queues.triage.lexicon);
staff add and switch off entries in the web UI (queues.triage.staff), which gives a
`Lexicon` to pass as `triage(subject, body, lexicon)`. Nothing is read or compiled at
import: the files are loaded on first use, the patterns' anchors are worked out then (or
read from a cache file, `use_cache`), and each pattern's regex is compiled when a text
first contains its anchors, so a command that triages nothing pays nothing. The wording
model (and numpy) is loaded on the first triage, not at import.

Limits, on purpose: the lexicon is a safety net, not a classifier. It errs toward flagging (a
false alarm costs a specialist a minute, a miss can cost far more), matches only the Latin
script, and does not catch leetspeak or misspellings. Known harmless idioms are guarded,
and a few contexts (quoted titles, questions about the policy, disputes about edits) make
a match everyday help (queues.triage.contexts).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from queues.triage.cache import AnchorCache
from queues.triage.engine import Compiled
from queues.triage.hits import (
    CATEGORIES,
    CATEGORY_LABELS,
    LANGUAGES,
    Span,
    TriageHit,
    reasons,
    signal_reason,
)
from queues.triage.lexicon import Lexicon, LexiconError, load_lexicon

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS",
    "LANGUAGES",
    "Lexicon",
    "LexiconError",
    "Span",
    "TriageHit",
    "compiled",
    "default_lexicon",
    "reasons",
    "remember",
    "signal_reason",
    "triage",
    "use_cache",
]

_LOCK = threading.Lock()
_DEFAULT: list[Lexicon] = []
_COMPILED: dict[str, Compiled] = {}  # lexicon digest -> compiled
_MAX_COMPILED = 4
_CACHE_DIR: list[Path] = []


def use_cache(directory: Path | None) -> None:
    """Keep the patterns' anchors in a file in `directory` (the `switchboard` command passes
    `<var_dir>/cache`), so each process starts triaging without working them out again
    (queues.triage.cache). None: work them out in memory (the default)."""
    _CACHE_DIR[:] = [] if directory is None else [Path(directory)]


def default_lexicon() -> Lexicon:
    """The lexicon of the data files (loaded once per process)."""
    if not _DEFAULT:
        with _LOCK:
            if not _DEFAULT:
                _DEFAULT.append(load_lexicon())
    return _DEFAULT[0]


def compiled(lexicon: Lexicon | None = None) -> Compiled:
    """`lexicon` (default: the data files) ready to match; kept per process."""
    lexicon = default_lexicon() if lexicon is None else lexicon
    ready = _COMPILED.get(lexicon.digest)
    if ready is None:
        with _LOCK:
            ready = _COMPILED.get(lexicon.digest)
            if ready is None:
                anchors = AnchorCache(_CACHE_DIR[0] if _CACHE_DIR else None)
                ready = Compiled(lexicon, anchors.plan)
                anchors.save()
                if len(_COMPILED) >= _MAX_COMPILED:
                    _COMPILED.clear()
                _COMPILED[lexicon.digest] = ready
    return ready


# Results worked out ahead, in the parser worker processes of a bulk import
# (mailgate.parseahead), for texts about to be triaged here: each is taken once. They are
# the data files' hits; staff changes are applied on top (`triage`). Bounded: an import
# submits one batch at a time, and leftovers (a message that failed) are dropped wholesale.
_AHEAD: dict[tuple[str, str], list[TriageHit]] = {}
_AHEAD_MAX = 256  # four import batches


def remember(subject: str, body: str, hits: list[TriageHit]) -> None:
    """Keep `triage(subject, body)` computed elsewhere, for the next call with that text."""
    if len(_AHEAD) >= _AHEAD_MAX:
        _AHEAD.clear()
    _AHEAD[(subject, body)] = hits


def triage(
    subject: str, body: str, lexicon: Lexicon | None = None, *, model: bool = True
) -> list[TriageHit]:
    """The hits in a report (subject and body), with `lexicon` (default: the data files;
    queues.triage.staff.current_lexicon adds staff changes), then the wording model's hit
    when it flags the report (queues.triage.model; `model=False`: the lexicon alone).

    At most one hit per entry or rule; the lexicon's ordered by category (as in
    CATEGORIES), then by first occurrence in the text; the model's last. An empty list
    means nothing was found.
    """
    ahead = _AHEAD.pop((subject, body), None)
    found = _lexicon_hits(subject, body, lexicon, ahead)
    if not model:
        return found
    if ahead is not None:
        return found + [hit for hit in ahead if hit.signal == "model"]
    from queues.triage.model import model_hits  # numpy and the weights, on first use only

    return found + model_hits(subject, body)


def _lexicon_hits(
    subject: str, body: str, lexicon: Lexicon | None, ahead: list[TriageHit] | None
) -> list[TriageHit]:
    """The lexicon's hits, from `ahead` (worked out in a parser worker) when there."""
    base = default_lexicon()
    if ahead is not None:
        ahead = [hit for hit in ahead if hit.signal != "model"]
    if lexicon is None or lexicon.digest == base.digest:
        return ahead if ahead is not None else compiled(base).scan(subject, body)
    if ahead is None or lexicon.languages is not base.languages:
        return compiled(lexicon).scan(subject, body)
    # Staff changes on top of the data files' hits worked out ahead: drop what staff
    # switched off, add what their own entries find.
    hits = [hit for hit in ahead if hit.key not in lexicon.disabled]
    if lexicon.staff:
        hits += compiled(_staff_only(lexicon)).scan(subject, body)
        hits.sort(key=_order)
    return hits


def _order(hit: TriageHit) -> tuple[int, int, int]:
    """The order of `scan`: category, then where the hit is (subject before body)."""
    first = hit.spans[0] if hit.spans else None
    where = (0, 0) if first is None else (first.field != "subject", first.start)
    return CATEGORIES.index(hit.category), *where


def _staff_only(lexicon: Lexicon) -> Lexicon:
    """The staff entries of `lexicon` alone (with the files' guards and contexts)."""
    languages = tuple(replace(language, entries=()) for language in lexicon.languages)
    return Lexicon(languages, (), lexicon.disabled, lexicon.digest + "-staff", lexicon.staff)


def check(texts: Sequence[tuple[str, str]], lexicon: Lexicon | None = None) -> int:
    """How many of `texts` (subject, body) raise a hit: a quick figure for previews."""
    ready = compiled(lexicon)
    return sum(1 for subject, body in texts if ready.scan(subject, body))
