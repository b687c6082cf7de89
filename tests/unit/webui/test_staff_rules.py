"""Staff pages for routing rules: CRUD, order, validation, and trying a rule on a ticket."""

from __future__ import annotations

import hashlib

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import (
    Article,
    ArticleKind,
    AuditEvent,
    InboundMail,
    InboundState,
    Role,
    RoutingRule,
    Ticket,
)

from .conftest import Auth

FORM = {
    "name": "Doxxing reports",
    "field": "subject",
    "match": "words",
    "pattern": "address published",
    "set_queue": "specialist-safety",
    "set_priority": "4",
    "flag": "y",
    "enabled": "y",
    "try_ticket": "",
}


def rules(factory: sessionmaker[Session]) -> list[RoutingRule]:
    with factory() as session:
        stmt = select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)
        return list(session.scalars(stmt))


def post(auth: Auth, client: FlaskClient, url: str, **form: str) -> str:
    response = client.post(url, data={"csrf_token": auth.csrf(), **form})
    if response.status_code == 302:
        return client.get(response.headers["Location"]).get_data(as_text=True)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def add_rule(factory: sessionmaker[Session], name: str, position: int, **values: object) -> int:
    with factory.begin() as session:
        rule = RoutingRule(
            name=name,
            position=position,
            field=str(values.get("field", "subject")),
            match=str(values.get("match", "contains")),
            pattern=str(values.get("pattern", name)),
            flag=True,
            enabled=bool(values.get("enabled", True)),
        )
        session.add(rule)
        session.flush()
        return rule.id


def give_incoming(
    factory: sessionmaker[Session], number: str, subject: str, body: str, raw_headers: str = ""
) -> None:
    """Add a first incoming message to ticket `number` (with its raw mail when headers given)."""
    with factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        inbound_id = None
        if raw_headers:
            raw = f"{raw_headers}Subject: {subject}\r\n\r\n{body}\r\n".encode()
            inbound = InboundMail(
                source="file:test",
                raw=raw,
                raw_sha256=hashlib.sha256(raw).hexdigest(),
                size=len(raw),
                state=InboundState.DONE,
            )
            session.add(inbound)
            session.flush()
            inbound_id = inbound.id
        session.add(
            Article(
                ticket_id=ticket.id,
                kind=ArticleKind.INCOMING,
                inbound_id=inbound_id,
                from_email="victim@example.net",
                from_name="A Victim",
                to=["Help <help@example.org>"],
                subject=subject,
                body_text=body,
            )
        )


# --- adding and changing -------------------------------------------------------------------------


def test_add_edit_toggle_delete(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    page = post(auth, client, "/staff/rules/new", **FORM, action="save")
    assert "is saved" in page and "queue specialist-safety, priority 4, flag" in page
    (rule,) = rules(factory)
    assert (rule.field, rule.match, rule.pattern) == ("subject", "words", "address published")
    assert rule.set_queue == "specialist-safety" and rule.set_priority == 4
    assert rule.flag and not rule.ignore and rule.enabled

    page = client.get(f"/staff/rules/{rule.id}").get_data(as_text=True)
    assert 'value="address published"' in page

    changed = {**FORM, "set_queue": "", "set_priority": "", "match": "regex", "pattern": r"dox+"}
    post(auth, client, f"/staff/rules/{rule.id}", **changed, action="save")
    (rule,) = rules(factory)
    assert rule.set_queue is None and rule.set_priority is None and rule.pattern == "dox+"

    assert "is disabled" in post(auth, client, f"/staff/rules/{rule.id}/toggle")
    assert not rules(factory)[0].enabled
    assert "is enabled" in post(auth, client, f"/staff/rules/{rule.id}/toggle")
    assert "is deleted" in post(auth, client, f"/staff/rules/{rule.id}/delete")
    assert rules(factory) == []
    with factory() as session:
        details = [e.detail for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert [d.rsplit(" ", 1)[1] for d in details] == [
        "added",
        "changed",
        "disabled",
        "enabled",
        "deleted",
    ]
    token = auth.csrf()
    assert (
        client.post(f"/staff/rules/{rule.id}/toggle", data={"csrf_token": token}).status_code == 404
    )


def test_new_rules_go_last(auth: Auth, client: FlaskClient, factory: sessionmaker[Session]) -> None:
    add_rule(factory, "first", 50)
    auth.as_role(Role.STAFF)
    post(auth, client, "/staff/rules/new", **FORM, action="save")
    assert [r.name for r in rules(factory)] == ["first", "Doxxing reports"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"pattern": "(unclosed", "match": "regex"}, "pattern", "Invalid regular expression"),
        ({"field": "nowhere"}, "field", "Field must be one of"),
        ({"set_queue": "no-such-queue"}, "set_queue", "Not a valid choice"),
        ({"set_priority": "9"}, "set_priority", "Not a valid choice"),
        ({"match": "glob"}, "match", "Not a valid choice"),
        ({"pattern": ""}, "pattern", "This field is required"),
    ],
)
def test_validation_errors_next_to_the_field(
    auth: Auth,
    client: FlaskClient,
    factory: sessionmaker[Session],
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    auth.as_role(Role.STAFF)
    page = post(auth, client, "/staff/rules/new", **{**FORM, **change}, action="save")
    assert f'id="{field}-error"' in page and message in page
    assert rules(factory) == []


def test_a_rule_without_an_action_is_refused(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.STAFF)
    form = {**FORM, "set_queue": "", "set_priority": ""}
    del form["flag"]
    page = post(auth, client, "/staff/rules/new", **form, action="save")
    assert "A rule needs at least one action" in page and rules(factory) == []


def test_move_up_and_down(auth: Auth, client: FlaskClient, factory: sessionmaker[Session]) -> None:
    a, b, c = (add_rule(factory, name, 10) for name in "abc")  # same position: id decides
    auth.as_role(Role.STAFF)
    post(auth, client, f"/staff/rules/{c}/move", direction="up")
    assert [r.name for r in rules(factory)] == ["a", "c", "b"]
    post(auth, client, f"/staff/rules/{a}/move", direction="down")
    assert [r.name for r in rules(factory)] == ["c", "a", "b"]
    post(auth, client, f"/staff/rules/{c}/move", direction="up")  # already first: no change
    assert [r.name for r in rules(factory)] == ["c", "a", "b"]
    assert [r.position for r in rules(factory)] == [10, 20, 30]
    page = client.get("/staff/rules/").get_data(as_text=True)
    assert page.index(">c</a>") < page.index(">a</a>") < page.index(">b</a>")
    assert post(auth, client, f"/staff/rules/{b}/move", direction="up") is not None
    assert [r.name for r in rules(factory)] == ["c", "b", "a"]


# --- trying a rule -------------------------------------------------------------------------------


def test_try_a_saved_rule_on_a_ticket_changes_nothing(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["general-help"]
    give_incoming(factory, number, "My address was published", "Someone posted where I live.")
    hit = add_rule(factory, "address", 10, field="body", match="words", pattern="where live")
    miss = add_rule(factory, "spam", 20, pattern="viagra")
    auth.as_role(Role.STAFF)
    page = client.get(f"/staff/rules/{hit}/try?number={number}").get_data(as_text=True)
    assert "The rule matches" in page and "It would: flag." in page
    assert "Someone posted where I live." in page
    assert f"#{hit} address" in page
    page = client.get(f"/staff/rules/{miss}/try?number={number}").get_data(as_text=True)
    assert "The rule does not match" in page
    page = client.get(f"/staff/rules/{miss}/try?number=1999").get_data(as_text=True)
    assert "There is no ticket with that number" in page
    page = client.get(f"/staff/rules/{miss}/try").get_data(as_text=True)
    assert "Tried on" not in page
    assert all(r.hits == 0 for r in rules(factory))  # no change made
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert not ticket.flagged


def test_try_an_unsaved_rule_from_the_form_and_on_headers(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["police-liaison"]
    give_incoming(
        factory, number, "Update", "See attached.", raw_headers="List-Id: <alerts.example.net>\r\n"
    )
    auth.as_role(Role.STAFF)
    form = {**FORM, "field": "header:List-Id", "match": "contains", "pattern": "alerts.example"}
    page = post(auth, client, "/staff/rules/new", **{**form, "try_ticket": number}, action="try")
    assert f"Tried on ticket {number}" in page and "The rule matches" in page
    assert "queue specialist-safety, priority 4, flag" in page
    assert rules(factory) == []  # trying saves nothing
    with factory() as session:
        (event,) = session.scalars(select(AuditEvent))
    assert event.action == "view" and event.detail == "routing rule trial"  # restricted ticket

    page = post(auth, client, "/staff/rules/new", **form, action="try")
    assert "Give a ticket number" in page


def test_try_on_a_ticket_without_incoming_mail(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    rule = add_rule(factory, "x", 10)
    auth.as_role(Role.STAFF)
    page = client.get(f"/staff/rules/{rule}/try?number={tickets['general-help']}")
    assert "no incoming message" in page.get_data(as_text=True)


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.SPECIALIST])
def test_not_for_agents(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], role: Role
) -> None:
    rule = add_rule(factory, "x", 10)
    auth.as_role(role)
    assert client.get("/staff/rules/").status_code == 404
    assert client.get(f"/staff/rules/{rule}/try?number=1").status_code == 404
    token = auth.csrf()
    assert client.post(f"/staff/rules/{rule}/delete", data={"csrf_token": token}).status_code == 404
    assert len(rules(factory)) == 1
