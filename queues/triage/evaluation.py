"""Measuring triage on labelled reports: the TSV contract and the figures.

A file is UTF-8, tab-separated, with a header row naming the columns `id`, `label`,
`lang`, optionally `category`, `subject` and `body` (in any order; other columns are
ignored). `label` is "serious" or "everyday"; in fields, `\\n`, `\\t` and `\\\\` stand for a
line break, a tab and a backslash. A report counts as flagged when triage finds anything in
its subject and body (what would send it to specialist-safety).

Figures: per language and overall, recall (serious reports flagged / serious reports) and
precision (serious flagged / all flagged); per category of serious reports, recall; per
category of everyday reports, false alarms. And the ids of the misses and false alarms.
`Comparison` keeps them for each signal apart: the lexicon alone, the wording model alone
(queues.triage.model), and both together, which is what triage decides.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from queues.triage.hits import TriageHit

LABELS: Final = ("serious", "everyday")
REQUIRED: Final = ("id", "label", "lang", "subject", "body")
_UNESCAPE: Final = {"n": "\n", "t": "\t", "\\": "\\", "r": "\r"}


class TsvError(ValueError):
    """A file that does not follow the contract; the message names the file and line."""


@dataclass(frozen=True)
class Report:
    """One labelled report of an evaluation file."""

    id: str
    label: str
    lang: str
    category: str
    subject: str
    body: str
    source: str = ""  # file:line

    @property
    def serious(self) -> bool:
        return self.label == "serious"


def unescape(value: str) -> str:
    """`\\n`, `\\t`, `\\r` and `\\\\` in a field; any other backslash is kept as it is."""
    if "\\" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value) and value[i + 1] in _UNESCAPE:
            out.append(_UNESCAPE[value[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def read_reports(path: Path) -> list[Report]:
    """The reports of one file; TsvError names the line of the first problem."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TsvError(f"{path}: not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise TsvError(f"{path}: cannot read: {exc.strerror}") from None
    return list(parse_reports(text, str(path)))


def parse_reports(text: str, name: str = "<tsv>") -> Iterator[Report]:
    # QUOTE_NONE: fields are escaped, never quoted; a '"' is an ordinary character.
    rows = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    header: list[str] | None = None
    seen: set[str] = set()
    for number, row in enumerate(rows, 1):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{name}:{number}"
        if header is None:
            header = [cell.strip().lower() for cell in row]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise TsvError(
                    f"{where}: the header row lacks {', '.join(missing)} "
                    f"(expected: id, label, lang, [category,] subject, body)"
                )
            continue
        if len(row) != len(header):
            raise TsvError(
                f"{where}: {len(row)} fields, the header has {len(header)} "
                "(a tab or line break inside a field must be written \\t or \\n)"
            )
        cells = dict(zip(header, row, strict=True))
        report = Report(
            id=cells["id"].strip(),
            label=cells["label"].strip().lower(),
            lang=cells["lang"].strip().lower(),
            category=cells.get("category", "").strip(),
            subject=unescape(cells["subject"]),
            body=unescape(cells["body"]),
            source=where,
        )
        if not report.id:
            raise TsvError(f"{where}: empty id")
        if report.id in seen:
            raise TsvError(f"{where}: id {report.id!r} appears twice")
        seen.add(report.id)
        if report.label not in LABELS:
            raise TsvError(f"{where}: label {report.label!r} is not serious or everyday")
        if not report.lang:
            raise TsvError(f"{where}: empty lang")
        yield report
    if header is None:
        raise TsvError(f"{name}: empty file (no header row)")


@dataclass
class Tally:
    """Counts for one group of reports."""

    serious: int = 0
    caught: int = 0  # serious and flagged
    everyday: int = 0
    false_alarms: int = 0  # everyday and flagged

    @property
    def recall(self) -> float | None:
        return self.caught / self.serious if self.serious else None

    @property
    def precision(self) -> float | None:
        flagged = self.caught + self.false_alarms
        return self.caught / flagged if flagged else None

    def add(self, serious: bool, flagged: bool) -> None:
        if serious:
            self.serious += 1
            self.caught += flagged
        else:
            self.everyday += 1
            self.false_alarms += flagged


@dataclass
class Evaluation:
    """The figures of one run over one or more files."""

    overall: Tally = field(default_factory=Tally)
    languages: dict[str, Tally] = field(default_factory=dict)
    categories: dict[str, Tally] = field(default_factory=dict)  # by the file's category
    misses: list[Report] = field(default_factory=list)
    false_alarms: list[tuple[Report, list[TriageHit]]] = field(default_factory=list)

    def add(self, report: Report, hits: list[TriageHit]) -> None:
        flagged = bool(hits)
        self.overall.add(report.serious, flagged)
        self.languages.setdefault(report.lang, Tally()).add(report.serious, flagged)
        category = report.category or "(none)"
        self.categories.setdefault(category, Tally()).add(report.serious, flagged)
        if report.serious and not flagged:
            self.misses.append(report)
        elif flagged and not report.serious:
            self.false_alarms.append((report, hits))

    def below(self, min_recall: float, min_precision: float) -> list[str]:
        """What falls short of the thresholds (each language, and overall)."""
        short = []
        for name, tally in [*sorted(self.languages.items()), ("overall", self.overall)]:
            if tally.recall is not None and tally.recall < min_recall:
                short.append(f"{name}: recall {tally.recall:.3f} < {min_recall}")
            if tally.precision is not None and tally.precision < min_precision:
                short.append(f"{name}: precision {tally.precision:.3f} < {min_precision}")
        return short

    def as_json(self) -> dict[str, object]:
        def figures(t: Tally) -> dict[str, object]:
            return {
                "serious": t.serious,
                "caught": t.caught,
                "everyday": t.everyday,
                "false_alarms": t.false_alarms,
                "recall": t.recall,
                "precision": t.precision,
            }

        return {
            "overall": figures(self.overall),
            "languages": {k: figures(v) for k, v in sorted(self.languages.items())},
            "categories": {k: figures(v) for k, v in sorted(self.categories.items())},
            "misses": [r.id for r in self.misses],
            "false_alarms": [
                {"id": r.id, "reasons": [h.reason() for h in hits]} for r, hits in self.false_alarms
            ],
        }


def evaluate(
    reports: Iterable[Report], triage: Callable[[str, str], list[TriageHit]]
) -> Evaluation:
    """Run `triage` over `reports` and count."""
    result = Evaluation()
    for report in reports:
        result.add(report, triage(report.subject, report.body))
    return result


SIGNAL_NAMES: Final = {"lexicon": "lexicon", "model": "wording model", "combined": "both"}


@dataclass
class Comparison:
    """The figures of the lexicon alone, the wording model alone, and both together (a
    report is flagged when either fires: triage's decision)."""

    lexicon: Evaluation = field(default_factory=Evaluation)
    model: Evaluation = field(default_factory=Evaluation)
    combined: Evaluation = field(default_factory=Evaluation)

    def add(self, report: Report, hits: list[TriageHit]) -> None:
        """Count `report` with all of triage's `hits` (the model's have signal "model")."""
        self.lexicon.add(report, [h for h in hits if h.signal != "model"])
        self.model.add(report, [h for h in hits if h.signal == "model"])
        self.combined.add(report, hits)

    def signals(self) -> dict[str, Evaluation]:
        return {"lexicon": self.lexicon, "model": self.model, "combined": self.combined}
