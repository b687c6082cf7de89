"""Applications (queues.team.applications) and vetting (queues.team.vetting): the same answer
whether or not an address applied before, limits per client and address, versioned texts,
approval with a single-use expiring link, declining, vetting on record; on SQLite and
PostgreSQL with a controlled clock."""

from __future__ import annotations

import email
import email.policy
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queues.accounts import verify_password
from queues.audit import AuditEvent
from queues.models import Role, User
from queues.settings import Settings
from queues.team import applications, vetting
from queues.team.applications import ApplicationError, Outcome, Submission
from queues.team.models import (
    AgentProfile,
    Application,
    ApplicationState,
    SetPasswordToken,
    TextKind,
)

from .team_world import T0, Team, outbox, session, team

__all__ = ["session", "team"]
LINK_BASE = "https://switchboard.example.org"


def submission(
    session: Session, email_address: str = "ann@example.net", **kw: object
) -> Submission:
    values: dict[str, object] = {
        "name": "Ann Applicant",
        "email": email_address,
        "languages": ["en", "de"],
        "timezone": "Europe/Berlin",
        "hours": "Four hours a week, evenings",
        "experience": "Two years on a helpline",
        "references": "Bea, bea@example.net",
        "pledge_version": applications.current_text(session, TextKind.PLEDGE).version,
        "conduct_version": applications.current_text(session, TextKind.CONDUCT).version,
    }
    values.update(kw)
    return Submission(**values)  # type: ignore[arg-type]


def applications_of(session: Session, email_address: str) -> list[Application]:
    stmt = select(Application).where(Application.email == email_address)
    return list(session.scalars(stmt))


def body_of(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(("plain",))  # type: ignore[attr-defined]
    assert part is not None
    text: str = part.get_content()
    return text


def test_an_application_is_stored_with_the_accepted_texts_and_acknowledged(
    session: Session, settings: Settings
) -> None:
    outcome = applications.submit(
        session, submission(session, "Ann@Example.NET"), "client:a", settings, T0
    )
    assert outcome is Outcome.TAKEN
    [stored] = applications_of(session, "ann@example.net")
    assert stored.state is ApplicationState.WAITING and stored.languages == ["en", "de"]
    assert (stored.pledge_version, stored.conduct_version) == (1, 1)
    assert session.scalar(select(func.count()).select_from(User)) == 0  # not an account
    [mail] = outbox(session, "application-received")
    assert mail.recipients == ["ann@example.net"]
    assert "We have your application" in body_of(mail.raw)
    assert b"Auto-Submitted: auto-generated" in mail.raw


def test_the_same_answer_whether_or_not_the_address_applied_before(
    session: Session, settings: Settings
) -> None:
    answers = [
        applications.submit(session, submission(session), f"client:{i}", settings, T0)
        for i in range(4)
    ]
    assert answers == [Outcome.TAKEN] * 4
    # Beyond the address's limit (2 a day) nothing is stored and nothing is mailed.
    assert len(applications_of(session, "ann@example.net")) == settings.apply_per_address_per_day
    assert len(outbox(session, "application-received")) == settings.apply_per_address_per_day
    # A day later the address may apply again.
    later = T0 + timedelta(hours=24, seconds=1)
    applications.submit(session, submission(session), "client:9", settings, later)
    assert len(applications_of(session, "ann@example.net")) == 3


def test_too_many_from_one_client_are_asked_to_try_later(
    session: Session, settings: Settings
) -> None:
    for i in range(settings.apply_per_client_per_day):
        outcome = applications.submit(
            session, submission(session, f"p{i}@example.net"), "client:x", settings, T0
        )
        assert outcome is Outcome.TAKEN
    late = applications.submit(
        session, submission(session, "last@example.net"), "client:x", settings, T0
    )
    assert late is Outcome.TRY_LATER
    assert applications_of(session, "last@example.net") == []
    other = applications.submit(
        session, submission(session, "last@example.net"), "client:y", settings, T0
    )
    assert other is Outcome.TAKEN


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "  "}, "Give your name"),
        ({"email": "not an address"}, "email address"),
        ({"email": "x@localhost"}, "email address"),
        ({"languages": []}, "at least one language"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"hours": " "}, "hours you can give"),
        ({"experience": "x" * 5001}, "at most"),
    ],
)
def test_an_application_must_be_complete(
    session: Session, settings: Settings, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ApplicationError, match=message):
        applications.submit(session, submission(session, **change), "c", settings, T0)


def test_language_codes_are_read_leniently_but_checked() -> None:
    assert applications.parse_languages("EN, de;pt_BR  en") == ["en", "de", "pt-br"]
    with pytest.raises(ApplicationError, match="not a language code"):
        applications.parse_languages("English")


def test_texts_are_versioned_and_a_changed_text_must_be_read_again(
    session: Session, settings: Settings, team: Team
) -> None:
    old = submission(session)
    new = applications.edit_text(session, TextKind.PLEDGE, "I keep secrets.", team.staff.email, T0)
    assert new.version == 2 and applications.current_text(session, TextKind.PLEDGE) == new
    assert [t.version for t in applications.text_versions(session, TextKind.PLEDGE)] == [2, 1]
    with pytest.raises(ApplicationError, match="unchanged"):
        applications.edit_text(session, TextKind.PLEDGE, "I keep secrets. ", "x", T0)
    with pytest.raises(ApplicationError, match="read them again"):
        applications.submit(session, old, "c", settings, T0)
    applications.submit(session, submission(session), "c", settings, T0)
    [stored] = applications_of(session, "ann@example.net")
    assert stored.pledge_version == 2


def waiting_application(session: Session, settings: Settings) -> Application:
    applications.submit(session, submission(session), "client:a", settings, T0)
    [found] = applications.waiting(session)
    return found


def test_approval_makes_the_account_records_the_vetting_and_mails_a_link(
    session: Session, settings: Settings, team: Team
) -> None:
    application = waiting_application(session, settings)
    choice = vetting.Approval(Role.VOLUNTEER, team.mentor.id, probation=True)
    later = T0 + timedelta(days=2)
    approved = vetting.approve(session, application, team.staff, choice, settings, later, LINK_BASE)
    user = session.get_one(User, approved.user_id)
    assert (user.email, user.role, user.timezone, user.languages) == (
        "ann@example.net",
        Role.VOLUNTEER,
        "Europe/Berlin",
        ["en", "de"],
    )
    profile = session.get_one(AgentProfile, user.id)
    assert (profile.vetted_by, profile.vetted_at) == (team.staff.email, later)
    assert profile.application_id == application.id and profile.mentor_id == team.mentor.id
    assert profile.on_probation
    assert application.state is ApplicationState.APPROVED
    assert (application.decided_by, application.decided_at) == (team.staff.email, later)
    [mail] = outbox(session, "application-approved")
    assert approved.link.startswith(f"{LINK_BASE}/account/set-password/")
    assert approved.link in body_of(mail.raw) and "on probation" in body_of(mail.raw)
    token = approved.link.rsplit("/", 1)[1]
    stored = session.scalars(select(SetPasswordToken.token_sha256)).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]  # only its digest is kept
    audit = session.scalars(select(AuditEvent.detail)).all()
    assert f"application {application.id} approved as volunteer" in audit
    with pytest.raises(vetting.VettingError, match="already approved"):
        vetting.approve(session, application, team.staff, choice, settings, later, LINK_BASE)


def test_the_link_works_once_and_expires(session: Session, settings: Settings, team: Team) -> None:
    application = waiting_application(session, settings)
    approved = vetting.approve(
        session, application, team.staff, vetting.Approval(probation=False), settings, T0, LINK_BASE
    )
    token = approved.link.rsplit("/", 1)[1]
    expiry = T0 + timedelta(hours=settings.set_password_hours)
    assert vetting.token_user(session, token, expiry - timedelta(seconds=1)) is not None
    assert vetting.token_user(session, token, expiry) is None  # expired
    assert vetting.token_user(session, token + "x", T0) is None
    with pytest.raises(ValueError, match="at least 12"):
        vetting.use_token(session, token, "short", T0)
    user = vetting.use_token(session, token, "a long enough passphrase", T0)
    assert verify_password(user, "a long enough passphrase")
    with pytest.raises(vetting.VettingError, match="not valid any more"):
        vetting.use_token(session, token, "another long passphrase", T0)


def test_a_new_link_voids_the_old_one(session: Session, settings: Settings, team: Team) -> None:
    application = waiting_application(session, settings)
    approved = vetting.approve(
        session, application, team.staff, vetting.Approval(probation=False), settings, T0, LINK_BASE
    )
    user = session.get_one(User, approved.user_id)
    link = vetting.send_new_link(session, user, team.staff, settings, T0, LINK_BASE)
    assert vetting.token_user(session, approved.link.rsplit("/", 1)[1], T0) is None
    assert vetting.token_user(session, link.rsplit("/", 1)[1], T0) == user
    [mail] = outbox(session, "set-password")
    assert link in body_of(mail.raw)


def test_approval_is_refused_without_a_mentor_for_probation_or_for_a_taken_address(
    session: Session, settings: Settings, team: Team
) -> None:
    application = waiting_application(session, settings)
    with pytest.raises(vetting.VettingError, match="needs a mentor"):
        vetting.approve(
            session, application, team.staff, vetting.Approval(), settings, T0, LINK_BASE
        )
    with pytest.raises(vetting.VettingError, match="Only staff"):
        vetting.approve(
            session,
            application,
            team.mentor,
            vetting.Approval(probation=False),
            settings,
            T0,
            LINK_BASE,
        )
    application.email = team.veteran.email
    with pytest.raises(vetting.VettingError, match="already exists"):
        vetting.approve(
            session,
            application,
            team.staff,
            vetting.Approval(probation=False),
            settings,
            T0,
            LINK_BASE,
        )


def test_declining_keeps_the_reason_for_staff_and_mails_kind_fixed_words(
    session: Session, settings: Settings, team: Team
) -> None:
    application = waiting_application(session, settings)
    with pytest.raises(vetting.VettingError, match="reason"):
        vetting.decline(session, application, team.staff, "  ", settings, T0)
    vetting.decline(session, application, team.staff, "References did not answer", settings, T0)
    assert application.state is ApplicationState.DECLINED
    assert application.reason == "References did not answer"
    [mail] = outbox(session, "application-declined")
    assert b"References did not answer" not in mail.raw
    assert "not able to take it further" in body_of(mail.raw)
    assert (
        session.scalar(
            select(func.count()).select_from(User).where(User.email == "ann@example.net")
        )
        == 0
    )


def test_vetting_is_recorded_for_agents_added_directly(session: Session, team: Team) -> None:
    profile = vetting.record_vetting(session, team.veteran, "command:root (Dana Director)", T0)
    assert (profile.vetted_by, profile.vetted_at) == ("command:root (Dana Director)", T0)
    with pytest.raises(vetting.VettingError, match="who vetted"):
        vetting.record_vetting(session, team.veteran, " ", T0)
