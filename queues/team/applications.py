"""Applications to volunteer, from the public page /apply, and the texts applicants accept.

An application is not an account: it waits for staff (queues.team.vetting). The page
must never tell who else applied, so `submit` gives the same outcome whether or not the
address applied before; beyond the per-address limit it quietly stores nothing and sends
nothing (which also stops the form being used to flood someone's mailbox). Beyond the
per-client limit the applicant is asked to try later: that says something about their own
network only.

The confidentiality pledge and the code of conduct are versioned texts staff edit: an edit
adds a version and never changes one, and each application records the versions its
applicant accepted. A form filled in while staff changed a text is refused with the new
text to read, so nobody accepts words they were not shown.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from queues.outgoing import HeaderInjectionError, check_header_value, usable_address
from queues.settings import Settings
from queues.team.models import Application, ApplicationState, TeamText, TextKind
from queues.team.notices import queue_notice

MAX_NAME = 200
MAX_TEXT = 5000  # hours, experience, references: a page each at most
MAX_LANGUAGES = 12
MAX_TEXT_BODY = 50_000  # a pledge or code of conduct
LIMIT_WINDOW = timedelta(hours=24)
RECEIVED = "application_received"  # templates/mail/application_received/
# A language tag as people write it (BCP 47's shape, loosely): "en", "pt-BR", "yue".
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,2}")


class ApplicationError(ValueError):
    """The application cannot be taken as it is; the message is for the applicant."""


class Outcome(enum.Enum):
    TAKEN = "taken"  # stored (or, beyond the address's limit, quietly not): same answer
    TRY_LATER = "try-later"  # too many from this client: ask to come back later


@dataclass
class Submission:
    """What the applicant typed (checked by `check`)."""

    name: str
    email: str
    languages: list[str] = field(default_factory=list)
    timezone: str = "UTC"
    hours: str = ""
    experience: str = ""
    references: str = ""
    pledge_version: int = 0
    conduct_version: int = 0


# --- the texts -------------------------------------------------------------------------------


def current_text(session: Session, kind: TextKind) -> TeamText:
    """The newest version of a text (migration 0012 wrote version 1 of each)."""
    found = session.scalar(
        select(TeamText).where(TeamText.kind == kind).order_by(TeamText.version.desc()).limit(1)
    )
    if found is None:
        raise ApplicationError(f"There is no {kind.value} text yet: staff must write one.")
    return found


def text_versions(session: Session, kind: TextKind) -> list[TeamText]:
    stmt = select(TeamText).where(TeamText.kind == kind).order_by(TeamText.version.desc())
    return list(session.scalars(stmt))


def edit_text(session: Session, kind: TextKind, body: str, by: str, now: datetime) -> TeamText:
    """Add a new version of a text (the old ones stay: applications name the one accepted)."""
    body = body.replace("\r\n", "\n").replace("\0", "").strip()
    if not body:
        raise ApplicationError("The text is empty.")
    if len(body) > MAX_TEXT_BODY:
        raise ApplicationError(f"The text can have at most {MAX_TEXT_BODY:,} characters.")
    latest = session.scalar(select(func.max(TeamText.version)).where(TeamText.kind == kind))
    if latest is not None and current_text(session, kind).body == body:
        raise ApplicationError("The text is unchanged.")
    text = TeamText(kind=kind, version=(latest or 0) + 1, body=body, created_at=now, created_by=by)
    session.add(text)
    session.flush()
    return text


# --- checking and taking an application ---------------------------------------------------


@cache
def timezone_names() -> tuple[str, ...]:
    """The IANA time zone names this system knows, sorted (read once: it walks the disk)."""
    return tuple(sorted(available_timezones()))


def parse_languages(value: str) -> list[str]:
    """Language tags from "en, de; pt-BR" (lower-cased, in order, each once)."""
    tags: list[str] = []
    for piece in re.split(r"[,;\s]+", value.strip().lower().replace("_", "-")):
        if not piece:
            continue
        if not _LANGUAGE.fullmatch(piece):
            raise ApplicationError(
                f"{piece[:20]!r} is not a language code: write codes such as en, de, pt-br."
            )
        if piece not in tags:
            tags.append(piece)
    if len(tags) > MAX_LANGUAGES:
        raise ApplicationError(f"Name at most {MAX_LANGUAGES} languages.")
    return tags


def check(submission: Submission) -> Submission:
    """The submission cleaned (stripped, lower-cased address) or ApplicationError."""
    name = " ".join(submission.name.split())
    email = submission.email.strip().lower()
    if not name or len(name) > MAX_NAME:
        raise ApplicationError(f"Give your name (at most {MAX_NAME} characters).")
    try:
        check_header_value("name", name)
    except HeaderInjectionError:
        raise ApplicationError("Give your name on one line.") from None
    if len(email) > 254 or not usable_address(email) or "." not in email.rpartition("@")[2]:
        raise ApplicationError("Give an email address we can write to.")
    if not submission.languages:
        raise ApplicationError("Name at least one language you can answer in.")
    if submission.timezone not in timezone_names():
        raise ApplicationError("Choose your time zone from the list.")
    texts = {}
    for label, value in (
        ("hours", submission.hours),
        ("experience", submission.experience),
        ("references", submission.references),
    ):
        cleaned = value.replace("\r\n", "\n").replace("\0", "").strip()
        if len(cleaned) > MAX_TEXT:
            raise ApplicationError(f"Your {label}: at most {MAX_TEXT:,} characters, please.")
        texts[label] = cleaned
    if not texts["hours"]:
        raise ApplicationError("Tell us the hours you can give.")
    return Submission(
        name=name,
        email=email,
        languages=list(submission.languages),
        timezone=submission.timezone,
        pledge_version=submission.pledge_version,
        conduct_version=submission.conduct_version,
        **texts,
    )


def _count_since(
    session: Session, column: InstrumentedAttribute[str], value: str, since: datetime
) -> int:
    stmt = select(func.count()).where(column == value, Application.created_at > since)
    return int(session.scalar(stmt) or 0)


def submit(
    session: Session,
    submission: Submission,
    client_key: str,
    settings: Settings,
    now: datetime,
    *,
    language: str = "en",
) -> Outcome:
    """Take an application; ApplicationError when it must be corrected.

    TAKEN for a stored application, and also beyond the address's limit (then nothing is
    stored or sent); TRY_LATER beyond the client's limit.
    """
    clean = check(submission)
    pledge = current_text(session, TextKind.PLEDGE)
    conduct = current_text(session, TextKind.CONDUCT)
    if (clean.pledge_version, clean.conduct_version) != (pledge.version, conduct.version):
        raise ApplicationError(
            "The pledge or the code of conduct changed while you filled in the form: "
            "please read them again below and accept them."
        )
    since = now - LIMIT_WINDOW
    if client_key and (
        _count_since(session, Application.client_key, client_key, since)
        >= settings.apply_per_client_per_day
    ):
        return Outcome.TRY_LATER
    if (
        _count_since(session, Application.email, clean.email, since)
        >= settings.apply_per_address_per_day
    ):
        return Outcome.TAKEN  # the same answer as when it is stored (module docstring)
    session.add(
        Application(
            name=clean.name,
            email=clean.email,
            languages=clean.languages,
            timezone=clean.timezone,
            hours=clean.hours,
            experience=clean.experience,
            references=clean.references,
            pledge_version=pledge.version,
            conduct_version=conduct.version,
            client_key=client_key[:100],
            state=ApplicationState.WAITING,
            created_at=now,
        )
    )
    session.flush()
    queue_notice(
        session,
        RECEIVED,
        (clean.name, clean.email),
        {"name": clean.name},
        settings,
        now,
        language=language,
    )
    return Outcome.TAKEN


# --- lists for staff -------------------------------------------------------------------------


def waiting(session: Session) -> list[Application]:
    """Applications nobody has decided on, oldest first."""
    stmt = (
        select(Application)
        .where(Application.state == ApplicationState.WAITING)
        .order_by(Application.created_at, Application.id)
    )
    return list(session.scalars(stmt))


def decided(session: Session, limit: int = 50) -> list[Application]:
    """The latest decisions, newest first."""
    stmt = (
        select(Application)
        .where(Application.state != ApplicationState.WAITING)
        .order_by(Application.decided_at.desc(), Application.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def earlier_from(session: Session, application: Application) -> list[Application]:
    """Other applications from the same address (for staff only: the applicant never sees
    this)."""
    stmt = (
        select(Application)
        .where(Application.email == application.email, Application.id != application.id)
        .order_by(Application.created_at.desc())
    )
    return list(session.scalars(stmt))
