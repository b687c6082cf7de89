"""The wording model on the way in (queues.ingest) and in `switchboard triage evaluate`: a
report only the model catches lands in specialist-safety with the model's reason; the
setting triage_model switches it off; the command prints each signal's figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Ticket
from queues.settings import Settings
from queues.triage import triage
from queues.triage.evaluation import Comparison, Report
from queues.triage.model import wording_model
from switchboard.cli import main

from .builders import FakeGate, make_mail

# Written for this test: indirect wording the lexicon has no entry for.
ONLY_THE_MODEL = (
    "worried",
    "She told me to be careful on my way home from the gym because the car park is very dark.",
)
EVERYDAY = ("password", "Hello, I cannot log in since the update. Could you reset my password?")


def test_the_model_alone_catches_it() -> None:
    assert triage(*ONLY_THE_MODEL, model=False) == []
    (hit,) = triage(*ONLY_THE_MODEL)
    assert hit.signal == "model"
    assert triage(*EVERYDAY) == []


def test_a_report_only_the_model_catches_lands_in_specialist_safety(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    gate = FakeGate(factory, dataclasses.replace(settings, triage_model=True))
    serious = gate.send(make_mail(subject=ONLY_THE_MODEL[0], body=ONLY_THE_MODEL[1]))
    everyday = gate.send(make_mail(subject=EVERYDAY[0], body=EVERYDAY[1]))
    off = FakeGate(factory, dataclasses.replace(settings, triage_model=False))
    unjudged = off.send(make_mail(subject=ONLY_THE_MODEL[0], body=ONLY_THE_MODEL[1] + " "))
    with factory() as session:
        found = {t.number: t for t in session.scalars(select(Ticket))}
        ticket = found[serious.ticket_number]
        assert ticket.queue.slug == "specialist-safety"
        (reason,) = ticket.triage_reasons
        assert "(wording model, score 0." in reason and '"' in reason
        assert found[everyday.ticket_number].queue.slug == "general-help"
        # Switched off by the setting: the lexicon alone decides.
        assert found[unjudged.ticket_number].queue.slug == "general-help"
        assert found[unjudged.ticket_number].triage_reasons == []


def test_follow_ups_are_read_by_the_lexicon_alone(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    # The model learnt from first messages; a reply ("here are the screenshots") is not one.
    gate = FakeGate(factory, dataclasses.replace(settings, triage_model=True))
    first = gate.send(make_mail(subject=EVERYDAY[0], body=EVERYDAY[1]))
    tag = f"[Ticket#{first.ticket_number}]"
    gate.send(make_mail(subject=f"Re: {tag} {EVERYDAY[0]}", body=ONLY_THE_MODEL[1]))
    gate.send(make_mail(subject=f"Re: {tag}", body="He wrote again: I will kill you."))
    with factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert len([a for a in ticket.articles if a.kind.value == "incoming"]) == 3
        assert ticket.queue.slug == "specialist-safety"  # the lexicon's threat
        assert all("wording model" not in reason for reason in ticket.triage_reasons)


@pytest.mark.parametrize("kind", ["is_bounce", "is_auto_submitted", "is_list_or_bulk"])
def test_machine_made_mail_is_read_by_the_lexicon_alone(
    factory: sessionmaker[Session], settings: Settings, kind: str
) -> None:
    # The model takes most mail that is not a report for serious (bench/README.md).
    gate = FakeGate(factory, dataclasses.replace(settings, triage_model=True))
    mail = make_mail(subject=ONLY_THE_MODEL[0], body=ONLY_THE_MODEL[1], **{kind: True})
    outcome = gate.send(mail)
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        assert (ticket.queue.slug, ticket.triage_reasons) == ("general-help", [])


def test_comparison_counts_each_signal_apart() -> None:
    model = wording_model()
    assert model is not None
    comparison = Comparison()
    reports = [
        Report("a", "serious", "en", "threat", *ONLY_THE_MODEL),
        Report("b", "serious", "en", "threat", "Help", "He wrote: I will kill you."),
        Report("c", "everyday", "en", "everyday", *EVERYDAY),
    ]
    for report in reports:
        comparison.add(report, triage(report.subject, report.body))
    assert comparison.lexicon.overall.caught == 1
    assert comparison.model.overall.caught == 1 + bool(
        model.assess("Help", reports[1].body).flagged
    )
    assert comparison.combined.overall.caught == 2
    assert comparison.combined.overall.false_alarms == 0


@pytest.fixture
def tsv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWITCHBOARD_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SWITCHBOARD_CONFIG", "")
    path = tmp_path / "en.tsv"
    rows = [
        "id\tlabel\tlang\tcategory\tsubject\tbody",
        "s1\tserious\ten\tthreat\t" + "\t".join(ONLY_THE_MODEL),
        "e1\teveryday\ten\teveryday\t" + "\t".join(EVERYDAY),
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_evaluate_prints_the_lexicon_the_model_and_both(tsv: Path) -> None:
    result = CliRunner().invoke(main, ["triage", "evaluate", str(tsv)])
    assert result.exit_code == 0, result.stdout
    rows = {line.split("  ")[0].strip(): line.split() for line in result.stdout.splitlines()}
    assert rows["lexicon"][-3:] == ["0.000", "/", "-"]  # overall: recall 0, no precision
    assert rows["wording model"][-3:] == ["1.000", "/", "1.000"]
    assert rows["both"][-3:] == ["1.000", "/", "1.000"]
    assert "threshold 0." in result.stdout
    data = json.loads(CliRunner().invoke(main, ["triage", "evaluate", str(tsv), "--json"]).stdout)
    assert data["signals"]["lexicon"]["overall"]["caught"] == 0
    assert data["signals"]["model"]["overall"]["caught"] == 1
    assert data["overall"]["caught"] == 1 and data["model_threshold"] > 0


def test_evaluate_with_the_model_switched_off(tsv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_TRIAGE_MODEL", "off")
    result = CliRunner().invoke(main, ["triage", "evaluate", str(tsv)])
    assert result.exit_code == 1  # the lexicon alone misses it
    assert "wording model: off or not shipped" in result.stdout
    assert "misses (1): s1" in result.stdout
