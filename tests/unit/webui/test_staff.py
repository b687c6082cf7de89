"""Staff pages: accounts (list, add with a role, disable) and a ticket's audit log."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import AuditEvent, Role, User
from webui.auth import WRONG_LOGIN

from .conftest import PASSWORD, Auth, People, new_client


def add(auth: Auth, client: FlaskClient, **form: str) -> str:
    token = auth.csrf(page="/staff/users/new")
    response = client.post("/staff/users/new", data={"csrf_token": token, **form})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_users_page_lists_accounts(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.STAFF)
    page = client.get("/staff/users").get_data(as_text=True)
    for email in ("volunteer@", "specialist@", "staff@", "target@"):
        assert email in page
    # No one is offered a button to disable themselves.
    assert page.count('class="button-danger"') == 3


def test_add_user_shows_the_password_once_and_it_works(
    app: Flask, auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    page = add(auth, client, email="New.Agent@Example.org", name="New Agent", role="specialist")
    password = re.search(r"<code>([^<]+)</code>", page)
    assert password is not None and "new.agent@example.org" in page
    with factory() as session:
        user = session.scalars(select(User).where(User.email == "new.agent@example.org")).one()
        assert user.role is Role.SPECIALIST and user.name == "New Agent" and user.active
        assert password.group(1) not in user.password_hash
    other = new_client(app)
    assert auth.sign_in("new.agent@example.org", password.group(1), client=other).status_code == 302


def test_add_user_errors_are_clear(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.STAFF)
    assert "An account for volunteer@example.org already exists" in add(
        auth, client, email="volunteer@example.org", role="volunteer"
    )
    assert "Not an email address" in add(auth, client, email="nobody", role="volunteer")
    assert "Not a valid choice" in add(auth, client, email="x@example.org", role="admin")
    assert "This field is required" in add(auth, client, email="", role="volunteer")


def test_disable_user_signs_them_out_and_keeps_them_out(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    target = new_client(app)
    assert auth.sign_in("target@example.org", client=target).status_code == 302
    auth.as_role(Role.STAFF)
    token = auth.csrf(page="/staff/users")
    response = client.post(f"/staff/users/{people.target.id}/disable", data={"csrf_token": token})
    assert response.status_code == 302
    assert "is disabled" in client.get("/staff/users").get_data(as_text=True)
    assert target.get("/").status_code == 302  # back to the login page
    refused = auth.sign_in("target@example.org", client=new_client(app))
    assert WRONG_LOGIN in refused.get_data(as_text=True)
    with factory() as session:
        assert not session.get_one(User, people.target.id).active


def test_disable_unknown_or_self(auth: Auth, client: FlaskClient, people: People) -> None:
    auth.as_role(Role.STAFF)
    token = auth.csrf(page="/staff/users")
    assert client.post("/staff/users/999999/disable", data={"csrf_token": token}).status_code == 404
    me = people.by_role[Role.STAFF].id
    response = client.post(f"/staff/users/{me}/disable", data={"csrf_token": token})
    assert response.status_code == 302
    assert "cannot disable your own" in client.get("/staff/users").get_data(as_text=True)
    assert client.get("/").status_code == 200


def test_audit_page_of_a_restricted_ticket_records_its_own_reading(
    auth: Auth, client: FlaskClient, tickets: dict[str, str], factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    number = tickets["police-liaison"]
    first = read_audit(client, auth, number)
    assert "No events" not in first and "read-audit" in first
    second = read_audit(client, auth, number)
    assert second.count("read-audit") == 2
    assert "staff@example.org" in second and "127.0.0.1" in second
    assert "secret subject" not in second  # never the content
    with factory() as session:
        events = list(session.scalars(select(AuditEvent)))
    assert [e.action for e in events] == ["read-audit", "read-audit"]


def test_audit_page_of_an_ordinary_ticket_is_empty(
    auth: Auth, client: FlaskClient, tickets: dict[str, str]
) -> None:
    auth.as_role(Role.STAFF)
    number = tickets["general-help"]
    form = client.get(f"/staff/tickets/{number}/audit").get_data(as_text=True)
    assert 'name="reauth_password"' in form and "No events" not in form  # nothing read yet
    assert "No events" in read_audit(client, auth, number)


def read_audit(client: FlaskClient, auth: Auth, number: str) -> str:
    """The audit log as staff read it: the password typed again into the page's form."""
    token = auth.csrf(page=f"/staff/tickets/{number}/audit")
    page = client.post(
        f"/staff/tickets/{number}/audit", data={"csrf_token": token, "reauth_password": PASSWORD}
    )
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _audit_details(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent.detail).order_by(AuditEvent.id)))


def test_change_role_ends_their_sessions_and_is_audited(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    target = new_client(app)
    assert auth.sign_in("target@example.org", client=target).status_code == 302
    auth.as_role(Role.STAFF)
    token = auth.csrf(page="/staff/users")
    url = f"/staff/users/{people.target.id}/role"
    again = {"csrf_token": token, "reauth_password": PASSWORD}
    assert client.post(url, data={**again, "role": "specialist"}).status_code == 302
    assert "is now specialist" in client.get("/staff/users").get_data(as_text=True)
    assert target.get("/").status_code == 302  # signed out: new rights from the next sign-in
    with factory() as session:
        assert session.get_one(User, people.target.id).role is Role.SPECIALIST
    assert "account target@example.org role volunteer -> specialist" in _audit_details(factory)
    # A form without a valid role, and one's own account, change nothing.
    assert client.post(url, data={**again, "role": "root"}).status_code == 302
    me = people.by_role[Role.STAFF].id
    own = client.post(f"/staff/users/{me}/role", data={**again, "role": "volunteer"})
    assert own.status_code == 302
    with factory() as session:
        assert session.get_one(User, me).role is Role.STAFF
        assert session.get_one(User, people.target.id).role is Role.SPECIALIST


def test_reset_password_shows_a_new_one_once_and_enable_lets_them_back(
    app: Flask, auth: Auth, client: FlaskClient, people: People, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    token = auth.csrf(page="/staff/users")
    user_id = people.target.id
    client.post(f"/staff/users/{user_id}/disable", data={"csrf_token": token})
    assert (
        client.post(f"/staff/users/{user_id}/enable", data={"csrf_token": token}).status_code == 302
    )
    page = client.post(f"/staff/users/{user_id}/password", data={"csrf_token": token})
    assert page.status_code == 200
    found = re.search(r"<code>([^<]+)</code>", page.get_data(as_text=True))
    assert found
    assert WRONG_LOGIN in auth.sign_in("target@example.org", client=new_client(app)).get_data(
        as_text=True
    )  # the old password is gone
    fresh = auth.sign_in("target@example.org", password=found.group(1), client=new_client(app))
    assert fresh.status_code == 302
    details = _audit_details(factory)
    assert "account target@example.org disabled" in details
    assert "account target@example.org enabled" in details
    assert "account target@example.org password reset" in details
    assert found.group(1) not in " ".join(details)  # never the password itself


def test_sign_in_upgrades_a_hash_made_with_weaker_parameters(
    auth: Auth, people: People, factory: sessionmaker[Session]
) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with factory.begin() as session:
        session.get_one(User, people.target.id).password_hash = weak
    assert auth.sign_in("target@example.org").status_code == 302
    with factory() as session:
        stored = session.get_one(User, people.target.id).password_hash
    assert stored != weak and not PasswordHasher().check_needs_rehash(stored)
