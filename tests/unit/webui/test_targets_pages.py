"""Response targets in the web UI (webui.targets, the lists) on SQLite and PostgreSQL: the
ticket page says when it is due (or that its clock stands still), lists sort and filter by
due, staff set a queue's targets and the open tickets follow."""

from __future__ import annotations

import re
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Queue, Role, Ticket, TicketState, utcnow
from queues.targets.models import QueueTarget

from .conftest import Auth

NUMBERS = re.compile(r'class="subject"><a href="/tickets/(\d+)">')


def _tickets(factory: sessionmaker[Session]) -> dict[str, str]:
    """General help: one overdue, one due in 30 minutes, one due tomorrow, one pending."""
    now = utcnow()
    made = {}
    with factory.begin() as s:
        queue = s.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        for name, age in (("overdue", 30), ("soon", 23.5), ("later", 1), ("pending", 2)):
            created = now - timedelta(hours=age)
            t = Ticket(
                number=f"4000{len(made)}",
                subject=name,
                queue=queue,
                created_at=created,
                updated_at=created,
            )
            s.add(t)
            s.flush()
            made[name] = t.number
        pending = s.scalars(select(Ticket).where(Ticket.number == made["pending"])).one()
        pending.state, pending.updated_at = TicketState.PENDING, now
    return made


def test_the_ticket_page_says_when_it_is_due(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    made = _tickets(factory)
    auth.as_role(Role.VOLUNTEER)
    page = client.get(f"/tickets/{made['overdue']}").get_data(as_text=True)
    assert "First response due:" in page and "overdue by 6 h" in page
    page = client.get(f"/tickets/{made['later']}").get_data(as_text=True)
    assert re.search(r"\(in 2[23] h \d+ min\)", page)
    page = client.get(f"/tickets/{made['pending']}").get_data(as_text=True)
    assert "the clock is stopped while the ticket is pending" in page
    assert "22 h" in page


def test_lists_filter_and_sort_by_due(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    made = _tickets(factory)
    auth.as_role(Role.VOLUNTEER)

    def listed(query: str) -> list[str]:
        return NUMBERS.findall(client.get(f"/queues/general-help?{query}").get_data(as_text=True))

    assert listed("due=overdue") == [made["overdue"]]
    assert listed("due=hour") == [made["overdue"], made["soon"]] or set(listed("due=hour")) == {
        made["overdue"],
        made["soon"],
    }
    assert set(listed("due=day")) == {made["overdue"], made["soon"], made["later"]}
    assert listed("due=none") == [made["pending"]]
    assert listed("sort=due&dir=asc") == [made[k] for k in ("overdue", "soon", "later", "pending")]
    page = client.get("/queues/general-help?sort=due").get_data(as_text=True)
    assert 'class="due overdue"' in page and "overdue 6 h" in page


def test_staff_set_a_queues_targets_and_open_tickets_follow(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    made = _tickets(factory)
    auth.as_role(Role.STAFF)
    page = client.get("/staff/targets").get_data(as_text=True)
    assert "Police liaison" in page and "Defaults: first response 24 h" in page
    with factory() as s:
        general = s.scalars(select(Queue).where(Queue.slug == "general-help")).one()
    token = auth.csrf(client, "/staff/targets")
    form = {"csrf_token": token, "first_response": "48", "update": "", "action": "save"}
    page = client.post(f"/staff/targets/{general.id}", data=form, follow_redirects=True)
    assert "3 open tickets have new due times" in page.get_data(as_text=True)
    with factory() as s:
        row = s.get_one(QueueTarget, general.id)
        assert (row.first_response_minutes, row.update_minutes) == (48 * 60, None)
        t = s.scalars(select(Ticket).where(Ticket.number == made["overdue"])).one()
        assert t.due_at is not None and t.due_at > utcnow()
    form = {"csrf_token": token, "first_response": "soon", "update": "", "action": "save"}
    page = client.post(f"/staff/targets/{general.id}", data=form, follow_redirects=True)
    assert "give a number of hours" in page.get_data(as_text=True)
    form = {"csrf_token": token, "action": "defaults"}
    client.post(f"/staff/targets/{general.id}", data=form)
    with factory() as s:
        assert s.get(QueueTarget, general.id) is None
        t = s.scalars(select(Ticket).where(Ticket.number == made["overdue"])).one()
        assert t.due_at is not None and t.due_at < utcnow()
