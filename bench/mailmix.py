"""Generate a seeded, realistic mix of help-desk mail as .eml files (one message per file).

The one job of this module is `generate(folder, count, seed)`: it writes `count` RFC 5322
messages built with the standard library's `email` package and returns their statistics.
The same seed gives byte-identical files (MIME boundaries, Message-IDs and dates are all
drawn from the seeded generator), so runs on different machines compare like with like.

The mix imitates what a harassment-report help address receives:

- short plain-text reports (about 1-5 KB of text) in utf-8, iso-8859-1, windows-1252,
  koi8-r, iso-2022-jp and gb2312, with 8bit, quoted-printable, base64 or 7bit bodies and,
  for the legacy charsets, often RFC 2047 subjects and display names in that charset;
- multipart/alternative text + HTML mail, and some HTML-only mail;
- about a quarter with attachments: PNG/JPEG-like screenshots (random bytes behind a real
  signature, 50-500 KB each, so they do not compress), PDFs and .txt logs;
- a few forwarded messages (message/rfc822);
- about a fifth replies to an earlier message of the mix (In-Reply-To, References, "Re:");
- a few exact duplicates of earlier files.

Files are named 00000.eml, 00001.eml, ... in generation order, so a folder walk in name
order meets a parent before its replies.
"""

from __future__ import annotations

import email.policy
import random
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from html import escape
from pathlib import Path
from typing import Any

# Wire format: CRLF line ends, 78-column folding (as an MTA would hand the message over).
POLICY = email.policy.SMTP

# Shares of the whole mix (each drawn independently per message, with a seeded generator).
SHARE_REPLY = 0.20
SHARE_DUPLICATE = 0.01
SHARE_FORWARD = 0.02
SHARE_ATTACHMENTS = 0.25
SHARE_ALTERNATIVE = 0.30  # multipart/alternative text + HTML
SHARE_HTML_ONLY = 0.12

KB = 1024

# charset -> (weight, languages it can carry, transfer encodings with weights)
CHARSETS: dict[str, tuple[int, tuple[str, ...], tuple[tuple[str, int], ...]]] = {
    "utf-8": (
        50,
        ("en", "de", "fr", "es", "ru", "ja", "zh"),
        (("8bit", 4), ("quoted-printable", 3), ("base64", 3)),
    ),
    "iso-8859-1": (12, ("de", "fr", "es", "en"), (("quoted-printable", 3), ("8bit", 1))),
    "windows-1252": (12, ("en", "de", "fr", "es"), (("quoted-printable", 3), ("8bit", 1))),
    "koi8-r": (9, ("ru",), (("8bit", 2), ("base64", 1))),
    "iso-2022-jp": (8, ("ja",), (("7bit", 1),)),
    "gb2312": (9, ("zh",), (("base64", 2), ("8bit", 1))),
}

SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "Someone has been sending me threatening messages for the past three weeks.",
        "I have attached screenshots of the conversation so you can see what they wrote.",
        "The account keeps creating new profiles every time I block it.",
        "Please let me know what information you need from me.",
        "They posted my home address in a public group and people started commenting on it.",
        "I am not sure if this is the right place to report this, sorry if it is not.",
        "The messages started after I commented on a post about the local elections.",
        "My sister is now receiving the same kind of messages from a different account.",
        "I reported the profile through the app last week but nothing happened.",
        "Thank you for your help, I really appreciate that someone is reading this.",
        "The user name is visible at the top of the first screenshot.",
        "This has been affecting my sleep and my work and I don't know what to do.",
        "I changed my password and turned on two-factor authentication as you suggested.",
        "Some of the messages were sent at night, between two and four in the morning.",
        "I have kept every message, including the ones that were deleted later.",
    ),
    "de": (
        "Seit drei Wochen bekomme ich beleidigende Nachrichten von einem unbekannten Konto.",
        "Ich habe Screenshots der Unterhaltung angehängt.",
        "Die Person erstellt nach jeder Sperre ein neues Profil.",
        "Bitte teilen Sie mir mit, welche Informationen Sie noch brauchen.",
        "Meine Adresse wurde in einer öffentlichen Gruppe veröffentlicht.",
        "Ich weiß nicht, ob ich mich hier an die richtige Stelle wende.",
        "Die Nachrichten begannen nach einem Kommentar über die Wahlen in unserer Stadt.",
        "Das belastet mich sehr, ich schlafe kaum noch und kann mich nicht konzentrieren.",
        "Ich habe das Profil schon über die App gemeldet, aber es ist nichts passiert.",
        "Vielen Dank für Ihre Hilfe und Ihre schnelle Antwort.",
        "Gestern kamen wieder drei Nachrichten, diesmal von einer anderen Adresse.",
        "Meine Schwester bekommt inzwischen ähnliche Nachrichten.",
    ),
    "fr": (
        "Depuis trois semaines, je reçois des messages menaçants d'un compte inconnu.",
        "J'ai joint des captures d'écran de la conversation.",
        "La personne crée un nouveau profil après chaque blocage.",
        "Merci de me dire quelles informations il vous faut encore.",
        "Mon adresse a été publiée dans un groupe public.",
        "Je ne sais pas si c'est le bon endroit pour signaler ça.",
        "Les messages ont commencé après un commentaire sur les élections municipales.",
        "Ma soeur reçoit aussi ce genre de messages maintenant.",
        "J'ai déjà signalé le profil dans l'application, sans résultat.",
        "Merci beaucoup pour votre aide, ça me rassure de pouvoir en parler.",
        "Cela m'empêche de dormir et de travailler normalement.",
        "Hier soir, j'ai encore reçu trois messages d'une autre adresse.",
    ),
    "es": (
        "Desde hace tres semanas recibo mensajes amenazantes de una cuenta desconocida.",
        "He adjuntado capturas de pantalla de la conversación.",
        "La persona crea un perfil nuevo después de cada bloqueo.",
        "¿Qué información necesitan de mí para continuar?",
        "Publicaron mi dirección en un grupo público.",
        "No sé si este es el lugar correcto para denunciarlo.",
        "Los mensajes empezaron después de un comentario sobre las elecciones.",
        "Mi hermana también está recibiendo mensajes parecidos.",
        "Ya denuncié el perfil en la aplicación, pero no pasó nada.",
        "Muchas gracias por su ayuda y por responder tan rápido.",
        "Esto me está afectando mucho, casi no duermo.",
    ),
    "ru": (
        "Уже три недели мне приходят угрожающие сообщения с незнакомого аккаунта.",
        "Я приложила скриншоты переписки.",
        "После каждой блокировки этот человек создаёт новый профиль.",
        "Пожалуйста, сообщите, какая информация вам ещё нужна.",
        "Мой домашний адрес опубликовали в открытой группе.",
        "Не уверена, что пишу по адресу, извините, если нет.",
        "Сообщения начались после моего комментария о выборах.",
        "Моя сестра теперь тоже получает такие сообщения.",
        "Я уже жаловалась на профиль через приложение, но ничего не произошло.",
        "Спасибо за помощь и за быстрый ответ.",
        "Из-за этого я плохо сплю и не могу нормально работать.",
    ),
    "ja": (
        "三週間前から知らないアカウントから脅迫的なメッセージが届いています。",
        "会話のスクリーンショットを添付しました。",
        "ブロックするたびに新しいプロフィールが作られます。",
        "必要な情報があれば教えてください。",
        "私の住所が公開グループに投稿されました。",
        "ここで報告してよいのか分かりませんが、よろしくお願いします。",
        "選挙についてコメントした後からメッセージが始まりました。",
        "妹にも同じようなメッセージが届くようになりました。",
        "アプリから通報しましたが、何も変わりませんでした。",
        "夜も眠れず、仕事にも影響が出ています。",
        "ご対応いただきありがとうございます。",
    ),
    "zh": (
        "三个星期以来，我一直收到一个陌生账号发来的威胁信息。",
        "我附上了聊天记录的截图。",
        "每次我屏蔽以后，这个人都会创建新的账号。",
        "请告诉我你们还需要哪些信息。",
        "我的家庭住址被发布在一个公开群组里。",
        "我不确定这里是不是举报的正确地方。",
        "这些信息是在我评论了选举的帖子之后开始的。",
        "我的妹妹现在也收到了类似的信息。",
        "我已经在应用里举报过这个账号，但是没有结果。",
        "这件事已经影响到我的睡眠和工作。",
        "非常感谢你们的帮助。",
    ),
}

SUBJECTS: dict[str, tuple[str, ...]] = {
    "en": (
        "Harassment report",
        "Threatening messages from an unknown account",
        "Fake profile using my photos",
        "Need help: someone posted my address",
        "Question about reporting an account",
        "Still getting messages",
    ),
    "de": (
        "Belästigung durch ein anonymes Konto",
        "Meldung: Drohungen über Direktnachrichten",
        "Gefälschtes Profil mit meinen Fotos",
        "Bitte um Hilfe",
    ),
    "fr": (
        "Signalement de harcèlement",
        "Messages menaçants d'un compte inconnu",
        "Faux profil avec mes photos",
        "Demande d'aide urgente",
    ),
    "es": (
        "Denuncia de acoso",
        "Mensajes amenazantes de una cuenta desconocida",
        "Perfil falso con mis fotos",
    ),
    "ru": (
        "Жалоба на травлю",
        "Угрозы в личных сообщениях",
        "Фейковый профиль с моими фотографиями",
    ),
    "ja": ("嫌がらせの報告", "脅迫メッセージについて", "なりすましアカウントの件"),
    "zh": ("骚扰举报", "收到威胁信息", "有人冒充我的账号"),
}

GIVEN: dict[str, tuple[str, ...]] = {
    "en": ("Emily", "James", "Olivia", "Noah", "Grace", "Liam", "Chloe", "Ethan", "Amelia"),
    "de": ("Jürgen", "Anja", "Björn", "Käthe", "Lukas", "Sören", "Marie", "Jörg"),
    "fr": ("Hélène", "François", "Amélie", "Benoît", "Céline", "Jérôme", "Léa"),
    "es": ("José", "Lucía", "Iñigo", "María", "Raúl", "Ángela", "Martín"),
    "ru": ("Анна", "Дмитрий", "Ольга", "Сергей", "Наталья", "Алексей", "Ирина"),
    "ja": ("花子", "健", "美咲", "翔太", "由美", "大輔"),
    "zh": ("芳", "伟", "静", "磊", "娜", "强"),
}
FAMILY: dict[str, tuple[str, ...]] = {
    "en": ("Carter", "O'Neill", "Walsh", "Patel", "Nguyen", "Brooks", "Hughes", "Reid"),
    "de": ("Müller", "Schäfer", "Weiß", "Groß", "Köhler", "Becker", "Hoffmann"),
    "fr": ("Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau", "Bérard"),
    "es": ("Martínez", "Fernández", "Gómez", "Núñez", "López", "Pérez"),
    "ru": ("Иванова", "Смирнов", "Кузнецова", "Попов", "Соколова", "Лебедев"),
    "ja": ("山田", "佐藤", "鈴木", "高橋", "田中", "渡辺"),
    "zh": ("王", "李", "张", "刘", "陈", "杨"),
}
LOCAL_PARTS = (
    "emily.c",
    "jamesw",
    "olivia88",
    "n.brooks",
    "grace.h",
    "liam_r",
    "chloe.p",
    "juergen.m",
    "anja.s",
    "helene.d",
    "f.lefevre",
    "jose.mtz",
    "lucia.f",
    "anna.iv",
    "dsmirnov",
    "olga.k",
    "hanako.y",
    "ken.sato",
    "wangfang",
    "liwei",
    "zhangjing",
    "m.hughes",
    "r.walsh",
    "sam.patel",
    "t.nguyen",
)
DOMAINS = (
    "example.com",
    "example.net",
    "example.org",
    "mail.example",
    "posteo.example",
    "web.example.de",
    "orange.example.fr",
    "yandex.example.ru",
    "docomo.example.jp",
    "qq.example.cn",
    "outlook.example",
    "gmail.example",
)
MAILERS = (
    "Microsoft Outlook 16.0",
    "Apple Mail (2.3774.500.171.1.1)",
    "Mozilla Thunderbird 128.4.2esr",
    "Roundcube Webmail/1.6.9",
    "K-9 Mail for Android",
    "Becky! ver. 2.81.07",
    "Foxmail 7.2.25",
    None,
    None,
    None,
)
OURS = (
    "help@localhost",
    "help@localhost",
    "help@localhost",
    "help@localhost",
    "help@localhost",
    "help@localhost",
    "safety@localhost",
)
REPLY_PREFIX = {"de": "AW: ", "fr": "RE: ", "es": "RE: "}
GREETING = {
    "en": "Hello,",
    "de": "Guten Tag,",
    "fr": "Bonjour,",
    "es": "Hola:",
    "ru": "Здравствуйте!",
    "ja": "お世話になっております。",
    "zh": "你好，",
}
CLOSING = {
    "en": "Best regards,",
    "de": "Viele Grüße",
    "fr": "Cordialement,",
    "es": "Saludos,",
    "ru": "С уважением,",
    "ja": "よろしくお願いいたします。",
    "zh": "谢谢！",
}
THREATS = ("you will regret this", "I know where you work", "nobody will believe you")
PDF_NAMES = {
    "de": "Anzeige_Polizei.pdf",
    "fr": "dépôt_de_plainte.pdf",
    "ru": "заявление.pdf",
    "ja": "報告書.pdf",
    "zh": "举报材料.pdf",
}
WIDE = ("ja", "zh")  # languages written without spaces: wrap by characters

# Signatures of the attachment formats we imitate (random bytes follow).
PNG_HEAD = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x07\x80\x00\x00\x048"
    b"\x08\x06\x00\x00\x00\x00\x00\x00\x00"
)
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00H\x00H\x00\x00\xff\xdb\x00C\x00"
JPEG_TAIL = b"\xff\xd9"


@dataclass
class _Sent:
    """What a later reply needs to know about an earlier message."""

    message_id: str
    references: list[str]
    subject: str
    sender: tuple[str, str]  # (display name, address)
    language: str
    charset: str
    excerpt: str


@dataclass
class _Stats:
    count: int = 0
    total_bytes: int = 0
    with_attachments: int = 0
    attachments: int = 0
    replies: int = 0
    duplicates: int = 0
    forwarded: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    charsets: Counter[str] = field(default_factory=Counter)
    encodings: Counter[str] = field(default_factory=Counter)
    encoded_headers: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    names = [name for name, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(names, weights)[0]


def _smart_quotes(text: str) -> str:
    """What Word/Outlook makes of plain punctuation: the reason windows-1252 mail exists."""
    out: list[str] = []
    open_quote = True
    for ch in text:
        if ch == "'":
            out.append("\u2019")
        elif ch == '"':
            out.append("\u201c" if open_quote else "\u201d")
            open_quote = not open_quote
        else:
            out.append(ch)
    return "".join(out).replace(" - ", " \u2013 ").replace("...", "\u2026")


def _paragraphs(rng: random.Random, language: str, target_bytes: int) -> list[str]:
    """Paragraphs of report text of roughly `target_bytes` bytes (UTF-8 estimate)."""
    pool = SENTENCES[language]
    paragraphs: list[str] = []
    size = 0
    while size < target_bytes:
        sentences = [rng.choice(pool) for _ in range(rng.randint(2, 5))]
        joiner = "" if language in WIDE else " "
        para = joiner.join(sentences)
        if language == "en" and rng.random() < 0.3:
            para += f' They wrote "{rng.choice(THREATS)}" - twice.'
        paragraphs.append(para)
        size += len(para.encode("utf-8")) + 2
    return paragraphs


def _wrap(paragraph: str, language: str) -> str:
    if language in WIDE:
        return "\n".join(paragraph[i : i + 36] for i in range(0, len(paragraph), 36))
    return textwrap.fill(paragraph, 72)


def _text_body(
    greeting: str, paragraphs: list[str], closing: str, name: str, language: str, quoted: str | None
) -> str:
    parts = [greeting, ""]
    for para in paragraphs:
        parts += [_wrap(para, language), ""]
    parts += [closing, name]
    if quoted:
        parts += ["", quoted]
    return "\n".join(parts) + "\n"


def _html_body(
    greeting: str,
    paragraphs: list[str],
    closing: str,
    name: str,
    charset: str,
    language: str,
    quoted: str | None,
) -> str:
    style = "font-family:Calibri,Arial,Helvetica,sans-serif;font-size:11pt;color:#000000"
    rows = [
        "<html>",
        "<head>",
        f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">',
        '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>',
        "</head>",
        '<body dir="ltr">',
        f'<div class="elementToProof" style="{style}">{escape(greeting)}</div>',
        f'<div style="{style}"><br></div>',
    ]
    for para in paragraphs:
        # Mailers wrap long HTML source lines too (8bit bodies must stay under 998 octets).
        shown = escape(para) if language in WIDE else textwrap.fill(escape(para), 76)
        rows.append(f'<div class="elementToProof" style="{style}">{shown}</div>')
        rows.append(f'<div style="{style}"><br></div>')
    rows.append(f'<div id="Signature" style="{style}">{escape(closing)}<br>{escape(name)}</div>')
    if quoted:
        rows.append('<hr style="display:inline-block;width:98%" tabindex="-1">')
        rows.append(
            f'<blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;'
            f'padding-left:1ex">{escape(quoted).replace(chr(10), "<br>")}</blockquote>'
        )
    rows += ["</body>", "</html>"]
    return "\n".join(rows) + "\n"


def _encoded_header(value: str, charset: str, header_name: str) -> str:
    """An RFC 2047 value in `charset` itself, as legacy mailers write it (not re-encoded)."""
    encoded = Header(value, charset, header_name=header_name).encode(linesep="\r\n")
    # email.header labels the words with the Python codec name for gb2312 (eucgb2312_cn).
    return encoded.replace("=?eucgb2312_cn?", "=?gb2312?")


def _png(rng: random.Random, size: int) -> bytes:
    tail = b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return PNG_HEAD + rng.randbytes(max(0, size - len(PNG_HEAD) - len(tail))) + tail


def _jpeg(rng: random.Random, size: int) -> bytes:
    return JPEG_HEAD + rng.randbytes(max(0, size - len(JPEG_HEAD) - 2)) + JPEG_TAIL


def _pdf(rng: random.Random, size: int) -> bytes:
    head = (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n"
        b"4 0 obj\n<< /Filter /FlateDecode /Length 0 >>\nstream\n"
    )
    tail = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    return head + rng.randbytes(max(0, size - len(head) - len(tail))) + tail


def _log(rng: random.Random, size: int, start: datetime) -> str:
    events = (
        "login ok from 203.0.113.%d",
        "message received from user %d",
        "blocked account id=%d",
        "report submitted ticket=%d",
        "login failed from 198.51.100.%d",
        "profile viewed by user %d",
    )
    lines: list[str] = []
    at = start
    total = 0
    while total < size:
        at += timedelta(seconds=rng.randint(1, 900))
        line = f"{at.isoformat(timespec='seconds')} INFO {rng.choice(events) % rng.randint(1, 254)}"
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def _screenshot_size(rng: random.Random) -> int:
    # Log-uniform between 50 and 500 KB: many small crops, some full-screen captures.
    return int(50 * KB * 10 ** rng.random())


def _set_boundaries(msg: EmailMessage, rng: random.Random) -> None:
    """Fix every MIME boundary from the seeded generator (the stdlib would pick at random)."""
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            part.set_boundary(f"----=_Part_{rng.getrandbits(96):024x}")


class _Mixer:
    """The state of one generation run: the seeded generator, earlier messages, statistics."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.sent: list[_Sent] = []
        self.raw_files: list[tuple[bytes, bool]] = []  # (bytes, has attachments)
        self.has_attachments = False  # of the message being built
        self.stats = _Stats()
        self.clock = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
        # A population of requesters, each with a language, so replies keep their voice.
        self.people: list[tuple[str, str, str]] = []
        for n in range(1500):
            lang = self.rng.choice(list(SENTENCES))
            given, family = self.rng.choice(GIVEN[lang]), self.rng.choice(FAMILY[lang])
            name = {"ja": f"{family} {given}", "zh": family + given}.get(lang, f"{given} {family}")
            address = f"{self.rng.choice(LOCAL_PARTS)}{n}@{self.rng.choice(DOMAINS)}"
            self.people.append((name, address, lang))
        self.by_language = {lang: [p for p in self.people if p[2] == lang] for lang in SENTENCES}

    def next_message(self, index: int) -> tuple[bytes, bool]:
        """The next file's bytes, and whether it carries attachments."""
        rng = self.rng
        self.clock += timedelta(seconds=rng.randint(5, 600))
        if self.raw_files and rng.random() < SHARE_DUPLICATE:
            self.stats.duplicates += 1
            return rng.choice(self.raw_files)
        parent = rng.choice(self.sent) if self.sent and rng.random() < SHARE_REPLY else None
        self.has_attachments = False
        raw = self._build(index, parent)
        self.raw_files.append((raw, self.has_attachments))
        return raw, self.has_attachments

    def _charset_for(self, language: str) -> str:
        options = [(cs, spec[0]) for cs, spec in CHARSETS.items() if language in spec[1]]
        return _pick(self.rng, tuple(options))

    def _build(self, index: int, parent: _Sent | None) -> bytes:
        rng = self.rng
        if parent is not None:
            # Mostly the requester adding to their own report; sometimes someone they copied.
            name, address = parent.sender
            if rng.random() < 0.15:
                name, address, _ = rng.choice(self.by_language[parent.language])
            language = parent.language
            charset = parent.charset if rng.random() < 0.8 else self._charset_for(language)
        else:
            # New reports: the charset mix is drawn first, then a writer of a fitting language.
            charset = _pick(rng, tuple((cs, spec[0]) for cs, spec in CHARSETS.items()))
            language = rng.choice(CHARSETS[charset][1])
            name, address, _ = rng.choice(self.by_language[language])
        if parent is not None:
            prefix = REPLY_PREFIX.get(language, "Re: ") if rng.random() < 0.5 else "Re: "
            base = parent.subject
            subject = base if base.lower().startswith(("re:", "aw:")) else prefix + base
            quoted = "\n".join("> " + line for line in parent.excerpt.splitlines())
            who = formataddr(parent.sender)
            quoted = f"{self.clock:%Y-%m-%d %H:%M}, {who}:\n{quoted}"
            self.stats.replies += 1
        else:
            subject = rng.choice(SUBJECTS[language])
            if rng.random() < 0.3:
                subject += f" ({rng.choice(('urgent', 'again', '2', 'update', 'screenshots'))})"
            quoted = None

        paragraphs = _paragraphs(rng, language, rng.randint(1 * KB, 5 * KB))
        if charset == "windows-1252":
            paragraphs = [_smart_quotes(p) for p in paragraphs]
        text = _text_body(GREETING[language], paragraphs, CLOSING[language], name, language, quoted)
        try:
            text.encode(charset)
        except UnicodeEncodeError:
            # Quoting a message the charset cannot carry: mailers fall back to UTF-8.
            charset = "utf-8"
        self.stats.charsets[charset] += 1
        cte = _pick(rng, CHARSETS[charset][2])
        self.stats.encodings[cte] += 1
        legacy = charset != "utf-8"
        html = _html_body(
            GREETING[language], paragraphs, CLOSING[language], name, charset, language, quoted
        )

        msg = EmailMessage(policy=POLICY)
        self._headers(msg, index, name, address, subject, charset, legacy, parent)

        roll = rng.random()
        if roll < SHARE_HTML_ONLY:
            kind = "html-only"
            msg.set_content(html, subtype="html", charset=charset, cte=cte)
        elif roll < SHARE_HTML_ONLY + SHARE_ALTERNATIVE:
            kind = "alternative"
            msg.set_content(text, charset=charset, cte=cte)
            msg.add_alternative(html, subtype="html", charset=charset, cte=cte)
        else:
            kind = "plain"
            msg.set_content(text, charset=charset, cte=cte)
        self.stats.kinds[kind] += 1

        if rng.random() < SHARE_ATTACHMENTS:
            self._attach(msg, language)
        if rng.random() < SHARE_FORWARD:
            self._forward(msg, language)

        _set_boundaries(msg, rng)
        self.sent.append(
            _Sent(
                message_id=msg["Message-ID"],
                references=[*parent.references, parent.message_id][-10:] if parent else [],
                subject=subject,
                sender=(name, address),
                language=language,
                charset=charset,
                excerpt="\n".join(text.splitlines()[:8]),
            )
        )
        return msg.as_bytes(policy=POLICY)

    def _headers(
        self,
        msg: EmailMessage,
        index: int,
        name: str,
        address: str,
        subject: str,
        charset: str,
        legacy: bool,
        parent: _Sent | None,
    ) -> None:
        rng = self.rng
        domain = address.split("@", 1)[1]
        msg["Return-Path"] = f"<{address}>"
        for hop in range(rng.randint(1, 3)):
            at = self.clock - timedelta(seconds=hop * rng.randint(1, 5))
            msg["Received"] = (
                f"from mx{hop}.{domain} (mx{hop}.{domain} [192.0.2.{rng.randint(1, 254)}]) "
                f"by mail.localhost (Postfix) with ESMTPS id {rng.getrandbits(40):010X} "
                f"for <help@localhost>; {format_datetime(at)}"
            )
        # Legacy mailers write RFC 2047 in their own charset; keep it as written (set_raw),
        # since assigning the header would re-encode it as UTF-8.
        encode_legacy = legacy and rng.random() < 0.7
        if encode_legacy and not name.isascii():
            encoded = _encoded_header(name, charset, "From")
            last = encoded.rsplit("\r\n", 1)[-1]
            fold = "\r\n" if len(last) + len(address) + 9 > 76 else ""
            msg.set_raw("From", f"{encoded}{fold} <{address}>")
            self.stats.encoded_headers += 1
        else:
            msg["From"] = formataddr((name, address))
        msg["To"] = rng.choice(OURS)
        if rng.random() < 0.05:
            friend_name, friend, _ = rng.choice(self.people)
            msg["Cc"] = formataddr((friend_name, friend))
        if encode_legacy and not subject.isascii():
            msg.set_raw("Subject", _encoded_header(subject, charset, "Subject"))
            self.stats.encoded_headers += 1
        else:
            msg["Subject"] = subject
        msg["Date"] = format_datetime(self.clock)
        msg["Message-ID"] = f"<{rng.getrandbits(64):016x}.{index}@{domain}>"
        if parent is not None:
            msg["In-Reply-To"] = parent.message_id
            msg["References"] = " ".join([*parent.references, parent.message_id][-10:])
        mailer = rng.choice(MAILERS)
        if mailer:
            msg["X-Mailer" if "Outlook" in mailer or "Becky" in mailer else "User-Agent"] = mailer
        msg["MIME-Version"] = "1.0"

    def _attach(self, msg: EmailMessage, language: str) -> None:
        rng = self.rng
        self.has_attachments = True
        roll = rng.random()
        added = 0
        if roll < 0.58:  # screenshots, sometimes several
            for k in range(rng.choices((1, 2, 3), (80, 15, 5))[0]):
                size = _screenshot_size(rng)
                if rng.random() < 0.6:
                    shot = f"Screenshot_2026-10-{1 + k:02d}-{rng.randint(0, 235959):06d}.png"
                    msg.add_attachment(
                        _png(rng, size), maintype="image", subtype="png", filename=shot
                    )
                else:
                    msg.add_attachment(
                        _jpeg(rng, size),
                        maintype="image",
                        subtype="jpeg",
                        filename=f"IMG_{rng.randint(1000, 9999)}.jpg",
                    )
                added += 1
        if 0.55 <= roll < 0.82:  # a PDF (some mails carry both screenshots and a PDF)
            name = PDF_NAMES.get(language, "police_report.pdf")
            msg.add_attachment(
                _pdf(rng, rng.randint(30 * KB, 200 * KB)),
                maintype="application",
                subtype="pdf",
                filename=name,
            )
            added += 1
        if roll >= 0.78:  # a text log
            msg.add_attachment(
                _log(rng, rng.randint(2 * KB, 40 * KB), self.clock),
                subtype="plain",
                filename="account-activity.txt",
            )
            added += 1
        self.stats.attachments += added

    def _forward(self, msg: EmailMessage, language: str) -> None:
        """Attach the offending message as message/rfc822, as "forward as attachment" does."""
        rng = self.rng
        self.stats.forwarded += 1
        inner = EmailMessage(policy=POLICY)
        inner["From"] = f"anon{rng.randint(100, 999)}@throwaway.example"
        inner["To"] = msg["From"]
        inner["Subject"] = rng.choice(("you", "watch out", "I found you", "hello again"))
        inner["Date"] = format_datetime(self.clock - timedelta(days=rng.randint(1, 20)))
        inner["Message-ID"] = f"<{rng.getrandbits(64):016x}@throwaway.example>"
        inner.set_content("\n".join(rng.choice(SENTENCES["en"]) for _ in range(5)) + "\n")
        if rng.random() < 0.3:
            inner.add_attachment(
                _jpeg(rng, rng.randint(20 * KB, 80 * KB)),
                maintype="image",
                subtype="jpeg",
                filename="photo.jpg",
            )
        _set_boundaries(inner, rng)
        msg.add_attachment(inner)


def generate(folder: Path, count: int, seed: int) -> dict[str, Any]:
    """Write `count` messages as folder/00000.eml ... and return statistics of the mix.

    The same `seed` and `count` give the same bytes. Returns count, total_bytes,
    average_bytes, share_with_attachments and a breakdown (kinds, charsets, encodings,
    replies, duplicates, forwarded, encoded headers, median and largest size).
    """
    folder.mkdir(parents=True, exist_ok=True)
    mixer = _Mixer(seed)
    width = max(5, len(str(count - 1)))
    for index in range(count):
        raw, has_attachments = mixer.next_message(index)
        mixer.stats.with_attachments += has_attachments
        (folder / f"{index:0{width}d}.eml").write_bytes(raw)
        mixer.stats.count += 1
        mixer.stats.total_bytes += len(raw)
        mixer.stats.sizes.append(len(raw))
    s = mixer.stats
    sizes = sorted(s.sizes)
    return {
        "count": s.count,
        "total_bytes": s.total_bytes,
        "average_bytes": s.total_bytes / s.count if s.count else 0.0,
        "median_bytes": sizes[len(sizes) // 2] if sizes else 0,
        "largest_bytes": sizes[-1] if sizes else 0,
        "share_with_attachments": s.with_attachments / s.count if s.count else 0.0,
        "attachments": s.attachments,
        "replies": s.replies,
        "duplicates": s.duplicates,
        "forwarded": s.forwarded,
        "encoded_legacy_headers": s.encoded_headers,
        "kinds": dict(sorted(s.kinds.items())),
        "charsets": dict(sorted(s.charsets.items())),
        "transfer_encodings": dict(sorted(s.encodings.items())),
    }
