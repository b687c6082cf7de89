"""What a message from our own public pages says beyond its text, for ingest.

The report form (queues.reporter.form) marks its message with the language the reporter
chose (Content-Language, RFC 3282) and the at-risk box (X-Switchboard-At-Risk: yes). Anyone
can write those headers in a mail, so they count only on messages whose inbound source is
one of ours ("form", "status"), which only the web edge stores.
"""

from __future__ import annotations

from queues.i18n import LANGUAGES
from queues.mail import IncomingMail

FORM_SOURCE = "form"
STATUS_SOURCE = "status"
TRUSTED_SOURCES = (FORM_SOURCE, STATUS_SOURCE)
AT_RISK_HEADER = "X-Switchboard-At-Risk"


def chosen_language(source: str, mail: IncomingMail) -> str | None:
    """The language the reporter chose in our form, if it is one we have."""
    if source not in TRUSTED_SOURCES:
        return None
    tag = mail.header("content-language").split(",")[0].strip().lower()
    primary = tag.split("-")[0]
    return primary if primary in LANGUAGES else None


def at_risk(source: str, mail: IncomingMail) -> bool:
    """Whether the reporter ticked the form's at-risk box."""
    return source == FORM_SOURCE and mail.header(AT_RISK_HEADER).strip().lower() == "yes"
