"""Seed data that every installation needs: the three queues."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.models import Queue

# (slug, name, restricted): volunteers see only unrestricted queues (DESIGN.md "Need to know").
DEFAULT_QUEUES = (
    ("general-help", "General help", False),
    ("specialist-safety", "Specialist safety", True),
    ("police-liaison", "Police liaison", True),
)


def seed_queues(session: Session) -> list[str]:
    """Create the default queues that are missing; return the slugs created."""
    existing = set(session.scalars(select(Queue.slug)))
    created = []
    for slug, name, restricted in DEFAULT_QUEUES:
        if slug not in existing:
            session.add(Queue(slug=slug, name=name, restricted=restricted))
            created.append(slug)
    return created
