"""A report prepared for matching: its folded text, words, sentences, and the way back.

The subject and the body are read as one text (subject, a blank line, body), so that the
subject is a sentence of its own. Positions are positions in the folded `data`
(fold.Folded); a hit turns its positions back into offsets in the subject or the body
(hits.Span) and an excerpt of the report's own words.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from itertools import islice
from typing import Final

from queues.triage.excerpts import excerpt
from queues.triage.fold import fold
from queues.triage.hits import Span
from queues.triage.sentences import sentence_starts

SEPARATOR: Final = "\n\n"
_SAMPLE: Final = 16384  # words counted to estimate frequencies
_AROUND: Final = 600  # characters looked at on each side for the sentence around a match


class Document:
    """One report: subject and body, folded, with lazily worked-out sentences."""

    __slots__ = (
        "_positions",
        "_questions",
        "_sample",
        "_starts",
        "_step",
        "body_at",
        "data",
        "folded",
        "text",
        "vocabulary",
        "words",
    )

    def __init__(self, subject: str, body: str) -> None:
        self.text = subject + SEPARATOR + body
        self.body_at = len(subject) + len(SEPARATOR)
        self.folded = fold(self.text)
        self.data = self.folded.data
        self.words = self.data.split()
        self.vocabulary = set(self.words)
        # Word frequencies, estimated from a sample: they only guide the choice of anchors.
        self._step = len(self.words) // _SAMPLE + 1
        self._sample = Counter(islice(self.words, 0, None, self._step))
        self._positions: dict[bytes, list[int]] = {}
        self._starts: list[int] | None = None
        self._questions: list[bool] = []

    def frequency(self, word: bytes) -> int:
        """About how often `word` occurs."""
        return self._sample[word] * self._step

    def positions(self, word: bytes) -> list[int]:
        """Where `word` occurs: the position of the space before each occurrence."""
        found = self._positions.get(word)
        if found is None:
            needle = b" " + word + b" "
            step = len(word) + 1
            found = []
            at = self.data.find(needle)
            while at >= 0:
                found.append(at)
                at = self.data.find(needle, at + step)
            self._positions[word] = found
        return found

    def words_before(self, at: int, count: int) -> list[int]:
        """The positions of the spaces before the `count` words before position `at` (the
        space before a word), nearest first."""
        data = self.data
        out = []
        j = at
        for _ in range(count):
            while j > 0 and data[j - 1] == 32:
                j -= 1
            if j == 0:
                break
            j = data.rfind(b" ", 0, j)
            if j < 0:
                break
            out.append(j)
        return out

    # ---- sentences

    def _sentences(self) -> list[int]:
        if self._starts is None:
            starts, self._questions = sentence_starts(self.text)
            # The subject is a sentence of its own.
            if self.body_at not in starts:
                starts.insert(bisect_right(starts, self.body_at), self.body_at)
                self._questions.insert(starts.index(self.body_at), False)
            self._starts = [self.folded.position(s) for s in starts]
        return self._starts

    def sentence_of(self, at: int) -> int:
        """The number of the sentence position `at` is in (0 for the first)."""
        return max(0, bisect_right(self._sentences(), at) - 1)

    def sentence_range(self, number: int) -> tuple[int, int]:
        """Positions where sentence `number` starts and ends, for a search in `data`: from
        the space before its first word to the space after its last."""
        starts = self._sentences()
        lo = max(0, starts[number] - 1)
        hi = starts[number + 1] if number + 1 < len(starts) else len(self.data)
        return lo, min(len(self.data), hi + 1)

    def is_question(self, number: int) -> bool:
        self._sentences()
        return self._questions[number] if number < len(self._questions) else False

    def sentence_around(self, at: int, neighbours: int = 0) -> tuple[int, int, bool]:
        """The sentence position `at` is in, found locally (the text is not split into all
        its sentences): its range in `data` widened by `neighbours` sentences on each side,
        for a search, and whether the sentence itself is a question."""
        index = self.folded.original(at)
        lo = max(0, index - _AROUND)
        starts, questions = sentence_starts(self.text[lo : index + _AROUND])
        k = max(0, bisect_right(starts, index - lo) - 1)
        first = starts[max(0, k - neighbours)] + lo
        last = k + neighbours + 1
        end = starts[last] + lo if last < len(starts) else min(len(self.text), index + _AROUND)
        a, b = self.folded.position(first), self.folded.position(end)
        return max(0, a - 1), min(len(self.data), b + 1), questions[k]

    # ---- the way back to the report's words

    def original(self, start: int, end: int) -> tuple[int, int]:
        """Indices in `text` of data[start:end] (a match: words, without the space before)."""
        return self.folded.original(start), self.folded.original(end)

    def spans(self, ranges: list[tuple[int, int]]) -> tuple[Span, ...]:
        """Spans in the subject or body for (start, end) indices of `text`."""
        spans = []
        subject_end = self.body_at - len(SEPARATOR)
        for start, end in ranges:
            if start < subject_end:
                spans.append(Span("subject", start, min(end, subject_end)))
            if end > self.body_at:
                at = self.body_at
                spans.append(Span("body", max(start, at) - at, end - at))
        return tuple(spans)

    def excerpt(self, ranges: list[tuple[int, int]]) -> str:
        """The report's words at `ranges` (indices of `text`), within the field of the first."""
        subject_end = self.body_at - len(SEPARATOR)
        in_subject = ranges[0][0] < subject_end
        lo, hi = (0, subject_end) if in_subject else (self.body_at, len(self.text))
        inside = [(max(lo, a), min(hi, b)) for a, b in ranges if a < hi and b > lo]
        return excerpt(self.text, inside, lo, hi)
