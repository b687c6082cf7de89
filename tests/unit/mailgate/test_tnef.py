"""TNEF (winmail.dat): files and bodies inside, hand-built blobs and real samples."""

from __future__ import annotations

import base64
import struct

from mailgate.parser import parse_message
from mailgate.rtf import decompress_rtf, rtf_to_html_or_text
from mailgate.tnef import unpack_tnef

from .conftest import DATA, mail

SIGNATURE = 0x223E9F78
LEVEL_MESSAGE, LEVEL_ATTACHMENT = 1, 2
ATT_BODY, ATT_TITLE, ATT_DATA = 0x800C, 0x8010, 0x800F
ATT_RENDDATA, ATT_VERSION, ATT_CODEPAGE = 0x9002, 0x9006, 0x9007


def tnef_object(level: int, name: int, data: bytes, kind: int = 6) -> bytes:
    """One TNEF attribute: level, id, type, length, data, 16-bit byte-sum checksum."""
    header = struct.pack("<BHHI", level, name, kind, len(data))
    return header + data + struct.pack("<H", sum(data) & 0xFFFF)


def build_tnef(body: bytes | None, files: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal but valid TNEF stream ([MS-OXTNEF] section 2.1.3)."""
    blob = struct.pack("<IH", SIGNATURE, 0x1234)
    blob += tnef_object(LEVEL_MESSAGE, ATT_VERSION, struct.pack("<I", 0x10000))
    blob += tnef_object(LEVEL_MESSAGE, ATT_CODEPAGE, struct.pack("<II", 1252, 0))
    if body is not None:
        blob += tnef_object(LEVEL_MESSAGE, ATT_BODY, body + b"\x00", kind=2)
    for name, data in files:
        blob += tnef_object(LEVEL_ATTACHMENT, ATT_RENDDATA, b"\x01\x00" + b"\xff" * 12)
        blob += tnef_object(LEVEL_ATTACHMENT, ATT_TITLE, name + b"\x00", kind=1)
        blob += tnef_object(LEVEL_ATTACHMENT, ATT_DATA, data)
    return blob


def tnef_mail(blob: bytes, text: str = "") -> bytes:
    encoded = base64.encodebytes(blob).decode("ascii")
    return mail(
        "From: Outlook User <outlook@example.com>\nTo: help@example.org\nSubject: TNEF\n"
        "Message-ID: <tnef@example.com>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"',
        f"--b\nContent-Type: text/plain; charset=us-ascii\n\n{text}\n--b\n"
        'Content-Type: application/ms-tnef; name="winmail.dat"\n'
        "Content-Transfer-Encoding: base64\n"
        f'Content-Disposition: attachment; filename="winmail.dat"\n\n{encoded}\n--b--\n',
    )


def test_hand_built_blob() -> None:
    blob = build_tnef(
        b"Body from TNEF", [(b"report.txt", b"file content"), (b"caf\xe9.csv", b"a;b\n1;2\n")]
    )
    result = unpack_tnef(blob)
    assert result.ok
    assert [(f.name, f.data) for f in result.files] == [
        ("report.txt", b"file content"),
        ("café.csv", b"a;b\n1;2\n"),
    ]
    assert result.body_text == "Body from TNEF"


def test_in_a_message_files_become_attachments_and_body_fills_in() -> None:
    blob = build_tnef(b"The real text, only in TNEF", [(b"photo.jpg", b"\xff\xd8\xff" * 10)])
    parsed = parse_message(tnef_mail(blob))
    assert parsed.body_text == "The real text, only in TNEF"
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("photo.jpg", "image/jpeg", 30),
    ]


def test_mime_body_wins_over_tnef_body() -> None:
    parsed = parse_message(tnef_mail(build_tnef(b"TNEF text", []), text="MIME text"))
    assert parsed.body_text == "MIME text"


def test_broken_tnef_is_kept_as_winmail_dat() -> None:
    blob = b"\x78\x9f\x3e\x22" + b"\x00\x01" + b"\x01\x02\x80\x06\x00\xff\xff\xff\x7f" + b"x" * 40
    parsed = parse_message(tnef_mail(blob, text="see attached"))
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("winmail.dat", "application/ms-tnef"),
    ]
    assert any("TNEF" in d for d in parsed.defects)
    not_tnef = parse_message(tnef_mail(b"this is not TNEF at all", text="x"))
    assert [a.filename for a in not_tnef.attachments] == ["winmail.dat"]
    assert any("TNEF" in d for d in not_tnef.defects)


def test_real_sample_two_files() -> None:
    result = unpack_tnef((DATA / "tnef" / "two-files.tnef").read_bytes())
    assert result.ok
    assert [(f.name, len(f.data)) for f in result.files] == [("AUTHORS", 244), ("README", 893)]


def test_real_sample_rtf_body() -> None:
    blob = (DATA / "tnef" / "rtf.tnef").read_bytes()
    result = unpack_tnef(blob)
    assert result.ok
    assert result.body_text.startswith("aafgag'alga'kgk")
    assert "Senior Engineer/QA" in result.body_text
    parsed = parse_message(tnef_mail(blob))
    assert "Compuware Corporation" in parsed.body_text
    assert parsed.attachments == []


def test_rtf_decompression_and_text() -> None:
    # [MS-OXRTFCP] section 4.1: the specification's own example.
    compressed = bytes.fromhex(
        "2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c090020627705b06c"
        "647d0a800fa0"
    )
    rtf = decompress_rtf(compressed)
    assert rtf == b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
    assert rtf_to_html_or_text(rtf) == ("hello world", False)


def test_rtf_encapsulated_html() -> None:
    rtf = (
        b"{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 {\\fonttbl{\\f0 Arial;}}"
        b"{\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 Gr\\'fc\\'dfe \\u8364?{\\*\\htmltag72 </p>}"
        b"\\htmlrtf\\par}\\htmlrtf0 }"
    )
    assert rtf_to_html_or_text(rtf) == ("<p>Grüße €</p>", True)


def test_garbage_never_raises() -> None:
    for blob in (b"", b"\x78\x9f\x3e\x22", struct.pack("<IH", SIGNATURE, 1) + b"\xff" * 100):
        assert unpack_tnef(blob).ok is False
    assert decompress_rtf(b"short") is None
