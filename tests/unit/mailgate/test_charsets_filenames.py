"""Charset labels and fallbacks; safe attachment file names."""

from __future__ import annotations

import pytest

from mailgate.charsets import decode_bytes, decode_header_bytes, normalize_charset
from mailgate.filenames import MAX_NAME_BYTES, MAX_NAME_CHARS, generated_name, safe_filename


class TestCharsets:
    @pytest.mark.parametrize(
        ("label", "codec"),
        [
            ("ks_c_5601-1987", "cp949"),
            ("EUC-KR", "cp949"),
            ("gb2312", "gb18030"),
            ("GBK", "gb18030"),
            ("Shift_JIS", "cp932"),
            ("iso-2022-jp", "iso2022_jp_ext"),
            ("us-ascii", "cp1252"),
            ("ISO-8859-1", "cp1252"),
            ('"utf8"', "utf-8"),
            ("koi8-r", "koi8-r"),
            ("windows-1251", "cp1251"),
            ("x-unknown", None),
            ("unknown-8bit", None),
            ("", None),
            (None, None),
            ("base64", None),  # a codec, but not a text encoding
            ("unicode_escape", None),  # a text codec that rewrites text: refused
            ("idna", None),
        ],
    )
    def test_labels(self, label: str | None, codec: str | None) -> None:
        assert normalize_charset(label) == codec

    def test_declared_charsets(self) -> None:
        assert decode_bytes("Привет".encode("koi8-r"), "koi8-r") == ("Привет", None)
        assert decode_bytes("日本語".encode("iso2022_jp"), "ISO-2022-JP") == ("日本語", None)
        assert decode_bytes("한국어".encode("cp949"), "ks_c_5601-1987") == ("한국어", None)
        assert decode_bytes("①".encode("cp932"), "shift_jis") == ("①", None)

    def test_utf8_labelled_as_latin1(self) -> None:
        text, note = decode_bytes("café".encode(), "iso-8859-1")
        assert text == "café"
        assert note is not None

    def test_latin1_labelled_as_utf8_is_read_line_by_line(self) -> None:
        data = "Grüße\n".encode() + "café\n".encode("latin-1")
        text, note = decode_bytes(data, "utf-8")
        assert text == "Grüße\ncafé\n"
        assert note is not None

    def test_unknown_charset(self) -> None:
        assert decode_bytes("é".encode(), "x-bogus")[0] == "é"
        assert decode_bytes(b"caf\xe9", "x-bogus")[0] == "café"

    def test_never_raises(self) -> None:
        for label in (None, "utf-8", "iso-2022-jp", "utf-16", "cp1252", "bogus"):
            text, _ = decode_bytes(bytes(range(256)), label)
            text.encode("utf-8")

    def test_header_bytes(self) -> None:
        assert decode_header_bytes("Jürgen".encode(), "koi8-r") == "Jürgen"
        assert decode_header_bytes("Привет".encode("cp1251"), "windows-1251") == "Привет"
        assert decode_header_bytes(b"caf\xe9", None) == "café"


class TestFilenames:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Windows\\System32\\evil.exe", "evil.exe"),
            ("C:evil.exe", "evil.exe"),
            ("/absolute/path/x.txt", "x.txt"),
            (".htaccess", "htaccess"),
            ("...hidden.txt", "hidden.txt"),
            ("na\x00me\x07\x1b.txt", "name.txt"),
            ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override
            ("zero\u200bwidth.txt", "zerowidth.txt"),
            ("con.txt", "_con.txt"),
            ("file.txt:stream", "file.txt_stream"),
            ('a<b>c|d?e*f"g.txt', "a_b_c_d_e_f_g.txt"),
            ("  spaced   name .pdf  ", "spaced name .pdf"),
            ("e\u0301te\u0301.txt", "été.txt"),  # NFC
        ],
    )
    def test_cleaning(self, name: str, expected: str) -> None:
        assert safe_filename(name, "application/octet-stream", 1) == expected

    @pytest.mark.parametrize("name", [None, "", "   ", "..", "/", "\\\\", "\x00\x01", "___"])
    def test_unusable_names_are_generated(self, name: str | None) -> None:
        assert safe_filename(name, "application/pdf", 3) == "attachment-3.pdf"

    def test_long_names_keep_their_extension(self) -> None:
        result = safe_filename("a" * 5000 + ".pdf", "application/pdf", 1)
        assert result.endswith(".pdf")
        assert len(result) <= MAX_NAME_CHARS
        wide = safe_filename("日本語" * 500 + ".docx", "application/octet-stream", 1)
        assert wide.endswith(".docx")
        assert len(wide.encode("utf-8")) <= MAX_NAME_BYTES

    def test_generated_names(self) -> None:
        assert generated_name("image/jpeg", 1) == "attachment-1.jpg"
        assert generated_name("text/plain", 2) == "attachment-2.txt"
        assert generated_name("application/x-never-heard-of", 3) == "attachment-3.bin"
        assert generated_name("text/x-weird", 4) == "attachment-4.txt"
        assert generated_name("message/rfc822", 5) == "attachment-5.eml"
