"""The parser on the shared real-world corpus: every message, and chosen ones in detail.

The expected values below were checked by reading the raw files (and, for attachment
bytes, against the standard library's own decoding of the same parts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailgate.parser import parse_message
from queues.mail import IncomingMail

from .conftest import CORPUS, corpus_files

Load = Callable[[str], IncomingMail]


def _strict_utf8(text: str) -> None:
    text.encode("utf-8")  # raises on lone surrogates


def _check_sane(mail: IncomingMail) -> None:
    assert isinstance(mail.subject, str)
    assert isinstance(mail.body_text, str)
    _strict_utf8(mail.subject)
    _strict_utf8(mail.body_text)
    if mail.body_html is not None:
        _strict_utf8(mail.body_html)
    assert "\x00" not in mail.body_text
    assert "\r" not in mail.body_text
    assert mail.content_type in ("text/plain", "text/html")
    for address in [mail.from_, mail.sender, *mail.to, *mail.cc, *mail.reply_to]:
        if address is not None:
            _strict_utf8(address.email + address.name)
            assert "@" in address.email
    for attachment in mail.attachments:
        assert attachment.sha256 == hashlib.sha256(attachment.data).hexdigest()
        assert attachment.filename and "/" not in attachment.filename
        assert "\\" not in attachment.filename
        assert not attachment.filename.startswith(".")
        _strict_utf8(attachment.filename)
        assert "/" in attachment.content_type
    for value in mail.headers.values():
        _strict_utf8(value)
    assert mail.date is None or mail.date.tzinfo is not None
    for inner in mail.forwarded:
        _check_sane(inner)


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", corpus_files(), ids=lambda p: str(p.relative_to(CORPUS)) if isinstance(p, Path) else p
)
def test_every_corpus_message_parses(path: Path) -> None:
    raw = path.read_bytes()
    mail = parse_message(raw)
    assert mail.size == len(raw)
    assert mail.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert not any(d.startswith("parser error") for d in mail.defects), mail.defects
    _check_sane(mail)


def test_corpus_is_there() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    assert len(corpus_files()) >= 300


@dataclass
class Expect:
    """What a corpus message must give; None means "not checked"."""

    path: str
    from_email: str | None = None
    from_name: str | None = None
    subject: str | None = None
    body: list[str] = field(default_factory=list)  # snippets that must be in body_text
    content_type: str | None = None
    attachments: list[tuple[str, str, int]] | None = None  # (filename, type, size), in order
    bounce: bool | None = None
    auto: bool | None = None
    bulk: bool | None = None


EXPECTED = [
    # Japanese: ISO-2022-JP body, UTF-8 encoded words, Shift_JIS, RFC 2231 continuations.
    Expect(
        "mikel-mail/multi_charset/japanese_iso_2022.eml",
        "raasdnil@gmail.com",
        "Mikel Lindsaar",
        "まみむめも",
        ["すみません。"],
        "text/plain",
    ),
    Expect(
        "mikel-mail/multi_charset/japanese_shift_jis.eml",
        "xxxxxxx@docomo.ne.jp",
        "",
        "test",
        ["あいうえお", "このメールはテスト用のメールです。"],
    ),
    Expect(
        "mikel-mail/multi_charset/japanese_attachment.eml",
        "raasdnil@gmail.com",
        subject="testing",
        body=["testing"],
        attachments=[("てすと.txt", "text/plain", 33)],
    ),
    Expect(
        "mikel-mail/multi_charset/japanese_attachment_long_name.eml",
        subject="まみむめも" * 10,
        attachments=[("かきくけこ" * 5 + ".txt", "text/plain", 18)],
    ),
    # Korean ks_c_5601-1987 (really CP949), Chinese GB2312, Russian KOI8-R/windows-1251.
    Expect(
        "mikel-mail/multi_charset/ks_c_5601-1987.eml", "from@example.com", "", "test", ["스티해"]
    ),
    Expect(
        "spamscope-mail-parser/mail_test_12",
        "baoguan@hotmail.com",
        "张先生",
        "代开各地增值税发票",
        ["我公司可代开各类增值税发票"],
        "text/plain",
    ),
    Expect(
        "spamscope-mail-parser/mail_test_9",
        "zyb@sgis.com.cn",
        "xwfcpggy",
        body=["http://go2buy.com.cn/"],
        content_type="text/html",
    ),
    Expect(
        "mikel-mail/plain_emails/raw_email_bad_time.eml",
        "yusuf75thu@auracom.net",
        "Атиковa",
        "[0]: XXXXXXX XXXXX XXXXX !",
    ),
    Expect(
        "spamscope-mail-parser/mail_test_6",
        "noreply@ggg.com",
        "Время пришло",
        "Быстрее вкладывайте в золото!",
        content_type="text/html",
        bulk=True,
    ),
    Expect(
        "flanker/bilingual-simple.eml",
        "hello@example.com",
        "Hello",
        "Simple text. How are you? Как ты поживаешь?",
        ["This line is in English", "А эта линия по-русски."],
    ),
    Expect("flanker/8bitmime.eml", "bob@example.com", "bob", "2 RCPT MIME", ["Превел"]),
    # Attachment names: RFC 2047 in quotes, unquoted with spaces, raw UTF-8, truncated UTF-8.
    Expect(
        "mikel-mail/attachment_emails/attachment_nonascii_filename.eml",
        body=["This is the first part."],
        attachments=[("ciële.txt", "text/plain", 11)],
    ),
    Expect(
        "mikel-mail/attachment_emails/attachment_with_quoted_filename.eml",
        "jeff@37signals.com",
        "Jeffrey Hardy",
        "Eelanalüüsi päring",
        attachments=[("Eelanalüüsi päring.jpg", "image/jpeg", 1952)],
    ),
    Expect(
        "mikel-mail/attachment_emails/attachment_with_unquoted_name.eml",
        attachments=[("This is a test.txt", "text/plain", 11)],
    ),
    Expect(
        "mikel-mail/attachment_emails/attachment_with_base64_encoded_name.eml",
        body=["We should not include these files"],
        attachments=[("This is a test.pdf", "application/pdf", 399)],
    ),
    Expect(
        "mikel-mail/attachment_emails/attachment_pdf.eml",
        "xxxx@xxxx.com",
        "Test Tester",
        "Another PDF with 🎉 Unicode chars in it 🍿",
        ["Just attaching another PDF"],
        attachments=[("broken.pdf", "application/pdf", 1026)],
    ),
    Expect(
        "flanker/russian-attachment-yahoo.eml",
        "mailboxaddr1234567@yahoo.com",
        "Bob",
        "Hello",
        ["Hello"],
    ),
    # Bounces (RFC 3464 and classic), auto-replies (RFC 3834), list mail.
    Expect(
        "cpython-test-email/msg_16.txt",
        "postmaster@ucla.edu",
        "Internet Mail Delivery",
        "Delivery Notification: Delivery has failed",
        ["recipient reached disk quota"],
        bounce=True,
        attachments=[
            ("delivery-status.txt", "message/delivery-status", 266),
            ("[scr] yeah for Ians!!.eml", "message/rfc822", 2646),
        ],
    ),
    Expect(
        "flanker/bounce/gmail-invalid-address.eml",
        "mailer-daemon@googlemail.com",
        "Mail Delivery Subsystem",
        "Delivery Status Notification (Failure)",
        ["Delivery to the following recipient failed permanently"],
        bounce=True,
    ),
    Expect(
        "sisimai-set-of-emails/lhost-postfix-01.eml",
        "MAILER-DAEMON@p351355.pool.example.ne.jp",
        "Mail Delivery System",
        "Undelivered Mail Returned to Sender",
        bounce=True,
    ),
    Expect(
        "cpython-test-email/msg_25.txt",
        "MAILER-DAEMON@zinfandel.lacita.com",
        body=["554 Too many hops 19 (17 max)"],
        bounce=True,
    ),
    Expect(
        "sisimai-set-of-emails/rfc3834-01.eml",
        "kijitora@example.net",
        "",
        "Away until May 5",
        ["I am currently away"],
        bounce=False,
        auto=True,
    ),
    Expect(
        "sisimai-set-of-emails/rfc3834-03.eml",
        "kijitora@apple.example.com",
        subject="Auto reply: Nyaan",
        body=["I'm only sleeping."],
        auto=True,
    ),
    Expect("sisimai-set-of-emails/not-bounce-is-not-bounce-01.eml", bounce=False),
    Expect(
        "notmuch-test-corpora/list-1354585346.000260.eml",
        "stefan@datenfreihafen.org",
        "Stefan Schmidt",
        body=["notmuch_message_get_flags()"],
        bulk=True,
        bounce=False,
        auto=False,
    ),
    # PGP/MIME and S/MIME signed: the content is the body, the signature an attachment.
    Expect(
        "notmuch-test-corpora/list-1354585346.000265.eml",
        "keithp@keithp.com",
        "Keith Packard",
        body=["This function should interpret the flags"],
        attachments=[("signature.asc", "application/pgp-signature", 189)],
    ),
    Expect(
        "cpython-test-email/msg_45.txt",
        "foo@bar.baz",
        "",
        "test",
        ["This is the signed contents."],
        attachments=[("signature.asc", "application/pgp-signature", 189)],
    ),
    Expect(
        "mikel-mail/mime_emails/raw_email_with_nested_attachment.eml",
        "jamis@37signals.com",
        body=["Here is a test of an attachment via email."],
        attachments=[
            ("truncated.png", "image/png", 1902),
            ("smime.p7s", "application/pkcs7-signature", 939),
        ],
    ),
    # HTML-only mail is converted to readable text, links kept as "text (url)".
    Expect(
        "mikel-mail/error_emails/content_transfer_encoding_text-html.eml",
        body=[
            "You have qualified for the lowest rate in years.",
            "Approval Form (http://www.lenxzc.com/index2.php?refid=malx)",
        ],
        content_type="text/html",
    ),
    Expect(
        "flanker/long-links.eml",
        "postmaster@example.com",
        "Bob",
        "Please enjoy this mega long link",
        ["http://www.longurlmaker.com/view/?id="],
        "text/html",
    ),
    # Forwarded message/rfc822 is an .eml attachment and not part of the body.
    Expect(
        "flanker/enclosed.eml",
        "bob@example.net",
        "Bob Marley",
        "Wow",
        ["Hello"],
        attachments=[("thanks.eml", "message/rfc822", 2504)],
    ),
    # Addresses: RFC 2822 examples, comments, groups, names that look like addresses.
    Expect("mikel-mail/rfc2822/example10.eml", "pete@silly.test", "Pete"),
    Expect(
        "spamscope-mail-parser/mail_test_18",
        "comma.name@example.com",
        "LastßlName, FirstName",
        "Test for Comma and Name Bugs",
    ),
    Expect("spamscope-mail-parser/mail_test_19", "bob@example.com", "alice@example.com"),
    Expect(
        "mikel-mail/rfc6532/utf8_headers.eml",
        "jdöe@mächine.example",
        "Jöhn Doe",
        "Säying Hello",
        ["body"],
    ),
    # Broken structure: guessed boundary, missing boundaries, inline images in related.
    Expect(
        "flanker/missing-boundaries.eml",
        "me@example.com",
        body=["Hi This is a broken message", "Subject: Messy part"],
    ),
    Expect(
        "spamscope-mail-parser/mail_test_2",
        "meteo@regione.vda.it",
        "",
        "Bollettino Meteorologico del 29/11/2015",
        ["REGIONE AUTONOMA VALLE D'AOSTA"],
        attachments=[
            ("intestazione.jpg", "image/jpeg", 9918),
            ("logometeo.jpg", "image/jpeg", 7321),
            ("Bollettino.pdf", "application/octet-stream", 1089942),
        ],
    ),
    Expect(
        "notmuch-test-corpora/attachment-text-calendar.eml",
        "bremner@example.com",
        "David Bremner",
        "test",
        ["This meeting will could have been an email"],
        attachments=[("attachment-1.ics", "text/calendar", 1685)],
    ),
]


@pytest.mark.parametrize("expect", EXPECTED, ids=lambda e: e.path)
def test_corpus_expectations(expect: Expect, corpus_mail: Load) -> None:
    mail = corpus_mail(expect.path)
    if expect.from_email is not None:
        assert mail.from_ is not None
        assert mail.from_.email == expect.from_email
    if expect.from_name is not None:
        assert mail.from_ is not None
        assert mail.from_.name == expect.from_name
    if expect.subject is not None:
        assert mail.subject == expect.subject
    for snippet in expect.body:
        assert snippet in mail.body_text
    if expect.content_type is not None:
        assert mail.content_type == expect.content_type
    if expect.attachments is not None:
        got = [(a.filename, a.content_type, a.size) for a in mail.attachments]
        assert got == expect.attachments
    for flag, value in (
        ("is_bounce", expect.bounce),
        ("is_auto_submitted", expect.auto),
        ("is_list_or_bulk", expect.bulk),
    ):
        if value is not None:
            assert getattr(mail, flag) is value, flag


def test_huge_folded_subject_is_fast_and_whole(corpus_mail: Load) -> None:
    mail = corpus_mail("flanker/long-header.eml")
    assert len(mail.subject) > 100_000
    assert mail.subject.startswith("Die heiße Zypernsonne quälte Max und Victoria")
    assert "\n" not in mail.subject and "  " not in mail.subject


def test_forwarded_message_is_parsed(corpus_mail: Load) -> None:
    mail = corpus_mail("flanker/enclosed.eml")
    assert "Thanks!" not in mail.body_text
    (inner,) = mail.forwarded
    assert inner.subject == "Thanks!"
    assert inner.from_ is not None and inner.from_.email == "dan@example.com"
    assert "чтобы я без вас делал" in inner.body_text
    assert [a.name for a in mail.to] == ["Александр Клижентас☯"]


def test_torture_test_forwards(corpus_mail: Load) -> None:
    mail = corpus_mail("flanker/torture.eml")
    assert len(mail.forwarded) == 8
    assert mail.forwarded[0].subject == "Re: a MIME-Version misfeature"
    assert sum(a.content_type == "message/rfc822" for a in mail.attachments) == 8


def test_rfc2822_group_and_quoted_names(corpus_mail: Load) -> None:
    mail = corpus_mail("mikel-mail/rfc2822/example03.eml")
    assert [(a.email, a.name) for a in mail.to] == [
        ("mary@x.test", "Mary Smith"),
        ("jdoe@example.org", ""),
        ("one@y.test", "Who?"),
    ]
    assert [(a.email, a.name) for a in mail.cc] == [
        ("boss@nil.test", ""),
        ("sysservices@example.net", 'Giant; "Big" Box'),
    ]
    assert mail.date == datetime(2003, 7, 1, 8, 52, 37, tzinfo=UTC)


def test_encoded_display_names_in_cc(corpus_mail: Load) -> None:
    mail = corpus_mail("spamscope-mail-parser/mail_test_18")
    assert [(a.email, a.name) for a in mail.cc] == [
        ("simple@example.net", ""),
        ("john.doe@example.com", 'John "Johnny" Doe'),
    ]
    assert [(a.email, a.name) for a in mail.to] == [("tony.stark@example.com", "")]


def test_bad_date_is_a_defect(corpus_mail: Load) -> None:
    mail = corpus_mail("mikel-mail/plain_emails/raw_email_with_bad_date.eml")
    assert mail.date is None
    assert any("Date" in d for d in mail.defects)


def test_inline_images_of_related_parts(corpus_mail: Load) -> None:
    mail = corpus_mail("spamscope-mail-parser/mail_test_2")
    images = [a for a in mail.attachments if a.inline]
    assert [(a.filename, a.content_id) for a in images] == [
        ("intestazione.jpg", "intestazione.jpg"),
        ("logometeo.jpg", "logo.jpg"),
    ]
    assert mail.body_html is not None and 'src="cid:' in mail.body_html


def test_thread_headers(corpus_mail: Load) -> None:
    mail = corpus_mail("notmuch-test-corpora/list-1354585346.000265.eml")
    assert mail.message_id == "yunvdh3pfm9.fsf@aiko.keithp.com"
    assert mail.in_reply_to == ["1258848661-4660-1-git-send-email-stefan@datenfreihafen.org"]
    assert "notmuch@notmuchmail.org" in mail.delivered_to
    assert mail.header("List-Id")


def test_in_reply_to_without_at_is_ignored(corpus_mail: Load) -> None:
    mail = corpus_mail("notmuch-test-corpora/list-1354585346.000261.eml")  # "<yes>"
    assert mail.in_reply_to == []


def test_malformed_headers_still_give_a_sender(corpus_mail: Load) -> None:
    mail = corpus_mail("flanker/mailformed-headers.eml")
    assert mail.from_ is not None
    assert mail.from_.email == "headers@gmail.com"
    assert mail.from_.name.startswith("Юникод запрещен")


def test_missing_from_is_recorded(corpus_mail: Load) -> None:
    mail = corpus_mail("cpython-test-email/msg_11.txt")
    assert mail.from_ is None
    assert "missing From header" in mail.defects
