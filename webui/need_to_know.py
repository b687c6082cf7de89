"""Need to know for views: fetch a ticket the agent may see, or answer 404, and audit it.

Every view that takes a ticket number goes through `ticket_or_404`, so that the 404 for a
hidden ticket and the audit event for a restricted one cannot be forgotten. The event is
committed before the page is built: an access is on record even if rendering fails.
"""

from __future__ import annotations

from flask import abort

from queues.access import ticket_for
from queues.audit import AuditAction, record
from queues.models import Ticket
from webui import db
from webui.login import agent, client_address


def ticket_or_404(number: str, action: AuditAction = AuditAction.VIEW, detail: str = "") -> Ticket:
    """The ticket with `number` if the signed-in agent may see it (audited), else 404."""
    me = agent()
    ticket = ticket_for(db.session(), me.user, number)
    if ticket is None:
        abort(404)
    with db.writing() as writer:
        record(writer, me.user, action, ticket, client_address(), detail)
    return ticket
