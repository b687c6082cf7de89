"""The lexicon data files (queues/triage/lexicon/*.toml): every example of every entry, guard
and window rule behaves as written, every pattern compiles, and a malformed file fails
with an error that names the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from queues import triage as triage_module
from queues.triage import LANGUAGES, Lexicon, TriageHit, default_lexicon
from queues.triage.lexicon import (
    CONTEXT_CONCEPTS,
    LEXICON_DIR,
    RULES_FILE,
    LexiconError,
    check_patterns,
    load_lexicon,
)


def triage(subject: str, body: str, lexicon: Lexicon | None = None) -> list[TriageHit]:
    """The lexicon's hits alone: these tests are about the data files (the wording model
    beside them has its own tests, test_triage_model*.py)."""
    return triage_module.triage(subject, body, lexicon, model=False)


LEXICON = default_lexicon()


def _entry_cases(kind: str) -> list[tuple[str, str, str]]:
    return [
        (language.code, entry.id, text)
        for language in LEXICON.languages
        for entry in language.entries
        for text in (entry.positive if kind == "positive" else entry.negative)
    ]


def _rule_cases(kind: str) -> list[tuple[str, str, str]]:
    return [
        (language.code, rule_id, text)
        for language in LEXICON.languages
        for rule_id, (positive, negative) in language.examples.items()
        for text in (positive if kind == "positive" else negative)
    ]


def _fired(text: str) -> set[tuple[str, str]]:
    return {hit.key for hit in triage("", text)}


def test_every_language_has_a_file_and_every_file_a_language() -> None:
    assert set(LEXICON.codes) == set(LANGUAGES)
    assert {p.stem for p in LEXICON_DIR.glob("*.toml")} == {*LANGUAGES, Path(RULES_FILE).stem}


def test_every_pattern_compiles() -> None:
    check_patterns(LEXICON)


def test_every_entry_has_examples_both_ways() -> None:
    thin = [
        (language.code, entry.id)
        for language in LEXICON.languages
        for entry in language.entries
        if not entry.positive or not entry.negative
    ]
    assert thin == []


@pytest.mark.parametrize(("language", "entry", "text"), _entry_cases("positive"))
def test_positive_example_fires_its_entry(language: str, entry: str, text: str) -> None:
    assert (language, entry) in _fired(text)


@pytest.mark.parametrize(("language", "entry", "text"), _entry_cases("negative"))
def test_negative_example_does_not_fire_its_entry(language: str, entry: str, text: str) -> None:
    assert (language, entry) not in _fired(text)


@pytest.mark.parametrize(("language", "rule", "text"), _rule_cases("positive"))
def test_positive_example_fires_its_rule(language: str, rule: str, text: str) -> None:
    assert (language, rule) in _fired(text)


@pytest.mark.parametrize(("language", "rule", "text"), _rule_cases("negative"))
def test_negative_example_does_not_fire_its_rule(language: str, rule: str, text: str) -> None:
    assert (language, rule) not in _fired(text)


def test_every_rule_has_examples_in_every_language() -> None:
    for language in LEXICON.languages:
        for rule in LEXICON.rules:
            positive, negative = language.examples[rule.id]
            assert positive and negative, (language.code, rule.id)


def test_guard_examples() -> None:
    for language in LEXICON.languages:
        for guard in language.guards:
            for text in guard.positive:
                covered = [
                    h
                    for h in triage("", text)
                    if not guard.categories or h.category in guard.categories
                ]
                assert covered == [], (guard.id, text)
            for text in guard.negative:
                assert triage("", text), (guard.id, text)


def test_every_language_defines_the_context_concepts() -> None:
    for language in LEXICON.languages:
        for concept in CONTEXT_CONCEPTS:
            assert language.concepts[concept], (language.code, concept)


# --------------------------------------------------------------------------------------------
# Malformed files: a clear error naming the file and the entry
# --------------------------------------------------------------------------------------------


@pytest.fixture
def lexicon_dir(tmp_path: Path) -> Path:
    """A copy of the real lexicon to break."""
    for path in LEXICON_DIR.glob("*.toml"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def test_the_copy_loads(lexicon_dir: Path) -> None:
    assert load_lexicon(lexicon_dir).codes == LEXICON.codes


BROKEN_ENTRIES = [
    (
        '[[entry]]\nid = "typo"\ncategory = "threat"\npatern = "x"\npositive = ["x"]\n',
        "en.toml: entry 'typo': unknown keys patern",
    ),
    (
        '[[entry]]\nid = "spam"\ncategory = "spam"\npattern = "x"\npositive = ["x"]\n',
        "en.toml: entry 'spam': category 'spam' is not one of",
    ),
    (
        '[[entry]]\nid = "nomacro"\ncategory = "threat"\npattern = "<NOPE> x"\npositive = ["x"]\n',
        "en.toml: entry 'nomacro': unknown macro <NOPE>",
    ),
    (
        '[[entry]]\nid = "noexample"\ncategory = "threat"\npattern = "x"\n',
        "en.toml: entry 'noexample': give at least one positive example",
    ),
    (
        '[[entry]]\nid = "Bad Id"\ncategory = "threat"\npattern = "x"\npositive = ["x"]\n',
        "en.toml: entry 'Bad Id': 'id' must be",
    ),
    (
        '[[entry]]\nid = "kill-you"\ncategory = "threat"\npattern = "x"\npositive = ["x"]\n',
        "en.toml: entry 'kill-you': the id is used twice",
    ),
    (
        '[[entry]]\nid = "ctx"\ncategory = "threat"\npattern = "x"\npositive = ["x"]\n'
        'everyday_in = ["sarcasm"]\n',
        "en.toml: entry 'ctx': unknown context 'sarcasm'",
    ),
    (
        '[[guard]]\nid = "g"\npattern = "x"\ncategories = ["nope"]\n',
        "en.toml: guard 'g': unknown category 'nope'",
    ),
]


@pytest.mark.parametrize(("text", "message"), BROKEN_ENTRIES)
def test_a_broken_entry_is_named(lexicon_dir: Path, text: str, message: str) -> None:
    _append(lexicon_dir / "en.toml", text)
    with pytest.raises(LexiconError, match="^" + _escape(message)):
        load_lexicon(lexicon_dir)


def test_a_pattern_that_does_not_compile_is_named(lexicon_dir: Path) -> None:
    _append(
        lexicon_dir / "en.toml",
        '[[entry]]\nid = "bad-regex"\ncategory = "threat"\npattern = "kill (?:you"\n'
        'positive = ["kill you"]\n',
    )
    lexicon = load_lexicon(lexicon_dir)  # loading is quick and does not compile ...
    with pytest.raises(LexiconError, match=r"^en\.toml: entry 'bad-regex': "):
        check_patterns(lexicon)  # ... the tests do


def test_a_capturing_group_is_refused(lexicon_dir: Path) -> None:
    _append(
        lexicon_dir / "en.toml",
        '[[entry]]\nid = "group"\ncategory = "threat"\npattern = "kill (you)"\n'
        'positive = ["kill you"]\n',
    )
    with pytest.raises(LexiconError, match="entry 'group': capturing group"):
        check_patterns(load_lexicon(lexicon_dir))


def test_not_toml_is_named(lexicon_dir: Path) -> None:
    _append(lexicon_dir / "de.toml", "this is = not = toml")
    with pytest.raises(LexiconError, match=r"^de\.toml: not valid TOML"):
        load_lexicon(lexicon_dir)


def test_unknown_top_level_key(lexicon_dir: Path) -> None:
    _append(lexicon_dir / "fr.toml", "[extras]\nx = 1\n")
    with pytest.raises(LexiconError, match=r"^fr\.toml: unknown keys extras"):
        load_lexicon(lexicon_dir)


def test_language_must_match_the_file_name(lexicon_dir: Path) -> None:
    (lexicon_dir / "it.toml").write_bytes((lexicon_dir / "es.toml").read_bytes())
    with pytest.raises(LexiconError, match=r"^it\.toml: 'language' must be the file's name"):
        load_lexicon(lexicon_dir)


def test_a_rule_needs_its_concepts_in_every_language(lexicon_dir: Path) -> None:
    _append(
        lexicon_dir / RULES_FILE,
        '[[rule]]\nid = "new-rule"\ncategory = "threat"\nwindow = 2\n'
        'all = [["adult"], ["unheard_of"]]\n',
    )
    with pytest.raises(LexiconError, match=r"concepts not defined: unheard_of"):
        load_lexicon(lexicon_dir)


def test_a_rule_needs_examples_in_every_language(lexicon_dir: Path) -> None:
    _append(
        lexicon_dir / RULES_FILE,
        '[[rule]]\nid = "new-rule"\ncategory = "threat"\nwindow = 2\n'
        'all = [["adult"], ["child"]]\n',
    )
    with pytest.raises(LexiconError, match=r"\.toml: no examples for rules: new-rule"):
        load_lexicon(lexicon_dir)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('window = 0\nall = [["adult"], ["child"]]', "'window' must be a number of sentences"),
        ('window = 2\nall = [["adult"]]', "'all' must be a list of at least two lists"),
        ('window = 2\nall = [["adult"], ["child"]]\nsize = 3', "unknown keys size"),
    ],
)
def test_a_broken_rule_is_named(lexicon_dir: Path, rule: str, message: str) -> None:
    _append(lexicon_dir / RULES_FILE, f'[[rule]]\nid = "r"\ncategory = "threat"\n{rule}\n')
    with pytest.raises(LexiconError, match=r"^rules\.toml: rule 'r': " + _escape(message)):
        load_lexicon(lexicon_dir)


def test_a_new_language_is_a_new_file(lexicon_dir: Path) -> None:
    # Italian, as a copy of the Spanish file's concepts with one entry of its own.
    spanish = (lexicon_dir / "es.toml").read_text(encoding="utf-8")
    concepts = spanish[spanish.index("[concepts]") :]
    concepts = concepts[: concepts.index("# ----")]
    rules = spanish[spanish.index("[rules.adult-child-asks]") :]
    rules = rules[: rules.index("# ----")] if "# ----" in rules else rules
    italian = (
        'language = "it"\nname = "Italiano"\n\n[macros]\nNINO = ["bambin[oa]"]\n'
        'AGE = ["[1-9]", "1[0-7]"]\n\n'
        '[[entry]]\nid = "ti-ammazzo"\ncategory = "threat"\npattern = "ti ammazzo"\n'
        'positive = ["Ti ammazzo!"]\nnegative = ["Ammazza, che bello."]\n\n'
    )
    (lexicon_dir / "it.toml").write_text(italian + concepts + rules, encoding="utf-8")
    lexicon = load_lexicon(lexicon_dir)
    assert "it" in lexicon.codes
    hits = triage("", "Mi ha scritto: ti ammazzo.", lexicon)
    assert [(h.language, h.entry) for h in hits] == [("it", "ti-ammazzo")]


def _escape(text: str) -> str:
    import re

    return re.escape(text)
