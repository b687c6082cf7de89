"""Signing in and out: sessions that end on the server, throttling, no account enumeration, CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import extract_parameters
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from queues import accounts
from queues.access import disable_user
from queues.models import LoginThrottle, Role, User, WebSession
from webui.auth import THROTTLED, WRONG_LOGIN
from webui.throttle import client_key

from .conftest import PASSWORD, Auth, People, csrf_from, make_app, new_client


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/")
    return response.status_code == 200 and "Overview" in response.get_data(as_text=True)


def test_sign_in_and_out(auth: Auth, client: FlaskClient) -> None:
    response = auth.sign_in(Role.VOLUNTEER)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "volunteer@example.org" in page and "General help" in page

    out = auth.sign_out()
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert client.get("/").headers["Location"] == "/login?next=/"


def test_sign_in_goes_back_to_the_page_asked_for_but_only_on_this_site(auth: Auth) -> None:
    assert auth.sign_in(Role.STAFF, next_url="/staff/users").headers["Location"] == "/staff/users"
    auth.sign_out()
    evil = auth.sign_in(Role.STAFF, next_url="//evil.example/x")
    assert evil.headers["Location"] == "/"


def test_address_is_case_insensitive(auth: Auth) -> None:
    assert auth.sign_in("  Volunteer@Example.ORG ").status_code == 302


def test_signing_in_replaces_the_session(auth: Auth, client: FlaskClient) -> None:
    client.get("/login")
    before = client.get_cookie("__Host-switchboard")
    assert before is not None
    auth.sign_in(Role.VOLUNTEER)
    after = client.get_cookie("__Host-switchboard")
    assert after is not None and after.value != before.value


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("volunteer@example.org", "wrong password here"),  # account exists
        ("nobody@example.org", "wrong password here"),  # no such account
        ("disabled@example.org", PASSWORD),  # disabled account, right password
    ],
)
def test_failed_sign_in_says_the_same_whoever_it_is(
    auth: Auth,
    client: FlaskClient,
    factory: sessionmaker[Session],
    people: People,
    email: str,
    password: str,
) -> None:
    with factory.begin() as session:
        user = User(
            email="disabled@example.org",
            role=Role.STAFF,
            password_hash=people.by_role[Role.STAFF].password_hash,
        )
        session.add(user)
        session.flush()
        disable_user(session, user)
    response = auth.sign_in(email, password)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert WRONG_LOGIN in page
    # The page is the same apart from the values in the form (its token, the address typed).
    reference = auth.sign_in("someone-else@example.org", "x").get_data(as_text=True)
    assert _blank_values(page) == _blank_values(reference)
    assert not signed_in(client)


def _blank_values(page: str) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', page)


def test_unknown_address_costs_a_password_check_too(
    auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing shortcut: both answers spend one argon2 check with the same parameters (what
    the check costs, tens of milliseconds, is measured by no test: it is argon2's)."""
    real = accounts._hasher
    checked: list[str] = []

    class Counting:
        def verify(self, hash: str, password: str) -> bool:
            checked.append(hash)
            return real.verify(hash, password)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    auth.sign_in("volunteer@example.org", "wrong password here")
    auth.sign_in("nobody@example.org", "wrong password here")
    assert len(checked) == 2
    known, unknown = (extract_parameters(h) for h in checked)
    assert unknown == known == extract_parameters(real.hash("x"))


def test_throttle_per_account_holds_for_existing_and_unknown_alike(
    app: Flask, auth: Auth, client: FlaskClient
) -> None:
    limit = app.config["LOGIN_ACCOUNT_LIMIT"]
    for email in ("volunteer@example.org", "nobody@example.org"):
        for _ in range(limit):
            assert auth.sign_in(email, "wrong password here").status_code == 200
        blocked = auth.sign_in(email, "wrong password here")
        assert blocked.status_code == 429
        assert THROTTLED in blocked.get_data(as_text=True)
        assert int(blocked.headers["Retry-After"]) > 0
    # Even the right password is refused while the account is throttled...
    assert auth.sign_in(Role.VOLUNTEER).status_code == 429
    # ...but another account from another client is not affected.
    other = new_client(app)
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert auth.sign_in(Role.SPECIALIST, client=other).status_code == 302


def test_throttle_per_client_across_addresses(app: Flask, auth: Auth) -> None:
    app.config["LOGIN_CLIENT_LIMIT"] = 3
    for i in range(3):
        auth.sign_in(f"guess{i}@example.org", "wrong password here")
    assert auth.sign_in(Role.VOLUNTEER).status_code == 429
    # A client elsewhere is not blocked by it.
    other = new_client(app)
    other.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert auth.sign_in(Role.VOLUNTEER, client=other).status_code == 302


def test_throttle_state_is_shared_by_every_web_process(
    app: Flask, auth: Auth, factory: sessionmaker[Session], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    for _ in range(app.config["LOGIN_ACCOUNT_LIMIT"]):
        auth.sign_in("volunteer@example.org", "wrong password here")
    second = make_app(factory, tmp_path)  # another process on the same database
    other = new_client(second)
    other.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    assert auth.sign_in(Role.VOLUNTEER, client=other).status_code == 429


def test_throttle_window_ends(app: Flask, auth: Auth, factory: sessionmaker[Session]) -> None:
    for _ in range(app.config["LOGIN_ACCOUNT_LIMIT"]):
        auth.sign_in("volunteer@example.org", "wrong password here")
    assert auth.sign_in(Role.VOLUNTEER).status_code == 429
    past = datetime.now(UTC) - timedelta(seconds=app.config["LOGIN_WINDOW_SECONDS"] + 1)
    with factory.begin() as session:
        session.execute(update(LoginThrottle).values(window_start=past))
    assert auth.sign_in(Role.VOLUNTEER).status_code == 302


def test_success_clears_the_account_count_but_not_the_client_count(
    app: Flask, auth: Auth, factory: sessionmaker[Session]
) -> None:
    auth.sign_in("volunteer@example.org", "wrong password here")
    auth.sign_in(Role.VOLUNTEER)
    with factory() as session:
        rows = {r.key: r.failures for r in session.scalars(select(LoginThrottle))}
    assert rows == {client_key("127.0.0.1"): 1}


def test_throttle_keys_do_not_store_what_was_typed(
    auth: Auth, factory: sessionmaker[Session]
) -> None:
    auth.sign_in("my password typed here by mistake", "x")
    with factory() as session:
        keys = list(session.scalars(select(LoginThrottle.key)))
    assert not any("mistake" in key for key in keys)


def test_ipv6_clients_are_throttled_per_64_network() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == client_key("192.0.2.1") == "client:192.0.2.1"
    assert client_key(None) == client_key("garbage") == "client:unknown"


# --- Sessions end on the server ------------------------------------------------------------


def _copy_cookie(source: FlaskClient, app: Flask) -> FlaskClient:
    cookie = source.get_cookie("__Host-switchboard")
    assert cookie is not None
    thief = new_client(app)
    thief.set_cookie("__Host-switchboard", cookie.value, domain="localhost")
    return thief


def test_a_copied_cookie_is_dead_after_logout(app: Flask, auth: Auth, client: FlaskClient) -> None:
    auth.sign_in(Role.SPECIALIST)
    thief = _copy_cookie(client, app)
    assert signed_in(thief)
    auth.sign_out()
    assert not signed_in(thief)


def test_logout_ends_only_this_session(app: Flask, auth: Auth, client: FlaskClient) -> None:
    auth.sign_in(Role.SPECIALIST)
    laptop = new_client(app)
    auth.sign_in(Role.SPECIALIST, client=laptop)
    auth.sign_out()
    assert signed_in(laptop)


def test_password_change_ends_every_other_session(
    app: Flask, auth: Auth, client: FlaskClient
) -> None:
    auth.sign_in(Role.VOLUNTEER)
    old_cookie_holder = _copy_cookie(client, app)
    laptop = new_client(app)
    auth.sign_in(Role.VOLUNTEER, client=laptop)

    new_password = "a brand new long passphrase"
    response = client.post(
        "/password",
        data={
            "csrf_token": auth.csrf(page="/password"),
            "current": PASSWORD,
            "new": new_password,
            "confirm": new_password,
        },
    )
    assert response.status_code == 302
    assert signed_in(client)  # the device where it was changed stays signed in
    assert not signed_in(laptop)
    assert not signed_in(old_cookie_holder)
    auth.sign_out()
    assert auth.sign_in(Role.VOLUNTEER).status_code == 200  # old password refused
    assert auth.sign_in(Role.VOLUNTEER, password=new_password).status_code == 302


def test_password_change_checks_the_current_and_the_new_one(
    auth: Auth, client: FlaskClient
) -> None:
    auth.as_role(Role.VOLUNTEER)

    def change(current: str, new: str, confirm: str) -> str:
        token = auth.csrf(page="/password")
        data = {"csrf_token": token, "current": current, "new": new, "confirm": confirm}
        response = client.post("/password", data=data)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert "not your current password" in change(
        "wrong one", "long enough password", "long enough password"
    )
    assert "at least 12 characters" in change(PASSWORD, "short", "short")
    assert "differ" in change(PASSWORD, "long enough password", "long enough passwort")


def test_disabling_an_account_ends_its_sessions(
    app: Flask, auth: Auth, factory: sessionmaker[Session], people: People
) -> None:
    volunteer = auth.as_role(Role.VOLUNTEER, new_client(app))
    assert signed_in(volunteer)
    with factory.begin() as session:
        disable_user(session, session.get_one(User, people.by_role[Role.VOLUNTEER].id))
    assert not signed_in(volunteer)
    assert auth.sign_in(Role.VOLUNTEER).status_code == 200


def test_idle_and_old_sessions_end(
    app: Flask, auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    assert signed_in(client)
    idle = datetime.now(UTC) - timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    with factory.begin() as session:
        session.execute(update(WebSession).values(last_seen_at=idle))
    assert not signed_in(client)

    auth.as_role(Role.STAFF)
    old = datetime.now(UTC) - timedelta(hours=app.config["SESSION_MAX_HOURS"], minutes=1)
    with factory.begin() as session:
        session.execute(update(WebSession).values(created_at=old))
    assert not signed_in(client)


def test_sessions_are_touched_at_most_once_a_minute(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    earlier = datetime.now(UTC) - timedelta(seconds=30)
    with factory.begin() as session:
        session.execute(update(WebSession).values(last_seen_at=earlier))
    client.get("/")
    with factory() as session:
        assert session.scalar(select(WebSession.last_seen_at)) == earlier
    with factory.begin() as session:
        session.execute(update(WebSession).values(last_seen_at=earlier - timedelta(minutes=1)))
    client.get("/")
    with factory() as session:
        seen = session.scalar(select(WebSession.last_seen_at))
    assert seen is not None and seen > earlier


def test_database_keeps_only_a_hash_of_the_session_token(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.sign_in(Role.STAFF)
    with client.session_transaction() as browser_session:
        token = browser_session["_user_id"]
    with factory() as session:
        stored = list(session.scalars(select(WebSession.token_sha256)))
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1
    assert token not in stored and len(stored[0]) == 64


def test_a_forged_session_token_is_anonymous(auth: Auth, client: FlaskClient) -> None:
    with client.session_transaction() as browser_session:
        browser_session["_user_id"] = "made-up-token"
    assert client.get("/").status_code == 302


# --- CSRF ----------------------------------------------------------------------------------


def test_forms_without_a_valid_token_are_refused(auth: Auth, client: FlaskClient) -> None:
    missing = client.post("/login", data={"email": "volunteer@example.org", "password": PASSWORD})
    assert missing.status_code == 400
    assert "The form has expired" in missing.get_data(as_text=True)
    forged = client.post(
        "/login",
        data={"csrf_token": "forged", "email": "volunteer@example.org", "password": PASSWORD},
    )
    assert forged.status_code == 400

    auth.as_role(Role.STAFF)
    assert client.post("/logout").status_code == 400
    assert signed_in(client)
    assert client.post("/staff/users/1/disable").status_code == 400


def test_a_token_from_another_session_is_refused(app: Flask, auth: Auth) -> None:
    attacker = new_client(app)
    token = csrf_from(attacker.get("/login"))
    victim = auth.as_role(Role.STAFF)
    response = victim.post("/logout", data={"csrf_token": token})
    assert response.status_code == 400
    assert signed_in(victim)


def test_https_forms_work_without_a_referer(auth: Auth, client: FlaskClient) -> None:
    """Our Referrer-Policy means browsers send no Referer; CSRF must not depend on it."""
    token = csrf_from(client.get("/login"))
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "volunteer@example.org", "password": PASSWORD},
        headers={"Origin": "null"},
    )
    assert response.status_code == 302
