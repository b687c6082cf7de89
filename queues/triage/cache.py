"""Anchors worked out once and kept in a file, so that a process starts triaging at once.

Working out the anchors of every pattern (patterns.anchor_plan) takes a few hundred ms, paid
by the first triage of every process (`switchboard ingest`, each `work` runner, each parser
worker). The file `triage-anchors-<version>.json` in a cache folder (the `switchboard`
command uses `<var_dir>/cache`, queues.triage.use_cache) maps each canonical pattern to its
plan; <version> is a hash of patterns.py, so a changed analysis never reads old plans, and
the key is the pattern itself, so changed data files and staff entries simply miss and are
worked out. The file is then rewritten with exactly the plans in use (a temporary file,
then os.replace: readers never see half a file).

The file is an optimisation only: without a folder, or when it cannot be read or written,
plans are worked out in memory. Nothing in it is trusted beyond its shape: a file that
does not parse as expected is ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from queues.triage import patterns
from queues.triage.patterns import Plan, anchor_plan

log = logging.getLogger(__name__)


def _version() -> str:
    return hashlib.sha256(Path(patterns.__file__).read_bytes()).hexdigest()[:16]


class AnchorCache:
    """Plans by canonical pattern, from a file where there is one."""

    def __init__(self, directory: Path | None) -> None:
        self.path = None if directory is None else directory / f"triage-anchors-{_version()}.json"
        self._on_disk: set[str] = set()
        self._known: dict[str, Plan | None] = self._read()
        self._used: dict[str, Plan | None] = {}

    def plan(self, canonical: str) -> Plan | None:
        """The plan of `canonical` (patterns.anchor_plan), from the file when it is there."""
        if canonical in self._known:
            found = self._known[canonical]
        else:
            found = anchor_plan(canonical)
            self._known[canonical] = found
        self._used[canonical] = found
        return found

    def save(self) -> None:
        """Write the plans used since loading, if they differ from the file's."""
        if self.path is None or self._used.keys() == self._on_disk:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            data = {key: _encode(plan) for key, plan in sorted(self._used.items())}
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".triage-anchors-")
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(data, file, separators=(",", ":"))
            os.replace(name, self.path)
            self._on_disk = set(self._used)
        except OSError as exc:
            log.info("triage: anchor cache not written (%s): %s", self.path, exc)

    def _read(self) -> dict[str, Plan | None]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            known = {key: _decode(value) for key, value in data.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.info("triage: anchor cache ignored (%s): %s", self.path, exc)
            return {}
        self._on_disk = set(known)
        return known


def _encode(plan: Plan | None) -> Any:
    if plan is None:
        return None
    return [
        [[sorted(w.decode("ascii") for w in words), bound] for words, bound in step]
        for step in plan
    ]


def _decode(value: Any) -> Plan | None:
    if value is None:
        return None
    plan = []
    for step in value:
        sets = []
        for words, bound in step:
            if not isinstance(words, list) or not (bound is None or isinstance(bound, int)):
                raise ValueError("not a plan")
            sets.append((frozenset(str(w).encode("ascii") for w in words), bound))
        plan.append(tuple(sets))
    return tuple(plan)
