"""What the evidence and retention tests share: the organisation's keyring, settings, real
mail through the real ingest path, and a partner's check of a package with coreutils and
gpg alone (no code of ours).

Fixtures here are imported by the test modules that use them.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.delivery import OutboxRunner
from mailgate.parser import parse_message
from queues.ingest import ingest_bytes
from queues.liaison.evidence.keys import ensure_org_key, public_key
from queues.models import Ticket
from queues.settings import Settings

GPG = "/usr/bin/gpg"


def short_dir(prefix: str) -> Path:
    """A directory with a short path: gpg's agent socket must fit in a Unix socket path."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    home.chmod(0o700)
    return home


def stop_gpg(home: Path) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False
    )
    shutil.rmtree(home, ignore_errors=True)


def gpg(home: Path, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Debian's gpg, as a partner runs it, in a keyring of their own."""
    return subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--yes", *args],
        input=data,
        capture_output=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="session")
def evidence_home() -> Iterator[Path]:
    """The organisation's keyring with its signing key, made once per test session."""
    home = short_dir("sb-evid-")
    ensure_org_key(Settings(gnupg_home=str(home), database_url="sqlite://"))
    yield home
    stop_gpg(home)


@pytest.fixture
def evidence_settings(tmp_path: Path, evidence_home: Path) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        addresses={"help@example.org": "general-help", "safety@example.org": "specialist-safety"},
        own_addresses=("noreply@example.org",),
        database_url="sqlite://",
        gnupg_home=str(evidence_home),
        organisation="Example help team",
    )


def report(
    subject: str = "He keeps writing to me",
    body: str = "The user 'darkstar99' writes that he will find me.",
    message_id: str = "<r1@example.net>",
    sender: str = "Rita Requester <rita@example.net>",
    to: str = "help@example.org",
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    extra_headers: str = "",
) -> bytes:
    """A report as it arrives on the wire (CRLF), with attachments as base64 parts."""
    import base64

    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"Date: Wed, 02 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra_headers}"
    )
    if not attachments:
        return (
            head + "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n"
        ).encode()
    parts = [
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n"
    ]
    for name, ctype, data in attachments:
        encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
        parts.append(
            f'--b1\r\nContent-Type: {ctype}\r\nContent-Disposition: attachment; filename="{name}"'
            f"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}"
        )
    return (
        head
        + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        + "".join(parts)
        + "--b1--\r\n"
    ).encode()


def receive(
    factory: sessionmaker[Session], settings: Settings, raw: bytes, to: str = "help@example.org"
) -> Ticket:
    """The raw bytes through the real path: stored as the gateway stores them, parsed by
    the real parser, routed into a ticket; then the outbox runner sends what it queued."""
    outcome = ingest_bytes(
        factory,
        raw,
        settings,
        parse_message,
        source="smtp",
        envelope_from="rita@example.net",
        envelope_to=[to],
    )
    assert outcome.kind in ("new", "followup"), outcome
    # The acknowledgement leaves as the outbox runner sends it (to the Maildir in var_dir).
    OutboxRunner(factory, settings).run_once()
    with factory() as session:
        return session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()


def unpack(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def repack(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def partner_check(package: bytes, settings: Settings, workdir: Path) -> None:
    """What a partner does, outside our code: unzip, `sha256sum -c SHA256SUMS`, import our
    public key into their own keyring and `gpg --verify SHA256SUMS.asc SHA256SUMS`."""
    workdir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        archive.extractall(workdir)
    sums = subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    home = short_dir("sb-partner-")
    try:
        imported = gpg(home, "--import", data=public_key(settings).encode())
        assert imported.returncode == 0, imported.stderr
        checked = gpg(
            home,
            "--status-fd",
            "1",
            "--verify",
            str(workdir / "SHA256SUMS.asc"),
            str(workdir / "SHA256SUMS"),
        )
        assert checked.returncode == 0, checked.stderr
        assert b"[GNUPG:] GOODSIG" in checked.stdout
    finally:
        stop_gpg(home)
