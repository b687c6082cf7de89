"""Two-factor sign-in in the web UI (webui.twofactor, webui.auth, webui.security,
webui.reauth): staff and specialists enrol before any other page, enrolled agents give a
code before a session exists, codes are throttled and work once, recovery codes, the
secret is never shown again, and re-authentication asks for a code; on SQLite and
PostgreSQL. Codes are computed with pyotp, as an authenticator app would."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Role, User, WebSession
from queues.settings import Settings
from queues.team import twofactor
from queues.team.models import TotpCredential
from webui import create_app
from webui import twofactor as web_twofactor

from .conftest import PASSWORD, SECRET, Auth, People, csrf_from, new_client

_SECRET = re.compile(r'<code id="secret">([A-Z2-7 ]+)</code>')
_CODES = re.compile(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>")


@pytest.fixture
def app(factory: sessionmaker[Session], tmp_path: Path) -> Flask:
    """The app with the shipped two-factor rules spelled out (staff and specialists must),
    whatever the shared fixture's settings become."""
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url="sqlite://",
        twofactor_required_roles=("specialist", "staff"),
    )
    config = {
        "TESTING": True,
        "DB_SESSIONMAKER": factory,
        "SECRET_KEY": SECRET,
        "PREFERRED_URL_SCHEME": "https",
    }
    return create_app(config, settings=settings)


def enrol_directly(app: Flask, factory: sessionmaker[Session], user_id: int) -> pyotp.TOTP:
    """Enrol an account as if it had done so five minutes ago (its codes from now on work)."""
    with app.app_context():
        box = web_twofactor.box()
    before = datetime.now(UTC) - timedelta(minutes=5)
    with factory.begin() as session:
        user = session.get_one(User, user_id)
        secret = twofactor.begin(session, user, box, before)
        twofactor.confirm(session, user, pyotp.TOTP(secret).at(before), box, before)
    return pyotp.TOTP(secret)


def next_code(totp: pyotp.TOTP) -> str:
    """The code of the coming time step: accepted (one step of tolerance), and not the one
    just used for signing in."""
    return totp.at(datetime.now(UTC) + timedelta(seconds=30))


def sessions_of(factory: sessionmaker[Session], user_id: int) -> int:
    with factory() as session:
        return len(session.scalars(select(WebSession).where(WebSession.user_id == user_id)).all())


def test_staff_without_a_second_factor_enrol_before_anything_else(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    assert auth.sign_in(Role.STAFF, next_url="/staff/users").headers["Location"] == "/staff/users"
    # Every page shows the enrolment instead; a POST elsewhere does nothing.
    for page in ("/", "/staff/users", "/tickets/mine"):
        body = client.get(page).get_data(as_text=True)
        assert "Set up two-factor sign-in" in body and "nothing else opens" in body, page
        assert 'action="/account/two-factor/enrol"' in body  # it posts to itself, not `page`
    token = csrf_from(client.get("/"))
    refused = client.post(f"/staff/users/{people.target.id}/disable", data={"csrf_token": token})
    assert refused.status_code == 303 and refused.headers["Location"] == "/account/two-factor/enrol"
    with factory() as session:
        assert session.get_one(User, people.target.id).active
    # Enrolment: a QR code drawn inline, the key in text, and a code to confirm it.
    page = client.get("/account/two-factor/enrol").get_data(as_text=True)
    assert "<svg" in page and "QR code to scan" in page
    found = _SECRET.search(page)
    assert found
    totp = pyotp.TOTP(found.group(1).replace(" ", ""))
    wrong = client.post("/account/two-factor/enrol", data={"csrf_token": token, "code": "000000"})
    assert "not right" in wrong.get_data(as_text=True)
    done = client.post("/account/two-factor/enrol", data={"csrf_token": token, "code": totp.now()})
    codes = _CODES.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    assert "Overview" in client.get("/").get_data(as_text=True)  # the gate is gone
    assert 'href="/account/two-factor">Manage' in client.get("/account").get_data(as_text=True)
    # The secret is never shown again.
    again = client.get("/account/two-factor/enrol")
    assert again.status_code == 303
    assert found.group(1) not in client.get("/account/two-factor").get_data(as_text=True)


def test_volunteers_need_no_second_factor_unless_required(
    auth: Auth, client: FlaskClient, people: People
) -> None:
    auth.sign_in(Role.VOLUNTEER)
    assert "Overview" in client.get("/").get_data(as_text=True)
    account = client.get("/account").get_data(as_text=True)  # where a volunteer finds it
    assert "Off:" in account and 'href="/account/two-factor">Set up two-factor' in account
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "is <strong>off</strong>" in page


def test_an_enrolled_agent_gives_a_code_before_any_session_exists(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    staff = people.by_role[Role.STAFF]
    totp = enrol_directly(app, factory, staff.id)
    step = auth.sign_in(Role.STAFF, next_url="/staff/users")
    assert step.status_code == 303 and step.headers["Location"] == "/login/code"
    assert sessions_of(factory, staff.id) == 0
    with client.session_transaction() as browser:
        assert "_user_id" not in browser  # not signed in yet: only the note of the step
    token = csrf_from(client.get("/login/code"))
    wrong = client.post("/login/code", data={"csrf_token": token, "code": "123456"})
    assert "not right" in wrong.get_data(as_text=True)
    assert sessions_of(factory, staff.id) == 0
    right = client.post("/login/code", data={"csrf_token": token, "code": totp.now()})
    assert right.status_code == 303 and right.headers["Location"] == "/staff/users"
    assert sessions_of(factory, staff.id) == 1
    assert "Users" in client.get("/staff/users").get_data(as_text=True)


def test_a_code_works_once(
    app: Flask, auth: Auth, people: People, factory: sessionmaker[Session]
) -> None:
    totp = enrol_directly(app, factory, people.by_role[Role.SPECIALIST].id)
    code = totp.now()
    first, second = new_client(app), new_client(app)
    for browser in (first, second):
        auth.sign_in(Role.SPECIALIST, client=browser)
    ok = first.post(
        "/login/code", data={"csrf_token": csrf_from(first.get("/login/code")), "code": code}
    )
    assert ok.status_code == 303
    replay = second.post(
        "/login/code", data={"csrf_token": csrf_from(second.get("/login/code")), "code": code}
    )
    assert "not right, or it was used already" in replay.get_data(as_text=True)


def test_wrong_codes_are_throttled_per_account(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    totp = enrol_directly(app, factory, people.by_role[Role.STAFF].id)
    auth.sign_in(Role.STAFF)
    token = csrf_from(client.get("/login/code"))
    for _ in range(app.config["LOGIN_ACCOUNT_LIMIT"]):
        assert (
            client.post("/login/code", data={"csrf_token": token, "code": "000000"}).status_code
            == 200
        )
    blocked = client.post("/login/code", data={"csrf_token": token, "code": totp.now()})
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    # Another browser (another client) is throttled too: the count is the account's.
    other = new_client(app)
    auth.sign_in(Role.STAFF, client=other)
    again = other.post(
        "/login/code", data={"csrf_token": csrf_from(other.get("/login/code")), "code": totp.now()}
    )
    assert again.status_code == 429


def test_a_recovery_code_signs_in_once(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    staff = people.by_role[Role.STAFF]
    enrol_directly(app, factory, staff.id)
    with factory.begin() as session:
        codes = twofactor.new_recovery_codes(
            session, session.get_one(User, staff.id), datetime.now(UTC)
        )
    auth.sign_in(Role.STAFF)
    token = csrf_from(client.get("/login/code"))
    used = client.post("/login/code", data={"csrf_token": token, "code": codes[0]})
    assert used.status_code == 303
    assert "9 are left" in client.get("/").get_data(as_text=True)
    auth.sign_out()
    auth.sign_in(Role.STAFF)
    token = csrf_from(client.get("/login/code"))
    assert "not right" in client.post(
        "/login/code", data={"csrf_token": token, "code": codes[0]}
    ).get_data(as_text=True)


def test_the_code_step_expires_and_dies_with_a_password_change(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    staff = people.by_role[Role.STAFF]
    totp = enrol_directly(app, factory, staff.id)
    auth.sign_in(Role.STAFF)
    with client.session_transaction() as browser:
        note = dict(browser[web_twofactor.PENDING])
        note["at"] -= web_twofactor.PENDING_SECONDS + 1  # the clock, moved on
        browser[web_twofactor.PENDING] = note
    late = client.get("/login/code")
    assert late.status_code == 303 and late.headers["Location"] == "/login"
    auth.sign_in(Role.STAFF)
    with factory.begin() as session:
        session.get_one(User, staff.id).session_version += 1  # the password changed meanwhile
    token = csrf_from(client.get("/login"))
    stale = client.post("/login/code", data={"csrf_token": token, "code": totp.now()})
    assert stale.headers["Location"] == "/login"
    assert sessions_of(factory, staff.id) == 0


def test_reading_the_audit_log_asks_for_password_and_code(
    app: Flask,
    auth: Auth,
    client: FlaskClient,
    people: People,
    factory: sessionmaker[Session],
    tickets: dict[str, str],
) -> None:
    totp = enrol_directly(app, factory, people.by_role[Role.STAFF].id)
    auth.sign_in(Role.STAFF)
    client.post(
        "/login/code", data={"csrf_token": csrf_from(client.get("/login/code")), "code": totp.now()}
    )
    url = f"/staff/tickets/{tickets['specialist-safety']}/audit"
    form = client.get(url).get_data(as_text=True)
    assert 'name="reauth_password"' in form and 'name="reauth_code"' in form
    assert "read-audit" not in form  # nothing read yet
    token = csrf_from(client.get(url))
    no_code = client.post(url, data={"csrf_token": token, "reauth_password": PASSWORD})
    assert no_code.status_code == 303
    assert "Enter a code" in client.get(url).get_data(as_text=True)
    shown = client.post(
        url,
        data={"csrf_token": token, "reauth_password": PASSWORD, "reauth_code": next_code(totp)},
    ).get_data(as_text=True)
    assert "read-audit" in shown


def test_new_recovery_codes_and_turning_off_need_password_and_code(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    volunteer = people.by_role[Role.VOLUNTEER]
    totp = enrol_directly(app, factory, volunteer.id)
    auth.sign_in(Role.VOLUNTEER)
    client.post(
        "/login/code", data={"csrf_token": csrf_from(client.get("/login/code")), "code": totp.now()}
    )
    token = csrf_from(client.get("/account/two-factor"))
    refused = client.post(
        "/account/two-factor/off", data={"csrf_token": token, "reauth_password": PASSWORD}
    )
    assert refused.status_code == 303
    with factory() as session:
        assert session.get(TotpCredential, volunteer.id) is not None
    made = client.post(
        "/account/two-factor/recovery-codes",
        data={"csrf_token": token, "reauth_password": PASSWORD, "reauth_code": next_code(totp)},
    )
    codes = _CODES.findall(made.get_data(as_text=True))
    assert len(codes) == 10
    # A recovery code serves as the code too.
    off = client.post(
        "/account/two-factor/off",
        data={"csrf_token": token, "reauth_password": PASSWORD, "reauth_code": codes[0]},
    )
    assert off.status_code == 303
    with factory() as session:
        assert session.get(TotpCredential, volunteer.id) is None
    assert "is <strong>off</strong>" in client.get("/account/two-factor").get_data(as_text=True)


def test_staff_must_keep_it(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    staff = people.by_role[Role.STAFF]
    totp = enrol_directly(app, factory, staff.id)
    auth.sign_in(Role.STAFF)
    client.post(
        "/login/code", data={"csrf_token": csrf_from(client.get("/login/code")), "code": totp.now()}
    )
    token = csrf_from(client.get("/account/two-factor"))
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "Turn two-factor sign-in off" not in page
    client.post(
        "/account/two-factor/off",
        data={"csrf_token": token, "reauth_password": PASSWORD, "reauth_code": next_code(totp)},
    )
    with factory() as session:
        assert session.get(TotpCredential, staff.id) is not None
