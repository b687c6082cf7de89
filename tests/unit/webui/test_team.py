"""The team's staff pages (webui.team, webui.staff): vetting applications, agents' pages
with progress and probation, the checklist ticked by mentors, leaving (a suspended agent's
open session gets the sign-in page on its next request), and role and two-factor changes
behind the password; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Role, Ticket, User
from queues.team import applications, checklist
from queues.team.applications import Submission
from queues.team.models import AgentProfile, Application, ApplicationState, ChecklistTick

from .conftest import PASSWORD, Auth, People, csrf_from
from .team_helpers import (
    mail_ticket,
    outbox_of,
    put_on_probation,
    signed_in_as,
    ticket_id,
)

_LINK = re.compile(rb"https?://[^\s]+/account/set-password/[A-Za-z0-9_\-]+")


def an_application(app: Flask, factory: sessionmaker[Session]) -> int:
    with factory.begin() as session:
        applications.submit(
            session,
            Submission(
                name="Ann Applicant",
                email="ann@example.net",
                languages=["en"],
                timezone="Europe/Paris",
                hours="Evenings",
                pledge_version=1,
                conduct_version=1,
            ),
            "client:1",
            app.config["SETTINGS"],
            datetime.now(UTC),
        )
        found = session.scalar(select(Application.id).where(Application.email == "ann@example.net"))
    assert found is not None
    return found


def test_staff_approve_an_application_and_the_link_sets_the_password(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    application_id = an_application(app, factory)
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    assert "Ann Applicant" in staff.get("/team/applications").get_data(as_text=True)
    page = staff.get(f"/team/applications/{application_id}")
    mentor = people.by_role[Role.VOLUNTEER]
    done = staff.post(
        f"/team/applications/{application_id}/approve",
        data={
            "csrf_token": csrf_from(page),
            "role": "volunteer",
            "mentor": str(mentor.id),
            "probation": "yes",
        },
    )
    with factory() as session:
        user = session.scalars(select(User).where(User.email == "ann@example.net")).one()
        profile = session.get_one(AgentProfile, user.id)
        application = session.get_one(Application, application_id)
    assert done.headers["Location"] == f"/team/agents/{user.id}"
    assert (profile.vetted_by, profile.mentor_id, profile.on_probation) == (
        people.email(Role.STAFF),
        mentor.id,
        True,
    )
    assert application.state is ApplicationState.APPROVED
    [mail] = outbox_of(factory, "application-approved")
    found = _LINK.search(mail.raw.replace(b"=\r\n", b""))
    assert found is not None
    path = found.group(0).decode().split("/", 3)[3]
    browser = app.test_client()
    form = browser.get(f"/{path}")
    new = "the applicant's own passphrase"
    set_it = browser.post(
        f"/{path}", data={"csrf_token": csrf_from(form), "new": new, "confirm": new}
    )
    assert set_it.headers["Location"] == "/login"


def test_staff_decline_with_a_reason(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    application_id = an_application(app, factory)
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    token = csrf_from(staff.get(f"/team/applications/{application_id}"))
    url = f"/team/applications/{application_id}/decline"
    staff.post(url, data={"csrf_token": token, "reason": ""})
    assert "Give the reason" in staff.get(f"/team/applications/{application_id}").get_data(
        as_text=True
    )
    staff.post(url, data={"csrf_token": token, "reason": "No references"})
    with factory() as session:
        assert session.get_one(Application, application_id).state is ApplicationState.DECLINED
    assert len(outbox_of(factory, "application-declined")) == 1


def test_an_agents_page_is_for_staff_the_agent_and_their_mentor(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    mentor = people.by_role[Role.VOLUNTEER]
    put_on_probation(factory, people.target.id, mentor.id)
    with factory.begin() as session:
        checklist.add_item(session, "Read the guidance", "", "staff", datetime.now(UTC))
    url = f"/team/agents/{people.target.id}"
    assert signed_in_as(app, factory, people.target.id).get(url).status_code == 200
    assert "Read the guidance" in signed_in_as(app, factory, mentor.id).get(url).get_data(
        as_text=True
    )
    assert (
        signed_in_as(app, factory, people.by_role[Role.SPECIALIST].id).get(url).status_code == 404
    )
    # An agent sees their own page but not the staff pages.
    assert signed_in_as(app, factory, people.target.id).get("/team/agents").status_code == 404


def test_the_mentor_ticks_the_checklist_the_agent_cannot_and_probation_waits_for_it(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    mentor = people.by_role[Role.VOLUNTEER]
    put_on_probation(factory, people.target.id, mentor.id)
    with factory.begin() as session:
        item = checklist.add_item(session, "Shadowed 5 tickets", "", "staff", datetime.now(UTC))
        item_id = item.id
    url = f"/team/agents/{people.target.id}"
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    token = csrf_from(staff.get(url))
    staff.post(f"{url}/probation", data={"csrf_token": token, "action": "end"})
    assert "training items are open: Shadowed 5 tickets" in staff.get(url).get_data(as_text=True)
    novice = signed_in_as(app, factory, people.target.id)
    own = novice.get(url)
    assert "Mark done" not in own.get_data(as_text=True)
    novice.post(f"{url}/checklist/{item_id}", data={"csrf_token": csrf_from(own), "done": "yes"})
    with factory() as session:
        assert session.scalars(select(ChecklistTick)).all() == []
    mentoring = signed_in_as(app, factory, mentor.id)
    mentoring.post(
        f"{url}/checklist/{item_id}",
        data={"csrf_token": csrf_from(mentoring.get(url)), "done": "yes"},
    )
    staff.post(f"{url}/probation", data={"csrf_token": token, "action": "end"})
    with factory() as session:
        profile = session.get_one(AgentProfile, people.target.id)
    assert not profile.on_probation and profile.probation_ended_by == people.email(Role.STAFF)
    assert "1 of 1 done" in staff.get(url).get_data(as_text=True)


def test_suspending_ends_the_open_session_and_hands_tickets_back(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    number = mail_ticket(app, factory)
    agent_browser = signed_in_as(app, factory, people.target.id)
    form = agent_browser.get(f"/tickets/{number}")
    agent_browser.post(f"/tickets/{number}/take", data={"csrf_token": csrf_from(form)})
    agent_browser.get(f"/tickets/{number}/reply")  # takes the answering lock
    with factory() as session:
        ticket = session.get_one(Ticket, ticket_id(factory, number))
        assert ticket.owner_id == people.target.id and ticket.locked_by_id == people.target.id
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    url = f"/team/agents/{people.target.id}"
    token = csrf_from(staff.get(url))
    staff.post(f"{url}/leave", data={"csrf_token": token, "kind": "suspended", "reason": ""})
    assert agent_browser.get("/").status_code == 200  # no reason: nothing happened
    done = staff.post(
        f"{url}/leave", data={"csrf_token": token, "kind": "suspended", "reason": "A break"}
    )
    assert done.status_code == 303
    # The agent's open browser gets the sign-in page on its very next request.
    next_request = agent_browser.get(f"/tickets/{number}")
    assert next_request.status_code == 302 and next_request.headers["Location"].startswith("/login")
    with factory() as session:
        ticket = session.get_one(Ticket, ticket_id(factory, number))
        assert ticket.owner_id is None and ticket.locked_by_id is None
    page = staff.get(url).get_data(as_text=True)
    assert "suspended by" in page and "A break" in page and "1 tickets back" in page


def test_disabling_on_the_users_page_is_leaving_too(
    app: Flask, factory: sessionmaker[Session], people: People, auth: Auth
) -> None:
    number = mail_ticket(app, factory)
    with factory.begin() as session:
        session.get_one(Ticket, ticket_id(factory, number)).owner_id = people.target.id
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    token = csrf_from(staff.get("/staff/users"))
    staff.post(f"/staff/users/{people.target.id}/disable", data={"csrf_token": token})
    with factory() as session:
        assert session.get_one(Ticket, ticket_id(factory, number)).owner_id is None
        assert not session.get_one(User, people.target.id).active


def test_changing_a_role_needs_the_password(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    url = f"/team/agents/{people.target.id}"
    token = csrf_from(staff.get(url))
    staff.post(f"{url}/role", data={"csrf_token": token, "role": "specialist"})
    with factory() as session:
        assert session.get_one(User, people.target.id).role is Role.VOLUNTEER
    assert "Enter your password to change roles" in staff.get(url).get_data(as_text=True)
    staff.post(
        f"{url}/role",
        data={"csrf_token": token, "role": "specialist", "reauth_password": PASSWORD},
    )
    with factory() as session:
        assert session.get_one(User, people.target.id).role is Role.SPECIALIST
    # The users page's own route asks for it too.
    staff.post(f"/staff/users/{people.target.id}/role", data={"csrf_token": token, "role": "staff"})
    with factory() as session:
        assert session.get_one(User, people.target.id).role is Role.SPECIALIST


def test_staff_require_and_reset_another_agents_two_factor_with_the_password(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    url = f"/team/agents/{people.target.id}"
    token = csrf_from(staff.get(url))
    staff.post(f"{url}/two-factor", data={"csrf_token": token, "action": "require"})
    with factory() as session:
        assert session.get(AgentProfile, people.target.id) is None
    staff.post(
        f"{url}/two-factor",
        data={"csrf_token": token, "action": "require", "reauth_password": PASSWORD},
    )
    with factory() as session:
        assert session.get_one(AgentProfile, people.target.id).twofactor_required


def test_an_agent_added_directly_is_vetted_by_the_staff_member(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    token = csrf_from(staff.get("/staff/users/new"))
    staff.post(
        "/staff/users/new",
        data={"csrf_token": token, "email": "new@example.org", "name": "New", "role": "volunteer"},
    )
    with factory() as session:
        user = session.scalars(select(User).where(User.email == "new@example.org")).one()
        assert session.get_one(AgentProfile, user.id).vetted_by == people.email(Role.STAFF)
    listing = staff.get("/team/agents").get_data(as_text=True)
    assert "new@example.org" in listing


def test_the_texts_are_versioned_from_the_browser(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    token = csrf_from(staff.get("/team/texts"))
    staff.post(
        "/team/texts", data={"csrf_token": token, "kind": "pledge", "body": "I keep it all secret."}
    )
    page = app.test_client().get("/apply").get_data(as_text=True)
    assert "I keep it all secret." in page and "(version 2)" in page


def test_the_agent_or_staff_set_languages_and_time_zone(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    mentor = people.by_role[Role.VOLUNTEER]
    put_on_probation(factory, people.target.id, mentor.id)
    url = f"/team/agents/{people.target.id}"
    own = signed_in_as(app, factory, people.target.id)
    token = csrf_from(own.get(url))
    own.post(
        f"{url}/profile",
        data={"csrf_token": token, "languages": "EN, pt_br", "timezone": "America/Sao_Paulo"},
    )
    with factory() as session:
        user = session.get_one(User, people.target.id)
        assert (user.languages, user.timezone) == (["en", "pt-br"], "America/Sao_Paulo")
    bad = own.post(
        f"{url}/profile", data={"csrf_token": token, "languages": "en", "timezone": "Mars/Base"}
    )
    assert bad.status_code == 303
    watcher = signed_in_as(app, factory, mentor.id)
    watcher.post(
        f"{url}/profile",
        data={"csrf_token": csrf_from(watcher.get(url)), "languages": "fr", "timezone": "UTC"},
    )
    with factory() as session:
        user = session.get_one(User, people.target.id)
        assert (user.languages, user.timezone) == (["en", "pt-br"], "America/Sao_Paulo")
