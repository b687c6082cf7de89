"""The subject keeps its own spacing (RFC 2047 section 6.2): whitespace between adjacent
encoded words is dropped, all other whitespace is kept; only a fold counts as one space."""

from __future__ import annotations

import pytest

from mailgate.headers import decode_header
from mailgate.parser import parse_message

from .conftest import mail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # adjacent encoded words: the whitespace between them goes, folded or not
        ("=?utf-8?q?Gr=C3=BC?= =?utf-8?q?=C3=9Fe?=", "Grüße"),
        ("=?utf-8?q?Gr=C3=BC?=\r\n =?utf-8?q?=C3=9Fe?=", "Grüße"),
        ("=?utf-8?q?a?=   \t =?iso-8859-1?q?b?=", "ab"),
        # between an encoded word and plain text it stays, as it was
        ("Re: =?utf-8?q?caf=C3=A9?= now", "Re: café now"),
        ("Re:  =?utf-8?q?caf=C3=A9?=  now", "Re:  café  now"),
        # nothing is added where there was no space (a real bounce subject, corpus mailru-01)
        (
            "=?UTF-8?B?0J3QtSDQtNC+0YHRgtCw0LLQu9C10L3Qvg==?=. Mail failure.",
            "Не доставлено. Mail failure.",
        ),
        # spaces inside the encoded text are the subject's own (corpus: bad_subject.eml)
        (
            "=?UTF-8?B?TXlTdXJ2ZXk=?=\r\n =?UTF-8?B?LmNvbTogIFk=?=\r\n =?UTF-8?B?b3UgaGF2ZSA=?=",
            "MySurvey.com:  You have",
        ),
        ("=?utf-8?q?two__spaces?=", "two  spaces"),
        # plain text keeps runs of spaces; a tab shows as a space
        ("Hello  World", "Hello  World"),
        ("Hello\tWorld", "Hello World"),
        # a fold is one space, whether the mailer kept the space before it or not
        (
            "Re: [PATCH] define inode-level cache object and \r\n\tregister them",
            "Re: [PATCH] define inode-level cache object and register them",
        ),
        ("one\r\n two", "one two"),
        ("one\r\n\ttwo", "one two"),
        # an obsolete whitespace-only line is as if it were not there (RFC 7103 section 7.3)
        ("Re: TEST\r\n \r\n\t=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "Re: TEST テスト"),
        # leading and trailing whitespace is not part of the text
        ("  padded  ", "padded"),
    ],
)
def test_spacing(raw: str, expected: str) -> None:
    assert decode_header(raw) == expected


def test_subject_of_a_message_keeps_its_spacing() -> None:
    raw = mail("From: a@example.net\nSubject: Re:  =?utf-8?q?Hilfe_?=  bitte\n =?utf-8?q?!?=")
    assert parse_message(raw).subject == "Re:  Hilfe   bitte !"
