"""Build an evidence package: the zip a partner police force (or a court) receives.

The layout is a contract (DESIGN.md, "Police liaison and evidence packages"):

    raw/001.eml ...        the stored raw bytes of each chosen message, unchanged
    attachments/001/...    the decoded attachments of message 001, safe and unique names
    summary.html, summary.txt
    manifest.json          ticket, case, exporter, approvers, partner, times, files + sha256
    SHA256SUMS             `sha256sum -c` format: every file above
    SHA256SUMS.asc         detached OpenPGP signature by the organisation's key
    SHA256SUMS.tsr         RFC 3161 timestamp reply over SHA256SUMS, when configured

Before anything is written, each raw message is checked against the SHA-256 recorded when
it was accepted, and each attachment against the hash it is stored under: a package never
carries bytes that differ from what arrived.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.liaison.evidence import manifest as mf
from queues.liaison.evidence.keys import KeyringError, org_key_fingerprint, sign_detached
from queues.liaison.evidence.summary import raw_headers, render_summary
from queues.liaison.evidence.timestamp import request_timestamp
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    Blob,
    InboundMail,
    OutboxMessage,
    Ticket,
    utcnow,
)
from queues.settings import Settings

Progress = Callable[[int, int], None]


class EvidenceError(ValueError):
    """A package cannot be built: wrong articles, or stored bytes that fail their hash."""


@dataclass(frozen=True)
class CaseInfo:
    """What a police-liaison case adds to a package (queues.liaison.cases builds it).

    events: the chain of custody of the case, (when, who, what): requested, reviewed,
    approved, confirmed... The package adds receiving, storing and exporting itself.
    identifiers: the harasser's identifiers, e.g. {"kind": "ip", "value": "192.0.2.7",
    "seen_at": "2026-11-30T10:00:00Z"}; shown key by key.
    """

    case_number: str
    requested_by: str
    approvers: list[str]
    partner: str | None
    country: str | None
    country_basis: str
    identifiers: list[dict[str, str]]
    events: list[tuple[datetime, str, str]]
    description: str = ""
    victim_country: str | None = None
    urgency: str = ""


def build_package(
    session: Session,
    ticket_id: int,
    *,
    article_ids: Sequence[int] | None,
    exporter: str,
    case: CaseInfo | None,
    settings: Settings,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> bytes:
    """The signed evidence zip for `ticket_id`'s chosen articles (None = every incoming one).

    EvidenceError for articles not in the ticket or bytes that fail their recorded hash;
    KeyringError when there is no signing key (run `switchboard init`); TimestampError
    when a timestamp authority is configured and gives no valid token.
    """
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise LookupError(f"no ticket with id {ticket_id}")
    fingerprint = org_key_fingerprint(settings)
    if fingerprint is None:
        raise KeyringError("there is no signing key: run `switchboard init` to create it")
    exported_at = (now or utcnow()).astimezone(UTC).replace(microsecond=0)
    articles = _chosen_articles(session, ticket, article_ids)

    files: list[tuple[str, bytes]] = []
    messages: list[dict[str, Any]] = []
    for position, article in enumerate(articles, 1):
        message, message_files = _message(session, ticket, article, position, len(articles))
        messages.append(message)
        files.extend(message_files)
        if progress is not None:
            progress(position, len(articles))

    custody = _custody(ticket, messages, case, exporter, exported_at, fingerprint)
    context = {
        "organisation": settings.organisation,
        "ticket": _ticket_info(ticket),
        "case": _case_context(case),
        "exporter": exporter,
        "exported_at": _iso(exported_at),
        "signing_key": fingerprint,
        "timestamp_authority": settings.timestamp_url or None,
        "messages": messages,
        "timeline": _timeline(messages),
        "custody": [(_iso(at), who, what) for at, who, what in custody],
    }
    summary_txt, summary_html = render_summary(context)
    files += [("summary.txt", summary_txt), ("summary.html", summary_html)]

    manifest = {
        "format": mf.FORMAT,
        "version": mf.FORMAT_VERSION,
        "organisation": settings.organisation,
        "ticket": _ticket_info(ticket),
        "case": _case_manifest(case),
        "exporter": exporter,
        "approvers": list(case.approvers) if case else [],
        "partner": case.partner if case else None,
        "exported_at": _iso(exported_at),
        "signing_key": fingerprint,
        "timestamp_authority": settings.timestamp_url or None,
        "messages": [_message_manifest(m) for m in messages],
        "chain_of_custody": [
            {"at": _iso(at), "who": who, "what": what} for at, who, what in custody
        ],
        "files": [mf.file_entry(path, data) for path, data in files],
    }
    files.append((mf.MANIFEST, mf.manifest_bytes(manifest)))

    sums = mf.sums_bytes(files)
    files.append((mf.SUMS, sums))
    files.append((mf.SIGNATURE, sign_detached(sums, settings)))
    if settings.timestamp_url:
        files.append((mf.TIMESTAMP, request_timestamp(sums, settings)))
    return _zip(files, exported_at)


def _chosen_articles(
    session: Session, ticket: Ticket, article_ids: Sequence[int] | None
) -> list[Article]:
    stmt = select(Article).where(Article.ticket_id == ticket.id).order_by(Article.id)
    if article_ids is None:
        chosen = list(session.scalars(stmt.where(Article.kind == ArticleKind.INCOMING)))
    else:
        wanted = set(article_ids)
        chosen = list(session.scalars(stmt.where(Article.id.in_(wanted))))
        missing = wanted - {a.id for a in chosen}
        if missing:
            raise EvidenceError(
                f"articles {', '.join(map(str, sorted(missing)))} are not in ticket {ticket.number}"
            )
    if not chosen:
        raise EvidenceError(f"ticket {ticket.number} has no messages to export")
    return chosen


def _message(
    session: Session, ticket: Ticket, article: Article, position: int, total: int
) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """One article's entry for the summary and manifest, and its files in the package."""
    number = f"{position:0{max(3, len(str(total)))}d}"
    files: list[tuple[str, bytes]] = []
    message: dict[str, Any] = {
        "number": number,
        "article_id": article.id,
        "kind": article.kind.value,
        "from": _address(article.from_name, article.from_email),
        "subject": article.subject,
        "message_id": article.message_id,
        "date": _iso(article.date) if article.date else None,
        "stored_at": _iso(article.created_at),
        "body_text": article.body_text,
        "file": None,
        "raw_sha256": None,
        "raw_size": None,
        "recorded_sha256": None,
        "received_at": None,
        "source": None,
        "envelope_from": None,
        "envelope_to": [],
        "headers": [
            ("From", _address(article.from_name, article.from_email)),
            ("Subject", article.subject),
        ],
        "no_raw_reason": "",
        "attachments": [],
    }
    raw = _raw(session, article, message)
    if raw is not None:
        path = f"raw/{number}.eml"
        files.append((path, raw))
        message.update(
            file=path,
            raw_sha256=mf.sha256_hex(raw),
            raw_size=len(raw),
            headers=raw_headers(raw),
        )
    taken: set[str] = set()
    for attachment in article.attachments:
        data = _attachment_bytes(session, ticket, article, attachment)
        name = _unique(safe_name(attachment.filename, f"attachment-{attachment.id}"), taken)
        path = f"attachments/{number}/{name}"
        files.append((path, data))
        message["attachments"].append(
            {
                "path": path,
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "size": len(data),
                "sha256": attachment.sha256,
            }
        )
    return message, files


def _raw(session: Session, article: Article, message: dict[str, Any]) -> bytes | None:
    """The raw bytes of `article` as received (incoming) or as queued for sending (ours)."""
    if article.inbound_id is not None:
        inbound = session.get(InboundMail, article.inbound_id)
        if inbound is not None:
            raw = bytes(inbound.raw)
            if mf.sha256_hex(raw) != inbound.raw_sha256:
                raise EvidenceError(
                    f"the stored raw message of article {article.id} does not match the SHA-256 "
                    "recorded when it was received: it must not be exported"
                )
            message.update(
                recorded_sha256=inbound.raw_sha256,
                received_at=_iso(inbound.received_at),
                source=inbound.source,
                envelope_from=inbound.envelope_from,
                envelope_to=list(inbound.envelope_to or []),
            )
            return raw
    if article.kind in (ArticleKind.OUTGOING, ArticleKind.AUTO):
        sent = session.scalar(
            select(OutboxMessage).where(OutboxMessage.article_id == article.id).limit(1)
        )
        if sent is not None:
            message.update(
                received_at=_iso(sent.sent_at or sent.created_at),
                source=f"sent by us ({sent.state.value})",
                envelope_from=sent.envelope_from,
                envelope_to=list(sent.recipients),
            )
            return bytes(sent.raw)
    message["no_raw_reason"] = (
        "an internal note is never mail"
        if article.kind is ArticleKind.NOTE
        else "the raw message is not stored (it came in another way or was removed)"
    )
    return None


def _attachment_bytes(
    session: Session, ticket: Ticket, article: Article, attachment: Attachment
) -> bytes:
    blob = session.get(Blob, attachment.sha256)
    if blob is None or mf.sha256_hex(bytes(blob.data)) != attachment.sha256:
        raise EvidenceError(
            f"attachment {attachment.id} of ticket {ticket.number} (article {article.id}) is "
            "missing or does not match its SHA-256: it must not be exported"
        )
    return bytes(blob.data)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(filename: str, fallback: str) -> str:
    """A member name anyone's unzip and `sha256sum -c` handle: ASCII letters, digits, '.',
    '_', '-'; no path, no leading dot; the extension kept. The name as sent is in the
    manifest and the summary."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, dot, extension = ascii_name.rpartition(".")
    if not dot:
        stem, extension = ascii_name, ""
    extension = _UNSAFE.sub("", extension)[:16]
    stem = _UNSAFE.sub("_", stem).strip("._-")[: 99 - len(extension)].strip("._-") or fallback
    return f"{stem}.{extension}" if extension else stem


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    candidate, counter = name, 1
    while candidate.lower() in taken:
        counter += 1
        candidate = f"{stem}-{counter}.{extension}" if extension else f"{stem}-{counter}"
    taken.add(candidate.lower())
    return candidate


def _address(name: str, email: str) -> str:
    if name and email:
        return f"{name} <{email}>"
    return email or name


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _ticket_info(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "queue": ticket.queue.slug,
        "subject": ticket.subject,
        "created_at": _iso(ticket.created_at),
    }


def _identifier_pairs(identifier: dict[str, str]) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in identifier.items() if str(v).strip()]


def _country(code: str | None) -> str | None:
    """ "DE (Germany)" where pycountry knows the code; the code alone otherwise."""
    if not code:
        return None
    try:
        import pycountry  # the liaison package's dependency; optional here

        found = pycountry.countries.get(alpha_2=code.upper())
    except (ImportError, LookupError, KeyError):
        found = None
    return f"{code.upper()} ({found.name})" if found is not None else code.upper()


def _case_context(case: CaseInfo | None) -> dict[str, Any] | None:
    if case is None:
        return None
    return {
        "number": case.case_number,
        "requested_by": case.requested_by,
        "approvers": list(case.approvers),
        "partner": case.partner,
        "country": _country(case.country),
        "country_basis": case.country_basis,
        "victim_country": _country(case.victim_country),
        "urgency": case.urgency,
        "description": case.description,
        "identifiers": [_identifier_pairs(i) for i in case.identifiers],
    }


def _case_manifest(case: CaseInfo | None) -> dict[str, Any] | None:
    if case is None:
        return None
    return {
        "number": case.case_number,
        "requested_by": case.requested_by,
        "approvers": list(case.approvers),
        "partner": case.partner,
        "country": case.country.upper() if case.country else None,
        "country_basis": case.country_basis,
        "victim_country": case.victim_country.upper() if case.victim_country else None,
        "urgency": case.urgency or None,
        "identifiers": [dict(i) for i in case.identifiers],
    }


def _message_manifest(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": message["number"],
        "article_id": message["article_id"],
        "kind": message["kind"],
        "message_id": message["message_id"],
        "from": message["from"],
        "date": message["date"],
        "received_at": message["received_at"],
        "received_via": message["source"],
        "stored_at": message["stored_at"],
        "raw": message["file"],
        "raw_sha256": message["raw_sha256"],
        "raw_sha256_recorded_at_acceptance": message["recorded_sha256"],
        "raw_size": message["raw_size"],
        "attachments": [
            {k: a[k] for k in ("path", "filename", "content_type", "size", "sha256")}
            for a in message["attachments"]
        ],
    }


def _timeline(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """What happened, in order: when each message says it was written, and arrived."""
    rows: list[tuple[str, str]] = []
    for m in messages:
        who = m["from"] or "unknown sender"
        if m["date"]:
            rows.append((m["date"], f"message {m['number']} written by {who} (its Date header)"))
        if m["received_at"] and m["kind"] == ArticleKind.INCOMING.value:
            rows.append((m["received_at"], f"message {m['number']} received by us"))
        elif m["received_at"]:
            rows.append((m["received_at"], f"message {m['number']} sent by us"))
    return sorted(rows)


def _custody(
    ticket: Ticket,
    messages: list[dict[str, Any]],
    case: CaseInfo | None,
    exporter: str,
    exported_at: datetime,
    fingerprint: str,
) -> list[tuple[datetime, str, str]]:
    """Who held the evidence, from its arrival to this package, oldest first."""
    rows: list[tuple[datetime, str, str]] = []
    for m in messages:
        if m["kind"] == ArticleKind.INCOMING.value and m["received_at"] and m["file"]:
            rows.append(
                (
                    _parse_iso(m["received_at"]),
                    f"mail gateway ({m['source']})",
                    f"received message {m['number']}, SHA-256 {m['recorded_sha256']} recorded",
                )
            )
        rows.append(
            (
                _parse_iso(m["stored_at"]),
                "switchboard",
                f"stored message {m['number']} in ticket {ticket.number}",
            )
        )
    if case is not None:
        rows.extend((at.astimezone(UTC), who, what) for at, who, what in case.events)
    rows.append(
        (exported_at, exporter, f"exported this package, signed with OpenPGP key {fingerprint}")
    )
    return sorted(rows, key=lambda row: row[0])


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _zip(files: list[tuple[str, bytes]], when: datetime) -> bytes:
    buffer = io.BytesIO()
    stamp = when.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in files:
            info = zipfile.ZipInfo(mf.check_path(path), date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # rw-r--r-- when unpacked (Unix)
            archive.writestr(info, data)
    return buffer.getvalue()
