"""Agent accounts: creating them and checking passwords (argon2id)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queues.models import Role, User

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(user: User) -> bool:
    """Whether the stored hash was made with weaker parameters than today's (argon2-cffi's
    recommendation moves on); the caller rehashes at the next successful sign-in."""
    try:
        return _hasher.check_needs_rehash(user.password_hash)
    except InvalidHashError:
        return False


def create_user(
    session: Session,
    email: str,
    role: Role,
    password: str,
    name: str = "",
    *,
    one_time: bool = False,
) -> User:
    """A new account. `one_time`: the password was made or seen by someone else (staff, the
    command, `init`), so the agent must choose their own at the next sign-in."""
    email = email.strip().lower()
    if "@" not in email:
        raise ValueError(f"not an email address: {email!r}")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise ValueError(f"an account for {email} already exists")
    user = User(
        email=email,
        role=role,
        password_hash=hash_password(password),
        name=name,
        must_change_password=one_time,
    )
    session.add(user)
    return user


def ensure_first_staff(session: Session, email: str) -> tuple[User, str] | None:
    """Create a staff account with a random password if there is no account at all.

    Returns the account and the password (to be shown once), or None if accounts exist.
    """
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(15)
    first = create_user(session, email, Role.STAFF, password, name="Administrator", one_time=True)
    return first, password
