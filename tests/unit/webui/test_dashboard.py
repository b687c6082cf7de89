"""The dashboard (webui.dashboard, queues.dashboard) on SQLite and PostgreSQL: an empty
installation says so; each figure counts only the viewer's queues (a volunteer's never
counts specialist-safety: not on the page, not in a chart, not in a CSV); charts are SVG
without script under a strict policy; the numbers are right (median and 90th percentile,
backlog ages, breaches, escalations)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.dashboard import percentile
from queues.models import Article, ArticleKind, Queue, Role, Ticket, TicketState, utcnow
from queues.targets.models import TargetBreach
from queues.triage.feedback_models import FALSE_ALARM, MISS, TriageFeedback
from webui.dashboard import CHART_POLICY

from .conftest import Auth

FIGURES = ("tickets-in", "first-response", "backlog", "breaches", "triage-feedback", "coverage")


def _queue(session: Session, slug: str) -> Queue:
    return session.scalars(select(Queue).where(Queue.slug == slug)).one()


def _fill(factory: sessionmaker[Session]) -> None:
    """General help: three tickets (answered after 1, 2 and 10 hours); specialist-safety:
    two tickets, one breach, one escalation."""
    now = utcnow()
    with factory.begin() as s:
        general, safety = _queue(s, "general-help"), _queue(s, "specialist-safety")
        for i, hours in enumerate((1, 2, 10)):
            created = now - timedelta(hours=20 + i)
            t = Ticket(number=f"30000000{i}", subject="g", queue=general, created_at=created)
            s.add(t)
            s.flush()
            s.add(
                Article(
                    ticket_id=t.id,
                    kind=ArticleKind.OUTGOING,
                    subject="re",
                    created_at=created + timedelta(hours=hours),
                )
            )
        for i in range(2):
            t = Ticket(
                number=f"30000010{i}",
                subject="s",
                queue=safety,
                created_at=now - timedelta(hours=3),
                state=TicketState.OPEN,
            )
            s.add(t)
        s.flush()
        safety_ticket = s.scalars(select(Ticket).where(Ticket.number == "300000100")).one()
        s.add(
            TargetBreach(
                ticket_id=safety_ticket.id,
                queue_id=safety.id,
                kind="first-response",
                due_at=now - timedelta(hours=2),
                at=now - timedelta(hours=2),
            )
        )
        for kind in (MISS, FALSE_ALARM):
            s.add(
                TriageFeedback(
                    ticket_id=safety_ticket.id,
                    kind=kind,
                    at=now - timedelta(hours=1),
                    actor="v@example.org",
                    from_queue="general-help",
                    to_queue="specialist-safety",
                )
            )


def _csv(client: FlaskClient, key: str) -> list[list[str]]:
    response = client.get(f"/dashboard/{key}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_an_empty_installation_says_so(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.STAFF)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "There are no tickets in your queues yet" in page
    assert "No tickets arrived in the last four weeks." in page
    assert "No open tickets: the backlog is empty." in page
    assert "No shifts are defined for the queues you may see yet." in page
    assert "<img" not in page
    assert _csv(client, "backlog") == [["Age", "Queue", "Tickets"]]


def test_a_volunteer_never_counts_restricted_queues(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    _fill(factory)
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Specialist safety" not in page and "specialist-safety" not in page
    backlog = _csv(client, "backlog")
    assert {row[1] for row in backlog[1:]} == {"General help"}
    assert sum(int(row[2]) for row in backlog[1:]) == 3
    assert _csv(client, "breaches") == [["Week of", "Queue", "Targets passed"]]
    # The escalated ticket sits in specialist-safety: its feedback is not the volunteer's.
    assert _csv(client, "triage-feedback") == [["Week of", "Escalations", "False alarms"]]
    for key in FIGURES:
        svg = client.get(f"/dashboard/{key}.svg").get_data(as_text=True)
        assert "Specialist safety" not in svg
    # Staff see everything.
    auth.as_role(Role.STAFF)
    backlog = _csv(client, "backlog")
    assert sum(int(row[2]) for row in backlog[1:]) == 5
    assert [row[1:] for row in _csv(client, "breaches")[1:]] == [["Specialist safety", "1"]]
    assert [row[1:] for row in _csv(client, "triage-feedback")[1:]] == [["1", "1"]]


def test_first_response_median_and_90th_percentile(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    _fill(factory)
    auth.as_role(Role.VOLUNTEER)
    rows = _csv(client, "first-response")[1:]
    answered = sum(int(r[1]) for r in rows)
    assert answered == 3
    if len(rows) == 1:  # all three arrived in the same week (not across a Monday)
        assert rows[0][2:] == ["2.0", "10.0", "0"]
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'src="/dashboard/first-response.svg"' in page
    assert "Chart: First response time per week. The same figures are in the table below." in page


def test_charts_are_svg_without_script_under_a_strict_policy(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    _fill(factory)
    auth.as_role(Role.STAFF)
    for key in FIGURES:
        response = client.get(f"/dashboard/{key}.svg")
        assert response.status_code == 200
        assert response.mimetype == "image/svg+xml"
        assert response.headers["Content-Security-Policy"] == CHART_POLICY
        body = response.get_data(as_text=True)
        assert body.startswith("<svg") and "<script" not in body.lower()
        assert "href=" not in body and "<?xml" not in body
    # The page itself keeps the site's policy: no inline script or style is needed.
    page = client.get("/dashboard")
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert client.get("/dashboard/nothing.svg").status_code == 404


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 10.0], 50) == 2.0
    assert percentile([1.0, 2.0, 10.0], 90) == 10.0
    assert percentile(list(map(float, range(1, 101))), 90) == 90.0


def test_a_chart_with_rows_but_no_values_says_so_in_small_type(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    """Tickets arrived but none was answered: the table has a row, the chart no value. The
    chart says so in a sentence that fits (pygal's own 64 px text overflowed it)."""
    with factory.begin() as s:
        s.add(Ticket(number="300000900", subject="g", queue=_queue(s, "general-help")))
    auth.as_role(Role.VOLUNTEER)
    assert len(_csv(client, "first-response")) == 2
    svg = client.get("/dashboard/first-response.svg").get_data(as_text=True)
    assert "Nothing to draw yet: the numbers are in the table." in svg
    assert "No tickets arrived" not in svg
    assert "font-size:64" not in svg.replace(" ", "")
    assert "font-size:16" in svg.replace(" ", "")
