"""Ticket numbers and the subject tag that carries them through a conversation.

A number is the creation date and a global counter: 20261122000042. It is unique because
the counter is advanced by one atomic UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL).

The tag is "[Ticket#20261122000042]". Mail clients prepend "Re:", "AW:", "Fwd:", some
translate or drop the brackets, add spaces ("Ticket #2026...") or put the tag elsewhere;
the reader accepts all of those, but only a full-length number, so that dates or order
numbers in a subject are not taken for ours.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from queues.models import Counter, table_of, utcnow

COUNTER = "ticket"
SEQ_DIGITS = 6
NUMBER_LEN = 8 + SEQ_DIGITS

_COUNTERS = table_of(Counter)
_ADVANCE = (
    update(_COUNTERS)
    .where(_COUNTERS.c.name == COUNTER)
    .values(value=_COUNTERS.c.value + 1)
    .returning(_COUNTERS.c.value)
)

# Reply and forward prefixes in the languages our requesters write in (and what common
# clients produce): Re, Aw (de), Antw (nl), Sv (nordic), Vs (fi), Ref, Fwd, Fw, Wg (de),
# Tr (fr), Rv (es/it), Enc (pt), Doorst (nl), Réf; with counters like "Re[2]:" or "Re(3):".
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|antw|antwort|sv|vs|ref|réf|rif|fwd?|wg|tr|rv|enc|doorst|odp|res|"
    r"r|i|fw|vb|wtr|ynt|atb|trans|resp)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def allocate_number(session: Session, now: datetime | None = None) -> str:
    """Take the next ticket number inside the caller's transaction."""
    now = now or utcnow()
    conn = session.connection()
    value = conn.execute(_ADVANCE).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():
                session.connection().execute(insert(_COUNTERS).values(name=COUNTER, value=0))
        except IntegrityError:
            pass  # another process created it first: fine, just advance it
        value = session.connection().execute(_ADVANCE).scalar_one()
    # The tag reader accepts exactly NUMBER_LEN digits, so the counter part wraps instead of
    # growing a seventh digit after a million tickets; with the date in front a number
    # repeats only if a million tickets were opened in one day (the unique key refuses it).
    return f"{now:%Y%m%d}{value % 10**SEQ_DIGITS:0{SEQ_DIGITS}d}"


def tag_regex(prefix: str) -> re.Pattern[str]:
    """A regex finding our number after `prefix` ("Ticket#"), tolerant of client rewrites."""
    word = re.escape(prefix.rstrip("#").strip())
    # "[Ticket#N]", "Ticket# N", "[Ticket #N]", "Ticket N", "(Ticket#N)"; N is exactly our length
    return re.compile(rf"{word}\s*#?\s*:?\s*(\d{{{NUMBER_LEN}}})(?!\d)", re.IGNORECASE)


def format_tag(prefix: str, number: str) -> str:
    return f"[{prefix}{number}]"


def find_tagged_numbers(subject: str, prefix: str) -> list[str]:
    """All ticket numbers tagged in `subject`, in order of appearance, without repeats."""
    seen: dict[str, None] = {}
    for m in tag_regex(prefix).finditer(subject):
        seen.setdefault(m.group(1), None)
    return list(seen)


def strip_reply_prefixes(subject: str) -> str:
    return _PREFIX.sub("", subject, count=1).strip()


def clean_subject(subject: str, prefix: str) -> str:
    """The subject without reply prefixes and without our tag (for display and new mail)."""
    without_tag = tag_regex(prefix).sub("", subject)
    without_tag = re.sub(r"\[\s*\]|\(\s*\)", "", without_tag)
    return re.sub(r"\s{2,}", " ", strip_reply_prefixes(without_tag)).strip()


def tagged_subject(subject: str, prefix: str, number: str, reply: bool = True) -> str:
    """`subject` as we send it: "Re: [Ticket#N] original subject"."""
    base = clean_subject(subject, prefix) or "(no subject)"
    tagged = f"{format_tag(prefix, number)} {base}"
    return f"Re: {tagged}" if reply else tagged
