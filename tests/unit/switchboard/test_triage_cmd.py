"""`switchboard triage evaluate`: figures, thresholds and exit codes, on small files of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from switchboard.cli import main

HEADER = "id\tlabel\tlang\tcategory\tsubject\tbody\n"
ROWS = [
    "en-s1\tserious\ten\tthreat\tHelp\tHe wrote: I will kill you.",
    "en-s2\tserious\ten\tself_harm\tme\tI want to end my life.",
    "en-s3\tserious\ten\tillegal\tSomething odd\tHe is selling things I do not like.",
    "en-e1\teveryday\ten\tlogin\tLogin\tI cannot log in since the update.",
    "en-e2\teveryday\ten\tdecoy\tFilm\tThat film was killing me, so funny.",
    "de-s1\tserious\tde\tthreat\tHilfe\tEr schrieb: ich bring dich um.",
    "de-e1\teveryday\tde\tlogin\tKonto\tIch kann mich nicht einloggen.",
]


def _write(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command keeps its anchor cache in var_dir/cache: not in the checkout. The figures
    here are the lexicon's (the wording model's: test_triage_model_ingest.py)."""
    monkeypatch.setenv("SWITCHBOARD_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SWITCHBOARD_CONFIG", "")
    monkeypatch.setenv("SWITCHBOARD_TRIAGE_MODEL", "off")
    return tmp_path / "var"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["triage", "evaluate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_prints_figures_per_language_and_category_and_the_misses(tmp_path: Path) -> None:
    en = _write(tmp_path, "en.tsv", ROWS[:5])
    de = _write(tmp_path, "de.tsv", ROWS[5:])
    code, out, _ = _run(str(en), str(de), "--min-recall", "0.5", "--min-precision", "0.5")
    assert code == 0, out
    assert "7 reports from 2 file(s)" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["en"][1:4] == ["3", "2", "0.667"]  # serious, caught, recall
    assert lines["de"][1:4] == ["1", "1", "1.000"]
    assert lines["overall"][1:4] == ["4", "3", "0.750"]
    assert "misses (1): en-s3" in out
    assert "false alarms (0):" in out
    assert "thresholds met" in out
    assert any(line.startswith("illegal") and "0.000" in line for line in out.splitlines())


def test_exits_1_below_the_default_thresholds(tmp_path: Path) -> None:
    code, out, _ = _run(str(_write(tmp_path, "en.tsv", ROWS[:5])))
    assert code == 1
    assert "BELOW the thresholds (recall >= 0.95, precision >= 0.75" in out
    assert "en: recall 0.667 < 0.95" in out


def test_json_output(tmp_path: Path) -> None:
    code, out, _ = _run(str(_write(tmp_path, "en.tsv", ROWS[:5])), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["misses"] == ["en-s3"]
    assert data["languages"]["en"]["recall"] == 2 / 3
    assert data["thresholds"] == {"min_recall": 0.95, "min_precision": 0.75}
    assert data["below"]


def test_a_malformed_file_exits_2_naming_the_line(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.tsv", [ROWS[0], "x\tserious\ten\tthreat\tonly five"])
    code, _, err = _run(str(bad))
    assert code == 2
    assert f"{bad}:3: 5 fields, the header has 6" in err
    code, _, err = _run(str(tmp_path / "missing.tsv"))
    assert code == 2 and "cannot read" in err


def test_thresholds_come_from_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "sb.toml"
    config.write_text("[switchboard]\ntriage_min_recall = 0.5\ntriage_min_precision = 0.5\n")
    result = CliRunner().invoke(
        main,
        ["--config", str(config), "triage", "evaluate", str(_write(tmp_path, "e.tsv", ROWS))],
    )
    assert result.exit_code == 0, result.stdout


def test_the_anchor_cache_goes_to_var_dir(
    tmp_path: Path, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import queues.triage

    monkeypatch.setattr(queues.triage, "_COMPILED", {})  # compile afresh in this process
    code, _, _ = _run(str(_write(tmp_path, "en.tsv", ROWS[:2])), "--min-recall", "0")
    assert code == 0
    assert list((var_dir / "cache").glob("triage-anchors-*.json"))
