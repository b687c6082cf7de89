"""A form submission becomes an RFC 5322 message, stored and processed like mail: the same
ticket as the same report by mail (compared field by field, SQLite and PostgreSQL)."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues.ingest import ingest_bytes, process_stored
from queues.models import Article, Attachment, Ticket
from queues.reporter.form import (
    FormError,
    Submission,
    Upload,
    build_message,
    check_upload,
    parse_links,
    store_submission,
    subject_of,
)
from queues.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
PDF = b"%PDF-1.4\n%fake but starts right\n"
GERMAN = (
    "Seit zwei Wochen schreibt mir der Benutzer Keiler77 auf meiner Diskussionsseite.\n"
    "Er beleidigt mich und hat meine Adresse gepostet."
)


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_message_says_what_the_form_knows(settings: Settings) -> None:
    submission = Submission(
        email="rita@example.net",
        name="Rita Reporter",
        language="de",
        what_happened=GERMAN,
        links=["https://example.org/wiki/User_talk:Rita"],
        at_risk=True,
        attachments=[Upload("screen shot.png", PNG), Upload("../../etc/notes.pdf", PDF)],
    )
    message = parsed(build_message(submission, settings))
    assert message["From"] == "Rita Reporter <rita@example.net>"
    assert message["To"] == "help@example.org"  # the default queue's address
    assert message["Subject"] == "Seit zwei Wochen schreibt mir der Benutzer Keiler77 auf meiner…"
    assert message["Content-Language"] == "de"
    assert message["X-Switchboard-At-Risk"] == "yes"
    assert message["Message-ID"]
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert text.startswith(GERMAN)
    assert "Links:\nhttps://example.org/wiki/User_talk:Rita" in text
    files = [(p.get_filename(), p.get_content_type()) for p in message.iter_attachments()]
    assert files == [("screen shot.png", "image/png"), ("notes.pdf", "application/pdf")]


def test_no_language_no_box_no_headers(settings: Settings) -> None:
    message = parsed(build_message(Submission("r@example.net", "Hello"), settings))
    assert message["Content-Language"] is None
    assert message["X-Switchboard-At-Risk"] is None


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("virus.exe", b"MZ\x90\x00"),
        ("page.html", b"<script>alert(1)</script>"),
        ("fake.png", b"GIF89a not a png"),  # the name says PNG, the bytes do not
        ("fake.pdf", b"\x89PNG\r\n\x1a\n"),
        ("notes.txt", b"\xff\xfe binary \x00"),
        ("image.webp", b"RIFF\0\0\0\0WAVE"),
    ],
)
def test_only_images_pdf_and_text_whose_bytes_agree(name: str, data: bytes) -> None:
    with pytest.raises(FormError):
        check_upload(Upload(name, data))


def test_accepted_uploads_get_their_type_and_a_safe_name() -> None:
    assert check_upload(Upload("C:\\Users\\me\\pic.JPG", b"\xff\xd8\xff\xe0")).content_type == (
        "image/jpeg"
    )
    checked = check_upload(Upload("log <1>.txt", "plain text, ü".encode()))
    assert (checked.filename, checked.content_type) == ("log _1_.txt", "text/plain")


def test_addresses_links_and_text_are_checked(settings: Settings) -> None:
    with pytest.raises(FormError):
        build_message(Submission("not an address", "text"), settings)
    with pytest.raises(FormError):
        build_message(Submission("a@example.net", "   \n "), settings)
    with pytest.raises(FormError):
        parse_links("javascript:alert(1)")
    assert parse_links(" https://a.example/x\nhttp://b.example ") == [
        "https://a.example/x",
        "http://b.example",
    ]
    # A line break in the name cannot reach a header.
    message = parsed(build_message(Submission("a@example.net", "x", name="A\r\nBcc: x"), settings))
    assert message["Bcc"] is None and "A Bcc: x" in message["From"]


def test_subject_is_the_first_line_cut_at_a_word() -> None:
    assert subject_of("\n\n  Short first line  \nmore") == "Short first line"
    long = "word " * 40
    cut = subject_of(long)
    assert cut.endswith("…") and len(cut) <= 78 and not cut.endswith(" …")


def mail_of_same_content(submission: Submission) -> bytes:
    """The report as a person would mail it: same From, subject, text and files."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = f"{submission.name} <{submission.email}>"
    message["To"] = "help@example.org"
    message["Subject"] = subject_of(submission.what_happened)
    message["Message-ID"] = "<same-content@example.net>"
    text = submission.what_happened.strip() + "\n"
    if submission.links:
        text += "\nLinks:\n" + "\n".join(submission.links) + "\n"
    message.set_content(text)
    for upload in submission.attachments:
        checked = check_upload(upload)
        maintype, _, subtype = checked.content_type.partition("/")
        message.add_attachment(
            upload.data, maintype=maintype, subtype=subtype, filename=upload.filename
        )
    return message.as_bytes()


def ticket_facts(factory: sessionmaker[Session], number: str) -> dict[str, object]:
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        article = session.scalars(select(Article).where(Article.ticket_id == ticket.id)).first()
        assert article is not None
        files = session.execute(
            select(Attachment.filename, Attachment.content_type, Attachment.size, Attachment.sha256)
            .where(Attachment.article_id == article.id)
            .order_by(Attachment.id)
        ).all()
        return {
            "subject": ticket.subject,
            "queue": ticket.queue.slug,
            "state": ticket.state,
            "priority": ticket.priority,
            "flagged": ticket.flagged,
            "triage": ticket.triage_reasons,
            "requester": (ticket.requester.email, ticket.requester.name)
            if ticket.requester
            else None,
            "language": ticket.language,
            "from": (article.from_email, article.from_name),
            "body": article.body_text.replace("\r\n", "\n").strip(),
            "files": [tuple(f) for f in files],
        }


def test_a_form_report_and_the_same_mail_make_equivalent_tickets(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    threat = (
        "Der Benutzer Keiler77 hat mir geschrieben: Ich weiß, wo du wohnst, und ich komme "
        "heute Nacht vorbei.\nIch habe Angst."
    )
    submission = Submission(
        email="rita@example.net",
        name="Rita Reporter",
        what_happened=threat,
        links=["https://example.org/wiki/User_talk:Rita"],
        attachments=[Upload("screen.png", PNG)],
    )
    with factory.begin() as session:
        inbound_id = store_submission(session, submission, settings, "192.0.2.7").id
    by_form = process_stored(factory, inbound_id, settings, parse_message, attempt_counted=True)
    by_mail = ingest_bytes(
        factory,
        mail_of_same_content(submission),
        settings,
        parse_message,
        source="smtp",
        envelope_to=["help@example.org"],
    )
    assert by_form.kind == by_mail.kind == "new"
    assert by_form.ticket_number and by_mail.ticket_number
    form_facts = ticket_facts(factory, by_form.ticket_number)
    mail_facts = ticket_facts(factory, by_mail.ticket_number)
    assert form_facts == mail_facts
    # And it really was a report worth comparing: triaged, in German, with its file.
    assert form_facts["queue"] == "specialist-safety"
    assert form_facts["language"] == "de"
    assert len(form_facts["files"]) == 1  # type: ignore[arg-type]


def test_the_at_risk_box_sends_an_everyday_report_to_specialists(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    submission = Submission(
        email="sam@example.net", what_happened="Someone keeps editing my user page.", at_risk=True
    )
    with factory.begin() as session:
        inbound_id = store_submission(session, submission, settings, "192.0.2.8").id
    outcome = process_stored(factory, inbound_id, settings, parse_message, attempt_counted=True)
    assert outcome.ticket_number is not None
    facts = ticket_facts(factory, outcome.ticket_number)
    assert facts["queue"] == "specialist-safety"
    assert facts["triage"] == ["signal: the reporter ticked the form's at-risk box"]
    assert facts["priority"] >= 4  # type: ignore[operator]


def test_mail_cannot_claim_the_forms_box_or_language(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    submission = Submission(
        email="sam@example.net",
        what_happened="Someone keeps editing my user page, it is annoying.",
        language="fr",
        at_risk=True,
    )
    raw = build_message(submission, settings)  # the very headers the form writes
    outcome = ingest_bytes(factory, raw, settings, parse_message, source="smtp")
    assert outcome.ticket_number is not None
    facts = ticket_facts(factory, outcome.ticket_number)
    assert facts["queue"] == "general-help"
    assert facts["triage"] == []
    assert facts["language"] == "en"  # detected; the header counted for nothing
