"""Issue 8, finding 5: a stranger's wrong passwords do not lock an agent out of their browser.

OWASP's device-cookie scheme (webui.devices): the owner's usual browser carries a signed
device cookie and is judged by it alone; everyone else shares the account's lockout for
untrusted clients, and the per-client throttle stays. A forged, altered, expired or
borrowed-for-another-account cookie is untrusted; a stolen one gives its thief no more than
the owner's own budget, then it is locked out too. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import LoginThrottle, Role
from webui.auth import THROTTLED
from webui.devices import DEFAULT_DAYS, SALT, account_id
from webui.throttle import account_key, client_key

from .conftest import SECRET, Auth, new_client

COOKIE = "__Host-switchboard-device"
WRONG = "wrong password here"
OWNER = "volunteer@example.org"


@pytest.fixture(autouse=True)
def small_budget(app: Flask) -> None:
    """Three guesses per window instead of five: each is an argon2 check, slow on purpose."""
    app.config["LOGIN_ACCOUNT_LIMIT"] = 3


def browser(app: Flask, address: str) -> FlaskClient:
    client = new_client(app)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def device_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "no device cookie"
    return cookie.value


def owners_browser(app: Flask, auth: Auth) -> FlaskClient:
    """The owner's usual browser: it signed in once (and out again), so it has a device cookie."""
    owner = browser(app, "192.0.2.10")
    assert auth.sign_in(Role.VOLUNTEER, client=owner).status_code == 302
    auth.sign_out(owner)
    device_cookie(owner)
    return owner


def lock_out_untrusted(app: Flask, auth: Auth, stranger: FlaskClient) -> None:
    for _ in range(app.config["LOGIN_ACCOUNT_LIMIT"]):
        assert auth.sign_in(OWNER, WRONG, client=stranger).status_code == 200
    assert auth.sign_in(OWNER, WRONG, client=stranger).status_code == 429


def test_sign_in_issues_a_strict_device_cookie(app: Flask, auth: Auth) -> None:
    owner = browser(app, "192.0.2.10")
    response = auth.sign_in(Role.VOLUNTEER, client=owner)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE))
    for part in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="):
        assert part in header
    assert "Domain" not in header and OWNER not in header
    # A failed attempt gets none.
    stranger = browser(app, "203.0.113.5")
    failed = auth.sign_in(OWNER, WRONG, client=stranger)
    assert not any(h.startswith(COOKIE) for h in failed.headers.getlist("Set-Cookie"))


def test_a_strangers_wrong_passwords_do_not_stop_the_owners_browser(app: Flask, auth: Auth) -> None:
    owner = owners_browser(app, auth)
    stranger = browser(app, "203.0.113.5")
    lock_out_untrusted(app, auth, stranger)
    # The owner's browser signs in as usual...
    assert auth.sign_in(Role.VOLUNTEER, client=owner).status_code == 302
    assert owner.get("/").status_code == 200
    # ...and the stranger stays throttled, even with the right password and after it.
    assert auth.sign_in(Role.VOLUNTEER, client=stranger).status_code == 429
    # So does any other browser of the owner's that has no device cookie (OWASP: untrusted).
    assert auth.sign_in(Role.VOLUNTEER, client=browser(app, "192.0.2.11")).status_code == 429


def test_the_owners_mistakes_count_against_the_device_only(
    app: Flask, auth: Auth, factory: sessionmaker[Session]
) -> None:
    owner = owners_browser(app, auth)
    limit = app.config["LOGIN_ACCOUNT_LIMIT"]
    for _ in range(limit - 1):
        assert auth.sign_in(OWNER, WRONG, client=owner).status_code == 200
    with factory() as session:
        keys = {r.key: r.failures for r in session.scalars(select(LoginThrottle))}
    assert len(keys) == 1 and next(iter(keys)).startswith("device:")
    assert keys[next(iter(keys))] == limit - 1
    assert account_key(SECRET, OWNER) not in keys and client_key("192.0.2.10") not in keys
    # Success clears the device's count and renews its cookie.
    before = device_cookie(owner)
    assert auth.sign_in(Role.VOLUNTEER, client=owner).status_code == 302
    assert device_cookie(owner) != before
    with factory() as session:
        assert session.scalars(select(LoginThrottle)).all() == []


def test_a_device_is_locked_out_after_the_same_budget(app: Flask, auth: Auth) -> None:
    owner = owners_browser(app, auth)
    for _ in range(app.config["LOGIN_ACCOUNT_LIMIT"]):
        auth.sign_in(OWNER, WRONG, client=owner)
    blocked = auth.sign_in(Role.VOLUNTEER, client=owner)
    assert blocked.status_code == 429 and THROTTLED in blocked.get_data(as_text=True)
    # A lock-out of one device does not lock the account for anyone else.
    assert auth.sign_in(Role.VOLUNTEER, client=browser(app, "198.51.100.3")).status_code == 302


def test_a_forged_or_altered_cookie_is_untrusted(app: Flask, auth: Auth) -> None:
    owner = owners_browser(app, auth)
    stranger = browser(app, "203.0.113.5")
    lock_out_untrusted(app, auth, stranger)
    genuine = device_cookie(owner)
    forged = [
        # Signed with another key.
        URLSafeTimedSerializer("not-our-secret-key-" * 3, salt=SALT).dumps(
            [[account_id(SECRET, OWNER), "guessed-nonce"]]
        ),
        # The genuine one with its signature changed.
        genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),
        # Garbage, and an oversize value.
        "not a cookie",
        "x" * 3000,
    ]
    for value in forged:
        stranger.set_cookie(COOKIE, value, domain="localhost")
        assert auth.sign_in(Role.VOLUNTEER, client=stranger).status_code == 429, value[:40]


class _LongAgo(TimestampSigner):
    """Signs as if it were LOGIN_DEVICE_DAYS + 1 days ago."""

    def get_timestamp(self) -> int:
        return int((datetime.now(UTC) - timedelta(days=DEFAULT_DAYS + 1)).timestamp())


def test_a_cookie_for_another_account_or_too_old_is_untrusted(app: Flask, auth: Auth) -> None:
    owner = owners_browser(app, auth)
    # The specialist's own browser, used to guess at the volunteer's account: untrusted.
    insider = browser(app, "203.0.113.6")
    assert auth.sign_in(Role.SPECIALIST, client=insider).status_code == 302
    auth.sign_out(insider)
    device_cookie(insider)
    lock_out_untrusted(app, auth, insider)
    # The owner's own cookie, but signed longer ago than a device cookie lives: untrusted.
    expired = URLSafeTimedSerializer(SECRET, salt=SALT, signer=_LongAgo)
    value = expired.dumps([[account_id(SECRET, OWNER), "nonce"]])
    owner.set_cookie(COOKIE, value, domain="localhost")
    assert auth.sign_in(Role.VOLUNTEER, client=owner).status_code == 429
    # Signed now, the same entry would be trusted: it is the age that was refused.
    fresh = URLSafeTimedSerializer(SECRET, salt=SALT).dumps([[account_id(SECRET, OWNER), "n"]])
    owner.set_cookie(COOKIE, fresh, domain="localhost")
    assert auth.sign_in(Role.VOLUNTEER, client=owner).status_code == 302


def test_a_stolen_cookie_gives_no_more_than_its_owner_had(app: Flask, auth: Auth) -> None:
    owner = owners_browser(app, auth)
    thief = browser(app, "203.0.113.7")
    lock_out_untrusted(app, auth, thief)
    thief.set_cookie(COOKIE, device_cookie(owner), domain="localhost")
    limit = app.config["LOGIN_ACCOUNT_LIMIT"]
    for _ in range(limit):
        assert auth.sign_in(OWNER, WRONG, client=thief).status_code == 200
    # The budget is spent: even the right password is refused with that cookie now...
    assert auth.sign_in(Role.VOLUNTEER, client=thief).status_code == 429
    # ...and the untrusted lockout was never lifted by it.
    thief.delete_cookie(COOKIE, domain="localhost")
    assert auth.sign_in(Role.VOLUNTEER, client=thief).status_code == 429


def test_the_client_throttle_still_holds_for_untrusted_attempts(app: Flask, auth: Auth) -> None:
    app.config["LOGIN_CLIENT_LIMIT"] = 3
    owner = owners_browser(app, auth)
    guesser = browser(app, "203.0.113.8")
    for i in range(3):
        auth.sign_in(f"guess{i}@example.org", WRONG, client=guesser)
    assert auth.sign_in(Role.SPECIALIST, client=guesser).status_code == 429
    # A stranger sharing the owner's address (an office network) does not stop the device.
    neighbour = browser(app, "192.0.2.10")
    for i in range(3):
        auth.sign_in(f"guess{i}@example.org", WRONG, client=neighbour)
    assert auth.sign_in(Role.SPECIALIST, client=neighbour).status_code == 429
    assert auth.sign_in(Role.VOLUNTEER, client=owner).status_code == 302


def test_one_browser_remembers_several_accounts(app: Flask, auth: Auth) -> None:
    shared = browser(app, "192.0.2.20")
    for role in (Role.VOLUNTEER, Role.SPECIALIST):
        assert auth.sign_in(role, client=shared).status_code == 302
        auth.sign_out(shared)
    stranger = browser(app, "203.0.113.9")
    lock_out_untrusted(app, auth, stranger)
    assert auth.sign_in(Role.VOLUNTEER, client=shared).status_code == 302


def test_password_change_guesses_count_against_the_device(
    app: Flask, auth: Auth, factory: sessionmaker[Session]
) -> None:
    owner = owners_browser(app, auth)
    stranger = browser(app, "203.0.113.5")
    lock_out_untrusted(app, auth, stranger)
    assert auth.sign_in(Role.VOLUNTEER, client=owner).status_code == 302
    # The stranger's lockout does not shut the owner's password page in their browser.
    form = {"current": WRONG, "new": "a new password here", "confirm": "a new password here"}
    page = owner.post("/password", data={"csrf_token": auth.csrf(owner, "/password"), **form})
    assert page.status_code == 200
    assert "This is not your current password." in page.get_data(as_text=True)
    with factory() as session:
        rows = {r.key: r.failures for r in session.scalars(select(LoginThrottle))}
    assert [key for key, failures in rows.items() if key.startswith("device:")] != []
    assert rows[account_key(SECRET, OWNER)] == app.config["LOGIN_ACCOUNT_LIMIT"]  # not counted here
