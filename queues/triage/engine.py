"""The matching engine: a lexicon compiled once, then matched against reports.

`Compiled(lexicon)` turns every enabled entry, and every concept a window rule needs, into
a matcher: its canonical pattern and its anchors (patterns.anchor_plan). The regular
expressions themselves are compiled on first use, so a process that triages one message
compiles only the few patterns whose anchors occur in it.

`Compiled.scan(subject, body)`:

1. folds the text once (document.Document) and takes its vocabulary;
2. picks the matchers whose anchors occur among its words, and for each the cheapest
   anchor words to start from (estimated from word frequencies);
3. phrases: tries each at the few positions around its anchor words where a match can
   start; the first match that no guard covers and no context makes everyday is a hit;
4. window rules: finds every match of the concepts involved and looks for a run of
   `window` sentences that holds one concept of every group;
5. turns each hit's positions back into the report's own words (document.Document).

Each step is linear in the size of the text: the vocabulary and the anchor positions come
from C-speed passes (`split`, `find`), patterns have bounded gaps, guards and contexts are
looked at only around matches, and a phrase whose matches keep being discarded stops
looking after _MAX_DISCARDED of them and counts the next one (the doubt goes to flagging).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Final

from queues.triage.contexts import Contexts
from queues.triage.document import Document
from queues.triage.hits import CATEGORIES, TriageHit
from queues.triage.lexicon import Entry, Lexicon, LexiconError, Rule
from queues.triage.patterns import (
    COMMON_ANCHORS,
    PatternError,
    Plan,
    Step,
    anchor_plan,
    compile_pattern,
    finish,
)

# For a pattern with no bound on its length: a match starts at most _BEFORE bytes before
# an anchor word and ends within _AFTER bytes after it.
_BEFORE: Final = 240
_AFTER: Final = 320
_GUARD_WORDS: Final = 12  # a guard starts at most this many words before what it covers
_MAX_DISCARDED: Final = 32  # matches of one phrase discarded (guard, context) before giving up
_MAX_OCCURRENCES: Final = 4096  # concept matches kept per concept for window rules


class Matcher:
    """One entry or concept: its pattern, its anchors, its regex (compiled on first use)."""

    __slots__ = (
        "_regex",
        "canonical",
        "category",
        "entry",
        "everyday_in",
        "id",
        "kind",
        "language",
        "plan",
    )

    def __init__(
        self,
        kind: str,
        language: str,
        matcher_id: str,
        category: str,
        canonical: str,
        everyday_in: tuple[str, ...],
        where: str,
        plan_of: Callable[[str], Plan | None] = anchor_plan,
    ) -> None:
        self.kind = kind  # "entry" or "concept"
        self.language = language
        self.id = matcher_id
        self.category = category
        self.canonical = canonical
        self.everyday_in = everyday_in
        try:
            self.plan: Plan | None = plan_of(canonical)
        except PatternError as exc:
            raise LexiconError(f"{where}: {exc}") from None
        self._regex: re.Pattern[bytes] | None = None
        self.entry = where

    @property
    def regex(self) -> re.Pattern[bytes]:
        if self._regex is None:
            try:
                self._regex = compile_pattern(self.canonical)
            except PatternError as exc:
                raise LexiconError(f"{self.entry}: {exc}") from None
        return self._regex


_Choice = dict[bytes, int | None]  # anchor word -> words a match may start before it


class Compiled:
    """A lexicon ready to match (see the module docstring)."""

    def __init__(
        self, lexicon: Lexicon, plan_of: Callable[[str], Plan | None] = anchor_plan
    ) -> None:
        """`plan_of` works out a pattern's anchors (a cache.AnchorCache's `plan` reads them
        from a file)."""
        self.lexicon = lexicon
        self.matchers: list[Matcher] = []
        for entry in lexicon.entries():
            self.matchers.append(_entry_matcher(entry, lexicon, plan_of))
        # Window rules, per language, with their groups of concept matchers.
        self.rules: list[tuple[Rule, str, tuple[tuple[int, ...], ...]]] = []
        concept_numbers: dict[tuple[str, str], int] = {}
        for language in lexicon.languages:
            for rule in lexicon.rules:
                if (language.code, rule.id) in lexicon.disabled:
                    continue
                groups = []
                for group in rule.groups:
                    numbers = []
                    for concept in group:
                        key = (language.code, concept)
                        if key not in concept_numbers:
                            concept_numbers[key] = len(self.matchers)
                            self.matchers.append(
                                Matcher(
                                    "concept",
                                    language.code,
                                    concept,
                                    rule.category,
                                    "|".join(language.concepts[concept]),
                                    (),
                                    f"{language.path}: concept {concept!r}",
                                    plan_of,
                                )
                            )
                        numbers.append(concept_numbers[key])
                    groups.append(tuple(numbers))
                self.rules.append((rule, language.code, tuple(groups)))
        self.always = tuple(n for n, m in enumerate(self.matchers) if m.plan is None)
        self.plans = [m.plan or () for m in self.matchers]
        # Each step of a plan is indexed by the words of its most selective anchor set.
        self.step_index: dict[bytes, list[tuple[int, int]]] = {}
        for n, plan in enumerate(self.plans):
            for i, step in enumerate(plan):
                # The smallest set without a common word, else the smallest set.
                words, _ = min(step, key=lambda s: (not s[0].isdisjoint(COMMON_ANCHORS), len(s[0])))
                for word in words:
                    self.step_index.setdefault(word, []).append((n, i))
        by_anchor: dict[bytes, list[int]] = {}
        for n, matcher in enumerate(self.matchers):
            anchors = {a for step in matcher.plan or () for words, _ in step for a in words}
            for anchor in sorted(anchors):
                by_anchor.setdefault(anchor, []).append(n)
        self.by_anchor = {a: tuple(ns) for a, ns in by_anchor.items()}
        self.whole_keys = frozenset(a[:-1] for a in self.by_anchor if a.endswith(b" "))
        self.prefixes = tuple(sorted(a for a in self.by_anchor if not a.endswith(b" ")))
        self.prefix_set = frozenset(self.prefixes)
        self.prefix_lengths = tuple(sorted({len(a) for a in self.prefixes}))
        self._guard_sources = {
            category: [
                g.canonical
                for language in lexicon.languages
                for g in language.guards
                if not g.categories or category in g.categories
            ]
            for category in CATEGORIES
        }
        self._guards: dict[str, re.Pattern[bytes] | None] = {}
        self._contexts: dict[str, re.Pattern[bytes]] = {}

    # ---- lazily compiled helpers

    def guard(self, category: str) -> re.Pattern[bytes] | None:
        """One regex of every guard that applies to `category` (None: no guard)."""
        if category not in self._guards:
            sources = self._guard_sources[category]
            self._guards[category] = (
                re.compile((" (?:" + "|".join(finish(s) for s in sources) + ")(?= )").encode())
                if sources
                else None
            )
        return self._guards[category]

    def context_concept(self, name: str) -> re.Pattern[bytes]:
        """One regex of a context concept (CONTEXT_CONCEPTS) in every language."""
        regex = self._contexts.get(name)
        if regex is None:
            sources = [p for lang in self.lexicon.languages for p in lang.concepts[name]]
            regex = re.compile((" (?:" + "|".join(finish(s) for s in sources) + ")(?= )").encode())
            self._contexts[name] = regex
        return regex

    # ---- matching

    def scan(self, subject: str, body: str) -> list[TriageHit]:
        """The hits in a report, ordered by category (as in CATEGORIES), then by where they
        first occur; one hit per entry or rule."""
        doc = Document(subject, body)
        contexts = Contexts(doc, self.context_concept)
        chosen = self._choose(doc)
        found: list[tuple[int, int, TriageHit]] = []
        for n, choice in chosen.items():
            matcher = self.matchers[n]
            if matcher.kind != "entry":
                continue
            match = self._first(doc, contexts, matcher, choice)
            if match is not None:
                signal = "fear" if matcher.category == "at_risk" else "phrase"
                category, language = matcher.category, matcher.language
                found.append(_hit(doc, category, language, matcher.id, [match], signal))
        for rule, language, groups in self.rules:
            if all(any(n in chosen for n in group) for group in groups):
                hit = self._window(doc, contexts, rule, language, groups, chosen)
                if hit is not None:
                    found.append(hit)
        found.sort(key=lambda item: (item[0], item[1]))
        return [hit for _, _, hit in found]

    def _choose(self, doc: Document) -> dict[int, _Choice | None]:
        """The matchers whose anchors occur, each with the anchor words to start from (None:
        search the whole text)."""
        present: dict[bytes, list[bytes]] = {}  # anchor -> the words of the text carrying it
        vocabulary = doc.vocabulary
        for word in vocabulary.intersection(self.whole_keys):
            present[word + b" "] = [word]
        if len(vocabulary) * len(self.prefix_lengths) < 4 * len(self.prefixes):
            # A short text: look its words' starts up (a few set lookups per word).
            for word in vocabulary:
                for length in self.prefix_lengths:
                    if length > len(word):
                        break
                    start = word[:length]
                    if start in self.prefix_set:
                        present.setdefault(start, []).append(word)
        else:
            # A long text: find each prefix's words in the sorted vocabulary.
            ordered = sorted(vocabulary)
            for anchor in self.prefixes:
                i = bisect_left(ordered, anchor)
                if i < len(ordered) and ordered[i].startswith(anchor):
                    after = anchor[:-1] + bytes([anchor[-1] + 1])
                    present[anchor] = ordered[i : bisect_left(ordered, after, i)]
        found = set(present)
        # Only the plan steps whose most selective anchor set has a word here are looked at.
        steps: dict[int, list[Step]] = {}
        seen: set[tuple[int, int]] = set()
        for anchor in found:
            for key in self.step_index.get(anchor, ()):
                if key in seen:
                    continue
                seen.add(key)
                n, i = key
                step = self.plans[n][i]
                if all(not words.isdisjoint(found) for words, _ in step):
                    steps.setdefault(n, []).append(step)
        chosen: dict[int, _Choice | None] = dict.fromkeys(self.always)
        for n in sorted(steps):
            chosen[n] = _cheapest(doc, steps[n], present)
        return chosen

    def _first(
        self,
        doc: Document,
        contexts: Contexts,
        matcher: Matcher,
        choice: _Choice | None,
    ) -> tuple[int, int] | None:
        """The first match of an entry that is not discarded, or None."""
        discarded = 0
        guard = self.guard(matcher.category)

        def accept(start: int, end: int) -> bool:
            nonlocal discarded
            if discarded >= _MAX_DISCARDED:
                return True
            if (guard is not None and _guarded(doc, guard, start, end)) or contexts.everyday(
                start, end, matcher.everyday_in
            ):
                discarded += 1
                return False
            return True

        for start, end in _matches(doc, matcher.regex, choice):
            if accept(start, end):
                return start, end
        return None

    def _window(
        self,
        doc: Document,
        contexts: Contexts,
        rule: Rule,
        language: str,
        groups: tuple[tuple[int, ...], ...],
        chosen: dict[int, _Choice | None],
    ) -> tuple[int, int, TriageHit] | None:
        """A run of `rule.window` sentences holding a concept of every group, or None."""
        occurrences: list[tuple[int, int, int, int]] = []  # sentence, group, start, end
        for g, group in enumerate(groups):
            for n in group:
                if n not in chosen:
                    continue
                kept = 0
                for start, end in _matches(doc, self.matchers[n].regex, chosen[n], every=True):
                    if contexts.everyday(start, end, rule.everyday_in):
                        continue
                    occurrences.append((doc.sentence_of(start), g, start, end))
                    kept += 1
                    if kept >= _MAX_OCCURRENCES:
                        break
        found = _run(occurrences, len(groups), rule.window)
        if found is None:
            return None
        return _hit(doc, rule.category, language, rule.id, found, "rule")


def _entry_matcher(
    entry: Entry, lexicon: Lexicon, plan_of: Callable[[str], Plan | None]
) -> Matcher:
    where = f"staff entry {entry.language}/{entry.id}"
    if entry.origin == "file":
        where = f"{lexicon.language(entry.language).path}: entry {entry.id!r}"
    return Matcher(
        "entry",
        entry.language,
        entry.id,
        entry.category,
        entry.canonical,
        entry.everyday_in,
        where,
        plan_of,
    )


def _cheapest(
    doc: Document,
    steps: list[tuple[tuple[frozenset[bytes], int | None], ...]],
    present: dict[bytes, list[bytes]],
) -> _Choice:
    """For each alternative, the cheapest anchor set to start from: its words, each with
    how many words before it a match may start (None: unbounded)."""
    chosen: _Choice = {}
    for step in steps:
        options = []
        for anchors, bound in step:
            words = [w for a in anchors if a in present for w in present[a]]
            count = sum(doc.frequency(w) for w in words) + len(words)
            options.append((count * (9 if bound is None else bound + 1), bound, words))
        _, best_bound, best_words = min(options, key=lambda option: option[0])
        for word in best_words:
            old = chosen.get(word, 0)
            chosen[word] = None if best_bound is None or old is None else max(old, best_bound)
    return chosen


def _matches(
    doc: Document, regex: re.Pattern[bytes], choice: _Choice | None, every: bool = False
) -> Iterable[tuple[int, int]]:
    """Matches of `regex` around the chosen anchor words, in order of their start, as
    (start of the first word, end of the last word). With `every`, all of them; otherwise
    the caller stops at the first it accepts."""
    data = doc.data
    starts: set[int] = set()
    windows: list[tuple[int, int]] = []
    if choice is None:
        windows.append((0, len(data)))
    else:
        size = len(data)
        for word, bound in choice.items():
            for at in doc.positions(word):
                if bound is None:
                    windows.append((max(0, at - _BEFORE), min(size, at + len(word) + 2 + _AFTER)))
                else:
                    starts.add(at)
                    if bound:
                        starts.update(doc.words_before(at, bound))
        if len(starts) * 4 > len(doc.words) + 16:
            # Most words are possible starts: one search in C beats a match per start.
            windows, starts = [(0, size)], set()
    yield from _merged(data, regex, sorted(starts), _merge(windows), every)


def _merged(
    data: bytes,
    regex: re.Pattern[bytes],
    starts: list[int],
    windows: list[tuple[int, int]],
    every: bool,
) -> Iterable[tuple[int, int]]:
    """Matches at `starts` and inside `windows`, in order of their start, each once."""
    found: list[tuple[int, int]] = []
    for at in starts:
        m = regex.match(data, at)
        if m is not None:
            found.append((_first_word(data, m.start()), m.end()))
            if not every and not windows:
                yield found[-1]
                found.clear()
    for lo, hi in windows:
        pos = lo
        while (m := regex.search(data, pos, hi)) is not None:
            found.append((_first_word(data, m.start()), m.end()))
            pos = m.start() + 1
    yield from sorted(set(found))


def _first_word(data: bytes, at: int) -> int:
    """Where the first word of a match that starts at `at` (a space) begins: a pattern that
    opens with an optional word may have taken several separators."""
    at += 1
    while data[at] == 32:
        at += 1
    return at


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    windows.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in windows:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _guarded(doc: Document, guard: re.Pattern[bytes], start: int, end: int) -> bool:
    """Whether a guard match covers data[start:end] (a known harmless phrase). A guard that
    covers it starts at most _GUARD_WORDS words earlier."""
    data = doc.data
    for at in [start - 1, *doc.words_before(start - 1, _GUARD_WORDS)]:
        m = guard.match(data, at)
        if m is not None and m.end() >= end:
            return True
    return False


def _run(
    occurrences: list[tuple[int, int, int, int]], groups: int, window: int
) -> list[tuple[int, int]] | None:
    """The first run of `window` consecutive sentences holding an occurrence of every group:
    the latest occurrence of each group in it, as (start, end); or None."""
    occurrences.sort()
    latest: dict[int, tuple[int, int, int]] = {}  # group -> (sentence, start, end)
    for sentence, group, start, end in occurrences:
        latest[group] = (sentence, start, end)
        if len(latest) == groups and all(sentence - s < window for s, _, _ in latest.values()):
            return sorted((a, b) for _, a, b in latest.values())
    return None


def _hit(
    doc: Document,
    category: str,
    language: str,
    hit_id: str,
    matches: list[tuple[int, int]],
    signal: str,
) -> tuple[int, int, TriageHit]:
    ranges = [doc.original(start, end) for start, end in matches]
    hit = TriageHit(
        category=category,
        language=language,
        entry=hit_id,
        signal=signal,
        excerpt=doc.excerpt(ranges),
        spans=doc.spans(ranges),
    )
    return CATEGORIES.index(category), matches[0][0], hit
