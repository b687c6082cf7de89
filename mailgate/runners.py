"""The ingest runner: takes stored inbound mail and processes it, one message at a time.

In the manner of GNU Mailman's runners: each message is claimed (a lease, see
queues.backlog), processed and committed on its own; a failure is recorded with its reason
and retried with backoff a bounded number of times, then quarantined. Several runners may
work at once (PostgreSQL: SKIP LOCKED claims). `wake` lets the gateway start work at once
after an accept instead of waiting for the next poll.

A claim lasts `settings.ingest_lease_seconds`. Once half of it has gone by, the messages of
the batch not yet started are given back: a message must never be in hand when its lease
runs out, or a second runner could claim it and make a second ticket of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from queues.backlog import claim_inbound, release_inbound
from queues.idle import nap
from queues.ingest import Outcome, Parser, process_stored
from queues.models import utcnow
from queues.settings import Settings

log = logging.getLogger(__name__)


class IngestRunner:
    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        parse: Parser,
        batch: int = 10,
        after_each: Callable[[Outcome], None] | None = None,
        readers: sessionmaker[Session] | None = None,
    ) -> None:
        self.factory = factory
        self.readers = readers  # to read each message before its transaction (SQLite)
        self.settings = settings
        self.parse = parse
        self.batch = batch
        self.after_each = after_each  # e.g. wake the outbox runner for an acknowledgement
        self.lease = timedelta(seconds=settings.ingest_lease_seconds)

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Claim a batch, process each message; returns how many were handled.

        Messages not started when `stop` is set, or once half the lease has gone by, are
        given back at once (not counted as attempts).
        """
        # Taken before the claim, whose lease starts inside it: errs on the early side.
        claimed = time.monotonic()
        now = utcnow()
        with self.factory.begin() as session:
            ids = claim_inbound(
                session,
                now=now,
                limit=self.batch,
                lease=self.lease,
                max_attempts=max(
                    self.settings.ingest_max_crashes, self.settings.ingest_max_attempts
                ),
                first_only=True,
            )
        lease = self.lease.total_seconds()
        for n, inbound_id in enumerate(ids):
            stopping = stop is not None and stop.is_set()
            elapsed = time.monotonic() - claimed
            if stopping or elapsed >= lease / 2:
                why = "stopping" if stopping else "half the lease has gone by"
                if elapsed < lease:
                    with self.factory.begin() as session:
                        # Only the next in line had its attempt counted (mark_next).
                        release_inbound(session, ids[n:], counted=ids[n : n + 1])
                    log.info("%s; gave back %d claimed messages", why, len(ids) - n)
                else:  # another runner may hold them by now: they are not ours to touch
                    log.warning("%s; the lease ran out on %d messages", why, len(ids) - n)
                return n
            outcome = process_stored(
                self.factory,
                inbound_id,
                self.settings,
                self.parse,
                attempt_counted=True,
                mark_next=ids[n + 1] if n + 1 < len(ids) else None,
                lease_until=now + self.lease,
                readers=self.readers,
            )
            self._log(outcome)
            if self.after_each is not None:
                self.after_each(outcome)
        return len(ids)

    def run(self, stop: threading.Event, wake: threading.Event, idle_seconds: float = 1.0) -> None:
        """Work until `stop` is set; a stop finishes the message in hand."""
        log.info("ingest runner started")
        while not stop.is_set():
            try:
                handled = self.run_once(stop)
            except Exception:  # the database may be away for a while: keep trying
                log.exception("ingest runner: claiming failed; retrying")
                handled = 0
                stop.wait(min(idle_seconds * 5, 10))
            if not handled:
                nap(stop, wake, idle_seconds)
                wake.clear()
        log.info("ingest runner stopped")

    @staticmethod
    def _log(outcome: Outcome) -> None:
        if outcome.kind in ("failed", "quarantined"):
            log.warning("inbound %s %s: %s", outcome.inbound_id, outcome.kind, outcome.detail)
        else:
            log.info(
                "inbound %s: %s %s", outcome.inbound_id, outcome.kind, outcome.ticket_number or ""
            )
