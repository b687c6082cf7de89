"""The anchor cache (queues.triage.cache): written once, read by the next process instead of
working the anchors out again, ignored when broken, never required."""

from __future__ import annotations

from pathlib import Path

import pytest

from queues.triage import cache as cache_module
from queues.triage import default_lexicon
from queues.triage.cache import AnchorCache
from queues.triage.engine import Compiled
from queues.triage.patterns import anchor_plan


def _plans_of(directory: Path | None) -> Compiled:
    anchors = AnchorCache(directory)
    ready = Compiled(default_lexicon(), anchors.plan)
    anchors.save()
    return ready


def test_plans_are_written_and_read_back_without_working_them_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _plans_of(tmp_path)
    (file,) = tmp_path.glob("triage-anchors-*.json")

    def refuse(canonical: str) -> None:
        raise AssertionError("worked out again instead of read from the cache")

    monkeypatch.setattr(cache_module, "anchor_plan", refuse)
    second = _plans_of(tmp_path)
    assert [m.plan for m in second.matchers] == [m.plan for m in first.matchers]
    text = "He wrote: I will kill you."
    assert second.scan("", text) == first.scan("", text) != []
    assert file.stat().st_size > 0


def test_a_new_pattern_is_worked_out_and_added(tmp_path: Path) -> None:
    cache = AnchorCache(tmp_path)
    cache.plan("kill you")
    cache.save()
    again = AnchorCache(tmp_path)
    assert again.plan("kill you") == anchor_plan("kill you")
    assert again.plan("stab you") == anchor_plan("stab you")
    again.save()
    assert AnchorCache(tmp_path)._known.keys() == {"kill you", "stab you"}


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"kill you": [[["x"], "far"]]}'])
def test_a_broken_file_is_ignored(tmp_path: Path, content: str) -> None:
    AnchorCache(tmp_path).save()  # nothing used: nothing written
    path = AnchorCache(tmp_path).path
    assert path is not None and not path.exists()
    path.write_text(content)
    cache = AnchorCache(tmp_path)
    assert cache.plan("kill you") == anchor_plan("kill you")


def test_an_unwritable_folder_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    cache = AnchorCache(blocked / "cache")
    assert cache.plan("kill you") == anchor_plan("kill you")
    cache.save()  # logs, does not raise


def test_no_folder_means_memory_only() -> None:
    cache = AnchorCache(None)
    assert cache.plan("kill you") == anchor_plan("kill you")
    cache.save()
