"""Header decoding: encoded words, raw 8-bit bytes, parameters, addresses, ids and dates."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from mailgate.addresses import parse_address_list, parse_mailbox
from mailgate.headers import decode_header, decode_words, parse_date, parse_msgids
from mailgate.params import parse_params
from queues.mail import Address


def _raw(data: bytes) -> str:
    """A header value as the compat32 parser stores it (8-bit bytes surrogate-escaped)."""
    return data.decode("ascii", "surrogateescape")


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (b"=?utf-8?q?M=C3=BCller?=", "Müller"),
        (b"=?UTF-8?B?5pel5pys6Kqe?=", "日本語"),
        (b"Re: =?iso-8859-1?q?caf=E9?= ok", "Re: café ok"),
        # whitespace between encoded words disappears (RFC 2047 section 6.2)...
        (b"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        # ...but not between an encoded word and ordinary text
        (b"=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"),
        # adjacent words without whitespace, as broken mailers send them
        (b"=?utf-8?B?5pel5pys?==?utf-8?B?6Kqe?=", "日本語"),
        # a multi-byte character split across two words
        (b"=?utf-8?q?=E6=97?= =?utf-8?q?=A5?=", "日"),
        # base64 split mid-quantum, without padding in each word
        (b"=?utf-8?B?5pel5p?= =?utf-8?B?ys6Kqe?=", "日本語"),
        # bad padding
        (b"=?utf-8?B?5pel5pys6Kqe==?=", "日本語"),
        (b"=?utf-8?B?w6k?=", "é"),
        # unknown and missing charsets fall back to UTF-8, then windows-1252
        (b"=?x-unknown?q?caf=C3=A9?=", "café"),
        (b"=??q?abc?=", "abc"),
        (b"=?bogus?q?caf=E9?=", "café"),
        # RFC 2231 language suffix in an encoded word
        (b"=?utf-8*en?q?hello?=", "hello"),
        # encoded words inside quotes are decoded too
        (b'"=?utf-8?q?Jos=C3=A9?=" <a@b.c>', '"José" <a@b.c>'),
        # stateful and legacy Asian charsets
        (b"=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト"),
        (b"=?ks_c_5601-1987?B?x9Gxub7uLg==?=", "한국어."),
        (b"=?gb2312?B?1tDOxA==?=", "中文"),
        (b"=?koi8-r?b?8NLJ18XU?=", "Привет"),
        (b"=?windows-1251?B?z/Do4uXy?=", "Привет"),
        (b"=?shift_jis?B?g2WDWINn?=", "テスト"),
        # an unterminated word stays as it is
        (b"=?utf-8?q?broken", "=?utf-8?q?broken"),
    ],
)
def test_encoded_words(encoded: bytes, expected: str) -> None:
    assert decode_header(_raw(encoded)) == expected


def test_raw_8bit_header_utf8_then_charset_then_cp1252() -> None:
    assert decode_header(_raw("Grüße".encode())) == "Grüße"
    assert decode_header(_raw("Привет".encode("koi8-r")), "koi8-r") == "Привет"
    assert decode_header(_raw("café".encode("latin-1"))) == "café"
    # mostly UTF-8 with one truncated character: stays UTF-8 with one replacement
    assert decode_header(_raw("Картинка".encode() + b"\xd1")) == "Картинка\ufffd"


def test_folding_whitespace_and_controls() -> None:
    assert decode_header("Hello\r\n   world\r\n\tagain") == "Hello world again"
    assert decode_header("a\x00b\x07c\x1bd") == "abcd"
    assert decode_header("") == ""
    assert decode_header(None) == ""


def test_huge_header_is_linear() -> None:
    value = "\r\n ".join(["=?utf-8?q?caf=C3=A9?="] * 20_000) + " =?utf-8?q?unterminated" * 5_000
    started = time.perf_counter()
    decoded = decode_header(value)
    assert time.perf_counter() - started < 2.0
    assert decoded.startswith("cafécafé")


def test_decode_words_keeps_text_between() -> None:
    assert decode_words(b"x =?utf-8?q?y?= z", None) == "x y z"


class TestParams:
    def test_simple(self) -> None:
        parsed = parse_params('text/plain; charset="utf-8"; format=flowed')
        assert parsed.value == "text/plain"
        assert parsed.params == {"charset": "utf-8", "format": "flowed"}

    def test_rfc2231_charset_and_language(self) -> None:
        parsed = parse_params("attachment; filename*=utf-8'en'%E2%82%AC%20rates.txt")
        assert parsed.get("filename") == "€ rates.txt"

    def test_rfc2231_continuations_mixed_encoding(self) -> None:
        value = "attachment;\r\n filename*0*=iso-8859-1''caf%E9; filename*1=\".txt\""
        assert parse_params(value).get("filename") == "café.txt"

    def test_rfc2231_wins_over_plain(self) -> None:
        value = "attachment; filename=plain.txt; filename*=utf-8''%C3%BC.txt"
        assert parse_params(value).get("filename") == "ü.txt"

    def test_unknown_rfc2231_charset(self) -> None:
        assert parse_params("a; filename*=x-bogus''%C3%BC.txt").get("filename") == "ü.txt"

    def test_encoded_word_in_quoted_name(self) -> None:
        value = 'application/pdf; name="=?utf-8?B?5pel5pys6Kqe?=.pdf"'
        assert parse_params(value).get("name") == "日本語.pdf"

    def test_unquoted_value_with_spaces_and_missing_quote(self) -> None:
        assert parse_params("x/y; name=my file.pdf").get("name") == "my file.pdf"
        assert parse_params('a; filename="unterminated.pdf').get("filename") == "unterminated.pdf"

    def test_forgotten_semicolon_and_case(self) -> None:
        parsed = parse_params("TEXT/Plain charset=UTF-8")
        assert (parsed.value, parsed.get("charset")) == ("text/plain", "UTF-8")

    def test_raw_8bit_filename(self) -> None:
        value = _raw('attachment; filename="caf\xc3\xa9.txt"'.encode("latin-1"))
        assert parse_params(value).get("filename") == "café.txt"

    def test_empty(self) -> None:
        assert parse_params(None).value == ""
        assert parse_params(";;;").params == {}


class TestAddresses:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("John Doe <John.Doe@Example.COM>", [("John.Doe@example.com", "John Doe")]),
            ('"Doe, John" <j@d.com>', [("j@d.com", "Doe, John")]),
            ("Doe, John <j@d.com>", [("j@d.com", "Doe, John")]),
            ("=?utf-8?q?M=C3=BCller=2C_Hans?= <h@m.de>", [("h@m.de", "Müller, Hans")]),
            ('"=?utf-8?q?Jos=C3=A9?=" <j@x.es>', [("j@x.es", "José")]),
            ("a@b.org (Anne Bee)", [("a@b.org", "Anne Bee")]),
            ('"a@b.org" <a@b.org>', [("a@b.org", "")]),
            ("foo@bar.com <baz@qux.com>", [("baz@qux.com", "foo@bar.com")]),
            ("undisclosed-recipients:;", []),
            ("Team: a@x.org, b@x.org;", [("a@x.org", ""), ("b@x.org", "")]),
            ("MAILER-DAEMON", []),
            ("<>", []),
            ("garbage ;;; <<<", []),
            ("<mailto:x@Y.com>", [("x@y.com", "")]),
            ("Mary <@route.tld:mary@example.net>", [("mary@example.net", "Mary")]),
            ("a@x.org b@x.org", [("a@x.org", ""), ("b@x.org", "")]),
            ("a@x.org, a@X.ORG", [("a@x.org", "")]),
            ("John Q. Public john@x.org", [("john@x.org", "John Q. Public")]),
            ("jdoe@test   . example", [("jdoe@test.example", "")]),  # RFC 5322 obs-syntax
            ("Pete(A \\) chap) <pete(his account)@silly.test>", [("pete@silly.test", "Pete")]),
        ],
    )
    def test_lists(self, value: str, expected: list[tuple[str, str]]) -> None:
        assert [(a.email, a.name) for a in parse_address_list(value)] == expected

    def test_8bit_display_name(self) -> None:
        raw = _raw("Jürgen <j@x.de>".encode("latin-1"))
        assert parse_mailbox(raw, "iso-8859-1") == Address("j@x.de", "Jürgen")
        assert parse_mailbox(_raw("Jürgen <j@x.de>".encode())) == Address("j@x.de", "Jürgen")

    def test_local_part_case_is_kept(self) -> None:
        assert parse_mailbox("<Jane.Doe@EXAMPLE.org>") == Address("Jane.Doe@example.org")

    def test_none(self) -> None:
        assert parse_mailbox(None) is None
        assert parse_mailbox("") is None


class TestMessageIds:
    def test_brackets_removed_and_deduplicated(self) -> None:
        assert parse_msgids("<a@b> <c@d>\r\n <a@b>") == ["a@b", "c@d"]

    def test_junk_around_ids(self) -> None:
        assert parse_msgids('<a@b> (from "X" on Tue)') == ["a@b"]
        assert parse_msgids("Your message of Tue, 1 May <x@y.z>") == ["x@y.z"]
        assert parse_msgids("bare@id.example") == ["bare@id.example"]

    def test_no_usable_id(self) -> None:
        assert parse_msgids("<>") == []
        assert parse_msgids("<yes>") == []
        assert parse_msgids("Your message of Tuesday") == []
        assert parse_msgids(None) == []

    def test_lenient_for_the_message_id_field(self) -> None:
        assert parse_msgids("xxxx", lenient=True) == ["xxxx"]
        assert parse_msgids("<1234>", lenient=True) == ["1234"]


class TestDates:
    def test_zone_converted_to_utc(self) -> None:
        got = parse_date("Tue, 1 Jul 2003 10:52:37 +0200")
        assert got == datetime(2003, 7, 1, 8, 52, 37, tzinfo=UTC)
        assert got is not None and got.tzinfo is not None

    def test_obsolete_and_odd_forms(self) -> None:
        assert parse_date("1 Jul 03 10:52 GMT") == datetime(2003, 7, 1, 10, 52, tzinfo=UTC)
        assert parse_date("2011-03-15 10:00:00") == datetime(2011, 3, 15, 10, 0, tzinfo=UTC)
        assert parse_date("Tue, 1 Jul 2003 10:52:37") == datetime(
            2003, 7, 1, 10, 52, 37, tzinfo=UTC
        )

    def test_unparsable(self) -> None:
        assert parse_date("<HR>") is None
        assert parse_date("Wed, 15 Dec 2010 59:10 -0500") is None
        assert parse_date("Mon, 31 Feb 2005 10:00:00 +0000") is None
        assert parse_date(None) is None
