"""Who wrote a message, for answering: the requester, and the header field it came from.

From names the author (RFC 5322 section 3.6.2) and comes first. When it is empty (`<>`),
unparseable or missing, the next sources are tried in the order an established help desk
uses: another From field (some mailers write two, the first one garbage), Reply-To, Sender,
and last the envelope sender as the delivering server recorded it in Return-Path (RFC 5321
section 4.4). The parser has no envelope of its own: `queues.mail.with_envelope` lets the
ingest path put the one the message really arrived with in its place.

A bounce is machine mail about another message: its From (MAILER-DAEMON or none at all)
stays what it is and no fallback applies, so a bounce is never "recovered" into the address
of the message it reports on. The same holds for any message whose From names a mail system
(an unqualified "MAILER-DAEMON", "postmaster") even when it does not look like a bounce.
"""

from __future__ import annotations

from mailgate.addresses import parse_mailbox
from mailgate.classify import names_daemon
from queues.mail import Address, IncomingMail

__all__ = ["find_requester"]


def find_requester(
    mail: IncomingMail, raws: dict[str, list[str]], charset: str | None
) -> tuple[Address | None, str]:
    """The requester of a parsed message and its source ("from", "from:N", "reply-to",
    "sender", "envelope"), or (None, "") when no header holds a usable address.

    Needs `mail.from_`, `reply_to`, `sender` and `is_bounce` filled in; `raws` are the raw
    field values by lower-cased name, `charset` the fallback for raw 8-bit bytes."""
    if mail.from_ is not None:
        return mail.from_, "from"
    for number, value in enumerate(raws.get("from", [])[1:], start=2):
        address = parse_mailbox(value, charset)
        if address is not None:
            return address, f"from:{number}"
    if mail.is_bounce or names_daemon(mail.header("from")):
        return None, ""
    if mail.reply_to:
        return mail.reply_to[0], "reply-to"
    if mail.sender is not None:
        return mail.sender, "sender"
    for value in raws.get("return-path", [])[:1]:  # the topmost is the final delivery's
        address = parse_mailbox(value, charset)
        if address is not None:
            return Address(address.email), "envelope"
    return None, ""
