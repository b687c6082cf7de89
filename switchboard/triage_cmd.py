"""`switchboard triage evaluate FILE.tsv ...`: measure safety triage on labelled reports.

Reads files in the contract of queues.triage.evaluation, runs triage on each report's
subject and body (the data files' lexicon and, unless the setting triage_model is off,
the shipped wording model: what a fresh installation triages with), and prints recall and
precision per language and overall for the lexicon alone, the wording model alone and
both (the decision); then, for the decision, recall per serious category, false alarms
per everyday category, and the ids of the misses and false alarms. Exits 1 when a
language or the total is below the thresholds for the decision (defaults: the settings
triage_min_recall and triage_min_precision), 2 when a file is malformed (the error names
the line).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# queues.triage is imported inside the command, as switchboard.cli does for every command:
# `switchboard --help` need not load it.
if TYPE_CHECKING:
    from queues.triage.evaluation import Comparison, Evaluation, Report, Tally

DEFAULT_MIN_RECALL = 0.95
DEFAULT_MIN_PRECISION = 0.75
_PROGRESS_FROM = 200  # reports; fewer are done before a bar would draw


@click.group()
def triage() -> None:
    """Safety triage: measure it on labelled reports."""


@triage.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--min-recall", type=click.FloatRange(0, 1), help="Default: settings.")
@click.option("--min-precision", type=click.FloatRange(0, 1), help="Default: settings.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.pass_context
def evaluate(
    ctx: click.Context,
    files: tuple[Path, ...],
    min_recall: float | None,
    min_precision: float | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Recall and precision of triage on labelled reports (TSV: id, label, lang,
    [category,] subject, body)."""
    from queues.triage.evaluation import Comparison, TsvError, read_reports

    reports: list[Report] = []
    try:
        for path in files:
            reports += read_reports(path)
    except TsvError as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(2)
    recall_floor, precision_floor = _thresholds(ctx, min_recall, min_precision)

    from queues.triage import triage as run  # the lexicon loads on first use, here
    from queues.triage import use_cache

    settings = getattr(ctx.obj, "settings", None)
    if settings is not None:
        use_cache(Path(settings.var_dir) / "cache")

    from queues.triage.model import wording_model

    use_model = bool(getattr(settings, "triage_model", True))
    comparison = Comparison()
    if no_progress or as_json or len(reports) < _PROGRESS_FROM:
        for report in reports:
            comparison.add(report, run(report.subject, report.body, model=use_model))
    else:
        with click.progressbar(reports, label="Triage", file=sys.stderr, show_pos=True) as bar:
            for report in bar:
                comparison.add(report, run(report.subject, report.body, model=use_model))
    result = comparison.combined
    short = result.below(recall_floor, precision_floor)
    model = wording_model() if use_model else None
    threshold = None if model is None else model.threshold
    if as_json:
        data: dict[str, Any] = result.as_json()
        data["thresholds"] = {"min_recall": recall_floor, "min_precision": precision_floor}
        data["below"] = short
        data["model_threshold"] = threshold
        data["signals"] = {
            name: {
                "overall": part["overall"],
                "languages": part["languages"],
                "categories": part["categories"],
            }
            for name, evaluation in comparison.signals().items()
            for part in [evaluation.as_json()]
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_signals(comparison, threshold)
        _print(result, files, recall_floor, precision_floor, short)
    if short:
        ctx.exit(1)


def _thresholds(
    ctx: click.Context, min_recall: float | None, min_precision: float | None
) -> tuple[float, float]:
    if min_recall is not None and min_precision is not None:
        return min_recall, min_precision
    settings = getattr(ctx.obj, "settings", None)  # the App of switchboard.cli
    recall = getattr(settings, "triage_min_recall", DEFAULT_MIN_RECALL)
    precision = getattr(settings, "triage_min_precision", DEFAULT_MIN_PRECISION)
    return (
        min_recall if min_recall is not None else float(recall),
        min_precision if min_precision is not None else float(precision),
    )


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_signals(comparison: Comparison, threshold: float | None) -> None:
    """Recall / precision per language for each signal, the decision last."""
    from queues.triage.evaluation import SIGNAL_NAMES, Tally

    model = "off or not shipped" if threshold is None else f"threshold {threshold:.2f}"
    click.echo(f"Recall / precision per signal (wording model: {model})\n")
    languages = sorted(comparison.combined.languages)
    click.echo(f"{'signal':<15}" + "".join(f"{name:>14}" for name in [*languages, "overall"]))
    for key, evaluation in comparison.signals().items():
        tallies = [evaluation.languages.get(name, Tally()) for name in languages]
        cells = [f"{_figure(t.recall)} / {_figure(t.precision)}" for t in tallies]
        cells.append(
            f"{_figure(evaluation.overall.recall)} / {_figure(evaluation.overall.precision)}"
        )
        click.echo(f"{SIGNAL_NAMES[key]:<15}" + "".join(f"{cell:>14}" for cell in cells))
    click.echo("\nFigures of both together (what triage decides):\n")


def _print(
    result: Evaluation,
    files: tuple[Path, ...],
    min_recall: float,
    min_precision: float,
    short: list[str],
) -> None:
    total = result.overall.serious + result.overall.everyday
    click.echo(f"Triage evaluation: {total} reports from {len(files)} file(s)\n")
    click.echo(
        f"{'language':<12}{'serious':>8}{'caught':>8}{'recall':>8}"
        f"{'everyday':>10}{'false alarms':>14}{'precision':>11}"
    )
    rows: list[tuple[str, Tally]] = sorted(result.languages.items())
    for name, t in [*rows, ("overall", result.overall)]:
        click.echo(
            f"{name:<12}{t.serious:>8}{t.caught:>8}{_figure(t.recall):>8}"
            f"{t.everyday:>10}{t.false_alarms:>14}{_figure(t.precision):>11}"
        )
    serious = [(k, t) for k, t in sorted(result.categories.items()) if t.serious]
    if serious:
        click.echo(f"\n{'serious category':<24}{'reports':>8}{'caught':>8}{'recall':>8}")
        for name, t in serious:
            click.echo(f"{name:<24}{t.serious:>8}{t.caught:>8}{_figure(t.recall):>8}")
    everyday = [(k, t) for k, t in sorted(result.categories.items()) if t.everyday]
    if everyday:
        click.echo(f"\n{'everyday category':<24}{'reports':>8}{'false alarms':>14}")
        for name, t in everyday:
            click.echo(f"{name:<24}{t.everyday:>8}{t.false_alarms:>14}")
    click.echo(f"\nmisses ({len(result.misses)}): " + ", ".join(r.id for r in result.misses))
    click.echo(f"false alarms ({len(result.false_alarms)}):")
    for report, hits in result.false_alarms:
        click.echo(f"  {report.id}: {hits[0].reason()}")
    rule = f"recall >= {min_recall}, precision >= {min_precision}, per language and overall"
    if short:
        click.echo(f"\nBELOW the thresholds ({rule}):\n  " + "\n  ".join(short))
    else:
        click.echo(f"\nthresholds met ({rule})")
