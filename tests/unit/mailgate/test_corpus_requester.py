"""The requester on the shared real-world corpus: how many messages have one, and the ones
that had none before header blocks were recovered (issue 8).

Measured on the 301 messages: 284 had a usable From before this work (the requester was
From or nothing), 286 have a requester now. The 15 without one have no sender field at all
(MIME fragments, an Outlook .msg file, an empty file) or are bounces from an unqualified
MAILER-DAEMON, which must stay without one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from mailgate.parser import parse_message
from queues.mail import Address, IncomingMail

from .conftest import CORPUS, corpus_files

Load = Callable[[str], IncomingMail]


@pytest.mark.slow
def test_requester_count() -> None:
    files = corpus_files()
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    parsed = [parse_message(path.read_bytes()) for path in files]
    found = [m for m in parsed if m.requester is not None]
    assert len(found) >= 286
    for mail in parsed:
        if mail.from_ is not None:  # From, when usable, is always the requester
            assert (mail.requester, mail.requester_source) == (mail.from_, "from")
        if mail.requester is None:
            assert mail.requester_source == ""


@pytest.mark.slow
def test_stray_lines_and_broken_folds_do_not_lose_the_sender() -> None:
    """Every corpus message, damaged three ways before its header (a blank line, a line of
    garbage, a quoted mbox separator) and once inside it (its first fold loses its
    whitespace), keeps the requester (and, for the stray lines, the subject) it had."""
    files = corpus_files()
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    lost = []
    for path in files:
        raw = path.read_bytes()
        original = parse_message(raw)
        nl = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
        for stray in (b"", b"some garbage line", b">From ann@example.net Mon Jan  6 10:00:00 2025"):
            damaged = parse_message(stray + nl + raw)
            if (damaged.requester, damaged.subject) != (original.requester, original.subject):
                lost.append((path.name, stray))
        end = raw.find(nl + nl)
        fold = re.search(re.escape(nl) + rb"[ \t]+", raw[: max(end, 0)])
        if fold is not None:
            damaged = parse_message(raw[: fold.start()] + nl + raw[fold.end() :])
            if damaged.requester != original.requester:
                lost.append((path.name, b"broken fold"))
    assert lost == []


@pytest.mark.parametrize(
    ("path", "requester", "subject", "body"),
    [
        (
            # "quite Delivered-To:" in the middle of the header block
            "mikel-mail/plain_emails/raw_email_incorrect_header.eml",
            Address("xxx@xxx.xxx", "xxx xxx"),
            "Stop adware/spyware once and for all.",
            "You are infected with:",
        ),
        (
            # RFC 2822 A.6.3: "From  :" with the obsolete space before the colon
            "mikel-mail/rfc2822/example13.eml",
            Address("jdoe@machine.example", "John Doe"),
            "Saying Hello",
            "This is a message just to say hello.",
        ),
    ],
)
def test_recovered_header_blocks(
    corpus_mail: Load, path: str, requester: Address, subject: str, body: str
) -> None:
    mail = corpus_mail(path)
    assert (mail.requester, mail.requester_source) == (requester, "from")
    assert mail.subject == subject
    assert mail.body_text.startswith(body)
    assert any(d.startswith("header block:") for d in mail.defects)


@pytest.mark.parametrize(
    "path",
    ["cpython-test-email/msg_43.txt", "sisimai-set-of-emails/lhost-barracuda-01.eml"],
)
def test_bounces_from_an_unqualified_daemon_stay_without_requester(
    corpus_mail: Load, path: str
) -> None:
    mail = corpus_mail(path)
    assert mail.from_ is None and mail.requester is None
