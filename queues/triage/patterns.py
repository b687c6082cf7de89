"""The lexicon's pattern syntax: from a pattern as written to a compiled regex and its anchors.

A pattern is a regular expression over the folded text (fold.py: lower-case ASCII words
separated by spaces), written with the language's own letters for readability. In it:

- a space means "one or more separators" (punctuation and line breaks are separators too),
  " ?" an optional separator;
- `~N` (N a digit) means "up to N arbitrary words";
- `<NAME>` is a macro from the same file's [macros] table (an alternation of phrases);
- ä, ö, ü also match ae, oe, ue; ß, œ, æ match ss, oe, ae; other accents are ignored;
- `\\w` runs are possessive and every match is whole words, so "kill" never matches "skill".

Capturing groups are not allowed (use `(?:...)`).

Each compiled pattern comes with its *anchors*: the word-start literals that any match must
contain, derived from the pattern itself ("kill" for "kill(?:s|ed)? you"). At run time a
pattern is tried only if its anchors occur among the text's words, and only at the few
positions around them where a match can start; this keeps triage fast and linear in the
size of the text. Patterns have bounded gaps and possessive word runs, so each attempt is
bounded too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Final

from queues.triage.fold import LETTERS


class PatternError(ValueError):
    """A pattern that cannot be used; the message says why."""


MACRO_RE: Final = re.compile(r"<([A-Z][A-Z0-9_]*)>")
_GAP_RE: Final = re.compile(r"~(\d)")
_POSSESSIVE_RE: Final = re.compile(r"\\w([*+])(?![+?])")
_UMLAUTS: Final = {"ä": "(?:a|ae)", "ö": "(?:o|oe)", "ü": "(?:u|ue)"}
_WORD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_QUANTIFIERS: Final = frozenset("?*+{")
_MAX_BRANCHES: Final = 64  # leading alternatives distributed per entry, to find anchors
_MAX_PREFIXES: Final = 256  # anchor strings per position before giving up on it
# Very common words: a poor anchor (the pattern would run on nearly every message).
_COMMON_WORDS: Final = (
    "a an and are as at be but by do for from go got had has have he her him his i if im in "
    "is it me my no not of on or our s she so that the them they this to up us was we were "
    "will with you your u ya ll d m re t ve "
    "aber auch bin das der die du ein eine er es hat ich ihr ist mich mir nicht sie und wir "
    "a ai au de des du elle en est et il j je l la le les ma me mes mon ne on pas que qui se "
    "sa son suis t te tu un une va vous "
    "al con de del el en es la las lo los me mi mis no nos por que se su te tu un una y ya"
)
_COMMON: Final = frozenset(_COMMON_WORDS.split())
# ... as anchors: the word, and the word as a whole word (with its space).
COMMON_ANCHORS: Final = frozenset(w.encode("ascii") + end for w in _COMMON for end in (b"", b" "))


def expand(pattern: str, macros: Mapping[str, str]) -> str:
    """`pattern` with its <MACROS> replaced (macros may use other macros)."""
    for _ in range(8):
        try:
            expanded = MACRO_RE.sub(lambda m: macros[m.group(1)], pattern)
        except KeyError as exc:
            raise PatternError(f"unknown macro <{exc.args[0]}>") from None
        if expanded == pattern:
            return pattern
        pattern = expanded
    raise PatternError("macros nest too deeply (a macro that uses itself?)")


def canonical(pattern: str) -> str:
    """A pattern as written (macros expanded) -> the same pattern over folded ASCII text."""
    p = pattern.lower()
    for letter, repl in _UMLAUTS.items():
        p = p.replace(letter, repl)
    for letter, repl in LETTERS.items():
        p = p.replace(letter, repl)
    p = unicodedata.normalize("NFKD", p)
    p = "".join(c for c in p if not unicodedata.combining(c))
    p = p.replace("'", " ").replace("’", " ")
    if not p.isascii():
        raise PatternError(f"pattern is not ASCII after folding: {p!r}")
    return p


def finish(fragment: str) -> str:
    """Canonical syntax -> Python regex: separators, word gaps, possessive word runs."""
    out = re.sub(r" (\?)?", lambda m: " *+" if m.group(1) else " ++", fragment)
    out = _GAP_RE.sub(lambda m: f"(?:\\w++ ++){{0,{m.group(1)}}}", out)
    return _POSSESSIVE_RE.sub(lambda m: "\\w" + m.group(1) + "+", out)


def regex_source(canonical_pattern: str) -> bytes:
    """The regex for a canonical pattern: it starts at the space before the first word and
    ends at the end of the last one (a space must follow)."""
    return (" (?:" + finish(canonical_pattern) + ")(?= )").encode("ascii")


def compile_pattern(canonical_pattern: str) -> re.Pattern[bytes]:
    """Compile a canonical pattern; PatternError if it is not a valid expression."""
    try:
        compiled = re.compile(regex_source(canonical_pattern))
    except re.error as exc:
        raise PatternError(f"not a valid pattern: {exc}") from None
    if compiled.groups:
        raise PatternError("capturing group in pattern: write (?:...)")
    return compiled


def is_common(anchor: bytes) -> bool:
    """Whether an anchor is a very common word (a poor anchor on its own)."""
    return anchor in COMMON_ANCHORS


def anchor_plan(canonical_pattern: str) -> Plan | None:
    """Per alternative of the pattern, the anchor sets a match must satisfy (as bytes, a
    whole word ending with a space), each with how many words at most lie between the start
    of a match and the anchor word (None: no bound). None if some alternative has no usable
    anchor: the pattern then runs over the whole text."""
    try:
        plan = _anchor_plan(canonical_pattern)
    except (ValueError, IndexError) as exc:
        raise PatternError(f"not a valid pattern: {exc}") from None
    if plan is None:
        return None
    return tuple(
        tuple((frozenset(a.encode("ascii") for a in anchors), bound) for anchors, bound in conj)
        for conj in plan
    )


def _close(p: str, i: int) -> int:
    """Index of the ')' closing the group that opens at p[i]."""
    try:
        return _pairs(p)[i]
    except KeyError:
        raise PatternError("unbalanced parentheses") from None


_STRUCTURE: Final = re.compile(r"\\.|\[[^\]]*\]|[()|]")


@lru_cache(maxsize=8192)
def _structure(p: str) -> tuple[dict[int, int], tuple[int, ...]]:
    """Every group of `p` (the index of its '(' -> the index of its ')') and the indices of
    the '|' outside any group; escapes and character classes are skipped. One regex pass."""
    pairs: dict[int, int] = {}
    bars: list[int] = []
    opened: list[int] = []
    for m in _STRUCTURE.finditer(p):
        c = m.group()
        if c == "(":
            opened.append(m.start())
        elif c == ")":
            if not opened:
                raise PatternError("unbalanced parentheses")
            pairs[opened.pop()] = m.start()
        elif c == "|" and not opened:
            bars.append(m.start())
    return pairs, tuple(bars)


def _pairs(p: str) -> dict[int, int]:
    return _structure(p)[0]


@lru_cache(maxsize=8192)
def _split_top(p: str) -> tuple[str, ...]:
    """Split on the '|' that are not inside a group or a character class."""
    bars = _structure(p)[1]
    if not bars:
        return (p,)
    edges = [-1, *bars, len(p)]
    return tuple(p[edges[k] + 1 : edges[k + 1]] for k in range(len(edges) - 1))


@lru_cache(maxsize=8192)
def _items(p: str) -> tuple[str, ...]:
    """Split a pattern without top-level '|' into its elements, each with its quantifier."""
    items: list[str] = []
    i = 0
    while i < len(p):
        c = p[i]
        if c == "(":
            j = _close(p, i) + 1
        elif c == "[":
            j = p.index("]", i + 1) + 1
        elif c == "\\":
            j = i + (4 if p.startswith("x", i + 1) else 2)
        elif c == "~":
            j = i + 2
        else:
            j = i + 1
        if j < len(p) and p[j] in _QUANTIFIERS:
            j = p.index("}", j) + 1 if p[j] == "{" else j + 1
            if j < len(p) and p[j] in "+?":
                j += 1
        items.append(p[i:j])
        i = j
    return tuple(items)


def _branches(p: str) -> list[str]:
    """The top-level alternatives of `p`, with leading groups distributed ("(?:a|b)c" ->
    "ac", "bc"; "(?:a)?b" -> "ab", "b") up to a bound, so that each starts plainly."""
    out: list[str] = []
    stack = [p]
    while stack:
        q = stack.pop()
        alts = _split_top(q)
        if len(alts) > 1:
            stack.extend(reversed(alts))
            continue
        if q.startswith("(?:") and len(out) + len(stack) < _MAX_BRANCHES:
            j = _close(q, 0)
            after = q[j + 1 : j + 3]
            parts = _split_top(q[3:j])
            if not after or after[0] not in _QUANTIFIERS:
                stack.extend(reversed([part + q[j + 1 :] for part in parts]))
                continue
            if after[0] == "?" and after[1:] not in ("?", "+"):
                stack.extend(reversed([part + q[j + 2 :] for part in [*parts, ""]]))
                continue
        out.append(q)
    return out


def _class_chars(item: str) -> str | None:
    """The characters of a simple class like "[o0]" or "[1-9]", else None."""
    body = item[1:-1]
    if not item.endswith("]") or body.startswith("^"):
        return None
    chars = re.sub(r"(.)-(.)", lambda m: "".join(map(chr, range(ord(m[1]), ord(m[2]) + 1))), body)
    return chars if set(chars) <= _WORD_CHARS else None


def _group_body(item: str) -> tuple[str, bool] | None:
    """For "(?:body)" with an optional quantifier: (body, may_be_empty); else None."""
    if not item.startswith("(?:"):
        return None
    end = _close(item, 0)
    quantifier = item[end + 1 :]
    return item[3:end], quantifier[:1] in ("?", "*") or quantifier.startswith("{0")


def _ends_word(body: str) -> bool:
    """Whether every alternative of `body` ends with a separator (so a word follows it)."""
    return all(alt.endswith(" ") or re.search(r"~\d$", alt) for alt in _split_top(body))


@lru_cache(maxsize=8192)
def _prefixes(items: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """Literal starts of the word that `items` begin with: (finished, open).

    Finished strings stop where the pattern stops being plain letters; one ending with a
    space is a whole word. Open strings used up all of `items` (the word may go on).
    """
    finished: set[str] = set()
    frontier = {""}
    for item in items:
        if item in (" ", "(?= )"):
            return frozenset(finished | {r + " " for r in frontier}), frozenset()
        options: set[str] = set()
        closed: set[str] = set()
        if item in _WORD_CHARS:
            options = {item}
        elif item.startswith("[") and (chars := _class_chars(item)) is not None:
            options = set(chars)
        elif item.startswith("(?:") and item.endswith(")"):
            for alt in _split_top(item[3:-1]):
                alt_finished, alt_open = _prefixes(_items(alt))
                closed |= alt_finished
                options |= alt_open
        else:
            return frozenset(finished | frontier), frozenset()
        finished |= {r + c for r in frontier for c in closed}
        frontier = {r + o for r in frontier for o in options}
        if len(finished) + len(frontier) > _MAX_PREFIXES:
            return frozenset({""}), frozenset()
        if not frontier:
            break
    return frozenset(finished), frozenset(frontier)


@lru_cache(maxsize=8192)
def _word_prefixes(items: tuple[str, ...], start: int, at_end: bool) -> frozenset[str]:
    """Anchor strings for the word at items[start]; contains "" if nothing useful is known.
    `at_end` says whether the end of `items` is the end of the pattern (so of a word)."""
    finished, frontier = _prefixes(items[start:])
    return finished | frozenset(r + " " if at_end else r for r in frontier)


def _strength(anchor: str) -> int:
    word = anchor.strip()
    if not word or word in _COMMON:
        return 1
    return min(len(word) + anchor.endswith(" "), 6)


def _score(anchors: frozenset[str]) -> tuple[int, int]:
    """Higher is a more selective anchor set: its weakest string, then fewer strings."""
    return min(_strength(a) for a in anchors), -len(anchors)


@lru_cache(maxsize=8192)
def _max_words(p: str) -> int | None:
    """Most separators a match of `p` can contain (so most words it can run past), or None
    if unbounded."""
    alts = _split_top(p)
    if len(alts) > 1:
        counts = [_max_words(alt) for alt in alts]
        return None if None in counts else max(c for c in counts if c is not None)
    total = 0
    for item in _items(p):
        if item.startswith((" ", "~")):
            total += int(item[1]) if item.startswith("~") else 1
        elif item.startswith("(?:"):
            end = _close(item, 0)
            inner = _max_words(item[3:end])
            quantifier = item[end + 1 : end + 2]  # "", "?", "*", "+" or "{"
            if inner is None:
                return None
            if quantifier in ("", "?"):
                total += inner
            elif quantifier == "{":
                total += inner * int(item[end + 1 :].split("}")[0].split(",")[-1])
            elif inner:  # * or + over something with separators: no bound
                return None
    return total


# An anchor set, and how many words at most lie between the start of a match and the
# anchor word (0: every match starts at the anchor; None: no bound).
_AnchorSet = tuple[frozenset[str], int | None]
_Conjunction = tuple[_AnchorSet, ...]  # every set must have a word present
# Compiled: per alternative, its anchor sets (as bytes) with their bounds.
Step = tuple[tuple[frozenset[bytes], int | None], ...]
Plan = tuple[Step, ...]


@lru_cache(maxsize=8192)
def _mandatory_sets(p: str, at_word_start: bool, at_end: bool) -> tuple[_AnchorSet, ...]:
    """Anchor sets that every match of `p` (no top-level '|') satisfies, one per position."""
    found: list[_AnchorSet] = []
    items = _items(p)
    word_start = at_word_start
    for i, item in enumerate(items):
        before = _max_words("".join(items[:i]))
        literal = False
        if word_start:
            prefixes = _word_prefixes(items, i, at_end)
            if prefixes and "" not in prefixes:
                found.append((frozenset(prefixes), before))
                # A group whose first words are all common ("(?:in danger|not safe)"):
                # look inside it too, for a rarer word every alternative has.
                literal = _strength(min(prefixes, key=_strength)) > 1
        group = _group_body(item)
        if group is not None and not group[1] and not literal:
            inner: set[str] = set()
            for alt in _split_top(group[0]):
                sets = _mandatory_sets(alt, word_start, False)
                if not sets:
                    break
                inner |= max(sets, key=lambda s: _score(s[0]))[0]
            else:
                within = _max_words(group[0])
                bound = None if before is None or within is None else before + within
                found.append((frozenset(inner), bound))
        if item == " " or item.startswith("~"):
            word_start = True
        elif group is not None and _ends_word(group[0]):
            word_start = word_start or not group[1]
        else:
            word_start = False
    return tuple(dict.fromkeys(found))


def _anchor_plan(canonical: str) -> tuple[_Conjunction, ...] | None:
    """Disjunction of conjunctions of anchor sets that any match satisfies; None if some
    alternative has no usable anchor (the rule then runs on every message)."""
    plan: list[_Conjunction] = []
    for alternative in _split_top(canonical):
        sets = _mandatory_sets(alternative, True, True)
        if sets:
            plan.append(tuple(sets))
            continue
        for branch in _branches(alternative):  # "(?:x)?y" and the like: one branch each
            sets = _mandatory_sets(branch, True, True)
            if not sets:
                return None
            plan.append(tuple(sets))
    return tuple(dict.fromkeys(plan))
