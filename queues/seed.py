"""Seed data that every installation needs: the three queues, their default signatures and
the default reply templates."""

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
# Each is ready to send as it is: no bracketed instructions, no placeholder marker (sending
# refuses those, queues.placeholders), and no agent's name (the queue's signature signs
# with the agent's public name, DEFAULT_SIGNATURES).
DEFAULT_REPLY_TEMPLATES: tuple[tuple[str, str | None, str, str], ...] = (
    (
        "First reply",
        None,
        "",
        "Hello {{ requester.name | default('there', true) }},\n\n"
        "thank you for writing to us. I am looking after your report now (ticket "
        "{{ ticket.number }}).\n\n"
        "I have read what you sent. We will look at the accounts and messages you describe "
        "and act on anything that breaks the rules; this can take a few days, and we will "
        "write to you again when we know more. If something new happens in the meantime, "
        "reply to this message and tell us: everything you send stays in the same ticket.\n\n"
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
        "thank you for telling us. A member of our specialist team is looking after your "
        "report (ticket {{ ticket.number }}).\n\n"
        "If you or someone else is in immediate danger, please call your local emergency "
        "number now (112 in Europe, 911 in North America, 999 in the UK). We cannot send "
        "help ourselves, and we may not see your message at once.\n\n"
        "We are looking at what you sent before anything else, and we will write to you "
        "again as soon as we have. Until then, keep the messages you received (screenshots "
        "help), do not answer the person who is threatening you, and block them where you "
        "can.\n\n"
        "You are not to blame for what is happening. Reply to this message at any time.\n",
    ),
)

# Bodies of earlier default templates that held bracketed instructions; `init` replaces a
# template whose body is still exactly one of these (nobody edited it) with today's.
RETIRED_BODIES: dict[str, tuple[str, ...]] = {
    "First reply": (
        "Hello {{ requester.name | default('there', true) }},\n\n"
        "thank you for writing to us. My name is {{ agent.name }} and I am looking after "
        "your report (ticket {{ ticket.number }}).\n\n"
        "I have read what you sent. [What happens next, in plain words.]\n\n"
        "You can answer this message at any time; please keep the ticket number in the "
        "subject so that your reply reaches me.\n",
    ),
    "Safety: first reply": (
        "Hello {{ requester.name | default('there', true) }},\n\n"
        "thank you for telling us. A member of our specialist team, {{ agent.name }}, is "
        "looking after your report (ticket {{ ticket.number }}).\n\n"
        "If you or someone else is in immediate danger, please call your local emergency "
        "number now (112 in Europe, 911 in North America, 999 in the UK). We cannot send "
        "help ourselves, and we may not see your message at once.\n\n"
        "[What we are doing about the report, and what you can do to stay safe.]\n\n"
        "You are not to blame for what is happening. Reply to this message at any time.\n",
    ),
}

# Each default queue's signature, added below every reply (queues.replies.with_signature):
# the agent's public name (their chosen signature name, else the team's), the team, the
# queue. Migration 0010 gives queues made before it the same text.
_SIGNED = (
    "{{ agent.signature_name }}\n"
    "{% if agent.signature_name != organisation %}{{ organisation }}\n{% endif %}"
)
DEFAULT_SIGNATURES: dict[str, str] = {
    "general-help": _SIGNED + "{{ queue.name }}\n",
    "specialist-safety": _SIGNED + "{{ queue.name }}\n\n{{ emergency_text }}\n",
    "police-liaison": _SIGNED + "{{ queue.name }}\n",
}


def seed_queue_signatures(session: Session, slugs: list[str]) -> list[str]:
    """Give the queues named in `slugs` (those `seed_queues` just made) their default
    signature where they have none; return the slugs signed. A signature staff cleared
    later is left empty: this runs for new queues only."""
    signed = []
    for queue in session.scalars(select(Queue).where(Queue.slug.in_(slugs))):
        default = DEFAULT_SIGNATURES.get(queue.slug)
        if default is not None and not (queue.signature or "").strip():
            queue.signature = default
            signed.append(queue.slug)
    session.flush()
    return signed


def seed_reply_templates(session: Session) -> list[str]:
    """Create the default reply templates that are missing (by name and queue); return their
    names. A template staff deleted comes back on the next `switchboard init`; one they
    only deactivated or edited is left alone, except that an unedited earlier default with
    bracketed instructions (RETIRED_BODIES) gets today's text."""
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
            _renew_retired(session, name, queue_id, body)
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


def _renew_retired(session: Session, name: str, queue_id: int | None, body: str) -> None:
    """Today's text for a default template still holding a retired default's body."""
    retired = RETIRED_BODIES.get(name, ())
    if not retired:
        return
    same_queue = (
        ReplyTemplate.queue_id.is_(None) if queue_id is None else ReplyTemplate.queue_id == queue_id
    )
    stmt = select(ReplyTemplate).where(ReplyTemplate.name == name, same_queue)
    for template in session.scalars(stmt):
        if template.body in retired:
            template.body = body
            template.updated_by = "switchboard init"
