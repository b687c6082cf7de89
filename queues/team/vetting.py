"""Vetting: staff approve an application (an account is made) or decline it, and every
account records who vetted it and when.

Approving creates the account with the role staff chose, the applicant's time zone and
languages, a mentor and probation if staff chose them, and a password nobody knows; the
applicant sets their own through a single-use link that expires
(`settings.set_password_hours`), sent in fixed-wording mail through the outbox. Only the
link's SHA-256 is stored, so reading the database gives no one a way in. Declining records
the reason for staff; the mail to the applicant is the same kind words whatever it was.

Staff may also add an agent directly (webui.staff, `switchboard user add --vetted-by`):
`record_vetting` gives that account the same record.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from queues.access import find_user, set_password
from queues.accounts import create_user
from queues.audit import record_staff_change
from queues.models import Role, User
from queues.settings import Settings
from queues.team.models import AgentProfile, Application, ApplicationState, SetPasswordToken
from queues.team.notices import queue_notice

APPROVED = "application_approved"  # templates/mail/application_approved/
DECLINED = "application_declined"  # templates/mail/application_declined/
NEW_LINK = "set_password"  # templates/mail/set_password/
TOKEN_BYTES = 32
MAX_REASON = 2000
# Where the set-password page lives (webui.apply); the core names it for the mail only.
SET_PASSWORD_PATH = "/account/set-password/"  # noqa: S105 (a URL path, not a password)


class VettingError(ValueError):
    """A decision that cannot be made; the message is for staff."""


@dataclass(frozen=True)
class Approval:
    """What staff chose when approving."""

    role: Role = Role.VOLUNTEER
    mentor_id: int | None = None
    probation: bool = True
    require_twofactor: bool = False


@dataclass(frozen=True)
class Approved:
    user_id: int
    link: str  # the set-password link as mailed (for tests and the staff page: never logged)


def profile(session: Session, user_id: int) -> AgentProfile:
    """The account's profile, made empty on first need (accounts older than the team)."""
    found = session.get(AgentProfile, user_id)
    if found is None:
        found = AgentProfile(user_id=user_id)
        session.add(found)
        session.flush()
    return found


def record_vetting(
    session: Session, user: User, vetted_by: str, now: datetime, application_id: int | None = None
) -> AgentProfile:
    """Record who vetted `user` (a staff member's address, or a name the command was given)."""
    vetted_by = " ".join(vetted_by.split())[:320]
    if not vetted_by:
        raise VettingError("Say who vetted this agent.")
    found = profile(session, user.id)
    found.vetted_by = vetted_by
    found.vetted_at = now
    if application_id is not None:
        found.application_id = application_id
    session.flush()
    return found


def _mentor(session: Session, mentor_id: int | None, agent_email: str) -> User | None:
    if mentor_id is None:
        return None
    mentor = session.get(User, mentor_id)
    if mentor is None or not mentor.active:
        raise VettingError("Choose a mentor among the active agents.")
    if mentor.email == agent_email:
        raise VettingError("Nobody can be their own mentor.")
    return mentor


def _waiting(application: Application) -> None:
    if application.state is not ApplicationState.WAITING:
        raise VettingError(
            f"This application was already {application.state.value} "
            f"by {application.decided_by or 'someone'}."
        )


def approve(
    session: Session,
    application: Application,
    staff: User,
    choice: Approval,
    settings: Settings,
    now: datetime,
    link_base: str,
    *,
    client: str | None = None,
) -> Approved:
    """Make the account, record the vetting, and mail the applicant their link."""
    _waiting(application)
    if staff.role is not Role.STAFF:
        raise VettingError("Only staff vet applications.")
    if choice.probation and choice.mentor_id is None:
        raise VettingError("Probation needs a mentor: choose one, or no probation.")
    if find_user(session, application.email) is not None:
        raise VettingError(f"An account for {application.email} already exists.")
    mentor = _mentor(session, choice.mentor_id, application.email)
    # A password nobody knows until the applicant sets theirs through the link.
    user = create_user(
        session, application.email, choice.role, secrets.token_urlsafe(32), application.name
    )
    user.timezone = application.timezone
    user.languages = list(application.languages)
    session.flush()
    found = record_vetting(session, user, staff.email, now, application.id)
    found.mentor_id = mentor.id if mentor is not None else None
    found.on_probation = choice.probation
    found.probation_started_at = now if choice.probation else None
    found.twofactor_required = choice.require_twofactor
    application.state = ApplicationState.APPROVED
    application.decided_at = now
    application.decided_by = staff.email
    application.user_id = user.id
    token = issue_token(session, user, now, timedelta(hours=settings.set_password_hours))
    link = set_password_link(link_base, token)
    queue_notice(
        session,
        APPROVED,
        (application.name, application.email),
        {
            "name": application.name,
            "link": link,
            "hours": _hours(settings.set_password_hours),
            "role": choice.role.value,
            "probation": choice.probation,
        },
        settings,
        now,
        language=_language(application),
    )
    record_staff_change(
        session, staff, client, f"application {application.id} approved as {choice.role.value}"
    )
    session.flush()
    return Approved(user.id, link)


def decline(
    session: Session,
    application: Application,
    staff: User,
    reason: str,
    settings: Settings,
    now: datetime,
    *,
    client: str | None = None,
) -> None:
    """Decline with a reason (kept for staff; the applicant's mail does not carry it)."""
    _waiting(application)
    if staff.role is not Role.STAFF:
        raise VettingError("Only staff vet applications.")
    reason = reason.replace("\r\n", "\n").replace("\0", "").strip()
    if not reason:
        raise VettingError("Give the reason for declining (staff see it; the applicant does not).")
    if len(reason) > MAX_REASON:
        raise VettingError(f"The reason can have at most {MAX_REASON:,} characters.")
    application.state = ApplicationState.DECLINED
    application.decided_at = now
    application.decided_by = staff.email
    application.reason = reason
    queue_notice(
        session,
        DECLINED,
        (application.name, application.email),
        {"name": application.name},
        settings,
        now,
        language=_language(application),
    )
    record_staff_change(session, staff, client, f"application {application.id} declined")
    session.flush()


def _language(application: Application) -> str:
    return negotiate_language(application.languages)


def negotiate_language(languages: list[str]) -> str:
    """The first of these languages that has a catalog (queues.i18n), else English."""
    from queues.i18n import negotiate

    return negotiate(*languages)


def _hours(hours: float) -> str:
    return f"{hours:g} hours" if hours % 24 else f"{hours / 24:g} days"


# --- the set-password link -------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_password_link(base: str, token: str) -> str:
    return f"{base.rstrip('/')}{SET_PASSWORD_PATH}{token}"


def issue_token(session: Session, user: User, now: datetime, lifetime: timedelta) -> str:
    """A new single-use token for `user` (earlier unused ones stop working); shown once."""
    session.execute(
        update(SetPasswordToken)
        .where(SetPasswordToken.user_id == user.id, SetPasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        SetPasswordToken(
            user_id=user.id,
            token_sha256=_digest(token),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


def send_new_link(
    session: Session,
    user: User,
    staff: User,
    settings: Settings,
    now: datetime,
    link_base: str,
    *,
    client: str | None = None,
) -> str:
    """Mail `user` a fresh set-password link (the old one stops working); returns it."""
    if not user.active:
        raise VettingError("The account is disabled: enable it first.")
    token = issue_token(session, user, now, timedelta(hours=settings.set_password_hours))
    link = set_password_link(link_base, token)
    queue_notice(
        session,
        NEW_LINK,
        (user.name, user.email),
        {"name": user.name, "link": link, "hours": _hours(settings.set_password_hours)},
        settings,
        now,
        language=negotiate_language(user.languages),
    )
    record_staff_change(session, staff, client, f"account {user.email} sent a set-password link")
    session.flush()
    return link


def token_user(session: Session, token: str, now: datetime) -> User | None:
    """The account a valid (unused, unexpired) token is for, else None."""
    if not token or len(token) > 200:
        return None
    row = session.execute(
        select(SetPasswordToken, User)
        .join(User, User.id == SetPasswordToken.user_id)
        .where(SetPasswordToken.token_sha256 == _digest(token))
    ).one_or_none()
    if row is None:
        return None
    found, user = row
    if found.used_at is not None or found.expires_at <= now or not user.active:
        return None
    return user


def use_token(session: Session, token: str, password: str, now: datetime) -> User:
    """Set the password of the token's account and use the token up; VettingError when the
    link is no longer valid, ValueError (queues.access) when the password is unfit."""
    user = token_user(session, token, now)
    if user is None:
        raise VettingError("This link is not valid any more. Ask staff for a new one.")
    set_password(session, user, password)  # checks it, and ends any session
    used = session.execute(
        update(SetPasswordToken)
        .where(SetPasswordToken.token_sha256 == _digest(token), SetPasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(used, "rowcount", 0) != 1:  # someone used it a moment ago
        raise VettingError("This link is not valid any more. Ask staff for a new one.")
    session.flush()
    return user
