"""The triage evaluation set (tests/data/triage/) keeps its format.

Only the files are checked here, never the engine: the set measures triage and must not be
tuned against it (see the set's README).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "triage"
LANGS = ("en", "de", "fr", "es")
HEADER = ["id", "label", "lang", "category", "subject", "body"]
SERIOUS = ("threat", "self_harm", "child_safety", "illegal", "offsite_contact", "personal_data")
EVERYDAY = ("everyday", "decoy")
CATEGORIES = {"serious": SERIOUS, "everyday": EVERYDAY}
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}
ESCAPE = re.compile(r"\\(.?)", re.DOTALL)
# Digit runs that could be a phone number; dates ("10/04/2026") and ticket numbers after
# "Ticket#" are excluded by the look-arounds.
PHONE = re.compile(r"(?<![\w#/.])\+?\d[\d \-]{5,}\d(?![\w/])")
EMAIL = re.compile(r"[\w.%+-]+@([\w-]+(?:\.[\w-]+)+)")


@dataclass(frozen=True)
class Report:
    file: str
    line: int
    id: str
    label: str
    lang: str
    category: str
    subject: str
    body: str


def decode(field: str) -> str:
    """Undo the set's escapes; any other backslash is a format error."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in ESCAPES:
            raise ValueError(f"bad escape {match.group(0)!r}")
        return ESCAPES[match.group(1)]

    return ESCAPE.sub(one, field)


def read_lines(lang: str) -> list[str]:
    raw = (DATA / f"{lang}.tsv").read_bytes()
    assert b"\r" not in raw, f"{lang}.tsv: CR characters"
    assert raw.endswith(b"\n"), f"{lang}.tsv: last line has no newline"
    return raw.decode("utf-8").split("\n")[:-1]


def read(lang: str) -> list[Report]:
    lines = read_lines(lang)
    reports = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        assert len(fields) == len(HEADER), f"{lang}.tsv:{number}: {len(fields)} fields"
        reports.append(Report(f"{lang}.tsv", number, *fields))
    return reports


def all_reports() -> list[Report]:
    return [report for lang in LANGS for report in read(lang)]


@pytest.mark.parametrize("lang", LANGS)
def test_header(lang: str) -> None:
    assert read_lines(lang)[0].split("\t") == HEADER


@pytest.mark.parametrize("lang", LANGS)
def test_labels_languages_and_categories(lang: str) -> None:
    for r in read(lang):
        where = f"{r.file}:{r.line}"
        assert r.label in CATEGORIES, f"{where}: label {r.label!r}"
        assert r.lang == lang, f"{where}: lang {r.lang!r} in {lang}.tsv"
        assert r.category in CATEGORIES[r.label], f"{where}: {r.label} with {r.category!r}"
        assert re.fullmatch(rf"{lang}-{r.label[0]}-\d{{3,}}", r.id), f"{where}: id {r.id!r}"


def test_ids_are_unique_across_files() -> None:
    counts = Counter(r.id for r in all_reports())
    assert [i for i, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("lang", LANGS)
def test_escapes_decode_and_bodies_are_not_empty(lang: str) -> None:
    for r in read(lang):
        subject, body = decode(r.subject), decode(r.body)
        assert body.strip(), f"{r.file}:{r.line}: empty body"
        assert "\n" not in subject, f"{r.file}:{r.line}: newline in subject"


def test_decode_rejects_stray_backslashes() -> None:
    assert decode(r"a\nb\tc\\n") == "a\nb\tc\\n"
    for bad in (r"C:\temp\x", "ends with \\"):
        with pytest.raises(ValueError):
            decode(bad)


@pytest.mark.parametrize("lang", LANGS)
def test_enough_reports_of_each_kind(lang: str) -> None:
    reports = read(lang)
    labels = Counter(r.label for r in reports)
    categories = Counter(r.category for r in reports)
    assert labels["serious"] >= 50
    assert labels["everyday"] >= 50
    assert categories["decoy"] >= 15
    # Every serious category is measured in every language.
    assert all(categories[c] >= 5 for c in SERIOUS), categories


def test_at_least_400_reports() -> None:
    assert len(all_reports()) >= 400


def test_no_real_looking_contact_data() -> None:
    """Phone numbers are 555 numbers and mail goes to example domains."""
    for r in all_reports():
        text = decode(r.subject) + "\n" + decode(r.body)
        for number in PHONE.findall(text):
            digits = re.sub(r"\D", "", number)
            assert len(digits) < 7 or "555" in digits, f"{r.file}:{r.line}: {number!r}"
        for domain in EMAIL.findall(text):
            assert domain in {"example.org", "example.com", "example.net"}, (
                f"{r.file}:{r.line}: {domain!r}"
            )


def test_readme_counts_match_the_files() -> None:
    """The README's table is how readers learn the set's size: it must not drift."""
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for lang in (*LANGS, "all"):
        reports = all_reports() if lang == "all" else read(lang)
        labels = Counter(r.label for r in reports)
        categories = Counter(r.category for r in reports)
        cells = [lang, labels["serious"], *(categories[c] for c in SERIOUS)]
        cells += [labels["everyday"], categories["everyday"], categories["decoy"], len(reports)]
        row = "| " + " | ".join(str(c) for c in cells) + " |"
        assert row in readme, f"README.md lacks the row {row}"
