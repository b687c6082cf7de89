"""Which language a reporter reads: the form's choice, else the one detected in what they
wrote, else none (English, with the other languages below: queues.reporter.texts).

Detection uses py3langid (a maintained fork of langid.py: a naive Bayes model over byte
n-grams, about 4.5 MB shipped in the wheel, offline, under a millisecond a message). It was
chosen over lingua, which is more accurate on very short texts but ships hundreds of
megabytes of models; reports are sentences, where langid is reliable (the labelled triage
reports in four languages are all detected right: tests/unit/queues/reporter).

The model is asked about every language it knows, not only ours: a report in Italian must
come out as Italian (not supported: English with the others), never as Spanish. A text with
fewer than `MIN_LETTERS` letters (a link, "help") says too little to tell. The model loads
on first use (about 0.7 s, once per process), not at import.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING

from queues.i18n import LANGUAGES

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

MIN_LETTERS = 12
# How much of a message is looked at: the start says which language it is written in.
MAX_CHARS = 4000
# Below this probability (over every language the model knows) we do not guess.
MIN_CONFIDENCE = 0.5

_LOCK = threading.Lock()
_MODEL: list[LanguageIdentifier] = []


def _identifier() -> LanguageIdentifier:
    if not _MODEL:
        with _LOCK:
            if not _MODEL:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _MODEL.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
    return _MODEL[0]


def _readable(text: str) -> str:
    """The words of `text`: quoted lines (earlier mail) and links say nothing of the writer."""
    lines = [
        line for line in text[: MAX_CHARS * 2].splitlines() if not line.lstrip().startswith(">")
    ]
    words = [w for w in " ".join(lines).split() if "://" not in w and "@" not in w]
    return " ".join(words)[:MAX_CHARS]


def detect(*texts: str) -> str | None:
    """The language of `texts` (e.g. subject and body) if it is one of ours, else None.

    The last few answers are kept: ingest asks once before its write transaction on SQLite
    (queues.ingest, `_decide_ahead`) and again inside it, for the same text."""
    return _detect_text(_readable("\n".join(t for t in texts if t)))


@lru_cache(maxsize=32)
def _detect_text(text: str) -> str | None:
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return None
    # Lower case: shouting ("ER WEISS WO ICH WOHNE") is still German; the model's n-grams
    # are mostly lower case.
    language, confidence = _identifier().classify(text.lower())
    if language not in LANGUAGES or confidence < MIN_CONFIDENCE:
        return None
    return str(language)


def choose(chosen: str | None, *texts: str) -> str | None:
    """The reporter's language: `chosen` (the form's) when we have it, else detected."""
    if chosen in LANGUAGES:
        return chosen
    return detect(*texts)
