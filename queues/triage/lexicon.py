"""The lexicon as data: load and check the per-language files and the shared window rules.

`queues/triage/lexicon/` holds one TOML file per language (`en.toml`, `de.toml`, ...) and
`rules.toml`, the window rules shared by every language. A language file has:

- `language` (its code, the same as the file name) and `name`;
- `[macros]`: NAME = a pattern or a list of alternatives, used in patterns as `<NAME>`;
- `[[entry]]`: one phrase: `id`, `category`, `pattern` (a string or a list of alternatives),
  `positive` and `negative` example sentences (the tests check that each positive example
  fires this entry and no negative one does), optionally `everyday_in` (contexts in which a
  match is everyday help, e.g. ["edit-dispute"]) and `note`;
- `[[guard]]`: a known harmless phrase (an idiom such as "shoot you an email"): a hit that
  lies inside a guard's match is dropped. `id`, `pattern`, optionally `categories` (only
  hits of these), `positive` (texts that must raise no hit) and `negative` (texts that must
  still raise one);
- `[concepts]`: NAME = a list of patterns: the words of one idea (an adult, a child, a
  request for pictures, a farewell...) that window rules combine;
- `[rules.<id>]`: `positive` and `negative` examples of each window rule in this language.

`rules.toml` has `[[rule]]` tables: `id`, `category`, `window` (how many consecutive
sentences the concepts must fall in), `all` (a list of groups; each group is a list of
concept names of which one must occur), optionally `everyday_in` and `note`.

Patterns use the syntax of queues.triage.patterns. Every problem (an unknown key, a bad
category, a pattern that does not compile, a missing concept) raises LexiconError naming
the file and the entry, so a mistake in a data file is found when it is loaded, by the
tests, rather than by a missed report.

Staff add entries and disable any entry or rule in the web UI; those are rows in the
database (queues.triage.staff) that come in here as `StaffEntry` values and are checked
the same way.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from queues.triage.hits import CATEGORIES
from queues.triage.patterns import PatternError, anchor_plan, canonical, compile_pattern, expand

log = logging.getLogger(__name__)

LEXICON_DIR: Final = Path(__file__).resolve().parent / "lexicon"
RULES_FILE: Final = "rules.toml"
# Contexts in which a match may be everyday help (queues.triage.contexts). Quoted titles
# and questions about the policy apply to every entry; the others only where listed.
CONTEXTS: Final = ("quoted-title", "policy-question", "edit-dispute")
# Concepts every language must define: the contexts use them.
CONTEXT_CONCEPTS: Final = ("title_cue", "policy", "personal", "edit_dispute")

_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
_LANGUAGE_RE: Final = re.compile(r"[a-z]{2,3}")
_CONCEPT_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MACRO_NAME_RE: Final = re.compile(r"[A-Z][A-Z0-9_]*")
_TOP_KEYS: Final = frozenset({"language", "name", "macros", "entry", "guard", "concepts", "rules"})
_ENTRY_KEYS: Final = frozenset(
    {"id", "category", "pattern", "positive", "negative", "everyday_in", "note"}
)
_GUARD_KEYS: Final = frozenset({"id", "pattern", "categories", "positive", "negative", "note"})
_RULE_KEYS: Final = frozenset({"id", "category", "window", "all", "everyday_in", "note"})
_EXAMPLE_KEYS: Final = frozenset({"positive", "negative"})
MAX_WINDOW: Final = 6


class LexiconError(ValueError):
    """A lexicon file or staff entry that cannot be used; the message names where."""


@dataclass(frozen=True)
class Entry:
    """One phrase of a language's lexicon (from a file, or added by staff)."""

    language: str
    id: str
    category: str
    pattern: str  # as written
    canonical: str  # macros expanded, folded (patterns.canonical)
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    everyday_in: tuple[str, ...] = ()
    note: str = ""
    origin: str = "file"  # "file" or "staff"


@dataclass(frozen=True)
class Guard:
    """A known harmless phrase: hits inside its matches are dropped."""

    language: str
    id: str
    canonical: str
    categories: frozenset[str]  # empty: every category
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """A window rule: one concept of each group within `window` consecutive sentences."""

    id: str
    category: str
    window: int
    groups: tuple[tuple[str, ...], ...]
    everyday_in: tuple[str, ...] = ()
    note: str = ""

    @property
    def concepts(self) -> frozenset[str]:
        return frozenset(c for group in self.groups for c in group)


@dataclass(frozen=True)
class Language:
    """One language file, checked."""

    code: str
    name: str
    path: str
    macros: Mapping[str, str]
    entries: tuple[Entry, ...]
    guards: tuple[Guard, ...]
    concepts: Mapping[str, tuple[str, ...]]  # name -> its patterns, canonical
    examples: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]  # rule id -> (pos, neg)


@dataclass(frozen=True)
class StaffEntry:
    """A staff row as the engine sees it: an added phrase, or a switch on any entry/rule."""

    language: str
    id: str
    enabled: bool
    category: str = ""  # empty for a switch on a file entry or rule
    pattern: str = ""
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Lexicon:
    """Every language, the shared rules, and staff changes, ready to compile."""

    languages: tuple[Language, ...]
    rules: tuple[Rule, ...]
    disabled: frozenset[tuple[str, str]] = frozenset()  # (language, entry or rule id)
    digest: str = ""  # identifies the files and staff changes it was built from
    staff: tuple[Entry, ...] = field(default=())

    def language(self, code: str) -> Language:
        for language in self.languages:
            if language.code == code:
                return language
        raise KeyError(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(language.code for language in self.languages)

    def entries(self) -> Iterable[Entry]:
        """Every enabled entry: files first, then staff entries."""
        for language in self.languages:
            for entry in language.entries:
                if (entry.language, entry.id) not in self.disabled:
                    yield entry
        for entry in self.staff:
            if (entry.language, entry.id) not in self.disabled:
                yield entry

    def with_staff(self, rows: Iterable[StaffEntry]) -> Lexicon:
        """This lexicon plus staff rows: added entries (checked like file entries) and
        entries or rules switched off. A row that does not check (a pattern that no longer
        compiles, an id a data file now uses) is left out and logged: a bad staff row must
        never stop triage."""
        added: list[Entry] = []
        disabled = set(self.disabled)
        known = {(lang.code, e.id) for lang in self.languages for e in lang.entries}
        known |= {(lang.code, r.id) for lang in self.languages for r in self.rules}
        digest = hashlib.sha256(self.digest.encode())
        for row in rows:
            digest.update(repr(row).encode())
            if not row.enabled:
                disabled.add((row.language, row.id))
            if not row.pattern:
                continue
            try:
                if (row.language, row.id) in known:
                    raise LexiconError(f"staff entry {row.language}/{row.id}: the id is taken")
                language = self._language_or_error(row.language, f"staff entry {row.id}")
                added.append(
                    staff_entry(
                        language, row.id, row.category, row.pattern, row.positive, row.negative
                    )
                )
            except LexiconError as exc:
                log.warning("triage: staff entry left out: %s", exc)
                continue
            known.add((row.language, row.id))
        return Lexicon(
            self.languages,
            self.rules,
            frozenset(disabled),
            digest.hexdigest()[:16],
            (*self.staff, *added),
        )

    def _language_or_error(self, code: str, where: str) -> Language:
        try:
            return self.language(code)
        except KeyError:
            raise LexiconError(f"{where}: no lexicon for language {code!r}") from None


def staff_entry(
    language: Language,
    entry_id: str,
    category: str,
    pattern: str,
    positive: Sequence[str] = (),
    negative: Sequence[str] = (),
    examples: bool = True,
) -> Entry:
    """A staff entry checked like a file entry (LexiconError names what is wrong);
    `examples` False allows none (a preview, before anything is stored)."""
    where = f"staff entry {language.code}/{entry_id}"
    data = {
        "id": entry_id,
        "category": category,
        "pattern": pattern,
        "positive": list(positive),
        "negative": list(negative),
    }
    entry = _entry(language.code, language.macros, data, where, strict=True, examples=examples)
    return Entry(**{**entry.__dict__, "origin": "staff"})


def check_patterns(lexicon: Lexicon) -> None:
    """Compile every pattern of `lexicon` (loading does not, to stay quick); LexiconError
    names the file and the entry, guard or concept that does not compile."""
    for language in lexicon.languages:
        name = Path(language.path).name
        items = [(f"entry {e.id!r}", e.canonical) for e in language.entries]
        items += [(f"guard {g.id!r}", g.canonical) for g in language.guards]
        items += [
            (f"concept {c!r}, pattern {n + 1}", pattern)
            for c, patterns in language.concepts.items()
            for n, pattern in enumerate(patterns)
        ]
        for what, pattern in items:
            try:
                compile_pattern(pattern)
                anchor_plan(pattern)
            except PatternError as exc:
                raise LexiconError(f"{name}: {what}: {exc}") from None


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_lexicon(directory: Path = LEXICON_DIR) -> Lexicon:
    """Read and check every language file and the rules in `directory`."""
    paths = sorted(p for p in directory.glob("*.toml") if p.name != RULES_FILE)
    digest = hashlib.sha256()
    rules_path = directory / RULES_FILE
    rules = load_rules(rules_path)
    digest.update(rules_path.read_bytes())
    languages = []
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
        languages.append(load_language(path, rules))
    if not languages:
        raise LexiconError(f"{directory}: no language files")
    return Lexicon(tuple(_ordered(languages)), rules, digest=digest.hexdigest()[:16])


def _ordered(languages: list[Language]) -> list[Language]:
    # English first, then the others by code: a stable order for hits and reports.
    return sorted(languages, key=lambda lang: (lang.code != "en", lang.code))


def load_rules(path: Path) -> tuple[Rule, ...]:
    data = _read(path)
    unknown = set(data) - {"rule"}
    if unknown:
        raise LexiconError(f"{path.name}: unknown keys {', '.join(sorted(unknown))}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, table in enumerate(_tables(data.get("rule", []), path.name, "rule"), 1):
        rule = _rule(table, f"{path.name}: rule {table.get('id', n)!r}")
        if rule.id in seen:
            raise LexiconError(f"{path.name}: rule {rule.id!r} is defined twice")
        seen.add(rule.id)
        rules.append(rule)
    return tuple(rules)


def load_language(path: Path, rules: Sequence[Rule]) -> Language:
    """Read and check one language file against the shared rules."""
    data = _read(path)
    name = path.name
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise LexiconError(f"{name}: unknown keys {', '.join(sorted(unknown))}")
    code = data.get("language")
    if not isinstance(code, str) or not _LANGUAGE_RE.fullmatch(code) or code != path.stem:
        raise LexiconError(f"{name}: 'language' must be the file's name ({path.stem!r})")
    macros = _macros(data.get("macros", {}), name)
    entries: list[Entry] = []
    ids: set[str] = set()
    for n, table in enumerate(_tables(data.get("entry", []), name, "entry"), 1):
        where = f"{name}: entry {table.get('id', f'#{n}')!r}"
        entry = _entry(code, macros, table, where, strict=False)
        if entry.id in ids:
            raise LexiconError(f"{where}: the id is used twice")
        ids.add(entry.id)
        entries.append(entry)
    guards = []
    for n, table in enumerate(_tables(data.get("guard", []), name, "guard"), 1):
        guard = _guard(code, macros, table, f"{name}: guard {table.get('id', f'#{n}')!r}")
        guards.append(guard)
    concepts = _concepts(macros, data.get("concepts", {}), name)
    needed = {c for rule in rules for c in rule.concepts} | set(CONTEXT_CONCEPTS)
    missing = needed - set(concepts)
    if missing:
        raise LexiconError(f"{name}: concepts not defined: {', '.join(sorted(missing))}")
    examples = _rule_examples(data.get("rules", {}), rules, name)
    clash = ids & {rule.id for rule in rules}
    if clash:
        raise LexiconError(f"{name}: entry ids also used by rules: {', '.join(sorted(clash))}")
    return Language(
        code,
        str(data.get("name", code)),
        str(path),
        macros,
        tuple(entries),
        tuple(guards),
        concepts,
        examples,
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{path.name}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read: {exc.strerror}") from None


def _tables(value: Any, name: str, key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise LexiconError(f"{name}: '{key}' must be a list of tables ([[{key}]])")
    return value


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LexiconError(f"{where}: '{key}' must be a string or a list of strings")
    return tuple(value)


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise LexiconError(f"{where}: unknown keys {', '.join(sorted(unknown))}")


def _alternation(value: Any, where: str, key: str) -> str:
    # Spaces at either end would demand a separator that the text may not have.
    alternatives = tuple(a.strip() for a in _strings(value, where, key))
    if not alternatives or not all(alternatives):
        raise LexiconError(f"{where}: '{key}' is empty")
    return alternatives[0] if len(alternatives) == 1 else "|".join(alternatives)


def _macros(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise LexiconError(f"{name}: 'macros' must be a table")
    macros: dict[str, str] = {}
    for key, item in value.items():
        if not _MACRO_NAME_RE.fullmatch(key):
            raise LexiconError(f"{name}: macro {key!r}: names are upper case (A-Z, 0-9, _)")
        macros[key] = "(?:" + _alternation(item, f"{name}: macro {key!r}", key) + ")"
    for key, pattern in macros.items():
        try:
            expand(pattern, macros)
        except PatternError as exc:
            raise LexiconError(f"{name}: macro {key!r}: {exc}") from None
    return macros


def _canonical(pattern: str, macros: Mapping[str, str], where: str, strict: bool) -> str:
    """The canonical form; with `strict`, also compiled (loading the files skips that: the
    engine compiles lazily, and the tests compile every pattern with `check_patterns`)."""
    try:
        result = canonical(expand(pattern, macros))
        if strict:
            compile_pattern(result)
            anchor_plan(result)
    except PatternError as exc:
        raise LexiconError(f"{where}: {exc}") from None
    return result


def _entry(
    code: str,
    macros: Mapping[str, str],
    table: Mapping[str, Any],
    where: str,
    strict: bool,
    examples: bool = True,
) -> Entry:
    _check_keys(table, _ENTRY_KEYS, where)
    entry_id = table.get("id")
    if not isinstance(entry_id, str) or not _ID_RE.fullmatch(entry_id):
        raise LexiconError(f"{where}: 'id' must be lower-case letters, digits and '-'")
    category = table.get("category")
    if category not in CATEGORIES:
        raise LexiconError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    if "pattern" not in table:
        raise LexiconError(f"{where}: 'pattern' is missing")
    pattern = _alternation(table["pattern"], where, "pattern")
    everyday = _strings(table.get("everyday_in", []), where, "everyday_in")
    _check_contexts(everyday, where)
    positive = _strings(table.get("positive", []), where, "positive")
    if examples and not positive:
        raise LexiconError(f"{where}: give at least one positive example")
    return Entry(
        language=code,
        id=entry_id,
        category=str(category),
        pattern=pattern,
        canonical=_canonical(pattern, macros, where, strict),
        positive=positive,
        negative=_strings(table.get("negative", []), where, "negative"),
        everyday_in=everyday,
        note=str(table.get("note", "")),
    )


def _check_contexts(names: Iterable[str], where: str) -> None:
    for context in names:
        if context not in CONTEXTS:
            raise LexiconError(f"{where}: unknown context {context!r} in 'everyday_in'")


def _guard(code: str, macros: Mapping[str, str], table: Mapping[str, Any], where: str) -> Guard:
    _check_keys(table, _GUARD_KEYS, where)
    guard_id = table.get("id")
    if not isinstance(guard_id, str) or not _ID_RE.fullmatch(guard_id):
        raise LexiconError(f"{where}: 'id' must be lower-case letters, digits and '-'")
    if "pattern" not in table:
        raise LexiconError(f"{where}: 'pattern' is missing")
    categories = _strings(table.get("categories", []), where, "categories")
    for category in categories:
        if category not in CATEGORIES:
            raise LexiconError(f"{where}: unknown category {category!r}")
    pattern = _alternation(table["pattern"], where, "pattern")
    return Guard(
        code,
        guard_id,
        _canonical(pattern, macros, where, strict=False),
        frozenset(categories),
        _strings(table.get("positive", []), where, "positive"),
        _strings(table.get("negative", []), where, "negative"),
    )


def _concepts(macros: Mapping[str, str], value: Any, name: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise LexiconError(f"{name}: 'concepts' must be a table")
    concepts = {}
    for key, item in value.items():
        where = f"{name}: concept {key!r}"
        if not _CONCEPT_RE.fullmatch(key):
            raise LexiconError(f"{where}: names are lower case (a-z, 0-9, _)")
        patterns = _strings(item, where, key)
        if not patterns:
            raise LexiconError(f"{where}: is empty")
        concepts[key] = tuple(
            _canonical(p, macros, f"{where}, pattern {p!r}", strict=False) for p in patterns
        )
    return concepts


def _rule(table: Mapping[str, Any], where: str) -> Rule:
    _check_keys(table, _RULE_KEYS, where)
    rule_id = table.get("id")
    if not isinstance(rule_id, str) or not _ID_RE.fullmatch(rule_id):
        raise LexiconError(f"{where}: 'id' must be lower-case letters, digits and '-'")
    category = table.get("category")
    if category not in CATEGORIES:
        raise LexiconError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    window = table.get("window")
    if not isinstance(window, int) or not 1 <= window <= MAX_WINDOW:
        raise LexiconError(f"{where}: 'window' must be a number of sentences, 1 to {MAX_WINDOW}")
    groups = table.get("all")
    if (
        not isinstance(groups, list)
        or len(groups) < 2
        or not all(isinstance(g, list) and g and all(isinstance(c, str) for c in g) for g in groups)
    ):
        raise LexiconError(f"{where}: 'all' must be a list of at least two lists of concepts")
    for group in groups:
        for concept in group:
            if not _CONCEPT_RE.fullmatch(concept):
                raise LexiconError(f"{where}: {concept!r} is not a concept name")
    everyday = _strings(table.get("everyday_in", []), where, "everyday_in")
    _check_contexts(everyday, where)
    return Rule(
        rule_id,
        str(category),
        window,
        tuple(tuple(g) for g in groups),
        everyday,
        str(table.get("note", "")),
    )


def _rule_examples(
    value: Any, rules: Sequence[Rule], name: str
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    if not isinstance(value, dict):
        raise LexiconError(f"{name}: 'rules' must be a table of [rules.<id>] tables")
    ids = {rule.id for rule in rules}
    examples = {}
    for rule_id, table in value.items():
        where = f"{name}: rules.{rule_id}"
        if rule_id not in ids:
            raise LexiconError(f"{where}: there is no rule {rule_id!r} in {RULES_FILE}")
        if not isinstance(table, dict):
            raise LexiconError(f"{where}: must be a table")
        _check_keys(table, _EXAMPLE_KEYS, where)
        examples[rule_id] = (
            _strings(table.get("positive", []), where, "positive"),
            _strings(table.get("negative", []), where, "negative"),
        )
    missing = ids - set(examples)
    if missing:
        raise LexiconError(f"{name}: no examples for rules: {', '.join(sorted(missing))}")
    return examples
