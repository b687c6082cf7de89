"""Parse messages ahead of time in worker processes, for bulk import (`switchboard ingest`).

Parsing is pure CPU and needs no database, so while the importing process stores and
decides one batch, worker processes parse the next. `ParseAhead` is a `Parser` for the core:
it hands back the result parsed ahead for the same bytes, or parses inline if there is none
(the pool broke, or the message was not submitted). The workers also run the safety triage
on the parsed text (a pure function, the other big CPU cost of a message) and the results
are handed to queues.triage, which then need not compute them again. A worker that dies (a
parser bug that kills the interpreter) breaks the pool: its batch is parsed inline instead,
and the pool is not used again, so the import goes on at single-process speed and loses nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from mailgate.parser import parse_message
from queues.mail import IncomingMail
from queues.triage import TriageHit, remember, triage

log = logging.getLogger(__name__)

Parser = Callable[[bytes], IncomingMail]


def default_jobs() -> int:
    """Parser workers beside the importing process: one per spare core, at most three."""
    return max(0, min((os.cpu_count() or 1) - 1, 3))


Parsed = tuple[IncomingMail, list[TriageHit] | None]  # None: triage left to ingest


def _parse_many(parse: Parser, raws: Sequence[bytes]) -> list[Parsed]:
    parsed: list[Parsed] = []
    for raw in raws:
        mail = parse(raw)
        try:
            hits: list[TriageHit] | None = triage(mail.subject, mail.body_text)
        except Exception:
            # Working triage out ahead is an optimisation: a message it fails on is
            # triaged again by ingest, where a failure is that message's alone (kept and
            # quarantined with its reason), never the whole import's.
            log.exception("triage ahead failed; ingest will triage this message itself")
            hits = None
        parsed.append((mail, hits))
    return parsed


class ParseAhead:
    """A parser that returns what its workers parsed ahead, else parses inline."""

    def __init__(self, jobs: int, parse: Parser = parse_message):
        """`parse` runs in the workers and inline; it must be a module-level function."""
        self._parse = parse
        self._ready: dict[bytes, IncomingMail] = {}
        self._pool: ProcessPoolExecutor | None = None
        if jobs > 0:
            # fork: the workers need nothing but the parser, and start at once.
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
        self._jobs = jobs

    def submit(self, raws: Sequence[bytes]) -> list[Future[list[Parsed]]]:
        """Start parsing `raws` in the workers; collect with `collect` before using them."""
        if self._pool is None or not raws:
            return []
        size = max(1, len(raws) // (self._jobs * 2))
        try:
            return [
                self._pool.submit(_parse_many, self._parse, raws[i : i + size])
                for i in range(0, len(raws), size)
            ]
        except BrokenProcessPool:
            self._give_up()
            return []

    def collect(self, raws: Sequence[bytes], futures: list[Future[list[Parsed]]]) -> None:
        """Wait for the results of `submit(raws)` and keep them for `__call__`."""
        if not futures:
            return
        try:
            results = [mail for future in futures for mail in future.result()]
        except BrokenProcessPool:
            log.warning("a parser worker died; parsing the rest in this process")
            self._give_up()
            return
        except Exception:
            # The batch is parsed again inline, message by message, where a failure is
            # that message's alone.
            log.exception("a parser worker failed; parsing this batch in this process")
            self._ready = {}
            return
        # Replaces the previous batch's leftovers, so memory stays bounded by one batch.
        self._ready = {raw: mail for raw, (mail, _) in zip(raws, results, strict=True)}
        for mail, hits in results:
            if hits is not None:
                remember(mail.subject, mail.body_text, hits)

    def __call__(self, raw: bytes) -> IncomingMail:
        mail = self._ready.pop(raw, None)
        return mail if mail is not None else self._parse(raw)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _give_up(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def __enter__(self) -> ParseAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
