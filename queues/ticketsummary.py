"""The shape of one ticket in `switchboard tickets --json` and `show --json` (the contract).

Its one job: one definition of the summary for every read path (the ORM's
`queues.present.ticket_summary`, SQLAlchemy Core's `queues.ticketrows`, the standard
library's `queues.quicklist`), in a module that imports nothing heavy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class UnknownQueue(LookupError):
    """No queue has the slug asked for."""


def summary(
    *,
    number: str,
    subject: str,
    queue: str,
    state: str,
    priority: int,
    created_at: datetime,
    requester_email: str | None,
    requester_name: str | None,
    reasons: list[str] | None,
) -> dict[str, Any]:
    """A ticket's top-level fields in `tickets --json` and `show --json` (the contract)."""
    return {
        "number": number,
        "subject": subject,
        "queue": queue,
        "state": state,
        "priority": priority,
        "created_at": created_at.isoformat(),
        "requester": {"email": requester_email, "name": requester_name},
        "triage": {"reasons": list(reasons or [])},
    }
