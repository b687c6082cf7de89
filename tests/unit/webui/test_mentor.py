"""Probation in the web UI (webui.mentor and the reply form): a probationary agent's reply
never reaches the outbox before the mentor approves it (checked at the outbox table), the
mentor and the agent see what waits, the mentor approves, edits and sends, or returns with
a comment, and nobody else sees a held reply; on SQLite and PostgreSQL."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Role
from queues.team.models import HeldReply, HeldState

from .conftest import People, csrf_from
from .team_helpers import mail_ticket, outbox_kinds, outbox_of, put_on_probation, signed_in_as

REPLY = "Dear reporter, we have asked the site to remove the comments."


def held_replies(factory: sessionmaker[Session]) -> list[HeldReply]:
    with factory() as session:
        return list(session.scalars(select(HeldReply).order_by(HeldReply.id)))


def send_as_novice(app: Flask, factory: sessionmaker[Session], people: People) -> tuple[str, int]:
    """The target volunteer, on probation with the volunteer account as mentor, replies."""
    mentor = people.by_role[Role.VOLUNTEER]
    put_on_probation(factory, people.target.id, mentor.id)
    number = mail_ticket(app, factory)
    novice = signed_in_as(app, factory, people.target.id)
    form = novice.get(f"/tickets/{number}/reply")
    sent = novice.post(
        f"/tickets/{number}/reply", data={"csrf_token": csrf_from(form), "body": REPLY}
    )
    assert sent.status_code == 303
    told = novice.get(sent.headers["Location"]).get_data(as_text=True)
    assert "waits for your mentor" in told and "queued for sending" not in told
    [held] = held_replies(factory)
    return number, held.id


def test_a_probationary_reply_waits_and_never_reaches_the_outbox(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    number, held_id = send_as_novice(app, factory, people)
    assert "reply" not in outbox_kinds(factory)  # at the outbox itself
    assert outbox_kinds(factory).count("mentor-review-waiting") == 1
    [mail] = outbox_of(factory, "mentor-review-waiting")
    assert mail.recipients == [people.email(Role.VOLUNTEER)]
    assert b"rude comments" not in mail.raw and number.encode() not in mail.raw
    novice = signed_in_as(app, factory, people.target.id)
    mine = novice.get("/mentor").get_data(as_text=True)
    assert f"/mentor/replies/{held_id}" in mine and "waiting" in mine
    page = novice.get(f"/mentor/replies/{held_id}").get_data(as_text=True)
    assert REPLY in page and "Approve and send" not in page  # the author cannot approve
    refused = novice.post(
        f"/mentor/replies/{held_id}/approve", data={"csrf_token": csrf_from(novice.get("/mentor"))}
    )
    assert refused.status_code == 404
    assert "reply" not in outbox_kinds(factory)


def test_the_mentor_edits_and_sends(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    _, held_id = send_as_novice(app, factory, people)
    mentor = signed_in_as(app, factory, people.by_role[Role.VOLUNTEER].id)
    listing = mentor.get("/mentor").get_data(as_text=True)
    assert "Replies waiting for you" in listing and f"/mentor/replies/{held_id}" in listing
    assert "Reviews" in listing  # the navigation shows it to mentors
    page = mentor.get(f"/mentor/replies/{held_id}")
    assert "rude comments under my photos" in page.get_data(as_text=True)  # what it answers
    edited = "Dear reporter, we reported the comments; please keep the links for us."
    done = mentor.post(
        f"/mentor/replies/{held_id}/edit", data={"csrf_token": csrf_from(page), "body": edited}
    )
    assert done.status_code == 303
    [reply] = outbox_of(factory, "reply")
    assert b"please keep the links" in reply.raw and b"asked the site" not in reply.raw
    [held] = held_replies(factory)
    assert held.state is HeldState.EDITED and held.decided_by == people.email(Role.VOLUNTEER)
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    agent_page = staff.get(f"/team/agents/{people.target.id}").get_data(as_text=True)
    assert "0 approved, 1 edited, 0 returned" in agent_page


def test_the_mentor_returns_it_with_a_comment(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    _, held_id = send_as_novice(app, factory, people)
    mentor = signed_in_as(app, factory, people.by_role[Role.VOLUNTEER].id)
    token = csrf_from(mentor.get(f"/mentor/replies/{held_id}"))
    mentor.post(
        f"/mentor/replies/{held_id}/return",
        data={"csrf_token": token, "comment": "Add the link to the reporting form."},
    )
    assert "reply" not in outbox_kinds(factory)
    novice = signed_in_as(app, factory, people.target.id)
    page = novice.get(f"/mentor/replies/{held_id}").get_data(as_text=True)
    assert "Add the link to the reporting form." in page and "returned" in page


def test_nobody_else_sees_a_held_reply(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    _, held_id = send_as_novice(app, factory, people)
    specialist = signed_in_as(app, factory, people.by_role[Role.SPECIALIST].id)
    assert specialist.get(f"/mentor/replies/{held_id}").status_code == 404
    assert f"/mentor/replies/{held_id}" not in specialist.get("/mentor").get_data(as_text=True)
    staff = signed_in_as(app, factory, people.by_role[Role.STAFF].id)
    assert staff.get(f"/mentor/replies/{held_id}").status_code == 200  # staff may review
    assert staff.get("/mentor/replies/999999").status_code == 404


def test_the_mentor_approves_as_written(
    app: Flask, factory: sessionmaker[Session], people: People
) -> None:
    _, held_id = send_as_novice(app, factory, people)
    mentor = signed_in_as(app, factory, people.by_role[Role.VOLUNTEER].id)
    token = csrf_from(mentor.get(f"/mentor/replies/{held_id}"))
    mentor.post(f"/mentor/replies/{held_id}/approve", data={"csrf_token": token})
    [reply] = outbox_of(factory, "reply")
    assert b"asked the site to remove the comments" in reply.raw
    [held] = held_replies(factory)
    assert held.state is HeldState.APPROVED
