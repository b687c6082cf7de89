"""The disclosure register: every hand-over of personal data to a third party.

What was handed over, to whom, on what basis, approved by whom, by whom and when: the
team's record for its privacy policy (and for the people it helps, who may ask). Rows are
written in the same transaction as the hand-over (queues.liaison.referral), so a referral
that left is always on the register; they are never changed afterwards. Staff read it in
the web UI and export it as CSV (webui.liaison).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.liaison.models import Disclosure

CSV_COLUMNS = (
    ("at", "when (UTC)"),
    ("case_number", "case"),
    ("source_number", "ticket"),
    ("what", "what"),
    ("recipient", "to whom"),
    ("recipient_address", "address"),
    ("basis", "basis"),
    ("approved_by", "approved by"),
    ("handed_over_by", "handed over by"),
    ("channel", "channel"),
    ("message_count", "messages"),
    ("package_size", "bytes"),
    ("package_sha256", "sha256"),
)
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): quote it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def record_disclosure(
    session: Session,
    *,
    at: datetime,
    what: str,
    recipient: str,
    recipient_address: str,
    basis: str,
    approved_by: Iterable[str],
    handed_over_by: str,
    channel: str,
    case_id: int | None = None,
    case_number: str = "",
    source_number: str = "",
    package_sha256: str = "",
    package_size: int = 0,
    message_count: int = 0,
) -> Disclosure:
    """Add one hand-over to the register, in the caller's transaction."""
    row = Disclosure(
        at=at,
        case_id=case_id,
        case_number=case_number,
        source_number=source_number,
        what=what,
        recipient=recipient,
        recipient_address=recipient_address,
        basis=basis,
        approved_by=", ".join(approved_by),
        handed_over_by=handed_over_by,
        channel=channel,
        package_sha256=package_sha256,
        package_size=package_size,
        message_count=message_count,
    )
    session.add(row)
    session.flush()
    return row


def register(session: Session, *, limit: int | None = None) -> list[Disclosure]:
    """The register, newest first."""
    stmt = select(Disclosure).order_by(Disclosure.at.desc(), Disclosure.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(rows: Iterable[Disclosure]) -> str:
    """The register as CSV (RFC 4180: CRLF line ends, a header row), safe for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([label for _, label in CSV_COLUMNS])
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name, _ in CSV_COLUMNS])
    return out.getvalue()
