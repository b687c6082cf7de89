"""Staff pages for reply templates and queue signatures: CRUD, validation, preview, audit."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import AuditEvent, Contact, Queue, ReplyTemplate, Role, Ticket
from queues.sandbox import check_untrusted, render_untrusted
from queues.seed import DEFAULT_REPLY_TEMPLATES, seed_reply_templates

from .conftest import Auth

FORM = {
    "name": "Thanks",
    "queue": "",
    "subject": "",
    "body": "Hello {{ requester.name }}, ticket {{ ticket.number }}.",
    "position": "5",
    "active": "y",
    "preview_ticket": "",
}


def queue_id(factory: sessionmaker[Session], slug: str) -> int:
    with factory() as session:
        return session.scalars(select(Queue.id).where(Queue.slug == slug)).one()


def templates(factory: sessionmaker[Session]) -> list[ReplyTemplate]:
    with factory() as session:
        return list(session.scalars(select(ReplyTemplate).order_by(ReplyTemplate.id)))


def post(auth: Auth, client: FlaskClient, url: str, **form: str) -> str:
    token = auth.csrf()
    response = client.post(url, data={"csrf_token": token, **form})
    if response.status_code == 302:
        return client.get(response.headers["Location"]).get_data(as_text=True)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def staff_events(factory: sessionmaker[Session]) -> list[AuditEvent]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


# --- the defaults --------------------------------------------------------------------------------


def test_seeded_defaults_are_valid_and_render(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        created = seed_reply_templates(session)
        again = seed_reply_templates(session)
    assert created == [name for name, *_ in DEFAULT_REPLY_TEMPLATES] and again == []
    rows = templates(factory)
    safety = next(t for t in rows if t.name == "Safety: first reply")
    assert safety.queue_id == queue_id(factory, "specialist-safety")
    assert "emergency" in safety.body
    context = {
        "ticket": {"number": "2026010100001"},
        "requester": {"name": ""},
        "agent": {"name": "Sam"},
    }
    for row in rows:
        check_untrusted(row.body)
        text = render_untrusted(row.body, context)
        assert "2026010100001" in text and "Hello there," in text


# --- adding, changing, deleting ----------------------------------------------------------------


def test_add_edit_and_delete_a_template(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    page = post(auth, client, "/staff/templates/new", **FORM, action="save")
    assert "is saved" in page and "Thanks" in page
    (row,) = templates(factory)
    assert row.body == FORM["body"] and row.queue_id is None and row.active
    assert row.position == 5 and row.updated_by == "staff@example.org"

    safety = str(queue_id(factory, "specialist-safety"))
    edited = {**FORM, "name": "Thanks (safety)", "queue": safety, "subject": "About your report"}
    del edited["active"]
    post(auth, client, f"/staff/templates/{row.id}", **edited, action="save")
    (row,) = templates(factory)
    assert row.name == "Thanks (safety)" and row.queue_id == int(safety)
    assert row.subject == "About your report" and not row.active

    page = client.get(f"/staff/templates/{row.id}").get_data(as_text=True)
    assert f'<option selected value="{safety}">' in page or f'value="{safety}" selected' in page

    post(auth, client, f"/staff/templates/{row.id}/delete")
    assert templates(factory) == []
    details = [e.detail for e in staff_events(factory)]
    assert [d.split()[-1] for d in details] == ["added", "changed", "deleted"]
    assert all(
        e.actor == "staff@example.org" and e.action == "staff" for e in staff_events(factory)
    )
    assert client.get(f"/staff/templates/{row.id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Hello\n{{ requester.name }\n", "line 2: unexpected &#39;}&#39;"),
        ("{{ ''.__class__.__mro__ }}", "names starting with"),
        ("{% include 'webui/base.html' %}", "is not available here"),
        ("{{ x | nosuchfilter }}", "no filter named"),
    ],
)
def test_syntax_errors_are_shown_next_to_the_field_and_nothing_is_saved(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], body: str, message: str
) -> None:
    auth.as_role(Role.STAFF)
    page = post(auth, client, "/staff/templates/new", **{**FORM, "body": body}, action="save")
    assert message in page and 'id="body-error"' in page
    assert templates(factory) == []


def test_subject_must_be_valid_too(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    page = post(
        auth, client, "/staff/templates/new", **{**FORM, "subject": "Re {{ x"}, action="save"
    )
    assert 'id="subject-error"' in page and templates(factory) == []


def test_required_fields(auth: Auth, client: FlaskClient, factory: sessionmaker[Session]) -> None:
    auth.as_role(Role.STAFF)
    page = post(auth, client, "/staff/templates/new", **{**FORM, "name": "", "body": ""})
    assert page.count("This field is required") == 2 and templates(factory) == []


# --- previews ------------------------------------------------------------------------------------


def test_preview_with_sample_data_saves_nothing(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    page = post(auth, client, "/staff/templates/new", **FORM, action="preview")
    assert "Preview with sample data" in page
    assert "Hello Alex Example, ticket 2026010100001." in page
    assert templates(factory) == []


def test_preview_with_a_ticket_uses_its_variables_and_is_audited(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["specialist-safety"]
    with factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        ticket.requester = Contact(email="rea@example.net", name="Rea Quester")
        session.get_one(Queue, ticket.queue_id).signature = "-- {{ agent.email }}"
    auth.as_role(Role.STAFF)
    form = {**FORM, "preview_ticket": number, "queue": str(queue_id(factory, "specialist-safety"))}
    page = post(auth, client, "/staff/templates/new", **form, action="preview")
    assert f"Preview with ticket {number}" in page
    assert f"Hello Rea Quester, ticket {number}." in page
    assert "-- safety@localhost" in page  # the queue's signature: agent.email is its address
    (event,) = staff_events(factory)
    assert event.action == "view" and event.detail == "template preview"
    assert templates(factory) == []


def test_preview_of_an_unknown_ticket_and_of_a_runaway_template(
    auth: Auth, client: FlaskClient
) -> None:
    auth.as_role(Role.STAFF)
    page = post(
        auth, client, "/staff/templates/new", **{**FORM, "preview_ticket": "1999"}, action="preview"
    )
    assert "There is no ticket with that number" in page
    runaway = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    page = post(auth, client, "/staff/templates/new", **{**FORM, "body": runaway}, action="preview")
    assert 'id="body-error"' in page and "too" in page


# --- signatures ----------------------------------------------------------------------------------


def test_edit_and_preview_a_signature(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    qid = queue_id(factory, "general-help")
    url = f"/staff/templates/signatures/{qid}"
    page = post(auth, client, url, signature="{{ agent.name }}\nThe help team", action="preview")
    assert "Sam\nThe help team" in page
    page = post(auth, client, url, signature="{{ agent.name }\n", action="save")
    assert 'id="signature-error"' in page and "unexpected" in page
    page = post(auth, client, url, signature="{{ agent.name }}\r\nThe help team", action="save")
    assert "signature of General help is saved" in page
    with factory() as session:
        assert session.get_one(Queue, qid).signature == "{{ agent.name }}\nThe help team"
    assert staff_events(factory)[-1].detail == "signature of queue general-help changed"
    assert client.get("/staff/templates/signatures/999999").status_code == 404


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.SPECIALIST])
def test_not_for_agents(auth: Auth, client: FlaskClient, role: Role) -> None:
    auth.as_role(role)
    for url in ("/staff/templates/", "/staff/templates/new"):
        assert client.get(url).status_code == 404
    token = auth.csrf()
    response = client.post("/staff/templates/new", data={"csrf_token": token, **FORM})
    assert response.status_code == 404


def test_forms_need_the_csrf_token(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.STAFF)
    assert client.post("/staff/templates/new", data={**FORM, "action": "save"}).status_code == 400
