"""Seed data that every installation needs: the three queues and default reply templates."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.access import set_min_role
from queues.models import Queue, ReplyTemplate, Role

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


# Reply templates offered on a fresh installation: (name, queue slug or None for every
# queue, subject, body). Plain text rendered in the sandbox (queues.sandbox) with the
# variables its docstring lists; an empty subject keeps the ticket's own (with its tag).
DEFAULT_REPLY_TEMPLATES: tuple[tuple[str, str | None, str, str], ...] = (
    (
        "First reply",
        None,
        "",
        "Hello {{ requester.name | default('there', true) }},\n\n"
        "thank you for writing to us. My name is {{ agent.name }} and I am looking after "
        "your report (ticket {{ ticket.number }}).\n\n"
        "I have read what you sent. [What happens next, in plain words.]\n\n"
        "You can answer this message at any time; please keep the ticket number in the "
        "subject so that your reply reaches me.\n",
    ),
    (
        "Ask for more detail",
        None,
        "",
        "Hello {{ requester.name | default('there', true) }},\n\n"
        "thank you for your message about ticket {{ ticket.number }}. To help you, we "
        "need a little more information:\n\n"
        "- where it happened (the site, the page or the profile name),\n"
        "- when it started, and whether it is still going on,\n"
        "- links or screenshots, if you can share them safely.\n\n"
        "Only send what you are comfortable sending. Just reply to this message.\n",
    ),
    (
        "Closing",
        None,
        "",
        "Hello {{ requester.name | default('there', true) }},\n\n"
        "we are closing ticket {{ ticket.number }} now. If anything changes, or if you need "
        "us again, reply to this message and it will reach the team.\n\n"
        "Take care.\n",
    ),
    (
        "Safety: first reply",
        "specialist-safety",
        "",
        "Hello {{ requester.name | default('there', true) }},\n\n"
        "thank you for telling us. A member of our specialist team, {{ agent.name }}, is "
        "looking after your report (ticket {{ ticket.number }}).\n\n"
        "If you or someone else is in immediate danger, please call your local emergency "
        "number now (112 in Europe, 911 in North America, 999 in the UK). We cannot send "
        "help ourselves, and we may not see your message at once.\n\n"
        "[What we are doing about the report, and what you can do to stay safe.]\n\n"
        "You are not to blame for what is happening. Reply to this message at any time.\n",
    ),
)


def seed_reply_templates(session: Session) -> list[str]:
    """Create the default reply templates that are missing (by name and queue); return their
    names. A template staff deleted comes back on the next `switchboard init`; one they
    only deactivated or edited is left alone."""
    queue_ids = {slug: qid for qid, slug in session.execute(select(Queue.id, Queue.slug))}
    existing = {
        (n, q) for n, q in session.execute(select(ReplyTemplate.name, ReplyTemplate.queue_id))
    }
    created = []
    for position, (name, slug, subject, body) in enumerate(DEFAULT_REPLY_TEMPLATES, 1):
        queue_id = None if slug is None else queue_ids.get(slug)
        if slug is not None and queue_id is None:
            continue  # the queue was never created (or renamed): nothing to attach it to
        if (name, queue_id) in existing:
            continue
        session.add(
            ReplyTemplate(
                name=name,
                queue_id=queue_id,
                subject=subject,
                body=body,
                active=True,
                position=position * 10,
                updated_by="switchboard init",
            )
        )
        created.append(name)
    session.flush()
    return created
