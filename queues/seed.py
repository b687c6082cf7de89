"""Seed data that every installation needs: the three queues."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.access import set_min_role
from queues.models import Queue, Role

# (slug, name, lowest role that may see it): DESIGN.md "Need to know". A queue above
# volunteer is also `restricted` (set_min_role keeps the two together).
DEFAULT_QUEUES = (
    ("general-help", "General help", Role.VOLUNTEER),
    ("specialist-safety", "Specialist safety", Role.SPECIALIST),
    ("police-liaison", "Police liaison", Role.STAFF),
)


def seed_queues(session: Session) -> list[str]:
    """Create the default queues that are missing; return the slugs created."""
    existing = set(session.scalars(select(Queue.slug)))
    created = []
    for slug, name, min_role in DEFAULT_QUEUES:
        if slug not in existing:
            queue = Queue(slug=slug, name=name)
            set_min_role(queue, min_role)
            session.add(queue)
            created.append(slug)
    return created
