"""Header blocks that a broken fold or a stray line cut short are recovered; bodies are not
swallowed. Each message is written by hand to show one broken form."""

from __future__ import annotations

import re

import pytest

from mailgate import headerblock
from mailgate.headerblock import MAX_BROKEN, MAX_STRAY, known_name, repair_header_block
from mailgate.parser import parse_message
from queues.mail import Address

ANN = Address("ann@example.net", "Ann")


def parse(text: str, crlf: bool = False) -> tuple[Address | None, str, str, list[str]]:
    raw = text.encode("utf-8")
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    mail = parse_message(raw)
    return mail.requester, mail.subject, mail.body_text, mail.defects


def repaired(defects: list[str]) -> list[str]:
    return [d for d in defects if d.startswith("header block:")]


class TestBrokenFold:
    @pytest.mark.parametrize("crlf", [False, True])
    def test_subject_continuation_without_whitespace(self, crlf: bool) -> None:
        got = parse(
            "From: Ann <ann@example.net>\nSubject: Someone keeps\nwriting to me\n"
            "To: help@example.org\nDate: Mon, 6 Jan 2025 10:00:00 +0100\n\nPlease help.\n",
            crlf,
        )
        requester, subject, body, defects = got
        assert (requester, subject, body) == (ANN, "Someone keeps writing to me", "Please help.")
        assert repaired(defects) == ["header block: line 3 had lost its fold; joined to its field"]

    def test_broken_fold_before_from_keeps_the_sender(self) -> None:
        requester, subject, body, _ = parse(
            "Received: from mx.example.net\nby relay.example.org with ESMTP\n"
            "From: Ann <ann@example.net>\nSubject: help\n\nbody text\n"
        )
        assert (requester, subject, body) == (ANN, "help", "body text")

    def test_address_list_broken_across_lines(self) -> None:
        mail = parse_message(
            b"To: a@example.org,\nb@example.org,\nc@example.org\nFrom: ann@example.net\n"
            b"Subject: x\n\nbody\n"
        )
        assert [a.email for a in mail.to] == ["a@example.org", "b@example.org", "c@example.org"]
        assert mail.body_text == "body"

    def test_garbage_line_inside_the_block(self) -> None:
        # A real message (corpus: raw_email_incorrect_header.eml) has "quite Delivered-To:".
        requester, subject, body, defects = parse(
            "Received-SPF: softfail\nquite Delivered-To: x@example.org\nReceived: by relay\n"
            "From: Ann <ann@example.net>\nSubject: Stop\n\nYou are infected\n"
        )
        assert (requester, subject, body) == (ANN, "Stop", "You are infected")
        assert len(repaired(defects)) == 1

    def test_mbox_separator_inside_the_block_is_dropped(self) -> None:
        mail = parse_message(
            b"Received: by relay\nX-Junk\nFrom ann@example.net Mon Jan  6 10:00:00 2025\n"
            b"From: Ann <ann@example.net>\nSubject: hi\n\nbody\n"
        )
        assert mail.from_ == ANN and mail.subject == "hi"
        assert "From ann" not in mail.header("received")


class TestStrayLeadingLines:
    @pytest.mark.parametrize(
        "stray",
        [
            "\n",  # a blank line before the header
            "\n\n\n",
            ">From ann@example.net Mon Jan  6 10:00:00 2025\n",  # a quoted mbox separator
            "garbage before the header\n",
            "\x00\x01binary junk\n",
        ],
    )
    def test_skipped(self, stray: str) -> None:
        requester, subject, body, defects = parse(
            stray + "From: Ann <ann@example.net>\nSubject: help\n\nPlease help.\n"
        )
        assert (requester, subject, body) == (ANN, "help", "Please help.")
        assert repaired(defects)[0].startswith("header block: skipped")

    def test_byte_order_mark(self) -> None:
        mail = parse_message(b"\xef\xbb\xbfFrom: Ann <ann@example.net>\nSubject: hi\n\nbody\n")
        assert (mail.requester, mail.subject, mail.body_text) == (ANN, "hi", "body")
        assert "header block: removed a byte order mark before the header" in mail.defects

    def test_doubled_carriage_returns(self) -> None:
        raw = b"From: Ann <ann@example.net>\r\r\nSubject: hi\r\r\nTo: help@example.org\r\r\n"
        mail = parse_message(raw + b"\r\r\nfirst\r\r\nsecond\r\r\n")
        assert (mail.requester, mail.subject) == (ANN, "hi")
        assert mail.body_text == "first\nsecond"
        assert [a.email for a in mail.to] == ["help@example.org"]
        assert "header block: line ends were CR CR LF" in mail.defects

    def test_mbox_separator_first_is_the_envelope_line(self) -> None:
        mail = parse_message(
            b"From ann@example.net Mon Jan  6 10:00:00 2025\nFrom: Ann <ann@example.net>\n"
            b"Subject: help\n\nbody\n"
        )
        assert (mail.from_, mail.subject, mail.body_text) == (ANN, "help", "body")
        assert repaired(mail.defects) == []

    def test_stray_line_before_a_misspelled_field(self) -> None:
        # corpus: content_transfer_encoding_with_8bits.eml starts with "Recieved:"
        mail = parse_message(
            b"\nRecieved: from relay\n\tTue, 13 Nov 2001\nReceived: from mx\n"
            b"From: Ann <ann@example.net>\nSubject: hi\n\nbody\n"
        )
        assert (mail.requester, mail.subject, mail.body_text) == (ANN, "hi", "body")
        assert mail.header("recieved") == "from relay Tue, 13 Nov 2001"

    def test_too_many_stray_lines_are_a_body(self) -> None:
        text = "line\n" * (MAX_STRAY + 1) + "From: Ann <ann@example.net>\n\nbody\n"
        requester, _, body, _ = parse(text)
        assert requester is None
        assert "From: Ann" in body

    def test_stray_line_then_unknown_field_is_a_body(self) -> None:
        requester, _, body, _ = parse("\nNote: call me\nthanks\nFrom: Ann <ann@example.net>\n\nx\n")
        assert requester is None
        assert body.startswith("Note: call me")


class TestObsoleteSyntax:
    def test_space_before_colon(self) -> None:
        # RFC 5322 appendix A.6.3 (corpus: rfc2822/example13.eml)
        requester, subject, body, defects = parse(
            "From  : John Doe <jdoe@machine.example>\nTo    : Mary Smith\n  \n"
            "          <mary@example.net>\nSubject     : Saying Hello\n"
            "Date  : Fri, 21 Nov 1997 09:55:06 -0600\n\nThis is a message just to say hello.\n"
        )
        assert requester == Address("jdoe@machine.example", "John Doe")
        assert subject == "Saying Hello"
        assert body == "This is a message just to say hello."
        assert "header block: space before the colon of 'From'" in defects

    def test_whitespace_only_continuation_line(self) -> None:
        # RFC 7103 section 7.3: as if the line were not there
        mail = parse_message(b"From: ann@example.net\nSubject: Re: TEST\n \n\tmore\n\nbody\n")
        assert mail.subject == "Re: TEST more"
        assert mail.body_text == "body"


class TestBodiesAreNotSwallowed:
    """A body that follows the header without a blank line stays a body."""

    @pytest.mark.parametrize(
        "body",
        [
            "Hello, this is my report.\n\nMore text.",
            "Hi team:\nsomeone writes to me\n\nthanks",
            "Hello\nNote: call me\nPriority: high\nComments: none\n\nthanks",
            "line\n" * (MAX_BROKEN + 2) + "To: someone@example.org\n\nend",
        ],
    )
    def test_body_without_separator(self, body: str) -> None:
        requester, subject, got_body, defects = parse(
            "From: Ann <ann@example.net>\nSubject: help\n" + body
        )
        assert (requester, subject) == (ANN, "help")
        assert got_body.startswith(body.split("\n", 1)[0])
        assert repaired(defects) == []
        assert "message: MissingHeaderBodySeparatorDefect" in defects

    def test_header_like_lines_after_the_blank_line_stay_body(self) -> None:
        # an inline forward: "From:" lines in the body are the body
        mail = parse_message(
            b"From: Ann <ann@example.net>\nSubject: Fwd\n\nFrom: Bob <bob@example.org>\n"
            b"Subject: threat\n\nI know where you live\n"
        )
        assert mail.from_ == ANN
        assert mail.body_text.startswith("From: Bob")

    def test_body_start_after_a_repaired_fold(self) -> None:
        requester, subject, body, _ = parse(
            "From: Ann <ann@example.net>\nSubject: a\nb\nTo: help@example.org\nHello there\n\nx\n"
        )
        assert (requester, subject) == (ANN, "a b")
        assert body == "Hello there\n\nx"

    def test_well_formed_mail_is_not_touched(self) -> None:
        raw = b"From: Ann <ann@example.net>\nSubject: help\n\nbody\n"
        assert repair_header_block(raw) is None


class TestLimits:
    def test_header_only_message(self) -> None:
        mail = parse_message(b"\nFrom: Ann <ann@example.net>\nSubject: help")
        assert (mail.from_, mail.subject, mail.body_text) == (ANN, "help", "")

    def test_many_notes_are_capped(self) -> None:
        lines = "".join(f"X-H{i}  : v\n" for i in range(50))
        mail = parse_message(f"From  : ann@example.net\n{lines}\nbody\n".encode())
        assert mail.from_ == Address("ann@example.net")
        assert len(repaired(mail.defects)) == 10

    def test_huge_header_block_is_left_alone(self) -> None:
        raw = b"\nFrom: ann@example.net\n" + b"X-Filler: " + b"x" * 2_000_000 + b"\n\nbody\n"
        assert repair_header_block(raw) is None
        assert parse_message(raw).from_ is None  # never raises


class TestKnownNames:
    """mailgate/header_names.txt: the names that vouch for a header line."""

    def test_core_fields(self) -> None:
        for name in ("From", "TO", "subject", "Received", "Content-Type", "X-Mailer", "List-Id"):
            assert known_name(name)

    def test_body_words_are_not_names(self) -> None:
        for name in ("Note", "Hi", "Re", "Comments", "Priority", "Path", "Dear", "PS"):
            assert not known_name(name)

    def test_file_is_well_formed(self) -> None:
        text = headerblock._NAMES_FILE.read_text(encoding="utf-8")
        names = [
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        ]
        assert len(names) == len(set(names))
        for name in names:
            assert re.fullmatch(r"[a-z0-9-]+\*?", name), name
