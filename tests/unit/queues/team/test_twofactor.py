"""Two-factor sign-in (queues.team.twofactor): enrolment, codes within one step either side,
each code once, recovery codes once, secrets sealed to their account, who must use it; with
a controlled clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.settings import Settings
from queues.team import twofactor
from queues.team.models import AgentProfile, RecoveryCode, TotpCredential

from .team_world import T0, Team, session, team

__all__ = ["session", "team"]

BOX = twofactor.SecretBox.from_text("a test key that is long enough for the box 0123456789")


def code_at(secret: str, when: object) -> str:
    return pyotp.TOTP(secret).at(when)  # type: ignore[arg-type]


def enrol(session: Session, team: Team) -> tuple[str, list[str]]:
    secret = twofactor.begin(session, team.staff, BOX, T0)
    codes = twofactor.confirm(session, team.staff, code_at(secret, T0), BOX, T0)
    return secret, codes


def test_enrolment_needs_a_good_code_then_gives_ten_recovery_codes(
    session: Session, team: Team
) -> None:
    secret = twofactor.begin(session, team.staff, BOX, T0)
    assert len(secret) == 32  # 160 bits in base32
    # Reloading the page before confirming shows the same pending secret.
    assert twofactor.begin(session, team.staff, BOX, T0) == secret
    assert not twofactor.enrolled(session, team.staff.id)
    with pytest.raises(twofactor.TwoFactorError, match="not right"):
        twofactor.confirm(session, team.staff, "000000", BOX, T0)
    codes = twofactor.confirm(session, team.staff, code_at(secret, T0), BOX, T0)
    assert twofactor.enrolled(session, team.staff.id)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert twofactor.recovery_codes_left(session, team.staff.id) == 10
    # Once confirmed the secret is never handed out again.
    with pytest.raises(twofactor.TwoFactorError, match="already set up"):
        twofactor.begin(session, team.staff, BOX, T0)


def test_the_secret_is_stored_sealed_and_only_for_its_account(session: Session, team: Team) -> None:
    secret, _ = enrol(session, team)
    row = session.get_one(TotpCredential, team.staff.id)
    assert secret.encode() not in row.secret
    assert BOX.open(team.staff.id, row.secret) == secret
    with pytest.raises(twofactor.TwoFactorError, match="cannot be read"):
        BOX.open(team.mentor.id, row.secret)  # moved to another account: does not open
    other = twofactor.SecretBox.from_text("another installation's key, equally long 0123456789")
    with pytest.raises(twofactor.TwoFactorError):
        other.open(team.staff.id, row.secret)


def test_codes_are_accepted_one_step_either_side_and_not_further(
    session: Session, team: Team
) -> None:
    secret, _ = enrol(session, team)
    later = T0 + timedelta(minutes=10)
    too_old = code_at(secret, later - timedelta(seconds=60))
    assert twofactor.verify(session, team.staff, too_old, BOX, later) is None
    too_new = code_at(secret, later + timedelta(seconds=60))
    assert twofactor.verify(session, team.staff, too_new, BOX, later) is None
    previous = code_at(secret, later - timedelta(seconds=30))
    assert twofactor.verify(session, team.staff, previous, BOX, later) == "code"
    upcoming = code_at(secret, later + timedelta(seconds=30))
    assert twofactor.verify(session, team.staff, upcoming, BOX, later) == "code"


def test_each_code_works_once_and_never_an_earlier_one(session: Session, team: Team) -> None:
    secret, _ = enrol(session, team)
    now = T0 + timedelta(minutes=5)
    code = code_at(secret, now)
    assert twofactor.verify(session, team.staff, code, BOX, now) == "code"
    assert twofactor.verify(session, team.staff, code, BOX, now) is None
    # The code of the step before, still within tolerance, is refused after a later one.
    earlier = code_at(secret, now - timedelta(seconds=30))
    assert twofactor.verify(session, team.staff, earlier, BOX, now) is None
    # The enrolment code (step of T0) cannot be replayed either.
    assert twofactor.verify(session, team.staff, code_at(secret, T0), BOX, T0) is None
    stored = session.scalar(
        select(TotpCredential.last_step).where(TotpCredential.user_id == team.staff.id)
    )
    assert stored == twofactor.time_step(now)


def test_recovery_codes_work_once_each_and_new_ones_void_the_old(
    session: Session, team: Team
) -> None:
    _, codes = enrol(session, team)
    assert twofactor.verify(session, team.staff, codes[0].upper(), BOX, T0) == "recovery"
    assert twofactor.verify(session, team.staff, codes[0], BOX, T0) is None
    # Spaces and missing hyphens are forgiven.
    spaced = codes[1].replace("-", " ")
    assert twofactor.verify(session, team.staff, spaced, BOX, T0) == "recovery"
    assert twofactor.recovery_codes_left(session, team.staff.id) == 8
    fresh = twofactor.new_recovery_codes(session, team.staff, T0)
    assert twofactor.verify(session, team.staff, codes[2], BOX, T0) is None
    assert twofactor.verify(session, team.staff, fresh[0], BOX, T0) == "recovery"
    # Stored by digest only.
    digests = session.scalars(
        select(RecoveryCode.code_sha256).where(RecoveryCode.user_id == team.staff.id)
    ).all()
    assert all(len(d) == 64 and fresh[3] not in d for d in digests)


def test_nothing_is_accepted_before_enrolment_is_confirmed(session: Session, team: Team) -> None:
    secret = twofactor.begin(session, team.staff, BOX, T0)
    assert twofactor.verify(session, team.staff, code_at(secret, T0), BOX, T0) is None
    assert twofactor.verify(session, team.staff, "abcd-efgh-ijkl-mnop", BOX, T0) is None


def test_garbage_codes_are_simply_wrong(session: Session, team: Team) -> None:
    enrol(session, team)
    for typed in ("", "12345", "1234567", "١٢٣٤٥٦", "12 34 5x", "x" * 500):
        assert twofactor.verify(session, team.staff, typed, BOX, T0) is None


def test_removing_forgets_secret_and_codes(session: Session, team: Team) -> None:
    enrol(session, team)
    twofactor.remove(session, team.staff)
    assert not twofactor.enrolled(session, team.staff.id)
    assert twofactor.recovery_codes_left(session, team.staff.id) == 0
    assert twofactor.begin(session, team.staff, BOX, T0)  # may enrol again


def test_who_must_use_it(session: Session, team: Team, settings: Settings) -> None:
    assert twofactor.required(session, team.staff, settings)
    assert twofactor.required(session, team.specialist, settings)
    assert not twofactor.required(session, team.veteran, settings)
    session.add(AgentProfile(user_id=team.veteran.id, twofactor_required=True))
    session.flush()
    assert twofactor.required(session, team.veteran, settings)
    everyone = Settings(twofactor_required_roles=("volunteer", "specialist", "staff"))
    assert twofactor.required(session, team.mentor, everyone)


def test_the_key_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    box = twofactor.load_box(settings)
    path = tmp_path / "var" / "twofactor_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = twofactor.load_box(settings)
    assert again.key == box.key
    path.write_text("short\n")
    with pytest.raises(twofactor.TwoFactorError, match="too short"):
        twofactor.load_box(settings)


def test_qr_code_is_an_inline_svg_of_the_otpauth_uri() -> None:
    uri = twofactor.provisioning_uri(
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "stella@example.org", "Help team"
    )
    assert uri.startswith(
        "otpauth://totp/Help%20team:stella%40example.org?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    )
    svg = twofactor.qr_svg(uri, "QR code")
    assert svg.startswith("<svg") and "<title>QR code</title>" in svg
    assert "style=" not in svg and "<script" not in svg  # passes our strict CSP
