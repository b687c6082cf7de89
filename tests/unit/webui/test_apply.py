"""The public application page and the set-password link (webui.apply): CSRF, honeypot, the
same answer whether or not an address applied before, the per-client limit, and a link that
works once; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.accounts import verify_password
from queues.models import OutboxMessage, User
from queues.team import vetting
from queues.team.models import Application

from .conftest import People, csrf_from, new_client


def form_data(client: FlaskClient, **changes: str) -> dict[str, str]:
    page = client.get("/apply")
    body = page.get_data(as_text=True)
    assert "Confidentiality pledge" in body and "Code of conduct" in body
    data = {
        "csrf_token": csrf_from(page),
        "name": "Ann Applicant",
        "email": "ann@example.net",
        "languages": "en, de",
        "timezone": "Europe/Berlin",
        "hours": "Four hours a week",
        "experience": "A helpline",
        "references": "Bea",
        "pledge": "y",
        "conduct": "y",
        "pledge_version": "1",
        "conduct_version": "1",
        "website": "",
    }
    data.update(changes)
    return data


def stored(factory: sessionmaker[Session], email: str = "ann@example.net") -> list[Application]:
    with factory() as session:
        return list(session.scalars(select(Application).where(Application.email == email)))


def test_an_application_is_taken_and_acknowledged(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    response = client.post("/apply", data=form_data(client))
    assert response.status_code == 303 and response.headers["Location"] == "/apply/thanks"
    assert "We have your application" in client.get("/apply/thanks").get_data(as_text=True)
    [application] = stored(factory)
    assert application.languages == ["en", "de"] and application.timezone == "Europe/Berlin"
    assert application.client_key.startswith("apply:") and "192.0.2" not in application.client_key
    with factory() as session:
        kinds = session.scalars(select(OutboxMessage.kind)).all()
    assert kinds == ["application-received"]


def test_the_answer_is_the_same_whether_or_not_the_address_applied(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    answers = []
    for i in range(4):  # from different clients, so only the address's limit counts
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{i + 1}"
        response = client.post("/apply", data=form_data(client))
        answers.append((response.status_code, response.headers.get("Location")))
    assert set(answers) == {(303, "/apply/thanks")}
    assert len(stored(factory)) == 2  # the address's daily limit; the rest quietly dropped


def test_a_filled_honeypot_gets_the_usual_answer_and_nothing_is_kept(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    response = client.post("/apply", data=form_data(client, website="http://spam.example"))
    assert response.headers["Location"] == "/apply/thanks"
    assert stored(factory) == []


def test_too_many_from_one_client(client: FlaskClient, factory: sessionmaker[Session]) -> None:
    for i in range(5):
        client.post("/apply", data=form_data(client, email=f"p{i}@example.net"))
    late = client.post("/apply", data=form_data(client, email="late@example.net"))
    assert late.status_code == 429 and "try again tomorrow" in late.get_data(as_text=True)
    assert stored(factory, "late@example.net") == []


def test_both_texts_must_be_accepted_and_the_form_needs_its_token(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    missing = client.post("/apply", data=form_data(client, conduct=""))
    assert "accept the code of conduct" in missing.get_data(as_text=True)
    data = form_data(client)
    data["csrf_token"] = "forged"
    assert client.post("/apply", data=data).status_code == 400
    bad = client.post("/apply", data=form_data(client, languages="Klingon!"))
    assert "not a language code" in bad.get_data(as_text=True)
    assert stored(factory) == []


def test_the_set_password_link_works_once(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    with factory.begin() as session:
        user = session.get_one(User, people.target.id)
        token = vetting.issue_token(session, user, datetime.now(UTC), timedelta(hours=72))
    client = new_client(app)
    url = f"/account/set-password/{token}"
    page = client.get(url)
    assert "Set your password" in page.get_data(as_text=True)
    short = client.post(
        url, data={"csrf_token": csrf_from(page), "new": "short", "confirm": "short"}
    )
    assert "at least 12" in short.get_data(as_text=True)
    new = "a new passphrase of mine"
    done = client.post(url, data={"csrf_token": csrf_from(page), "new": new, "confirm": new})
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    with factory() as session:
        assert verify_password(session.get_one(User, people.target.id), new)
    assert "Your password is set" in client.get("/login").get_data(as_text=True)
    again = client.get(url).get_data(as_text=True)
    assert "not valid any more" in again
    nowhere = client.get("/account/set-password/never-issued").get_data(as_text=True)
    assert nowhere == again  # the same answer for a used link and one that never existed


def test_an_expired_link_is_not_valid(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    with factory.begin() as session:
        user = session.get_one(User, people.target.id)
        old = datetime.now(UTC) - timedelta(hours=73)
        token = vetting.issue_token(session, user, old, timedelta(hours=72))
    page = new_client(app).get(f"/account/set-password/{token}").get_data(as_text=True)
    assert "not valid any more" in page
