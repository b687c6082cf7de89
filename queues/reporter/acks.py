"""Acknowledgements per queue and language, as shipped or as staff wrote them.

A queue's acknowledgement in a language is the staff's `AckTemplate` row when there is one
(untrusted text: rendered in the sandbox, queues.sandbox, with plain data only), else the
shipped file (queues.reporter.texts.file_kind). A staff row that fails to render at send
time (it was checked when saved, but the sandbox's limits are per render) falls back to the
shipped file: the reporter still hears from us.

Staff start from the shipped text: `shipped_source` renders the file in a language with
the variables left as `{{ name }}`, which is sandbox syntax for the same variables.

What an acknowledgement may use (`SAMPLE_CONTEXT` has the same shape, for previews):

    number, tag              the ticket's number and its subject tag
    subject                  the subject of the reporter's mail ("" for the public form:
                             the address there is unverified, so we never echo its words)
    requester_name           the name they gave in their mail ("" for the form, likewise)
    organisation             settings.organisation
    emergency_text           settings.emergency_text, in the mail's language
    status_url               the status link ("" when web_base_url is not set)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.mailtemplates import RenderedMail, render_mail
from queues.reporter.models import AckTemplate
from queues.reporter.texts import ACKNOWLEDGEMENT, Renderer, file_kind
from queues.sandbox import TemplateError, render_untrusted

log = logging.getLogger(__name__)

VARIABLES = (
    "number",
    "tag",
    "subject",
    "requester_name",
    "organisation",
    "emergency_text",
    "status_url",
)
SAMPLE_CONTEXT: dict[str, str] = {
    "number": "2026010100001",
    "tag": "[Ticket#2026010100001]",
    "subject": "Someone keeps sending me messages",
    "requester_name": "Alex Example",
    "organisation": "Switchboard help team",
    "emergency_text": "",  # filled in the preview's language
    "status_url": "https://help.example.org/status/EXAMPLE-status-link-token-xx",
}


def rows_for(session: Session, queue_id: int) -> dict[str, AckTemplate]:
    stmt = select(AckTemplate).where(AckTemplate.queue_id == queue_id)
    return {row.language: row for row in session.scalars(stmt)}


def render_row(
    row: AckTemplate, context: Mapping[str, Any], fallback: RenderedMail
) -> RenderedMail:
    """A staff row rendered in the sandbox; raises TemplateError. No subject: the file's."""
    body = render_untrusted(row.body, dict(context))
    subject = render_untrusted(row.subject, dict(context)) if row.subject.strip() else ""
    return RenderedMail(subject=" ".join(subject.split()) or fallback.subject, body_text=body)


def renderer(session: Session, queue_id: int | None, queue_slug: str | None) -> Renderer:
    """How the acknowledgement of a queue is rendered in each language."""
    kind = file_kind(ACKNOWLEDGEMENT, queue_slug)
    rows = rows_for(session, queue_id) if queue_id is not None else {}

    def render(language: str, context: Mapping[str, Any]) -> RenderedMail:
        shipped = render_mail(kind, dict(context), language)
        row = rows.get(language)
        if row is None:
            return shipped
        try:
            return render_row(row, context, shipped)
        except TemplateError as exc:
            log.warning(
                "acknowledgement of %s in %s: %s; sent the shipped text", queue_slug, language, exc
            )
            return shipped

    return render


def shipped_source(queue_slug: str | None, language: str) -> tuple[str, str]:
    """(subject, body) of the shipped acknowledgement in `language`, as sandbox source."""
    placeholders: dict[str, Any] = {name: f"{{{{ {name} }}}}" for name in VARIABLES}
    # The form's reports carry neither; the shipped texts then leave them out.
    placeholders |= {"subject": "", "requester_name": ""}
    rendered = render_mail(file_kind(ACKNOWLEDGEMENT, queue_slug), placeholders, language)
    return rendered.subject, rendered.body_text
