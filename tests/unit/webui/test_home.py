"""The overview: each agent sees the queues they may see, with counts of only those tickets."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Role, TicketState

from .conftest import Auth, add_ticket


def counts(page: str) -> dict[str, list[int]]:
    rows = re.findall(
        r'<th scope="row">([^<]+?)(?: <span[^>]*>[^<]*</span>)?</th>(.*?)</tr>', page, re.S
    )
    return {name.strip(): [int(n) for n in re.findall(r">(\d+)<", cells)] for name, cells in rows}


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
        (Role.VOLUNTEER, {"General help": [1, 1, 0, 2]}),
        (
            Role.SPECIALIST,
            {"General help": [1, 1, 0, 2], "Specialist safety": [1, 0, 1, 2]},
        ),
        (
            Role.STAFF,
            {
                "General help": [1, 1, 0, 2],
                "Specialist safety": [1, 0, 1, 2],
                "Police liaison": [0, 1, 0, 1],
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
