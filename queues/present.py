"""Tickets as plain data: the `show --json` and `tickets --json` contract of DESIGN.md."""

from __future__ import annotations

from typing import Any

from queues.models import Article, Ticket


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    """The top-level fields shared by `tickets --json` and `show --json`."""
    requester = ticket.requester
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "queue": ticket.queue.slug,
        "state": ticket.state.value,
        "priority": ticket.priority,
        "created_at": ticket.created_at.isoformat(),
        "requester": {
            "email": requester.email if requester else None,
            "name": requester.name if requester else None,
        },
        "triage": {"reasons": list(ticket.triage_reasons)},
    }


def article_dict(article: Article) -> dict[str, Any]:
    from_display = (
        f"{article.from_name} <{article.from_email}>" if article.from_name else article.from_email
    )
    return {
        "kind": article.kind.value,
        "from": from_display,
        "from_email": article.from_email,
        "from_name": article.from_name,
        "to": list(article.to),
        "cc": list(article.cc),
        "subject": article.subject,
        "message_id": article.message_id,
        "date": article.date.isoformat() if article.date else None,
        "content_type": article.content_type,
        "body_text": article.body_text,
        "body_html": article.body_html,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in article.attachments
        ],
    }


def ticket_detail(ticket: Ticket) -> dict[str, Any]:
    return {**ticket_summary(ticket), "articles": [article_dict(a) for a in ticket.articles]}
