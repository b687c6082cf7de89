"""Evidence packages: the layout partners rely on, raw mail byte for byte, a summary that is
safe to open, the manifest, and verification (ours, and a partner's with coreutils and gpg).
Every test runs on SQLite and PostgreSQL; mail comes in through the real ingest path."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from queues.liaison.evidence.keys import KeyringError, public_key
from queues.liaison.evidence.manifest import OUTSIDE_SUMS, parse_sums, sha256_hex
from queues.liaison.evidence.package import (
    CaseInfo,
    EvidenceError,
    build_package,
    safe_name,
)
from queues.liaison.evidence.verify import verify_package
from queues.models import Article, ArticleKind, Blob, InboundMail, Ticket
from queues.settings import Settings

from .evidence_world import (
    evidence_home,
    evidence_settings,
    partner_check,
    receive,
    repack,
    report,
    short_dir,
    stop_gpg,
    unpack,
)

__all__ = ["evidence_home", "evidence_settings"]  # fixtures used by the tests below

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4 a screenshot of the threats\n"


def two_reports(factory: sessionmaker[Session], settings: Settings) -> tuple[Ticket, bytes, bytes]:
    """A report, then the reporter's follow-up with attachments: hostile and clashing names."""
    first = report(attachments=(("threat.pdf", "application/pdf", PDF),))
    ticket = receive(factory, settings, first)
    second = report(
        subject=f"Re: [Ticket#{ticket.number}] He keeps writing to me",
        body="More of it. Grüße, Rita",
        message_id="<r2@example.net>",
        attachments=(
            ("../../etc/passwd", "text/plain", b"not really\n"),
            ("Скриншот 1.png", "image/png", PNG),
            ("Скриншот 2.png", "image/png", PNG[::-1]),
            ("threat.pdf", "application/pdf", PDF + b"v2"),
        ),
    )
    followup = receive(factory, settings, second)
    assert followup.id == ticket.id
    return ticket, first, second


def build(factory: sessionmaker[Session], settings: Settings, ticket: Ticket, **kw: Any) -> bytes:
    options: dict[str, Any] = {"article_ids": None, "exporter": "op@example.org", "case": None,
                               "now": NOW, **kw}  # fmt: skip
    with factory() as session:
        return build_package(session, ticket.id, settings=settings, **options)


def test_the_package_layout_and_the_raw_mail_byte_for_byte(
    factory: sessionmaker[Session], evidence_settings: Settings, tmp_path: Path
) -> None:
    ticket, first, second = two_reports(factory, evidence_settings)
    files = unpack(build(factory, evidence_settings, ticket))

    assert files["raw/001.eml"] == first
    assert files["raw/002.eml"] == second
    attachments = sorted(n for n in files if n.startswith("attachments/"))
    assert attachments == [
        "attachments/001/threat.pdf",
        "attachments/002/1.png",
        "attachments/002/2.png",
        "attachments/002/passwd",
        "attachments/002/threat.pdf",
    ]
    assert len(set(map(str.lower, attachments))) == 5  # unique, whatever the names sent
    assert files["attachments/001/threat.pdf"] == PDF
    assert sorted(files[n] for n in attachments if n.endswith(".png")) == sorted([PNG, PNG[::-1]])
    assert set(files) - set(attachments) == {
        "raw/001.eml", "raw/002.eml", "summary.txt", "summary.html", "manifest.json",
        "SHA256SUMS", "SHA256SUMS.asc",
    }  # fmt: skip

    # SHA256SUMS: every file but itself and its signature, in `sha256sum -c` form.
    sums = parse_sums(files["SHA256SUMS"])
    assert not sums.problems
    assert set(sums.digests) == set(files) - OUTSIDE_SUMS
    assert all(sums.digests[n] == sha256_hex(files[n]) for n in sums.digests)

    manifest = json.loads(files["manifest.json"])
    assert manifest["ticket"]["number"] == ticket.number
    assert manifest["exporter"] == "op@example.org" and manifest["case"] is None
    assert manifest["exported_at"] == "2026-12-03T12:00:00Z"
    assert {f["path"] for f in manifest["files"]} == set(files) - OUTSIDE_SUMS - {"manifest.json"}
    first_message = manifest["messages"][0]
    assert first_message["raw"] == "raw/001.eml"
    assert first_message["raw_sha256"] == sha256_hex(first)
    assert first_message["raw_sha256_recorded_at_acceptance"] == sha256_hex(first)
    sent_as = {a["filename"] for m in manifest["messages"] for a in m["attachments"]}
    assert sent_as == {"threat.pdf", "passwd", "Скриншот 1.png", "Скриншот 2.png"}

    assert verify_package(repack(files), settings=evidence_settings).ok
    partner_check(repack(files), evidence_settings, tmp_path / "partner")


def test_safe_names() -> None:
    assert safe_name("../../etc/passwd", "x") == "passwd"
    assert safe_name("C:\\Users\\me\\shot.PNG", "x") == "shot.PNG"
    assert safe_name(".htaccess", "x") == "x.htaccess"
    assert safe_name("Скриншот.png", "attachment-3") == "attachment-3.png"
    assert safe_name("résumé final (2).pdf", "x") == "resume_final_2.pdf"
    assert safe_name("a" * 300 + ".txt", "x") == "a" * 96 + ".txt"
    assert safe_name("", "attachment-9") == "attachment-9"


def test_the_summary_is_safe_to_open(
    factory: sessionmaker[Session], evidence_settings: Settings
) -> None:
    hostile = (
        "<script>alert(1)</script><img src=http://tracker.example/x.png>"
        '<a href="javascript:alert(2)">click</a><style>body{background:url(//x.example)}</style>'
    )
    raw = report(subject="<b>Subject</b> <script>x()</script>", body=hostile,
                 extra_headers="X-Evil: <iframe src=//evil.example>\r\n")  # fmt: skip
    ticket = receive(factory, evidence_settings, raw)
    html = unpack(build(factory, evidence_settings, ticket))["summary.html"].decode()

    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in html
    # What a browser would build from it: only our own elements, no attribute that loads or
    # runs anything; the stranger's markup is text.
    tags = _elements(html)
    assert {name for name, _ in tags} <= SUMMARY_ELEMENTS
    attributes = {attr for _, attrs in tags for attr, _ in attrs}
    assert attributes <= {"lang", "charset", "http-equiv", "content", "name", "scope", "class",
                          "id"}  # fmt: skip
    assert sum(1 for name, _ in tags if name == "style") == 1  # ours, in the head
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;iframe src=//evil.example&gt;" in html  # headers are shown, escaped


SUMMARY_ELEMENTS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "table", "tr",
    "th", "td", "pre", "code", "ul", "li", "strong", "span", "section", "br",
}  # fmt: skip


def _elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_a_case_adds_identifiers_country_approvals_and_custody(
    factory: sessionmaker[Session], evidence_settings: Settings
) -> None:
    ticket = receive(factory, evidence_settings, report())
    received = ticket.created_at  # the mail came in on the real clock
    case = CaseInfo(
        case_number="20261203000042",
        requested_by="spec@example.org",
        approvers=["staff-a@example.org", "staff-b@example.org"],
        partner="Test Police Cybercrime",
        country="de",
        country_basis="ip: 81.2.69.160 at 2026-11-30 10:00 UTC, confirmed by staff-a",
        identifiers=[
            {"kind": "account", "value": "darkstar99"},
            {"kind": "ip", "value": "81.2.69.160", "seen_at": "2026-11-30T10:00:00Z"},
        ],
        events=[
            (received + timedelta(hours=1), "spec@example.org", "requested"),
            (received + timedelta(hours=2), "staff-a@example.org", "approved"),
            (received + timedelta(hours=3), "staff-b@example.org", "confirmed"),
        ],
        description="He threatens to find her.",
        victim_country="fr",
        urgency="serious",
    )
    files = unpack(
        build(factory, evidence_settings, ticket, case=case, now=received + timedelta(hours=4))
    )
    manifest = json.loads(files["manifest.json"])
    assert manifest["case"]["number"] == "20261203000042"
    assert manifest["case"]["country"] == "DE" and manifest["case"]["victim_country"] == "FR"
    assert manifest["approvers"] == ["staff-a@example.org", "staff-b@example.org"]
    assert manifest["partner"] == "Test Police Cybercrime"
    assert manifest["case"]["identifiers"][1]["value"] == "81.2.69.160"
    custody = [(c["who"], c["what"]) for c in manifest["chain_of_custody"]]
    assert [w for _, w in custody][-4:] == [
        "requested", "approved", "confirmed",
        f"exported this package, signed with OpenPGP key {manifest['signing_key']}",
    ]  # fmt: skip
    assert custody[0][0] == "mail gateway (smtp)" and custody[0][1].startswith("received")

    text = files["summary.txt"].decode()
    for expected in ("darkstar99", "seen_at: 2026-11-30T10:00:00Z", "He threatens to find her.",
                     "ip: 81.2.69.160 at 2026-11-30", "staff-a@example.org, staff-b@example.org",
                     "Test Police Cybercrime", "serious"):  # fmt: skip
        assert expected in text, expected
    assert re.search(r"Harasser acts from: DE\b", text)
    html = files["summary.html"].decode()
    assert "darkstar99" in html and "staff-b@example.org" in html


def test_which_articles_go_in(factory: sessionmaker[Session], evidence_settings: Settings) -> None:
    ticket, first, second = two_reports(factory, evidence_settings)
    other = receive(factory, evidence_settings, report(subject="Another", message_id="<o@x.net>"))
    with factory() as session:
        articles = session.scalars(
            select(Article).where(Article.ticket_id == ticket.id).order_by(Article.id)
        ).all()
        incoming = [a.id for a in articles if a.kind is ArticleKind.INCOMING]
        ack = next(a.id for a in articles if a.kind is ArticleKind.AUTO)
        foreign = session.scalars(select(Article.id).where(Article.ticket_id == other.id)).first()

    only_second = unpack(build(factory, evidence_settings, ticket, article_ids=[incoming[1]]))
    assert only_second["raw/001.eml"] == second and "raw/002.eml" not in only_second

    # Our own mail (the acknowledgement) goes in as it left, from the outbox.
    with_ack = unpack(build(factory, evidence_settings, ticket, article_ids=[incoming[0], ack]))
    assert with_ack["raw/001.eml"] == first
    assert b"Auto-Submitted: auto-replied" in with_ack["raw/002.eml"]
    assert json.loads(with_ack["manifest.json"])["messages"][1]["kind"] == "auto"

    with pytest.raises(EvidenceError, match="not in ticket"):
        build(factory, evidence_settings, ticket, article_ids=[incoming[0], foreign])
    with pytest.raises(EvidenceError, match="no messages"):
        build(factory, evidence_settings, ticket, article_ids=[])
    with factory() as session, pytest.raises(LookupError):
        build_package(session, 10**9, article_ids=None, exporter="x", case=None,
                      settings=evidence_settings)  # fmt: skip


def test_stored_bytes_that_fail_their_hash_are_never_exported(
    factory: sessionmaker[Session], evidence_settings: Settings
) -> None:
    ticket = receive(
        factory, evidence_settings, report(attachments=(("a.pdf", "application/pdf", PDF),))
    )
    with factory.begin() as session:
        stored = select(InboundMail).where(InboundMail.ticket_id == ticket.id)
        inbound = session.scalars(stored).one()
        original = inbound.raw
        inbound.raw = original.replace(b"darkstar99", b"darkstar98")
    with pytest.raises(EvidenceError, match="recorded when it was received"):
        build(factory, evidence_settings, ticket)
    with factory.begin() as session:
        session.execute(update(InboundMail).where(InboundMail.ticket_id == ticket.id)
                        .values(raw=original))  # fmt: skip
        session.execute(update(Blob).where(Blob.sha256 == sha256_hex(PDF)).values(data=PDF + b"x"))
    with pytest.raises(EvidenceError, match="does not match its SHA-256"):
        build(factory, evidence_settings, ticket)


def test_no_package_without_a_signing_key(
    factory: sessionmaker[Session], evidence_settings: Settings
) -> None:
    ticket = receive(factory, evidence_settings, report())
    empty = short_dir("sb-empty-")
    try:
        settings = Settings(database_url="sqlite://", gnupg_home=str(empty))
        with pytest.raises(KeyringError, match="switchboard init"):
            build(factory, settings, ticket)
    finally:
        stop_gpg(empty)


def _flipped(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x01
    return bytes(changed)


def test_any_changed_byte_of_any_file_fails_verification(
    factory: sessionmaker[Session], evidence_settings: Settings
) -> None:
    ticket, _first, _second = two_reports(factory, evidence_settings)
    files = unpack(build(factory, evidence_settings, ticket))
    assert verify_package(repack(files), settings=evidence_settings).ok
    for name, data in files.items():
        # The first byte, the last but the final line break, and three between.
        end = len(data) - 2 if data.endswith(b"\n") else len(data) - 1
        for position in sorted({0, end // 3, end // 2, 2 * end // 3, end}):
            changed = dict(files, **{name: _flipped(data, position)})
            result = verify_package(repack(changed), settings=evidence_settings)
            assert not result.ok and not result.not_a_package, (name, position)
            assert any(name in p or "signature" in p for p in result.problems), result.problems


def test_missing_added_and_resigned_files_fail_verification(
    factory: sessionmaker[Session], evidence_settings: Settings, tmp_path: Path
) -> None:
    ticket = receive(factory, evidence_settings, report())
    files = unpack(build(factory, evidence_settings, ticket))

    def problems(changed: dict[str, bytes], **kw: object) -> list[str]:
        result = verify_package(repack(changed), settings=evidence_settings, **kw)  # type: ignore[arg-type]
        assert not result.ok and not result.not_a_package
        return result.problems

    without_raw = {k: v for k, v in files.items() if k != "raw/001.eml"}
    assert "raw/001.eml is listed in SHA256SUMS but missing" in problems(without_raw)
    added = dict(files, **{"raw/002.eml": b"From: forged\r\n\r\nforged\r\n"})
    assert "raw/002.eml is not listed in SHA256SUMS" in problems(added)
    unsigned = {k: v for k, v in files.items() if k != "SHA256SUMS.asc"}
    assert "SHA256SUMS.asc (the signature) is missing" in problems(unsigned)

    # Someone changes a file and rewrites SHA256SUMS and the manifest to match: only the
    # signature can tell.
    forged = dict(files, **{"summary.txt": b"nothing happened\n"})
    manifest = json.loads(forged["manifest.json"])
    for entry in manifest["files"]:
        if entry["path"] == "summary.txt":
            entry.update(sha256=sha256_hex(forged["summary.txt"]), size=len(forged["summary.txt"]))
    forged["manifest.json"] = json.dumps(manifest).encode()
    forged["SHA256SUMS"] = b"".join(
        f"{sha256_hex(forged[name])}  {name}\n".encode()
        for name in parse_sums(files["SHA256SUMS"]).digests
    )
    assert [p for p in problems(forged) if "SHA256SUMS.asc" in p]
    assert not [p for p in problems(forged) if "SHA256SUMS.asc" not in p]

    # ... and signs it with a key of their own: not the organisation's.
    other = short_dir("sb-other-")
    try:
        other_settings = Settings(database_url="sqlite://", gnupg_home=str(other),
                                  organisation="Forger")  # fmt: skip
        from queues.liaison.evidence.keys import ensure_org_key, sign_detached

        ensure_org_key(other_settings)
        forged["SHA256SUMS.asc"] = sign_detached(forged["SHA256SUMS"], other_settings)
        assert [p for p in problems(forged) if "SHA256SUMS.asc" in p]
        # With the forger's key named as the trusted one, it checks: the key matters.
        assert verify_package(repack(forged), public_key_text=public_key(other_settings)).ok
    finally:
        stop_gpg(other)


def test_what_is_not_a_package(tmp_path: Path, evidence_settings: Settings) -> None:
    garbage = verify_package(b"PK\x03\x04 but not really a zip", settings=evidence_settings)
    assert garbage.not_a_package and not garbage.ok and garbage.problems == ["not a zip file"]
    no_manifest = verify_package(repack({"SHA256SUMS": b""}), settings=evidence_settings)
    assert no_manifest.not_a_package and "no manifest.json" in no_manifest.problems[0]
    missing = verify_package(tmp_path / "nothing.zip", settings=evidence_settings)
    assert missing.not_a_package and "cannot read" in missing.problems[0]


def test_unsafe_and_duplicate_member_names_are_reported(
    factory: sessionmaker[Session], evidence_settings: Settings, tmp_path: Path
) -> None:
    ticket = receive(factory, evidence_settings, report())
    files = unpack(build(factory, evidence_settings, ticket))
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("../outside.txt", b"x")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("summary.txt", b"second copy")
    result = verify_package(path, settings=evidence_settings)
    assert "unsafe file name in the zip: '../outside.txt'" in result.problems
    assert "summary.txt appears twice in the zip" in result.problems


def test_verification_without_a_trusted_key_says_so(
    factory: sessionmaker[Session], evidence_settings: Settings
) -> None:
    ticket = receive(factory, evidence_settings, report())
    result = verify_package(build(factory, evidence_settings, ticket))
    assert not result.ok and result.problems == ["no key to check the signature against (give one)"]
