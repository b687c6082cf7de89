"""Text whose declared charset fails, or that declares none, is detected (charset-normalizer)
before falling back; Latin text stays windows-1252; ordinary mail never runs the detector."""

from __future__ import annotations

import base64

import pytest

from mailgate import charsetguess
from mailgate.charsetguess import SAMPLE_BYTES, guess_charset
from mailgate.charsets import decode_bytes, decode_header_bytes
from mailgate.parser import parse_message

from .conftest import mail

JAPANESE = "このメールはテスト用のメールです。嫌がらせを受けています。助けてください。\n" * 2
CHINESE = "我公司可代开各类增值税发票，欢迎来电咨询。我被骚扰了，请帮助我。\n"
TRADITIONAL = "我們公司可以幫助您處理騷擾問題，請聯繫我們。\n"
RUSSIAN = "Здравствуйте, меня преследуют в интернете и я не знаю что делать.\n"
PORTUGUESE = "Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro"
GERMAN = "Sehr geehrte Damen und Herren, ich möchte mich über die Belästigung beschweren."


def b64_word(text: str, encoding: str, label: str) -> str:
    return f"=?{label}?B?{base64.b64encode(text.encode(encoding)).decode()}?="


class TestBodies:
    @pytest.mark.parametrize(
        ("text", "encoding", "declared", "detected"),
        [
            (JAPANESE, "cp932", "iso-2022-jp", "cp932"),  # Shift_JIS labelled ISO-2022-JP
            (JAPANESE, "euc_jp", "iso-2022-jp", "euc_jis_2004"),
            (JAPANESE, "cp932", None, "cp932"),  # 8-bit text without a charset
            (JAPANESE, "cp932", "iso-8859-1", "cp932"),
            (JAPANESE, "cp932", "utf-8", "cp932"),
            (RUSSIAN, "cp1251", None, "cp1251"),
            (RUSSIAN, "koi8_r", None, "koi8-r"),
            (TRADITIONAL, "big5", "gb2312", "big5hkscs"),  # Big5 labelled GB2312
        ],
    )
    def test_detected(self, text: str, encoding: str, declared: str | None, detected: str) -> None:
        decoded, note = decode_bytes(text.encode(encoding), declared)
        assert decoded == text
        assert note is not None and note.endswith(f"detected {detected}")

    def test_gbk_labelled_gb2312_needs_no_detection(self) -> None:
        # GB2312 is read as its superset GB18030 (WHATWG): GBK text simply decodes.
        assert decode_bytes(CHINESE.encode("gbk"), "gb2312") == (CHINESE, None)

    @pytest.mark.parametrize("text", [GERMAN, PORTUGUESE, "café"])
    def test_latin_text_stays_windows_1252(self, text: str) -> None:
        decoded, note = decode_bytes(text.encode("latin-1"), None)
        assert decoded == text
        assert note is not None and "used cp1252" in note

    def test_utf8_body_with_a_latin1_footer(self) -> None:
        data = "Grüße aus Köln\n".encode() + "-- \nFußnote café\n".encode("latin-1")
        assert decode_bytes(data, "utf-8")[0] == "Grüße aus Köln\n-- \nFußnote café\n"

    def test_damaged_utf8_line_stays_utf8(self) -> None:
        data = ("Картинка " * 5).encode()[:-2] + b"\n" + RUSSIAN.encode()
        decoded, note = decode_bytes(data, "utf-8")
        assert decoded.startswith("Картинка Картинка") and decoded.endswith(RUSSIAN)
        assert note is not None and "damaged UTF-8" in note

    @pytest.mark.parametrize("declared", [None, "us-ascii"])
    def test_undeclared_iso_2022_jp(self, declared: str | None) -> None:
        decoded, note = decode_bytes(JAPANESE.encode("iso2022_jp"), declared)
        assert decoded == JAPANESE
        assert note is not None and "ISO-2022" in note

    def test_undecodable_multibyte_keeps_replacements(self) -> None:
        decoded, note = decode_bytes(b"\x82\xa0\xff\xfe\xfd\x82", "shift_jis")
        assert "\ufffd" in decoded
        assert note is not None and "replacement characters" in note

    def test_message_with_shift_jis_declared_iso_2022_jp(self) -> None:
        raw = mail(
            "From: a@example.jp\nSubject: x\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 8bit",
            JAPANESE.encode("cp932"),
        )
        parsed = parse_message(raw)
        assert parsed.body_text == JAPANESE.strip()
        assert any("detected cp932" in d for d in parsed.defects)


class TestHeaders:
    def test_encoded_word_with_shift_jis_labelled_iso_2022_jp(self) -> None:
        raw = mail(
            f"From: a@example.jp\nSubject: {b64_word('嫌がらせの報告', 'cp932', 'ISO-2022-JP')}"
        )
        assert parse_message(raw).subject == "嫌がらせの報告"

    def test_encoded_word_with_big5_labelled_gb2312(self) -> None:
        word = b64_word("請幫助我處理騷擾問題", "big5", "gb2312")
        assert parse_message(mail(f"From: a@example.tw\nSubject: {word}")).subject == (
            "請幫助我處理騷擾問題"
        )

    @pytest.mark.parametrize(
        ("text", "encoding"),
        [
            ("嫌がらせの報告について", "cp932"),
            ("嫌がらせの報告について", "euc_jp"),
            ("괴롭힘 신고에 대하여 도와주세요", "cp949"),
            ("Помогите, меня преследуют", "cp1251"),
            ("Помогите, меня преследуют", "koi8_r"),
            ("关于骚扰的举报，请帮助我", "gbk"),
        ],
    )
    def test_raw_8bit_subject_and_name_without_any_charset(self, text: str, encoding: str) -> None:
        # The message's 8-bit header fields are detected together (a longer sample).
        head = f"From: {text[:3]} <a@example.net>\nSubject: {text}\nTo: help@example.org"
        parsed = parse_message(head.encode(encoding) + b"\n\nbody\n")
        assert parsed.subject == text
        assert parsed.from_ is not None and parsed.from_.name == text[:3]

    @pytest.mark.parametrize("text", ["Grüße aus Köln", PORTUGUESE, "café", "Señor Muñoz"])
    def test_raw_latin_header_stays_windows_1252(self, text: str) -> None:
        parsed = parse_message(f"From: a@example.net\nSubject: {text}\n\nx".encode("latin-1"))
        assert parsed.subject == text

    def test_raw_iso_2022_jp_header(self) -> None:
        assert decode_header_bytes("テスト".encode("iso2022_jp"), None) == "テスト"

    def test_body_charset_is_tried_before_detection(self) -> None:
        assert decode_header_bytes("Привет".encode("koi8_r"), "koi8-r") == "Привет"


class TestCost:
    def setup_method(self) -> None:
        charsetguess._guess.cache_clear()

    def test_ordinary_mail_never_runs_the_detector(self) -> None:
        raw = mail(
            "From: Jürgen <j@example.de>\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= und Grüße\n"
            "Content-Type: text/plain; charset=iso-8859-1",
            "Grüße aus Köln".encode("latin-1"),
        )
        parse_message(raw)
        parse_message(mail("From: a@example.net\nSubject: plain", "just ASCII"))
        info = charsetguess._guess.cache_info()
        assert info.hits + info.misses == 0

    def test_detection_sees_a_bounded_prefix_cut_at_a_line_end(self) -> None:
        data = (RUSSIAN.encode("cp1251")) * 2000
        assert len(data) > 4 * SAMPLE_BYTES
        sample = charsetguess._sample(data)
        assert len(sample) <= SAMPLE_BYTES and sample.endswith(b"\n")
        assert guess_charset(data) == "cp1251"
        assert decode_bytes(data, None)[0] == RUSSIAN * 2000

    def test_ascii_is_never_guessed(self) -> None:
        assert guess_charset(b"plain ascii") is None
