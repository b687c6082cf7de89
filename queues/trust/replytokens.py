"""Reply addresses no one can guess: `help+<token>@domain` in the Reply-To of our mail.

Every acknowledgement and every agent's reply carries a fresh token (120 random bits,
base32, lower case so that a mail system that lower-cases local parts cannot break it). A
message sent to a token address that is valid is a trusted follow-up of its ticket, from
whichever address it comes: that is how people answer from a second account. Such an
address does *not* become a participant: the token is the proof, and revoking it must end
that sender's access; a participant could go on writing by the subject tag.

Only the token's SHA-256 is stored (`ReplyToken`), with the Message-ID of the mail that
carried it. Staff can revoke a ticket's tokens; the next mail to the requester carries a
new one. A revoked or unknown token is mail to the plain address (a new ticket, unless
something else makes it a follow-up): never lost. `+` is the separator Postfix's
`recipient_delimiter` and the hosted mail services use.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from queues.models import table_of, utcnow
from queues.trust.models import ReplyToken

TOKEN_BYTES = 15  # 120 bits: base32 without padding, 24 characters
TOKEN_LENGTH = 24
SEPARATOR = "+"
_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")

_RT = table_of(ReplyToken)
_INSERT = insert(_RT)
_BY_HASH = select(_RT.c.ticket_id, _RT.c.revoked_at).where(
    _RT.c.token_sha256.in_(bindparam("hashes", expanding=True))
)


def new_token() -> str:
    return base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.lower().encode("ascii", "replace")).hexdigest()


def reply_address(our_address: str, token: str) -> str:
    """`help@example.org` + token -> `help+<token>@example.org`."""
    local, _, domain = our_address.rpartition("@")
    return f"{local}{SEPARATOR}{token}@{domain}"


def base_address(address: str) -> str:
    """The address without its `+extension`, lower-cased: `help+x@d` -> `help@d`."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.split(SEPARATOR, 1)[0]}@{domain}"


def is_ours(address: str, ours: Collection[str]) -> bool:
    """Is `address` one of ours, with or without a `+extension`?"""
    lowered = address.strip().lower()
    return lowered in ours or base_address(lowered) in ours


def tokens_in(addresses: Iterable[str], ours: Collection[str]) -> list[str]:
    """The well-formed tokens in `+` addresses of ours among `addresses`, in order."""
    found: list[str] = []
    for address in addresses:
        local, at, domain = address.strip().lower().rpartition("@")
        base, sep, extension = local.partition(SEPARATOR)
        if not (at and sep) or f"{base}@{domain}" not in ours:
            continue
        if len(extension) == TOKEN_LENGTH and set(extension) <= _ALPHABET:
            found.append(extension)
    return list(dict.fromkeys(found))


def store(conn: Connection, ticket_id: int, token: str, message_id: str | None) -> None:
    """Record `token` (hashed) for `ticket_id`, carried by the outgoing mail `message_id`."""
    conn.execute(
        _INSERT,
        {
            "ticket_id": ticket_id,
            "token_sha256": token_hash(token),
            "message_id": message_id,
            "created_at": utcnow(),
        },
    )


def issue(conn: Connection, ticket_id: int, message_id: str | None) -> str:
    """A new token for `ticket_id`, stored, carried by the outgoing mail `message_id`."""
    token = new_token()
    store(conn, ticket_id, token, message_id)
    return token


@dataclass(frozen=True)
class TokenLookup:
    ticket_id: int | None  # the ticket of the first valid token, if any
    revoked: bool  # a token was found but revoked


def lookup(conn: Connection, tokens: list[str]) -> TokenLookup:
    """Which ticket the tokens open (a revoked one opens none)."""
    if not tokens:
        return TokenLookup(None, False)
    rows = conn.execute(_BY_HASH, {"hashes": [token_hash(t) for t in tokens]}).all()
    valid = [r.ticket_id for r in rows if r.revoked_at is None]
    return TokenLookup(valid[0] if valid else None, any(r.revoked_at for r in rows))


def revoke(conn: Connection, ticket_id: int, actor: str, now: datetime | None = None) -> int:
    """Revoke every live token of a ticket; returns how many. The next mail gets a new one."""
    result = conn.execute(
        update(_RT)
        .where(_RT.c.ticket_id == ticket_id, _RT.c.revoked_at.is_(None))
        .values(revoked_at=now or utcnow(), revoked_by=actor[:320])
    )
    return int(result.rowcount or 0)


def live_tokens(conn: Connection, ticket_id: int) -> int:
    """How many tokens of the ticket still open it."""
    rows = conn.execute(
        select(_RT.c.id).where(_RT.c.ticket_id == ticket_id, _RT.c.revoked_at.is_(None))
    ).all()
    return len(rows)
