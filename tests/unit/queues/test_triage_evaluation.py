"""The evaluation file contract (queues.triage.evaluation): columns, escapes, errors naming
the line, and the figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from queues.triage import TriageHit
from queues.triage.evaluation import (
    Evaluation,
    Report,
    TsvError,
    evaluate,
    parse_reports,
    read_reports,
    unescape,
)

HEADER = "id\tlabel\tlang\tcategory\tsubject\tbody\n"


def test_fields_escapes_and_optional_category() -> None:
    text = HEADER + "a1\tserious\ten\tthreat\tHi\\tthere\tline one\\nline two \\\\o/ \\x\n"
    (report,) = parse_reports(text)
    assert report == Report(
        "a1", "serious", "en", "threat", "Hi\tthere", "line one\nline two \\o/ \\x", "<tsv>:2"
    )
    no_category = "id\tlabel\tlang\tsubject\tbody\nb\teveryday\tde\tS\tB\n"
    (report,) = parse_reports(no_category)
    assert (report.category, report.label, report.lang) == ("", "everyday", "de")


def test_columns_in_any_order_quotes_are_plain_and_blank_lines_skipped() -> None:
    text = 'body\tsubject\tlang\tlabel\tid\n\n"He said "hi""\tS\tFR\tServious\tx\n'
    with pytest.raises(TsvError, match="<tsv>:3: label 'servious'"):
        list(parse_reports(text))
    text = text.replace("Servious", "Serious")
    (report,) = parse_reports(text)
    assert report.body == '"He said "hi""' and report.lang == "fr" and report.serious


def test_unescape_leaves_other_backslashes() -> None:
    assert unescape(r"C:\path\to\file") == "C:\\path\to\\file"
    assert unescape("plain") == "plain"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "<tsv>: empty file"),
        ("id\tlabel\tsubject\tbody\n", "<tsv>:1: the header row lacks lang"),
        (HEADER + "a\tserious\ten\tthreat\tS\n", "<tsv>:2: 5 fields, the header has 6"),
        (HEADER + "a\tserious\ten\tt\tS\tB\tC\n", "<tsv>:2: 7 fields"),
        (HEADER + "\tserious\ten\tt\tS\tB\n", "<tsv>:2: empty id"),
        (HEADER + "a\tserious\ten\tt\tS\tB\na\teveryday\ten\tt\tS\tB\n", "<tsv>:3: id 'a'"),
        (HEADER + "a\tmaybe\ten\tt\tS\tB\n", "<tsv>:2: label 'maybe'"),
        (HEADER + "a\tserious\t\tt\tS\tB\n", "<tsv>:2: empty lang"),
    ],
)
def test_malformed_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(TsvError, match="^" + __import__("re").escape(message)):
        list(parse_reports(text))


def test_read_reports_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "set.tsv"
    path.write_bytes(HEADER.encode() + b"a\tserious\ten\tt\tS\t\xff\n")
    with pytest.raises(TsvError, match=r"set\.tsv: not UTF-8"):
        read_reports(path)
    path.write_text(HEADER + "a\tserious\ten\tt\tS\tB\n", encoding="utf-8")
    assert read_reports(path)[0].source.endswith("set.tsv:2")
    with pytest.raises(TsvError, match="cannot read"):
        read_reports(tmp_path / "missing.tsv")


def test_figures() -> None:
    text = HEADER + "".join(
        [
            "s1\tserious\ten\tthreat\tx\tflag\n",
            "s2\tserious\ten\tthreat\tx\tquiet\n",
            "s3\tserious\tde\tself_harm\tx\tflag\n",
            "e1\teveryday\ten\tdecoy\tx\tflag\n",
            "e2\teveryday\ten\tdecoy\tx\tquiet\n",
            "e3\teveryday\tde\tlogin\tx\tquiet\n",
        ]
    )

    def fake(subject: str, body: str) -> list[TriageHit]:
        return [TriageHit("threat", "en", "x", excerpt=body)] if body == "flag" else []

    result = evaluate(parse_reports(text), fake)
    assert isinstance(result, Evaluation)
    en, de = result.languages["en"], result.languages["de"]
    assert (en.serious, en.caught, en.everyday, en.false_alarms) == (2, 1, 2, 1)
    assert en.recall == 0.5 and en.precision == 0.5
    assert de.recall == 1.0 and de.precision == 1.0
    assert result.overall.recall == 2 / 3 and result.overall.precision == 2 / 3
    assert result.categories["threat"].recall == 0.5
    assert result.categories["decoy"].false_alarms == 1
    assert [r.id for r in result.misses] == ["s2"]
    assert [r.id for r, _ in result.false_alarms] == ["e1"]
    assert result.below(0.95, 0.75) == [
        "en: recall 0.500 < 0.95",
        "en: precision 0.500 < 0.75",
        "overall: recall 0.667 < 0.95",
        "overall: precision 0.667 < 0.75",
    ]
    assert result.below(0.5, 0.5) == []
    data = result.as_json()
    assert data["misses"] == ["s2"]
