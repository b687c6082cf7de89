"""Who wrote it: the requester when From is broken, and every odd address form we know of.

Each message is written by hand to show one broken form (issue 8, "Find the requester").
"""

from __future__ import annotations

import pytest

from mailgate.addresses import MAX_ADDRESS, parse_address_list, parse_mailbox
from mailgate.parser import parse_message
from queues.mail import Address, IncomingMail, with_envelope

from .conftest import mail

BODY = "Please help, someone keeps writing to me."


def requester(headers: str) -> tuple[Address | None, str]:
    parsed = parse_message(mail(headers + "\nSubject: help", BODY))
    return parsed.requester, parsed.requester_source


class TestSources:
    def test_from_first(self) -> None:
        got = requester("From: Ann <ann@example.net>\nReply-To: other@example.net")
        assert got == (Address("ann@example.net", "Ann"), "from")

    @pytest.mark.parametrize("value", ["<>", "", "Ann", "ann@", "@example.net", "<<>>", '""'])
    def test_unusable_from_falls_back_to_reply_to(self, value: str) -> None:
        got = requester(f"From: {value}\nReply-To: Ann <ann@example.net>\nSender: s@example.net")
        assert got == (Address("ann@example.net", "Ann"), "reply-to")

    def test_second_from_when_the_first_is_garbage(self) -> None:
        parsed = parse_message(
            mail("From: =?utf-8?q?garbage?=\nFrom: Ann <ann@example.net>\nSubject: x", BODY)
        )
        assert (parsed.requester, parsed.requester_source) == (
            Address("ann@example.net", "Ann"),
            "from:2",
        )
        assert parsed.from_ is None  # from_ stays what the (first) From field says
        assert any("From header has no usable address" in d for d in parsed.defects)

    def test_third_from_is_numbered_as_such(self) -> None:
        got = requester("From: <>\nFrom: nobody\nFrom: ann@example.net")
        assert got == (Address("ann@example.net"), "from:3")

    def test_another_from_comes_before_reply_to(self) -> None:
        got = requester("From: <>\nReply-To: r@example.net\nFrom: ann@example.net")
        assert got == (Address("ann@example.net"), "from:2")

    def test_sender_after_reply_to(self) -> None:
        assert requester("From: <>\nSender: s@example.net") == (Address("s@example.net"), "sender")

    def test_return_path_is_the_envelope(self) -> None:
        got = requester("Return-Path: <Bounce@Example.NET>\nFrom: <>")
        assert got == (Address("Bounce@example.net"), "envelope")

    def test_topmost_return_path_wins(self) -> None:
        got = requester("Return-Path: <last@example.net>\nReturn-Path: <first@example.net>")
        assert got == (Address("last@example.net"), "envelope")

    def test_null_return_path_gives_none(self) -> None:
        assert requester("Return-Path: <>\nFrom: <>") == (None, "")

    def test_nothing_usable(self) -> None:
        assert requester("From: <>\nReply-To: nobody\nSender: <>") == (None, "")
        assert requester("To: help@example.org") == (None, "")

    def test_missing_from_header(self) -> None:
        assert requester("To: help@example.org\nReply-To: ann@example.net") == (
            Address("ann@example.net"),
            "reply-to",
        )


class TestBounces:
    """A bounce is about another message: its sender stays what it is."""

    DSN = (
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"'
    )
    PARTS = (
        "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n"
        "--b\nContent-Type: message/rfc822\n\nFrom: Original <original@example.org>\n"
        "Subject: hi\n\nhello\n--b--\n"
    )

    def parse(self, sender: str) -> IncomingMail:
        raw = mail(f"{sender}\nReply-To: original@example.org\n{self.DSN}", self.PARTS)
        return parse_message(raw)

    def test_mailer_daemon_stays(self) -> None:
        parsed = self.parse("From: Mail Delivery System <MAILER-DAEMON@mx.example.net>")
        assert parsed.is_bounce
        assert parsed.requester == Address("MAILER-DAEMON@mx.example.net", "Mail Delivery System")
        assert parsed.requester_source == "from"

    @pytest.mark.parametrize("sender", ["From: MAILER-DAEMON", "From: MAILER-DAEMON <>", ""])
    def test_unqualified_daemon_is_not_recovered(self, sender: str) -> None:
        parsed = self.parse(sender + "\nReturn-Path: <original@example.org>")
        assert parsed.is_bounce
        assert (parsed.requester, parsed.requester_source) == (None, "")

    @pytest.mark.parametrize(
        "sender", ["MAILER-DAEMON", "MAILER DAEMON <>", "Mail Delivery System <postmaster>"]
    )
    def test_a_daemon_sender_is_not_recovered_even_without_a_bounce(self, sender: str) -> None:
        parsed = parse_message(
            mail(f"From: {sender}\nReply-To: original@example.org\nSubject: Your order", BODY)
        )
        assert not parsed.is_bounce
        assert (parsed.requester, parsed.requester_source) == (None, "")

    def test_envelope_does_not_recover_a_bounce(self) -> None:
        parsed = with_envelope(self.parse("From: MAILER-DAEMON"), "original@example.org")
        assert parsed.requester is None


class TestEnvelope:
    """`queues.mail.with_envelope`: the envelope the message really arrived with."""

    def parse(self, headers: str) -> IncomingMail:
        return parse_message(mail(headers + "\nSubject: help", BODY))

    def test_fills_in_when_no_header_has_an_address(self) -> None:
        parsed = with_envelope(self.parse("From: <>"), "<Ann@Example.NET>")
        assert (parsed.requester, parsed.requester_source) == (
            Address("Ann@example.net"),
            "envelope",
        )

    def test_headers_come_first(self) -> None:
        parsed = with_envelope(self.parse("From: <>\nSender: s@example.net"), "e@example.net")
        assert (parsed.requester, parsed.requester_source) == (Address("s@example.net"), "sender")

    def test_real_envelope_replaces_a_return_path_field(self) -> None:
        parsed = self.parse("From: <>\nReturn-Path: <claimed@example.net>")
        assert parsed.requester_source == "envelope"
        with_envelope(parsed, "real@example.net")
        assert parsed.requester == Address("real@example.net")

    def test_null_path_clears_a_return_path_field(self) -> None:
        parsed = with_envelope(self.parse("From: <>\nReturn-Path: <claimed@example.net>"), "")
        assert (parsed.requester, parsed.requester_source) == (None, "")

    def test_unknown_envelope_changes_nothing(self) -> None:
        parsed = with_envelope(self.parse("From: <>\nReturn-Path: <rp@example.net>"), None)
        assert (parsed.requester, parsed.requester_source) == (
            Address("rp@example.net"),
            "envelope",
        )

    @pytest.mark.parametrize("value", ["", "<>", "MAILER-DAEMON", "a b@c.example", "@x", "x@"])
    def test_unusable_envelopes(self, value: str) -> None:
        parsed = with_envelope(self.parse("From: <>"), value)
        assert parsed.requester is None


class TestOddAddresses:
    """Every odd address form seen in real mail, as From; the requester is always found."""

    @pytest.mark.parametrize(
        ("value", "email", "name"),
        [
            # quoted local parts: bare when a dot-atom would do (RFC 5321 section 4.1.2)
            ('"#FAX#*49000783135#"@otrs.fax', "#FAX#*49000783135#@otrs.fax", ""),
            ('Fax <"#FAX#*49000783135#"@otrs.fax>', "#FAX#*49000783135#@otrs.fax", "Fax"),
            ('"john doe"@example.com', '"john doe"@example.com', ""),
            ('John <"john doe"@example.com>', '"john doe"@example.com', "John"),
            ('"john..doe"@example.com', '"john..doe"@example.com', ""),
            ('"john@home"@example.com', '"john@home"@example.com', ""),
            ('"a\\"b"@example.com', '"a\\"b"@example.com', ""),
            ('"john doe" @example.com', '"john doe"@example.com', ""),
            # internationalized domains, as U-labels and A-labels; UTF-8 local part (RFC 6532)
            ("Jürgen <jürgen@bücher.example>", "jürgen@bücher.example", "Jürgen"),
            ("<user@XN--BCHER-KVA.Example>", "user@xn--bcher-kva.example", ""),
            ("=?utf-8?q?J=C3=BCrgen?= <j@b\u00fccher.example>", "j@bücher.example", "Jürgen"),
            # "@" in the display name, quoted, unquoted and encoded
            ('"john@evil.example" <real@example.net>', "real@example.net", "john@evil.example"),
            ("john@evil.example <real@example.net>", "real@example.net", "john@evil.example"),
            ("=?utf-8?q?a=40b.example?= <real@example.net>", "real@example.net", "a@b.example"),
            ('"Doe, John (x@y.z)" <j@d.example>', "j@d.example", "Doe, John (x@y.z)"),
            # a whole mailbox inside one encoded word (RFC 2047 section 5 forbids it)
            ("=?utf-8?B?w4RubiA8YW5uQGV4YW1wbGUubmV0Pg==?=", "ann@example.net", "Änn"),
            ("=?utf-8?q?Ann_<ann@example.net>?=", "ann@example.net", "Ann"),
            # group syntax (RFC 5322 section 3.4): the group name is not an address
            ("Friends: ann@example.net, bob@example.net;", "ann@example.net", ""),
            # comments, routes, domain literals
            ("ann@example.net (Ann)", "ann@example.net", "Ann"),
            ("Ann <@relay.example:ann@example.net>", "ann@example.net", "Ann"),
            ("ann@[192.0.2.1]", "ann@[192.0.2.1]", ""),
            # long but storable: a 1,000-character display name
            ("N" * 1000 + " <n@example.net>", "n@example.net", "N" * 1000),
        ],
    )
    def test_form(self, value: str, email: str, name: str) -> None:
        raw = mail(f"From: {value}\nSubject: x", BODY)
        parsed = parse_message(raw)
        assert parsed.from_ == Address(email, name)
        assert (parsed.requester, parsed.requester_source) == (Address(email, name), "from")

    @pytest.mark.parametrize(
        "value",
        [
            "john",  # no domain: cannot be answered
            "john@",
            "undisclosed-recipients:;",
            "Friends: ;",
            "a" * 990 + "@example.net",  # 1,000 characters: no system takes it
            "<" + "a" * 995 + "@x.net>",
            "a\x00b@example.net",  # binary garbage: PostgreSQL would refuse the NUL
            "\xff\xfe@\x00\x01",
        ],
    )
    def test_unusable_forms_fall_back(self, value: str) -> None:
        raw = mail(f"From: {value}\nReply-To: ann@example.net\nSubject: x", BODY)
        parsed = parse_message(raw)
        assert parsed.from_ is None
        assert (parsed.requester, parsed.requester_source) == (
            Address("ann@example.net"),
            "reply-to",
        )

    def test_length_limit(self) -> None:
        local = "a" * (MAX_ADDRESS - len("@example.net"))
        assert parse_mailbox(f"{local}@example.net") == Address(f"{local}@example.net")
        assert parse_mailbox(f"{local}a@example.net") is None

    def test_group_with_several_members_keeps_all(self) -> None:
        found = parse_address_list('Team: "x y"@a.example, <b@b.example>;, c@c.example')
        assert [a.email for a in found] == ['"x y"@a.example', "b@b.example", "c@c.example"]
