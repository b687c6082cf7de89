"""A public form submission becomes a stored message: the same ticket as mail, by the same path.

The web edge (webui.report) checks the fields and hands a `Submission` here. It becomes an
RFC 5322 message built with the stdlib (`build_message`): From the reporter's address and
name, To our address for the default queue, the subject from the first words of what
happened, a text/plain body (what happened, then the links), the attachments as MIME
parts. That message is stored in the inbound backlog with source "form" and processed by
the ingest path like any mail (queues.ingest), acknowledgement included; so a report by
form and the same report by mail make equivalent tickets.

Two headers say what the form knows beyond the text, and ingest believes them only on
messages whose source is "form" (anyone can write any header in a mail):

    Content-Language: de            the language chosen in the form (RFC 3282)
    X-Switchboard-At-Risk: yes      the box "you, or anyone else, might be at actual risk"
                                    was ticked: a triage signal to specialist-safety

A message added on a status page (webui.status) is stored the same way (`status_message`,
source "status"): addressed to a fresh reply address of its ticket, it is a trusted
follow-up through queues.followup exactly like a reply to our mail.

Attachments are limited to types a help team can open safely (`ALLOWED`: images, PDF,
plain text), recognised by their first bytes as well as their name; the web edge limits
their total size (settings.report_max_attachment_bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from sqlalchemy.orm import Session

from queues.i18n import LANGUAGES
from queues.ingest import store_inbound
from queues.models import InboundMail, utcnow
from queues.outgoing import make_message_id, usable_address
from queues.reporter.signals import AT_RISK_HEADER, FORM_SOURCE, STATUS_SOURCE
from queues.settings import Settings
from queues.trust import replytokens

SUBJECT_CHARS = 78
MAX_TEXT = 100_000
MAX_LINKS = 20
MAX_LINK = 2000
MAX_NAME = 100
MAX_FILES = 10

# type -> (file name endings, first bytes that type starts with; None: text, checked apart)
ALLOWED: dict[str, tuple[tuple[str, ...], tuple[bytes, ...] | None]] = {
    "image/png": ((".png",), (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": ((".jpg", ".jpeg"), (b"\xff\xd8\xff",)),
    "image/gif": ((".gif",), (b"GIF87a", b"GIF89a")),
    "image/webp": ((".webp",), (b"RIFF",)),
    "application/pdf": ((".pdf",), (b"%PDF-",)),
    "text/plain": ((".txt", ".log"), None),
}
_UNSAFE_NAME = re.compile(r"[^\w.\- ()]+", re.UNICODE)


class FormError(ValueError):
    """A submission that cannot be taken; the message names the problem (in English: the
    web edge shows its own translated text for each check it makes)."""


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    content_type: str = ""  # set by `check_upload`


@dataclass(frozen=True)
class Submission:
    email: str
    what_happened: str
    name: str = ""
    language: str | None = None
    links: list[str] = field(default_factory=list)
    at_risk: bool = False
    attachments: list[Upload] = field(default_factory=list)


def one_line(text: str, limit: int) -> str:
    """A single line without control characters, at most `limit` characters."""
    clean = "".join(" " if not ch.isprintable() else ch for ch in text)
    return " ".join(clean.split())[:limit]


def clean_text(text: str) -> str:
    """Line ends as LF, no NUL or other control characters but tab and newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()[:MAX_TEXT]


def check_email(value: str) -> str:
    email = one_line(value, 320)
    if "@" not in email or not usable_address(email):
        raise FormError("not an e-mail address we can write to")
    return email


def parse_links(value: str) -> list[str]:
    """The links, one a line (or separated by spaces); each must be http(s)."""
    links = [w for w in value.split() if w]
    if len(links) > MAX_LINKS:
        raise FormError(f"at most {MAX_LINKS} links")
    for link in links:
        if not re.match(r"^https?://[^\s/]+", link, re.IGNORECASE) or len(link) > MAX_LINK:
            raise FormError(f"not a web link: {link[:80]}")
    return links


def safe_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", one_line(base, 200)).strip(" .")
    return cleaned or "attachment"


def check_upload(upload: Upload) -> Upload:
    """The upload with its type, if it is one we take (name and first bytes agree)."""
    name = safe_filename(upload.filename)
    lowered = name.lower()
    for content_type, (endings, magic) in ALLOWED.items():
        if not lowered.endswith(endings):
            continue
        if magic is None:
            if not _is_text(upload.data):
                raise FormError(f"{name}: not plain text")
        elif not upload.data.startswith(magic):
            raise FormError(f"{name}: the content is not {content_type}")
        if content_type == "image/webp" and upload.data[8:12] != b"WEBP":
            raise FormError(f"{name}: the content is not image/webp")
        return Upload(name, upload.data, content_type)
    raise FormError(f"{name}: only images (PNG, JPEG, GIF, WebP), PDF and text files")


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\0" not in text


def subject_of(what_happened: str) -> str:
    """The first line of what happened, cut at a word within SUBJECT_CHARS."""
    first = next((line.strip() for line in what_happened.splitlines() if line.strip()), "")
    first = one_line(first, 500)
    if len(first) <= SUBJECT_CHARS:
        return first
    cut = first[: SUBJECT_CHARS - 1].rsplit(" ", 1)[0]
    return (cut or first[: SUBJECT_CHARS - 1]) + "…"


def body_of(submission: Submission) -> str:
    body = clean_text(submission.what_happened)
    if submission.links:
        body += "\n\nLinks:\n" + "\n".join(submission.links)
    return body + "\n"


def form_address(settings: Settings) -> str:
    """Our address the form's reports are for: the default queue's (else our first)."""
    for address, slug in settings.addresses.items():
        if slug == settings.default_queue:
            return address
    return next(iter(settings.addresses), f"help@{settings.hostname}")


def _mailbox(name: str, email: str) -> HeaderAddress:
    local, _, domain = email.rpartition("@")
    return HeaderAddress(display_name=one_line(name, MAX_NAME), username=local, domain=domain)


def build_message(submission: Submission, settings: Settings, now: datetime | None = None) -> bytes:
    """The submission as an RFC 5322 message (CRLF line ends, as the gateway stores mail)."""
    email = check_email(submission.email)
    text = clean_text(submission.what_happened)
    if not text:
        raise FormError("say what happened")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _mailbox(submission.name, email)
    msg["To"] = form_address(settings)
    msg["Subject"] = subject_of(text)
    msg["Date"] = format_datetime(now or utcnow())
    msg["Message-ID"] = f"<{make_message_id(settings.hostname)}>"
    if submission.at_risk:
        msg[AT_RISK_HEADER] = "yes"
    msg.set_content(body_of(replace(submission, what_happened=text)))
    for upload in submission.attachments[:MAX_FILES]:
        checked = check_upload(upload)
        maintype, _, subtype = checked.content_type.partition("/")
        msg.add_attachment(
            checked.data, maintype=maintype, subtype=subtype, filename=checked.filename
        )
    if submission.language in LANGUAGES:
        # Last: setting the content (and making it multipart) moves Content-* headers.
        msg["Content-Language"] = submission.language
    return msg.as_bytes()


def store_submission(
    session: Session,
    submission: Submission,
    settings: Settings,
    client: str | None,
    now: datetime | None = None,
    *,
    claim: bool = True,
) -> InboundMail:
    """Build and store the message. `claim`: the caller commits, then processes it itself
    (the runners leave it alone for the claim's lease); else it is due for the runners."""
    raw = build_message(submission, settings, now)
    return store_inbound(
        session,
        raw,
        source=FORM_SOURCE,
        envelope_to=[form_address(settings)],
        claim=claim,
        client_ip=client,
    )


def status_message(
    session: Session,
    ticket_id: int,
    requester_email: str,
    subject: str,
    text: str,
    our_address: str,
    settings: Settings,
    client: str | None,
    now: datetime | None = None,
    claim: bool = True,
) -> InboundMail:
    """A message from a status page, stored as a trusted follow-up of `ticket_id`; claimed
    (`claim`) when the request goes on to process it, else left for the runners."""
    body = clean_text(text)
    if not body:
        raise FormError("write a message")
    token = replytokens.issue(session.connection(), ticket_id, None)
    to = replytokens.reply_address(our_address, token)
    msg = EmailMessage(policy=SMTP)
    local, _, domain = requester_email.rpartition("@")
    msg["From"] = HeaderAddress(username=local, domain=domain)
    msg["To"] = to
    msg["Subject"] = one_line(subject, 500)
    msg["Date"] = format_datetime(now or utcnow())
    msg["Message-ID"] = f"<{make_message_id(settings.hostname)}>"
    msg.set_content(body + "\n")
    return store_inbound(
        session,
        msg.as_bytes(),
        source=STATUS_SOURCE,
        envelope_to=[to],
        claim=claim,
        client_ip=client,
    )
