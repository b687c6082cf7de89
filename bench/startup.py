"""Benchmark how fast the `switchboard` command answers: prints figures only.

Its one job: run each of these as a subprocess of .venv/bin/switchboard, N times (default
15), and print the median and the minimum wall time:

- `python -c pass` (the interpreter alone: the floor),
- `switchboard --version`,
- `switchboard --help`,
- `switchboard show --help`,
- `switchboard show NUMBER --json` on an initialized SQLite database in a temporary
  folder (`init`, then `ingest` of examples/welcome.eml, before the timed runs).

The commands inherit this process's environment, so PYTHONPATH can point them at another
checkout of the code (e.g. a `git worktree` of an older commit, with the same venv); the
first line printed says which switchboard/cli.py was measured.

    .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
EXAMPLE = REPO / "examples" / "welcome.eml"


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # From the temporary folder: `python -c` puts the working directory first on sys.path,
    # which would shadow PYTHONPATH when run from a checkout.
    done = subprocess.run(
        argv, env=env, cwd=env["SWITCHBOARD_VAR_DIR"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return done


def _times(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    _run(argv, env)  # once unmeasured: the page cache and .pyc files are warm for every run
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        _run(argv, env)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="Runs of each command (15).")
    args = parser.parse_args()

    switchboard = str(VENV_BIN / "switchboard")
    python = str(VENV_BIN / "python")
    with tempfile.TemporaryDirectory(prefix="switchboard-startup-") as tmp:
        env = dict(os.environ)
        env["SWITCHBOARD_VAR_DIR"] = str(Path(tmp) / "var")
        env["SWITCHBOARD_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'startup.db'}"
        Path(env["SWITCHBOARD_VAR_DIR"]).mkdir()
        measured = _run(
            [python, "-c", "import switchboard.cli as c; print(c.__file__)"], env
        ).stdout.strip()
        _run([switchboard, "init"], env)
        _run([switchboard, "ingest", "--no-progress", str(EXAMPLE)], env)
        listed = json.loads(_run([switchboard, "tickets", "--json"], env).stdout)
        number = listed[0]["number"]

        # An initialized database without tickets, for `tickets` as a newcomer first runs it.
        empty = {**env, "SWITCHBOARD_DATABASE_URL": f"sqlite:///{Path(tmp) / 'empty.db'}"}
        _run([switchboard, "init"], empty)

        commands = [
            ("python -c pass (the floor)", [python, "-c", "pass"], env),
            ("switchboard --version", [switchboard, "--version"], env),
            ("switchboard --help", [switchboard, "--help"], env),
            ("switchboard show --help", [switchboard, "show", "--help"], env),
            ("switchboard tickets (empty SQLite database)", [switchboard, "tickets"], empty),
            (
                f"switchboard show {number} --json (SQLite)",
                [switchboard, "show", number, "--json"],
                env,
            ),
        ]
        print(f"measuring {measured}")
        print(
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} cores, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {args.runs} runs each"
        )
        print("\n| command | median | min |\n| --- | ---: | ---: |")
        for label, argv, command_env in commands:
            seconds = _times(argv, command_env, args.runs)
            print(
                f"| `{label}` | {statistics.median(seconds) * 1000:.0f} ms "
                f"| {min(seconds) * 1000:.0f} ms |"
            )
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
