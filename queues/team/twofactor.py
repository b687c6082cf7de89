"""Two-factor sign-in: TOTP secrets (RFC 6238) kept encrypted, codes that work once, and ten
single-use recovery codes.

Codes: six digits, a 30-second time step, accepted one step either side of now (clocks
drift and people type slowly; RFC 6238 section 5.2 allows "one time step" of delay). The
time step of the last accepted code is remembered per agent and only a later step is
accepted after it, so a code works once, even when two requests race (one conditional
UPDATE decides). Guessing is rate-limited by the caller (the web edge's throttle).

Secrets: 160 random bits (RFC 4226 section 4 recommends at least 128), shown to the agent
while enrolling and never again once a first code has confirmed them. They are stored
sealed with AES-GCM under a key kept outside the database (`settings.twofactor_key_file`),
bound to the account's id as associated data, so a database copy alone reveals none and
a sealed secret moved to another account does not open.

Recovery codes: 80 random bits each, written as four groups of four base32 letters and
digits. They are stored by their SHA-256 (salted with the account id): a slow password
hash protects what people choose, whose few guessable values a fast hash would give away;
80 random bits are out of reach of any guessing, and a plain digest lets a code be found
by lookup. Each works once; making new ones voids the old.

Who must use it: the roles in `settings.twofactor_required_roles` (specialist and staff by
default) and anyone staff require it of (`AgentProfile.twofactor_required`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from queues.models import User
from queues.settings import Settings
from queues.team.models import AgentProfile, RecoveryCode, TotpCredential

STEP_SECONDS = 30
DIGITS = 6
TOLERANCE_STEPS = 1
SECRET_BYTES = 20  # 160 bits
RECOVERY_CODES = 10
RECOVERY_BYTES = 10  # 80 bits: 16 base32 characters
NONCE_BYTES = 12


class TwoFactorError(ValueError):
    """Something about two-factor sign-in that cannot be done; the message is for people."""


# --- the sealing key ------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretBox:
    """Seals and opens TOTP secrets with AES-GCM (256-bit key)."""

    key: bytes

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """A box whose key is derived from the key file's text (any length, random)."""
        return cls(hashlib.sha256(b"switchboard totp key\0" + text.encode()).digest())

    def seal(self, user_id: int, secret: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, secret.encode(), _aad(user_id))

    def open(self, user_id: int, sealed: bytes) -> str:
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return AESGCM(self.key).decrypt(nonce, ciphertext, _aad(user_id)).decode()
        except InvalidTag:
            raise TwoFactorError(
                "This account's two-factor secret cannot be read with this installation's "
                "key: staff must reset it, then the agent enrols again."
            ) from None


def _aad(user_id: int) -> bytes:
    return f"totp-secret:user:{user_id}".encode()


def key_path(settings: Settings) -> Path:
    if settings.twofactor_key_file:
        return Path(settings.twofactor_key_file)
    return Path(settings.var_dir) / "twofactor_key"


def load_box(settings: Settings) -> SecretBox:
    """The installation's box, creating its key file (random, mode 0600) on first use.

    Several processes may start at once: the key is written to a temporary file and linked
    into place, so every process ends up with the one key that won.
    """
    path = key_path(settings)
    try:
        return SecretBox.from_text(_read_key(path))
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: use its key
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return SecretBox.from_text(_read_key(path))


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < 32:
        raise TwoFactorError(f"the two-factor key in {path} is too short (32 characters at least)")
    return key


# --- who must, who has -----------------------------------------------------------------------


def required(session: Session, user: User, settings: Settings) -> bool:
    """Whether `user` must sign in with a second factor (by role, or because staff said so)."""
    if user.role.value in settings.twofactor_required_roles:
        return True
    profile = session.get(AgentProfile, user.id)
    return profile is not None and profile.twofactor_required


def _credential(session: Session, user_id: int) -> TotpCredential | None:
    return session.get(TotpCredential, user_id)


def enrolled(session: Session, user_id: int) -> bool:
    """Whether the account has a confirmed TOTP secret (sign-in then asks for a code)."""
    found = session.scalar(
        select(TotpCredential.confirmed_at).where(TotpCredential.user_id == user_id)
    )
    return found is not None


def recovery_codes_left(session: Session, user_id: int) -> int:
    stmt = select(func.count()).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(stmt) or 0)


# --- enrolment -------------------------------------------------------------------------------


def begin(session: Session, user: User, box: SecretBox, now: datetime) -> str:
    """The secret to enrol with: the pending one if enrolment already began, else a new one.

    Refused once enrolled (the secret is never shown again; staff reset it, or the agent
    turns two-factor off and enrols anew).
    """
    found = _credential(session, user.id)
    if found is not None and found.confirmed_at is not None:
        raise TwoFactorError("Two-factor sign-in is already set up for this account.")
    if found is not None:
        return box.open(user.id, found.secret)
    secret = base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode()
    session.add(TotpCredential(user_id=user.id, secret=box.seal(user.id, secret), created_at=now))
    session.flush()
    return secret


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code (Key Uri Format)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str, title: str) -> str:
    """The QR code of `uri` as an inline SVG element (drawn here: no image from elsewhere)."""
    import segno  # only the enrolment page needs it

    code = segno.make(uri, error="m")
    svg: str = code.svg_inline(scale=4, border=4, dark="#000", light="#fff", title=title)
    return svg


def confirm(session: Session, user: User, code: str, box: SecretBox, now: datetime) -> list[str]:
    """Finish enrolment with a first good code; returns the ten recovery codes (shown once)."""
    found = _credential(session, user.id)
    if found is None or found.confirmed_at is not None:
        raise TwoFactorError("Start setting up two-factor sign-in first.")
    step = _matching_step(box.open(user.id, found.secret), code, now)
    if step is None:
        raise TwoFactorError(
            "That code is not right. Check that your phone's clock is set automatically, "
            "then type the code your app shows now."
        )
    found.confirmed_at = now
    found.last_step = step
    session.flush()
    return new_recovery_codes(session, user, now)


def remove(session: Session, user: User) -> None:
    """Forget the account's secret and recovery codes (staff reset, or turned off)."""
    session.execute(delete(TotpCredential).where(TotpCredential.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.flush()


# --- codes -----------------------------------------------------------------------------------


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _digits(code: str) -> str | None:
    cleaned = "".join(code.split())
    return cleaned if len(cleaned) == DIGITS and cleaned.isascii() and cleaned.isdigit() else None


def _matching_step(secret: str, code: str, now: datetime, after: int = 0) -> int | None:
    """The time step within tolerance whose code is `code` (later than `after`), or None."""
    typed = _digits(code)
    if typed is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = time_step(now)
    for step in range(current - TOLERANCE_STEPS, current + TOLERANCE_STEPS + 1):
        if step > after and hmac.compare_digest(totp.generate_otp(step), typed):
            return step
    return None


def verify(session: Session, user: User, code: str, box: SecretBox, now: datetime) -> str | None:
    """Check a code from the sign-in or re-authentication form and use it up.

    Returns "code" for a TOTP code, "recovery" for a recovery code, or None when it is
    neither (wrong, already used, or no confirmed secret). The caller counts failures.
    """
    found = _credential(session, user.id)
    if found is None or found.confirmed_at is None:
        return None
    if _digits(code) is not None:
        step = _matching_step(box.open(user.id, found.secret), code, now, after=found.last_step)
        if step is None:
            return None
        # A code works once: only the first of two racing requests moves last_step past it.
        claimed = session.execute(
            update(TotpCredential)
            .where(TotpCredential.user_id == user.id, TotpCredential.last_step < step)
            .values(last_step=step)
        )
        return "code" if getattr(claimed, "rowcount", 0) == 1 else None
    return "recovery" if _use_recovery_code(session, user.id, code, now) else None


# --- recovery codes --------------------------------------------------------------------------


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _recovery_digest(user_id: int, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{normalize_recovery_code(code)}".encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(RECOVERY_BYTES)).decode().lower()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def new_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    """Ten new recovery codes (returned once, to show); the old ones stop working."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(
        RecoveryCode(user_id=user.id, code_sha256=_recovery_digest(user.id, c), created_at=now)
        for c in codes
    )
    session.flush()
    return codes


def _use_recovery_code(session: Session, user_id: int, code: str, now: datetime) -> bool:
    normalized = normalize_recovery_code(code)
    if len(normalized) != RECOVERY_BYTES * 8 // 5 or not normalized.isascii():
        return False
    used = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_sha256 == _recovery_digest(user_id, normalized),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return getattr(used, "rowcount", 0) == 1
