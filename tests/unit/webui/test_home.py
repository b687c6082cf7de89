"""The overview: each agent sees the queues they may see, with counts of only those tickets,
how many requesters wait and the one who has waited longest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Queue, Role, Ticket, TicketState
from webui.timefmt import duration

from .conftest import Auth, add_ticket


def counts(page: str) -> dict[str, list[int]]:
    rows = re.findall(
        r'<th scope="row"[^>]*><a [^>]*>([^<]+)</a>(?: <span[^>]*>[^<]*</span>)?</th>(.*?)</tr>',
        page,
        re.S,
    )
    return {
        name.strip(): [int(n) for n in re.findall(r'<td [^>]*class="num"[^>]*>(\d+)<', cells)]
        for name, cells in rows
    }


def oldest(page: str) -> dict[str, str]:
    rows = re.findall(
        r'<th scope="row"[^>]*><a [^>]*>([^<]+)</a>.*?<td [^>]*class="oldest"[^>]*>(.*?)</td>',
        page,
        re.S,
    )
    return {name: re.sub(r"<[^>]+>", "", cell) for name, cell in rows}


def waiting_ticket(
    factory: sessionmaker[Session], slug: str, number: str, hours: float, state: TicketState
) -> None:
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == slug)).one()
        since = datetime.now(UTC) - timedelta(hours=hours)
        session.add(
            Ticket(number=number, subject="w", queue_id=queue.id, state=state, waiting_since=since)
        )


@pytest.fixture
def busy(factory: sessionmaker[Session]) -> None:
    add_ticket(factory, "general-help", "1001", TicketState.NEW)
    add_ticket(factory, "general-help", "1002", TicketState.OPEN)
    add_ticket(factory, "general-help", "1003", TicketState.CLOSED)
    add_ticket(factory, "specialist-safety", "2001", TicketState.NEW)
    add_ticket(factory, "specialist-safety", "2002", TicketState.PENDING)
    add_ticket(factory, "police-liaison", "3001", TicketState.OPEN)


@pytest.mark.usefixtures("busy")
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.VOLUNTEER, {"General help": [1, 1, 0, 0]}),
        (
            Role.SPECIALIST,
            {"General help": [1, 1, 0, 0], "Specialist safety": [1, 0, 1, 0]},
        ),
        (
            Role.STAFF,
            {
                "General help": [1, 1, 0, 0],
                "Specialist safety": [1, 0, 1, 0],
                "Police liaison": [0, 1, 0, 0],
            },
        ),
    ],
)
def test_overview_counts_only_visible_queues(
    auth: Auth, client: FlaskClient, role: Role, expected: dict[str, list[int]]
) -> None:
    auth.as_role(role)
    page = client.get("/").get_data(as_text=True)
    assert counts(page) == expected


def test_overview_marks_restricted_queues(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.STAFF)
    page = client.get("/").get_data(as_text=True)
    assert page.count('class="tag">restricted<') == 2


def test_overview_links_each_queue_list(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.SPECIALIST)
    page = client.get("/").get_data(as_text=True)
    assert 'href="/queues/general-help"' in page
    assert 'href="/queues/specialist-safety"' in page
    assert "/queues/police-liaison" not in page


def test_waiting_counts_and_the_oldest_unanswered(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    waiting_ticket(factory, "general-help", "4001", 1, TicketState.NEW)
    waiting_ticket(factory, "general-help", "4002", 3.2, TicketState.OPEN)
    # Closed tickets never count as waiting, however old their waiting_since.
    waiting_ticket(factory, "general-help", "4003", 50, TicketState.CLOSED)
    waiting_ticket(factory, "specialist-safety", "4004", 80, TicketState.NEW)
    add_ticket(factory, "general-help", "4005", TicketState.OPEN)  # answered: nobody waits

    auth.as_role(Role.VOLUNTEER)
    page = client.get("/").get_data(as_text=True)
    assert counts(page) == {"General help": [1, 2, 0, 2]}
    assert oldest(page) == {"General help": "4002: 3 h 12 min"}
    assert 'href="/tickets/4002"' in page
    assert "4004" not in page  # the older specialist ticket is not there for a volunteer

    auth.as_role(Role.SPECIALIST)
    page = client.get("/").get_data(as_text=True)
    assert counts(page)["Specialist safety"] == [1, 0, 0, 1]
    assert oldest(page) == {
        "General help": "4002: 3 h 12 min",
        "Specialist safety": "4004: 3 d 8 h",
    }


def test_nobody_waits(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/").get_data(as_text=True)
    assert oldest(page) == {"General help": "nobody waits"}


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=30), "under a minute"),
        (timedelta(minutes=5), "5 min"),
        (timedelta(hours=3, minutes=12, seconds=59), "3 h 12 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(days=2, hours=4, minutes=30), "2 d 4 h"),
        (timedelta(days=9), "9 d"),
        (timedelta(seconds=-5), "under a minute"),
    ],
)
def test_durations(delta: timedelta, text: str) -> None:
    assert duration(delta) == text
