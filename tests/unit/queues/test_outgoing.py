"""Outgoing mail is built correctly for the wire: headers, encodings, folding, refusals."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from queues.outgoing import HeaderInjectionError, OutgoingMail


def mail(**changes: object) -> OutgoingMail:
    values: dict[str, object] = {
        "from_email": "help@example.org",
        "from_name": "Help team",
        "to": [("Alice Example", "alice@example.net")],
        "subject": "[Ticket#20261122000001] Your report",
        "body_text": "Hello,\n\nwe have your report.\n",
        "message_id": "abc123@example.org",
        "in_reply_to": "orig@example.net",
        "references": ["first@example.net", "orig@example.net"],
        "extra_headers": {"Auto-Submitted": "auto-replied"},
    }
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_ascii_mail_has_threading_headers_and_crlf_lines() -> None:
    raw = mail().build()
    assert b"\n" not in raw.replace(b"\r\n", b"")  # only CRLF line ends
    msg = parsed(raw)
    assert msg["Message-ID"] == "<abc123@example.org>"
    assert msg["In-Reply-To"] == "<orig@example.net>"
    assert msg["References"] == "<first@example.net> <orig@example.net>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["To"] == "Alice Example <alice@example.net>"
    assert msg.get_content_type() == "text/plain" and msg["Content-Transfer-Encoding"] == "7bit"
    assert msg.get_content().replace("\r\n", "\n") == "Hello,\n\nwe have your report.\n"


def test_non_ascii_names_subject_and_body_round_trip() -> None:
    raw = mail(
        from_name="Hilfe – Team",
        to=[("Jürgen Müller", "j@example.de")],
        subject="[Ticket#20261122000001] Bedrohung – bitte helfen",
        body_text="Grüße, señora, 你好\n",
    ).build()
    assert raw.isascii()  # RFC 2047 words and quoted-printable: 7-bit clean
    msg = parsed(raw)
    assert str(msg["From"]) == "Hilfe – Team <help@example.org>"
    assert str(msg["To"]) == "Jürgen Müller <j@example.de>"
    assert msg["Subject"] == "[Ticket#20261122000001] Bedrohung – bitte helfen"
    assert msg.get_content().replace("\r\n", "\n") == "Grüße, señora, 你好\n"


def test_lines_stay_within_limits() -> None:
    long_refs = [f"a-very-long-message-identifier-{i}@mail.example.com" for i in range(12)]
    raw = mail(references=long_refs, body_text="x" * 3000 + "\n").build()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    msg = parsed(raw)
    assert msg["References"].split() == [f"<{r}>" for r in long_refs]
    assert msg.get_content().replace("\r\n", "\n").rstrip("\n") == "x" * 3000


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "hi\r\nBcc: victim@example.net"},
        {"to": [("Eve\nBcc: x@example.net", "eve@example.net")]},
        {"extra_headers": {"X-Test": "a\r\nBcc: x@example.net"}},
        {"in_reply_to": "x@y>\r\nBcc: <z@example.net"},
    ],
)
def test_header_injection_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(HeaderInjectionError):
        mail(**changes).build()


def test_invalid_addresses_are_refused() -> None:
    for bad in ("no-at-sign", "a b@example.net", "x@", "<x@example.net>"):
        with pytest.raises(ValueError):
            mail(to=[("", bad)]).build()


def test_internationalized_addresses() -> None:
    # A non-ASCII domain is sent in its IDNA form; the header stays 7-bit.
    raw = mail(to=[("", "jo@exämple.org")]).build()
    assert b"jo@xn--exmple-cua.org" in raw and raw.isascii()
    # A non-ASCII local part needs UTF-8 headers (RFC 6532; delivered only with SMTPUTF8).
    raw = mail(to=[("Jörg", "jörg@example.org")]).build()
    assert "To: Jörg <jörg@example.org>" in raw.decode("utf-8")
    assert parsed(raw)["Message-ID"] == "<abc123@example.org>"
