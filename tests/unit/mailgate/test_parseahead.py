"""Parsing ahead in worker processes gives the parser's results, and survives a dead worker."""

from __future__ import annotations

import os

import pytest

from mailgate import parseahead
from mailgate.parseahead import ParseAhead
from mailgate.parser import parse_message
from queues import triage as triage_module
from queues.mail import IncomingMail
from queues.triage import remember, triage

RAWS = [
    f"From: Person {i} <p{i}@example.net>\r\nSubject: report {i}\r\n"
    f"Message-ID: <m{i}@example.net>\r\n\r\nbody {i}\r\n".encode()
    for i in range(20)
]


def die_on_poison(raw: bytes) -> IncomingMail:
    """Kills the worker process outright, as a crash in a C extension would."""
    if raw.startswith(b"POISON") and os.environ.get("PARSEAHEAD_IN_WORKER") != "no":
        os._exit(3)
    return parse_message(raw)


def test_results_are_what_the_parser_returns() -> None:
    with ParseAhead(2) as ahead:
        futures = ahead.submit(RAWS)
        ahead.collect(RAWS, futures)
        got = [ahead(raw) for raw in RAWS]
    assert got == [parse_message(raw) for raw in RAWS]
    assert [m.subject for m in got] == [f"report {i}" for i in range(20)]


def test_without_workers_it_parses_inline() -> None:
    with ParseAhead(0) as ahead:
        assert ahead.submit(RAWS) == []
        ahead.collect(RAWS, [])
        assert ahead(RAWS[3]).subject == "report 3"


def test_a_dead_worker_falls_back_to_parsing_here() -> None:
    batch = [*RAWS[:5], b"POISON\r\n\r\nx", *RAWS[5:10]]
    with ParseAhead(1, parse=die_on_poison) as ahead:
        futures = ahead.submit(batch)
        ahead.collect(batch, futures)  # the pool broke: nothing kept, no exception
        os.environ["PARSEAHEAD_IN_WORKER"] = "no"
        try:
            got = [ahead(raw) for raw in batch]
        finally:
            del os.environ["PARSEAHEAD_IN_WORKER"]
        assert [m.subject for m in got[:5]] == [f"report {i}" for i in range(5)]
        # The pool is not used again; later batches are parsed inline.
        assert ahead.submit(RAWS) == []


def raise_on_bad(raw: bytes) -> IncomingMail:
    """Raises in the worker (the parser's contract is never to raise: a bug breaks it)."""
    if raw.startswith(b"BAD") and os.environ.get("PARSEAHEAD_IN_WORKER") != "no":
        raise ValueError("a parser bug")
    return parse_message(raw)


def test_an_exception_in_a_worker_leaves_the_batch_to_this_process() -> None:
    batch = [*RAWS[:3], b"BAD\r\n\r\nx", *RAWS[3:6]]
    with ParseAhead(1, parse=raise_on_bad) as ahead:
        ahead.collect(batch, ahead.submit(batch))  # no exception: nothing kept
        os.environ["PARSEAHEAD_IN_WORKER"] = "no"
        try:
            got = [ahead(raw) for raw in batch]
        finally:
            del os.environ["PARSEAHEAD_IN_WORKER"]
        assert [m.subject for m in got[:3]] == ["report 0", "report 1", "report 2"]
        assert ahead.submit(RAWS) != []  # the pool itself is fine and used again


def test_a_triage_failure_ahead_is_left_to_ingest(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(subject: str, body: str) -> list[object]:
        raise IndexError("a triage bug")

    raws = [raw.replace(b"report", b"triage-less report") for raw in RAWS[:4]]
    monkeypatch.setattr(parseahead, "triage", broken)  # the forked workers inherit it
    with ParseAhead(1) as ahead:
        ahead.collect(raws, ahead.submit(raws))
        got = [ahead(raw) for raw in raws]
    assert [m.subject for m in got] == [f"triage-less report {i}" for i in range(4)]
    assert all((m.subject, m.body_text) not in triage_module._AHEAD for m in got)


def test_triage_worked_out_in_the_workers_is_used_once_and_is_the_same() -> None:
    threat = (
        b"From: Someone <s@example.net>\r\nSubject: scared\r\nMessage-ID: <t@example.net>\r\n\r\n"
        b"He wrote that he will kill me and knows where I live.\r\n"
    )
    batch = [threat, *RAWS[:3]]
    with ParseAhead(1) as ahead:
        ahead.collect(batch, ahead.submit(batch))
        mail = ahead(threat)
    key = (mail.subject, mail.body_text)
    assert key in triage_module._AHEAD  # handed over by the worker
    expected = triage_module._AHEAD[key]
    assert expected and triage(*key) == expected  # taken ...
    assert key not in triage_module._AHEAD  # ... once
    assert triage(*key) == expected  # and computed here, the same


def test_what_is_kept_ahead_stays_bounded() -> None:
    for i in range(triage_module._AHEAD_MAX * 2):
        remember(f"s{i}", "b", [])
    assert len(triage_module._AHEAD) <= triage_module._AHEAD_MAX
    triage_module._AHEAD.clear()
