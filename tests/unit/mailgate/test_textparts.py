"""Plain-text body helpers: format=flowed, uuencoded files, inline PGP clear-signing."""

from __future__ import annotations

import binascii
import time

from mailgate.flowed import decode_flowed
from mailgate.pgpinline import unwrap_clearsigned
from mailgate.uuencode import extract_uuencoded


def uuencode(data: bytes, name: str, strip_trailing: bool = False) -> str:
    lines = [
        binascii.b2a_uu(data[i : i + 45]).decode("ascii").rstrip("\n")
        for i in range(0, len(data), 45)
    ]
    if strip_trailing:
        lines = [line.rstrip() for line in lines]  # what some relays do to spaces
    return f"begin 644 {name}\n" + "\n".join(lines) + "\n`\nend\n"


class TestFlowed:
    def test_soft_breaks_joined(self) -> None:
        text = "This is a long \nparagraph that \nflows.\n\nNew paragraph."
        assert decode_flowed(text) == "This is a long paragraph that flows.\n\nNew paragraph."

    def test_quotes_and_stuffing(self) -> None:
        text = "> quoted \n> text\n>> deeper \n>> more\n From here\n-- \nsig"
        assert decode_flowed(text) == "> quoted text\n>> deeper more\nFrom here\n-- \nsig"

    def test_quote_depth_change_ends_paragraph(self) -> None:
        assert decode_flowed("> a \nb") == "> a \nb"

    def test_delsp(self) -> None:
        assert decode_flowed("日本 \n語", delsp=True) == "日本語"
        assert decode_flowed("one \ntwo", delsp=False) == "one two"


class TestUuencode:
    def test_decoded_and_removed(self) -> None:
        data = bytes(range(256)) * 4
        text = "Hello\n" + uuencode(data, "file.bin") + "Bye\n"
        found = extract_uuencoded(text)
        assert found.text == "Hello\nBye\n"
        assert [(f.name, f.data, f.damaged) for f in found.files] == [("file.bin", data, 0)]

    def test_stripped_trailing_spaces_are_repaired(self) -> None:
        data = b"\x00" * 90 + b" " * 45 + b"end"
        found = extract_uuencoded(uuencode(data, "x.dat", strip_trailing=True))
        assert found.files[0].data == data

    def test_broken_line_costs_only_itself(self) -> None:
        good = uuencode(b"A" * 90, "a.txt").split("\n")
        good[1] = "M!!!!not uu at all because of the garbage ~~~~~~~~~~~~~~~~~~~~~~~~~~~"
        found = extract_uuencoded("\n".join(good))
        assert found.files[0].name == "a.txt"
        assert found.files[0].data.endswith(b"A" * 45)

    def test_prose_that_begins_with_begin(self) -> None:
        text = "begin 644 reasons why this is not a file\nno end line here"
        assert extract_uuencoded(text).text == text
        assert extract_uuencoded(text).files == []

    def test_many_unterminated_blocks_stay_fast(self) -> None:
        text = "begin 644 x\nM\n" * 20_000
        started = time.perf_counter()
        assert extract_uuencoded(text).files == []
        assert time.perf_counter() - started < 2

    def test_begin_base64(self) -> None:
        text = "begin-base64 644 b.bin\naGVsbG8=\n====\nafter"
        found = extract_uuencoded(text)
        assert (found.text, found.files[0].data) == ("after", b"hello")


SIGNED = """Intro line
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Hello there
- -- not a signature separator
-----BEGIN PGP SIGNATURE-----

iQEzBAEBCAAdFiEE
=abcd
-----END PGP SIGNATURE-----
after"""


class TestInlinePgp:
    def test_unwrapped(self) -> None:
        result = unwrap_clearsigned(SIGNED)
        assert result is not None
        assert result.text == "Intro line\nHello there\n-- not a signature separator\nafter"
        assert result.signatures == [
            "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n"
            "-----END PGP SIGNATURE-----\n"
        ]

    def test_plain_text_untouched(self) -> None:
        assert unwrap_clearsigned("- item\nno armour") is None
