"""Build IncomingMail values directly, so core tests do not depend on the parser."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from queues.ingest import Outcome, ingest_bytes
from queues.mail import Address, IncomingAttachment, IncomingMail, sha256_hex
from queues.settings import Settings

_seq = itertools.count(1)


def make_mail(
    subject: str = "Someone keeps messaging me",
    body: str = "Hello, a user keeps sending me rude messages. What can I do?",
    sender: tuple[str, str] | None = ("Alice Example", "alice@example.net"),
    to: Sequence[str] = ("help@example.org",),
    cc: Sequence[str] = (),
    message_id: str | None = "auto",
    in_reply_to: Sequence[str] = (),
    references: Sequence[str] = (),
    headers: dict[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    **flags: Any,
) -> IncomingMail:
    if message_id == "auto":
        message_id = f"m{next(_seq)}.{id(body)}@example.net"
    raw = f"{message_id}|{subject}|{body}".encode()
    return IncomingMail(
        raw_sha256=sha256_hex(raw),
        size=len(raw),
        message_id=message_id,
        subject=subject,
        from_=Address(sender[1], sender[0]) if sender else None,
        to=[Address(a) for a in to],
        cc=[Address(a) for a in cc],
        in_reply_to=list(in_reply_to),
        references=list(references),
        body_text=body,
        attachments=[IncomingAttachment.from_bytes(n, t, d) for n, t, d in attachments],
        headers={k.lower(): v for k, v in (headers or {}).items()},
        **flags,
    )


class FakeGate:
    """Feeds prepared IncomingMail values through the real ingest path."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self.by_raw: dict[bytes, IncomingMail] = {}

    def parse(self, raw: bytes) -> IncomingMail:
        return self.by_raw[raw]

    def raw_for(self, mail: IncomingMail) -> bytes:
        raw = f"{mail.message_id}|{mail.subject}|{mail.body_text}".encode()
        self.by_raw[raw] = mail
        return raw

    def send(
        self, mail: IncomingMail, envelope_to: Sequence[str] = (), envelope_from: str | None = None
    ) -> Outcome:
        return ingest_bytes(
            self.factory,
            self.raw_for(mail),
            self.settings,
            self.parse,
            source="test",
            envelope_from=envelope_from,
            envelope_to=envelope_to,
        )
