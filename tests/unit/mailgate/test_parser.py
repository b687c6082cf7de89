"""parse_message on messages built for one behaviour each."""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import time
from datetime import UTC, datetime

import pytest

from mailgate import mimewalk
from mailgate.parser import parse_message
from queues.mail import Address

from .conftest import mail

HEAD = (
    "From: Requester <req@example.com>\nTo: help@example.org\nSubject: Help\n"
    "Date: Mon, 6 Jan 2025 10:00:00 +0100\nMessage-ID: <m1@example.com>\nMIME-Version: 1.0"
)


def multipart(subtype: str, parts: list[str], boundary: str = "b", extra: str = "") -> str:
    """Headers line and body of a multipart entity, for nesting."""
    body = "".join(f"--{boundary}\n{part}\n" for part in parts) + f"--{boundary}--\n"
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}\n\n{body}'


def message(entity: str, head: str = HEAD) -> bytes:
    """A message whose MIME entity (its own Content-* headers, blank line, body) is given."""
    headers, _, body = entity.partition("\n\n")
    return mail(head + "\n" + headers, body)


PLAIN = "Content-Type: text/plain; charset=utf-8\n\nHello from the text part"
HTML = "Content-Type: text/html; charset=utf-8\n\n<p>Hello from the <b>HTML</b> part</p>"


class TestEnvelopeFields:
    def test_basic_fields(self) -> None:
        raw = message(
            PLAIN,
            HEAD + "\nDelivered-To: Help@Example.org\nX-Original-To: safety@"
            "example.org\nCc: A <a@x.org>, b@y.org\nReply-To: Other <o@z.org>\n"
            "Received: one\nReceived: two",
        )
        parsed = parse_message(raw)
        assert parsed.from_ == Address("req@example.com", "Requester")
        assert parsed.to == [Address("help@example.org")]
        assert parsed.cc == [Address("a@x.org", "A"), Address("b@y.org")]
        assert parsed.reply_address == Address("o@z.org", "Other")
        assert parsed.delivered_to == ["help@example.org", "safety@example.org"]
        assert parsed.message_id == "m1@example.com"
        assert parsed.date == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
        assert parsed.subject == "Help"
        assert parsed.header("received") == "one\ntwo"
        assert parsed.header("RECEIVED") == "one\ntwo"
        assert parsed.defects == []

    def test_missing_from_and_message_id(self) -> None:
        parsed = parse_message(mail("To: help@example.org\nSubject: x", "body"))
        assert parsed.from_ is None
        assert parsed.message_id is None
        assert "missing From header" in parsed.defects
        assert "missing or unusable Message-ID" in parsed.defects
        assert parsed.body_text == "body"

    def test_from_without_address(self) -> None:
        parsed = parse_message(mail("From: MAILER-DAEMON\nSubject: x", "body"))
        assert parsed.from_ is None
        assert any("no usable address" in d for d in parsed.defects)

    def test_8bit_headers(self) -> None:
        raw = mail("From: Jürgen Müller <jm@example.de>\nSubject: Grüße aus Köln", "hallo")
        parsed = parse_message(raw)
        assert parsed.subject == "Grüße aus Köln"
        assert parsed.from_ == Address("jm@example.de", "Jürgen Müller")
        latin = (
            "From: J\xfcrgen <j@example.de>\nSubject: Gr\xfc\xdfe\n"
            "Content-Type: text/plain; charset=iso-8859-1"
        ).encode("latin-1")
        parsed = parse_message(latin + b"\n\nGr\xfc\xdfe")
        assert (parsed.subject, parsed.body_text) == ("Grüße", "Grüße")
        assert parsed.from_ == Address("j@example.de", "Jürgen")
        koi = "Subject: Привет\nContent-Type: text/plain; charset=koi8-r\n\nтекст"
        assert parse_message(koi.encode("koi8-r")).subject == "Привет"

    def test_size_and_hash(self) -> None:
        raw = message(PLAIN)
        parsed = parse_message(raw)
        assert parsed.size == len(raw)
        assert parsed.raw_sha256 == hashlib.sha256(raw).hexdigest()


class TestBodies:
    def test_alternative_prefers_plain(self) -> None:
        parsed = parse_message(message(multipart("alternative", [PLAIN, HTML])))
        assert parsed.content_type == "text/plain"
        assert parsed.body_text == "Hello from the text part"
        assert parsed.body_html is not None and "<b>HTML</b>" in parsed.body_html

    def test_empty_plain_alternative_uses_html(self) -> None:
        empty = "Content-Type: text/plain\n\n  \n"
        parsed = parse_message(message(multipart("alternative", [empty, HTML])))
        assert parsed.content_type == "text/html"
        assert parsed.body_text == "Hello from the HTML part"

    def test_html_only(self) -> None:
        parsed = parse_message(message(HTML))
        assert parsed.content_type == "text/html"
        assert parsed.body_text == "Hello from the HTML part"
        assert parsed.body_html == "<p>Hello from the <b>HTML</b> part</p>"

    def test_html_with_only_images_is_still_html(self) -> None:
        parsed = parse_message(message('Content-Type: text/html\n\n<img src="cid:a@b">'))
        assert (parsed.content_type, parsed.body_text) == ("text/html", "")
        assert parsed.body_html == '<img src="cid:a@b">'

    def test_plain_only_has_no_html(self) -> None:
        parsed = parse_message(message(PLAIN))
        assert (parsed.body_html, parsed.content_type) == (None, "text/plain")

    def test_list_footer_is_joined(self) -> None:
        footer = "Content-Type: text/plain\n\n--\nlist footer: unsubscribe at ..."
        entity = multipart("mixed", [multipart("alternative", [PLAIN, HTML], "inner"), footer])
        parsed = parse_message(message(entity))
        assert parsed.body_text == "Hello from the text part\n--\nlist footer: unsubscribe at ..."
        assert parsed.body_html is not None and "list footer" in parsed.body_html

    def test_apple_mail_text_split_around_an_image(self) -> None:
        image = (
            "Content-Type: image/png; name=shot.png\nContent-Disposition: inline; "
            "filename=shot.png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo="
        )
        entity = multipart(
            "mixed",
            [
                "Content-Type: text/plain\n\nBefore the image",
                image,
                "Content-Type: text/plain\n\nAfter the image",
            ],
        )
        parsed = parse_message(message(entity))
        assert parsed.body_text == "Before the image\nAfter the image"
        assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
            ("shot.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ]

    def test_related_inline_image(self) -> None:
        html = (
            'Content-Type: text/html\n\n<p>Look:</p><img src="cid:img1@x" alt="proof">'
            '<img src="https://tracker.example/p.gif">'
        )
        image = (
            "Content-Type: image/jpeg\nContent-ID: <img1@x>\n"
            "Content-Transfer-Encoding: base64\n\n/9j/4AAQ"
        )
        entity = multipart("alternative", [PLAIN, multipart("related", [html, image], "rel")])
        parsed = parse_message(message(entity))
        (attachment,) = parsed.attachments
        assert (attachment.filename, attachment.inline, attachment.content_id) == (
            "attachment-1.jpg",
            True,
            "img1@x",
        )
        assert parsed.body_html is not None
        assert 'src="cid:img1@x"' in parsed.body_html
        assert "tracker.example" not in parsed.body_html

    def test_text_attachment_is_not_body(self) -> None:
        log = (
            "Content-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; "
            "filename=chat-log.txt\n\nthreatening messages here"
        )
        parsed = parse_message(message(multipart("mixed", [PLAIN, log])))
        assert parsed.body_text == "Hello from the text part"
        assert [(a.filename, a.data) for a in parsed.attachments] == [
            ("chat-log.txt", b"threatening messages here"),
        ]

    def test_charset_fallbacks_and_line_endings(self) -> None:
        raw = (
            b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            b"caf\xe9 \x00null\r\nline two\rthree\r\n"
        )
        parsed = parse_message(raw)
        assert parsed.body_text == "café null\nline two\nthree"
        assert any("charset" in d for d in parsed.defects)

    def test_quoted_printable_and_base64(self) -> None:
        qp = (
            "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: "
            "quoted-printable\n\nGr=FC=DFe, soft=\nbreak"
        )
        assert parse_message(message(qp)).body_text == "Grüße, softbreak"
        b64 = (
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
            + base64.b64encode("Привет".encode()).decode().rstrip("=")
        )  # padding lost
        parsed = parse_message(message(b64))
        assert parsed.body_text == "Привет"

    def test_format_flowed(self) -> None:
        flowed = (
            "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\n\n"
            "This paragraph was  \nwrapped by the mailer.\n> quoted  \n> too\n"
        )
        parsed = parse_message(message(flowed))
        assert parsed.body_text == "This paragraph was wrapped by the mailer.\n> quoted too"

    def test_uuencoded_file_in_the_body(self) -> None:
        data = bytes(range(256))
        lines = [
            binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)
        ]
        text = "See the file.\n\nbegin 644 evidence.png\n" + "\n".join(lines) + "\n`\nend\n"
        parsed = parse_message(message("Content-Type: text/plain\n\n" + text))
        assert parsed.body_text == "See the file."
        assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
            ("evidence.png", "image/png", data),
        ]


class TestAttachmentNames:
    @pytest.mark.parametrize(
        ("disposition", "expected"),
        [
            ('attachment; filename="../../etc/passwd"', "passwd"),
            ('attachment; filename="C:\\\\Users\\\\me\\\\photo.jpg"', "photo.jpg"),
            ("attachment; filename*=utf-8''%E2%80%AEgnp.exe", "gnp.exe"),
            ('attachment; filename="=?utf-8?B?0YTQvtGC0L4ucG5n?="', "фото.png"),
            ("attachment; filename*0*=utf-8''%D1%84%D0%BE; filename*1=to.png", "фоto.png"),
            ('attachment; filename=""', "attachment-1.pdf"),
            ("attachment", "attachment-1.pdf"),
            ('attachment; filename=".bashrc"', "bashrc"),
        ],
    )
    def test_names(self, disposition: str, expected: str) -> None:
        part = (
            f"Content-Type: application/pdf\nContent-Disposition: {disposition}\n"
            "Content-Transfer-Encoding: base64\n\nJVBERi0="
        )
        parsed = parse_message(message(multipart("mixed", [PLAIN, part])))
        assert [a.filename for a in parsed.attachments] == [expected]
        assert parsed.attachments[0].data == b"%PDF-"

    def test_name_from_content_type_and_long_name(self) -> None:
        long_name = "x" * 400 + ".docx"
        part = f'Content-Type: application/octet-stream; name="{long_name}"\n\nDATA'
        (attachment,) = parse_message(message(multipart("mixed", [PLAIN, part]))).attachments
        assert attachment.filename.endswith(".docx") and len(attachment.filename) <= 200

    def test_names_from_content_location_and_outlook_content_id(self) -> None:
        located = (
            "Content-Type: image/jpeg\nContent-Location: http://x.example/img/Photo25.jpg"
            "?size=2\n\nJPEG"
        )
        outlook = "Content-Type: image/png\nContent-ID: <image001.png@01D9A1B2.C3D4E5F0>\n\nPNG"
        opaque = "Content-Type: image/png\nContent-ID: <part1.06090408.01060107>\n\nPNG2"
        parsed = parse_message(message(multipart("mixed", [PLAIN, located, outlook, opaque])))
        assert [a.filename for a in parsed.attachments] == [
            "Photo25.jpg",
            "image001.png",
            "attachment-3.png",
        ]

    def test_raw_8bit_name_in_the_parts_charset(self) -> None:
        raw = (
            "From: a@b.c\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
            "Content-Type: text/plain; charset=koi8-r\n"
            'Content-Disposition: attachment; filename="Отчёт.txt"\n\nтекст\n--b--\n'
        )
        (attachment,) = parse_message(raw.encode("koi8-r")).attachments
        assert (attachment.filename, attachment.data) == ("Отчёт.txt", "текст".encode("koi8-r"))

    def test_control_characters(self) -> None:
        part = 'Content-Type: image/gif; name="evil\x07\x1b[31m.gif"\n\nGIF89a'
        (attachment,) = parse_message(message(multipart("mixed", [PLAIN, part]))).attachments
        assert attachment.filename.isprintable()
        assert attachment.filename.endswith(".gif")


class TestSignedAndEncrypted:
    def test_pgp_mime_signed(self) -> None:
        signature = (
            "Content-Type: application/pgp-signature\n\n"
            "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----"
        )
        entity = multipart(
            "signed",
            [PLAIN, signature],
            extra='; protocol="application/pgp-signature"; micalg=pgp-sha256',
        )
        parsed = parse_message(message(entity))
        assert parsed.body_text == "Hello from the text part"
        assert [(a.filename, a.content_type) for a in parsed.attachments] == [
            ("signature.asc", "application/pgp-signature"),
        ]

    def test_smime_signed_alternative(self) -> None:
        signature = (
            "Content-Type: application/pkcs7-signature; name=smime.p7s\n"
            "Content-Transfer-Encoding: base64\n\nMIIGuQYJKoZIhvcNAQcC"
        )
        inner = multipart("alternative", [PLAIN, HTML], "alt")
        entity = multipart(
            "signed", [inner, signature], extra='; protocol="application/pkcs7-signature"'
        )
        parsed = parse_message(message(entity))
        assert parsed.body_text == "Hello from the text part"
        assert parsed.body_html is not None
        assert [a.filename for a in parsed.attachments] == ["smime.p7s"]

    def test_smime_opaque_signed_stays_an_attachment(self) -> None:
        entity = (
            "Content-Type: application/pkcs7-mime; smime-type=signed-data; "
            "name=smime.p7m\nContent-Transfer-Encoding: base64\n\nMIIGuQYJKoZIhvcNAQcC"
        )
        parsed = parse_message(message(entity))
        assert [a.filename for a in parsed.attachments] == ["smime.p7m"]

    def test_smime_encrypted(self) -> None:
        entity = (
            "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\n"
            "Content-Transfer-Encoding: base64\n\nMIIGuQYJKoZIhvcNAQcD"
        )
        parsed = parse_message(message(entity))
        assert "encrypted" in parsed.body_text
        assert [a.filename for a in parsed.attachments] == ["smime.p7m"]

    def test_pgp_mime_encrypted(self) -> None:
        control = "Content-Type: application/pgp-encrypted\n\nVersion: 1"
        payload = (
            'Content-Type: application/octet-stream; name="encrypted.asc"\n\n'
            "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n-----END PGP MESSAGE-----"
        )
        entity = multipart(
            "encrypted", [control, payload], extra='; protocol="application/pgp-encrypted"'
        )
        parsed = parse_message(message(entity))
        assert "encrypted" in parsed.body_text
        assert "application/pgp-encrypted" in parsed.body_text
        assert [a.filename for a in parsed.attachments] == ["attachment-1.asc", "encrypted.asc"]

    def test_inline_pgp(self) -> None:
        text = (
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nI need help.\n"
            "- -- not a sig\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n=x\n"
            "-----END PGP SIGNATURE-----\n"
        )
        parsed = parse_message(message("Content-Type: text/plain\n\n" + text))
        assert parsed.body_text == "I need help.\n-- not a sig"
        (signature,) = parsed.attachments
        assert signature.filename == "signature.asc"
        assert signature.data.startswith(b"-----BEGIN PGP SIGNATURE-----")


class TestHostileHtml:
    def test_html_only_attack(self) -> None:
        html = (
            "Content-Type: text/html\n\n<html><head><style>body{display:none}</style>"
            '<script>steal()</script></head><body onload="steal()">'
            '<p>Real <a href="javascript:steal()">text</a></p>'
            '<img src="x" onerror="steal()"><svg><script>steal()</script></svg>'
            '<a href="https://ok.example/">link</a></body></html>'
        )
        parsed = parse_message(message(html))
        assert parsed.content_type == "text/html"
        assert parsed.body_text == "Real text\n\nlink (https://ok.example/)"
        assert parsed.body_html is not None
        lowered = parsed.body_html.lower()
        for bad in ("script", "steal", "onload", "onerror", "javascript", "<svg", "display"):
            assert bad not in lowered


class TestForwarded:
    def test_rfc822_is_attachment_and_parsed(self) -> None:
        inner = (
            "From: Harasser <bad@example.net>\nSubject: You will regret\n"
            "Message-ID: <inner@example.net>\n\nThreat text"
        )
        part = f"Content-Type: message/rfc822\n\n{inner}"
        parsed = parse_message(message(multipart("mixed", [PLAIN, part])))
        assert parsed.body_text == "Hello from the text part"
        (attachment,) = parsed.attachments
        assert (attachment.filename, attachment.content_type) == (
            "You will regret.eml",
            "message/rfc822",
        )
        assert b"Threat text" in attachment.data
        (forwarded,) = parsed.forwarded
        assert forwarded.from_ == Address("bad@example.net", "Harasser")
        assert forwarded.body_text == "Threat text"
        assert forwarded.message_id == "inner@example.net"

    def test_base64_encoded_rfc822(self) -> None:
        inner = base64.encodebytes(b"From: a@b.c\nSubject: Inner\n\nInner body").decode()
        part = f"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{inner}"
        parsed = parse_message(message(multipart("mixed", [PLAIN, part])))
        (forwarded,) = parsed.forwarded
        assert (forwarded.subject, forwarded.body_text) == ("Inner", "Inner body")

    def test_depth_bomb(self) -> None:
        raw = b"From: a@b.c\nSubject: leaf\n\nhello\n"
        for level in range(200):
            raw = b"From: x@y.z\nSubject: level %d\nContent-Type: message/rfc822\n\n" % level + raw
        started = time.perf_counter()
        parsed = parse_message(raw)
        assert time.perf_counter() - started < 5
        depth, current = 0, parsed
        while current.forwarded:
            current, depth = current.forwarded[0], depth + 1
        assert depth == mimewalk.MAX_FORWARD_DEPTH
        assert any("nested deeper" in d for d in current.defects)
        assert current.attachments[0].content_type == "message/rfc822"


class TestBrokenStructure:
    def test_multipart_without_boundary_parameter(self) -> None:
        raw = mail(
            "From: a@b.c\nSubject: x\nContent-Type: multipart/mixed",
            "Just some text\nwith no parts at all",
        )
        parsed = parse_message(raw)
        assert parsed.body_text == "Just some text\nwith no parts at all"
        assert any("boundary" in d for d in parsed.defects)

    def test_boundary_guessed_from_body(self) -> None:
        body = (
            "--XYZ\nContent-Type: text/plain\n\nfirst\n--XYZ\nContent-Type: image/gif\n"
            "Content-Transfer-Encoding: base64\n\nR0lGODlh\n--XYZ--\n"
        )
        parsed = parse_message(mail("From: a@b.c\nContent-Type: multipart/mixed", body))
        assert parsed.body_text == "first"
        assert [a.data for a in parsed.attachments] == [b"GIF89a"]

    def test_missing_close_boundary_and_truncated_base64(self) -> None:
        body = (
            "--b\nContent-Type: text/plain\n\ntext\n--b\nContent-Type: application/pdf\n"
            "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK%%%JVBER"
        )
        parsed = parse_message(
            mail('From: a@b.c\nContent-Type: multipart/mixed; boundary="b"', body)
        )
        assert parsed.body_text == "text"
        assert parsed.attachments[0].data.startswith(b"%PDF-1.4")
        assert any("CloseBoundaryNotFound" in d for d in parsed.defects)

    def test_part_bomb(self) -> None:
        parts = "".join(
            f"--B\nContent-Type: application/octet-stream\n\npart {i}\n" for i in range(10_000)
        )
        raw = mail("From: a@b.c\nContent-Type: multipart/mixed; boundary=B", parts + "--B--\n")
        started = time.perf_counter()
        parsed = parse_message(raw)
        assert time.perf_counter() - started < 10
        assert len(parsed.attachments) < mimewalk.MAX_PARTS
        assert any("MIME parts" in d for d in parsed.defects)

    def test_deep_multipart_nesting(self) -> None:
        body = "leaf\n"
        for level in range(300):
            body = (
                (
                    f"--b{level}\nContent-Type: multipart/mixed; boundary=b{level - 1}\n\n"
                    if level
                    else "--b0\nContent-Type: text/plain\n\n"
                )
                + body
                + f"--b{level}--\n"
            )
        parsed = parse_message(
            mail("From: a@b.c\nContent-Type: multipart/mixed; boundary=b299", body)
        )
        assert isinstance(parsed.body_text, str)
        assert any("nesting" in d or "parser error" in d for d in parsed.defects)


class TestFlags:
    @pytest.mark.parametrize(
        ("headers", "bounce", "auto", "bulk"),
        [
            ("Auto-Submitted: auto-replied", False, True, False),
            ("Auto-Submitted: no", False, False, False),
            ("X-Autoreply: yes", False, True, False),
            ("Precedence: auto_reply", False, True, False),
            ("X-Auto-Response-Suppress: All", False, False, False),
            ("X-Auto-Response-Suppress: All\nSubject: Automatic reply: Help", False, True, False),
            ("Subject: Out of Office", False, False, False),
            ("Precedence: bulk", False, False, True),
            ("List-Id: <help.lists.example.org>", False, False, True),
            ("List-Unsubscribe: <mailto:u@x.org>", False, False, True),
            ("X-Mailing-List: <x@y.org>", False, False, True),
            ("From: MAILER-DAEMON@mx.example.org\nSubject: failure notice", True, False, False),
            ("From: postmaster@x.org\nSubject: Undeliverable: Help", True, False, False),
            (
                "From: Carol <carol@x.org>\nSubject: Undeliverable parcel - please help",
                False,
                False,
                False,
            ),
        ],
    )
    def test_header_signals(self, headers: str, bounce: bool, auto: bool, bulk: bool) -> None:
        names = {line.split(":", 1)[0].lower() for line in headers.splitlines()}
        base = "\n".join(
            line for line in HEAD.splitlines() if line.split(":", 1)[0].lower() not in names
        )
        parsed = parse_message(mail(base + "\n" + headers, "text"))
        assert (parsed.is_bounce, parsed.is_auto_submitted, parsed.is_list_or_bulk) == (
            bounce,
            auto,
            bulk,
        )

    def test_rfc3464_report(self) -> None:
        status = (
            "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org"
            "\n\nFinal-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1"
        )
        entity = multipart(
            "report",
            ["Content-Type: text/plain\n\nCould not deliver.", status],
            extra="; report-type=delivery-status",
        )
        parsed = parse_message(message(entity))
        assert parsed.is_bounce
        assert parsed.body_text == "Could not deliver."
        (attachment,) = parsed.attachments
        assert attachment.filename == "delivery-status.txt"
        assert b"Status: 5.1.1" in attachment.data


class TestNeverRaises:
    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"\n",
            b"\x00" * 100,
            b"garbage without headers",
            b":\n:\n\n",
            bytes(range(256)),
            b"Content-Type: multipart/mixed; boundary=\n\n--\n--\n",
            b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n!!!!",
            b'Content-Type: text/plain; charset="utf-7"\n\n+2D3cAA-',
            b"Content-Type: application/ms-tnef\n\n\x78\x9f\x3e\x22\x00\x00",
        ],
    )
    def test_odd_inputs(self, raw: bytes) -> None:
        parsed = parse_message(raw)
        assert parsed.size == len(raw)
        parsed.body_text.encode("utf-8")

    def test_random_mutations(self) -> None:
        generator = random.Random(2026)
        seed = message(
            multipart(
                "mixed",
                [
                    multipart("alternative", [PLAIN, HTML], "alt"),
                    "Content-Type: application/pdf; name=a.pdf\n"
                    "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK",
                    "Content-Type: message/rfc822\n\nFrom: x@y.z\nSubject: in\n\nbody",
                ],
            )
        )
        for _ in range(300):
            data = bytearray(seed)
            for _ in range(generator.randint(1, 20)):
                position = generator.randrange(len(data))
                data[position] = generator.choice(b'\x00\n\r-=?:;"<>\x80\xff abc')
            parsed = parse_message(bytes(data))
            parsed.body_text.encode("utf-8")
            parsed.subject.encode("utf-8")

    def test_internal_error_keeps_the_text(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def explode(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("bug")

        monkeypatch.setattr(mimewalk.Walker, "walk", explode)
        parsed = parse_message(message(PLAIN))
        assert parsed.body_text == "Hello from the text part"
        assert parsed.subject == "Help"
        assert parsed.from_ == Address("req@example.com", "Requester")
        assert any(d.startswith("parser error") for d in parsed.defects)
