"""Queue lists and "my tickets": sorting, every filter, keyset pages and need to know."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import ticketlist
from queues.access import visible_tickets
from queues.models import Queue, Role, Ticket, TicketState, User
from queues.ticketlist import Cursor, SortKey

from .conftest import Auth, People

# The subject of each row links to its ticket (the number links too, out of the Tab order).
NUMBERS = re.compile(r'class="subject"><a href="/tickets/(\d+)">')
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STATES = (TicketState.NEW, TicketState.OPEN, TicketState.PENDING, TicketState.CLOSED)


@dataclass(frozen=True)
class Row:
    id: int
    number: str
    state: TicketState
    priority: int
    owner_id: int | None
    flagged: bool
    created_at: datetime
    updated_at: datetime
    waiting_since: datetime | None
    due_at: datetime | None = None  # from the queue's response targets (queues.targets)

    def key(self, sort: str) -> Any:
        return {
            "updated": self.updated_at,
            "created": self.created_at,
            "priority": self.priority,
            "number": self.number,
            "waiting": self.waiting_since,
            "due": self.due_at,
        }[sort]


def queue_id(factory: sessionmaker[Session], slug: str) -> int:
    with factory() as session:
        return session.scalars(select(Queue.id).where(Queue.slug == slug)).one()


def make_tickets(
    factory: sessionmaker[Session], slug: str, count: int, owners: list[int | None], base: int
) -> list[Row]:
    """`count` tickets with values that repeat (so ties need the id to break them)."""
    qid = queue_id(factory, slug)
    with factory.begin() as session:
        tickets = []
        for i in range(count):
            ticket = Ticket(
                number=f"{base + (i * 37) % count:06d}",
                subject=f"ticket {i}",
                queue_id=qid,
                state=STATES[i % 4],
                priority=(1, 3, 3, 4, 5)[i % 5],
                owner_id=owners[i % len(owners)],
                flagged=i % 3 == 0,
                created_at=T0 + timedelta(minutes=i // 2),
                updated_at=T0 + timedelta(minutes=(i * 7) % 11),
                waiting_since=None if i % 4 in (1, 3) else T0 + timedelta(hours=(i * 5) % 9),
            )
            tickets.append(ticket)
        session.add_all(tickets)
        session.flush()
        return [
            Row(
                t.id,
                t.number,
                t.state,
                t.priority,
                t.owner_id,
                t.flagged,
                t.created_at,
                t.updated_at,
                t.waiting_since,
                t.due_at,
            )
            for t in tickets
        ]


def expected(rows: list[Row], sort: str, descending: bool) -> list[str]:
    with_value = [r for r in rows if r.key(sort) is not None]
    without = [r for r in rows if r.key(sort) is None]
    with_value.sort(key=lambda r: (r.key(sort), r.id), reverse=descending)
    without.sort(key=lambda r: r.id, reverse=descending)
    return [r.number for r in with_value + without]


def numbers(page: str) -> list[str]:
    return NUMBERS.findall(page)


def link(page: str, rel: str) -> str | None:
    labels = {"next": "Next page", "prev": "Previous page", "first": "First page"}
    labels["last"] = "Last page"
    found = re.search(rf'<a href="([^"]+)"[^>]*>{labels[rel]}</a>', page)
    return html.unescape(found.group(1)) if found else None


def walk(client: FlaskClient, url: str, rel: str = "next") -> list[list[str]]:
    pages = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        pages.append(numbers(page))
        next_url = link(page, rel)
        assert len(pages) < 50
    return pages


@pytest.fixture
def many(factory: sessionmaker[Session], people: People) -> list[Row]:
    me = people.by_role[Role.VOLUNTEER].id
    return make_tickets(factory, "general-help", 130, [None, me, people.target.id], 100000)


@pytest.mark.parametrize("sort", [k.value for k in SortKey])
@pytest.mark.parametrize("descending", [True, False])
def test_every_sort_pages_forward_and_back_without_gaps(
    auth: Auth, client: FlaskClient, many: list[Row], sort: str, descending: bool
) -> None:
    auth.as_role(Role.VOLUNTEER)
    direction = "desc" if descending else "asc"
    url = f"/queues/general-help?state=any&sort={sort}&dir={direction}"
    want = expected(many, sort, descending)
    pages = walk(client, url)
    assert [len(p) for p in pages] == [50, 50, 30]
    assert [n for p in pages for n in p] == want
    # From the last page back to the first, through "Previous page".
    back = walk(client, url + "&last=1", "prev")
    assert [len(p) for p in back] == [50, 50, 50]  # the last 50, then back to the start
    assert back[0] == want[-50:]
    assert back[-1] == want[:50]


def test_headers_say_how_the_list_is_sorted(
    auth: Auth, client: FlaskClient, many: list[Row]
) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/queues/general-help?sort=priority&dir=asc").get_data(as_text=True)
    assert page.count("aria-sort=") == 1
    assert re.search(
        r'<th scope="col" role="columnheader" class="num" aria-sort="ascending">\s*<a href="[^"]*'
        r"sort=priority&amp;dir=desc",
        page,
    )
    assert '<th scope="col" role="columnheader">Subject</th>' in page
    # The filter form is a plain GET form with labels and a submit button.
    assert '<form class="filters" method="get"' in page
    for name in ("state", "priority", "owner", "flagged", "sort", "dir"):
        assert f'<label for="f-{name}">' in page and f'id="f-{name}" name="{name}"' in page
    assert '<button type="submit">Apply</button>' in page


def only(rows: list[Row], test: Callable[[Row], bool]) -> list[str]:
    return expected([r for r in rows if test(r)], "updated", True)


def test_filters(auth: Auth, client: FlaskClient, many: list[Row], people: People) -> None:
    auth.as_role(Role.VOLUNTEER)
    me = people.by_role[Role.VOLUNTEER].id
    other = people.target.id

    def shown(query: str) -> list[str]:
        return [n for p in walk(client, f"/queues/general-help?{query}") for n in p]

    assert shown("") == only(many, lambda r: r.state is not TicketState.CLOSED)
    assert shown("state=any") == only(many, lambda r: True)
    for state in STATES:
        assert shown(f"state={state.value}") == only(many, lambda r, s=state: r.state is s)
    for priority in (1, 3, 4, 5):
        assert shown(f"state=any&priority={priority}") == only(
            many, lambda r, p=priority: r.priority == p
        )
    assert shown("state=any&owner=me") == only(many, lambda r: r.owner_id == me)
    assert shown("state=any&owner=nobody") == only(many, lambda r: r.owner_id is None)
    assert shown(f"state=any&owner={other}") == only(many, lambda r: r.owner_id == other)
    assert shown("state=any&flagged=yes") == only(many, lambda r: r.flagged)
    assert shown("state=any&flagged=no") == only(many, lambda r: not r.flagged)
    combined = shown(f"state=open&priority=3&owner={other}&flagged=no")
    assert combined == only(
        many,
        lambda r: (
            r.state is TicketState.OPEN
            and r.priority == 3
            and r.owner_id == other
            and not r.flagged
        ),
    )
    page = client.get("/queues/general-help?state=any&owner=nobody").get_data(as_text=True)
    assert f"{len(only(many, lambda r: r.owner_id is None))} tickets match these filters." in page


@pytest.mark.parametrize(
    "query",
    [
        "sort=id;DROP TABLE tickets&dir=sideways",
        "state=%00&priority=99&owner=-1&flagged=maybe",
        "after=v~not-a-date~12",
        "after=v~2026-11-01T12:00:00~x",
        "before=n~~5&sort=updated",
        "after=" + "9" * 300,
        "after=v~2026-11-01T12:00:00~1&sort=number",
        "priority=3&priority=4&last=yes",
    ],
)
def test_odd_parameters_fall_back_to_defaults(
    auth: Auth, client: FlaskClient, many: list[Row], query: str
) -> None:
    auth.as_role(Role.VOLUNTEER)
    response = client.get(f"/queues/general-help?{query}")
    assert response.status_code == 200
    assert len(numbers(response.get_data(as_text=True))) > 0


def test_empty_queue(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.STAFF)
    response = client.get("/queues/police-liaison")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "No tickets match these filters." in page
    assert "Next page" not in page and "Previous page" not in page


@pytest.mark.parametrize(
    ("role", "slug"),
    [
        (Role.VOLUNTEER, "specialist-safety"),
        (Role.VOLUNTEER, "police-liaison"),
        (Role.SPECIALIST, "police-liaison"),
        (Role.STAFF, "no-such-queue"),
    ],
)
def test_a_queue_you_may_not_see_is_a_404(
    auth: Auth, client: FlaskClient, role: Role, slug: str
) -> None:
    auth.as_role(role)
    not_found = client.get("/no-such-page").get_data(as_text=True)
    response = client.get(f"/queues/{slug}")
    assert response.status_code == 404
    assert response.get_data(as_text=True) == not_found


def test_my_tickets_are_mine_and_visible(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], people: People
) -> None:
    me = people.by_role[Role.VOLUNTEER].id
    mine = make_tickets(factory, "general-help", 60, [me, None], 200000)
    # A ticket the volunteer still owns but that was moved to a queue they may not see.
    hidden = make_tickets(factory, "specialist-safety", 3, [me], 300000)
    auth.as_role(Role.VOLUNTEER)
    pages = walk(client, "/mine?state=any")
    shown = [n for p in pages for n in p]
    assert shown == only(mine, lambda r: r.owner_id == me)
    page = client.get("/mine?state=any").get_data(as_text=True)
    for row in hidden:
        assert row.number not in page
    assert "Specialist safety" not in page
    assert 'id="f-owner"' not in page  # "my tickets" has no owner filter
    open_only = [n for p in walk(client, "/mine?state=open&sort=number&dir=asc") for n in p]
    assert open_only == expected(
        [r for r in mine if r.owner_id == me and r.state is TicketState.OPEN], "number", False
    )


def test_nav_links_and_search_box(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/mine").get_data(as_text=True)
    assert '<a href="/mine" aria-current="page">My tickets</a>' in page
    assert 'role="search"' in page and '<label for="nav-search-q"' in page


# --- The core: queues.ticketlist ----------------------------------------------------------


def test_counts_are_capped(
    factory: sessionmaker[Session], many: list[Row], people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ticketlist, "MAX_COUNT", 20)
    with factory() as session:
        user = session.get_one(User, people.by_role[Role.VOLUNTEER].id)
        assert ticketlist.count(session, visible_tickets(user)) == (20, True)
        stmt = visible_tickets(user).where(Ticket.priority == 1, Ticket.state == TicketState.NEW)
        assert ticketlist.count(session, stmt) == (
            len([r for r in many if r.priority == 1 and r.state is TicketState.NEW]),
            False,
        )


def test_cursors_round_trip_and_reject_garbage() -> None:
    when = datetime(2026, 11, 1, 12, 30, 5, 123456, tzinfo=UTC)
    cursor = Cursor("v", when, 42)
    assert Cursor.decode(cursor.encode(), SortKey.UPDATED) == cursor
    assert Cursor.decode(Cursor("v", 4, 7).encode(), SortKey.PRIORITY) == Cursor("v", 4, 7)
    number = Cursor("v", "20261101000001", 9)
    assert Cursor.decode(number.encode(), SortKey.NUMBER) == number
    assert Cursor.decode("n~~5", SortKey.WAITING) == Cursor("n", None, 5)
    for bad in ["", "x", "n~~5", "v~abc~1", "v~2026-11-01T12:00:00~1", "v~1~", "v~1~-3"]:
        assert Cursor.decode(bad, SortKey.UPDATED) is None, bad
    assert Cursor.decode("v~high~3", SortKey.PRIORITY) is None


# --- Search pages ------------------------------------------------------------------------


def test_search_page_respects_need_to_know(
    auth: Auth, client: FlaskClient, tickets: dict[str, str]
) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/search?q=secret+subject").get_data(as_text=True)
    assert "1 ticket matches, best first." in page
    assert tickets["general-help"] in page
    assert tickets["specialist-safety"] not in page and tickets["police-liaison"] not in page
    page = client.get("/search?q=specialist").get_data(as_text=True)
    assert "No tickets match" in page and tickets["specialist-safety"] not in page
    auth.as_role(Role.STAFF)
    page = client.get("/search?q=secret+subject").get_data(as_text=True)
    assert "3 tickets match" in page


def test_a_ticket_number_goes_straight_to_the_ticket(
    auth: Auth, client: FlaskClient, tickets: dict[str, str]
) -> None:
    auth.as_role(Role.VOLUNTEER)
    number = tickets["general-help"]
    response = client.get(f"/search?q=%5BTicket%23{number}%5D")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/tickets/{number}"
    hidden = client.get(f"/search?q={tickets['specialist-safety']}")
    assert hidden.status_code == 200
    assert "No tickets match" in hidden.get_data(as_text=True)


@pytest.mark.parametrize(
    "query", ['"', "*", "OR", "subject:", "NEAR(", "%00", "%27%29+OR+1%3D1", "a" * 600, ""]
)
def test_hostile_search_pages(
    auth: Auth, client: FlaskClient, tickets: dict[str, str], query: str
) -> None:
    auth.as_role(Role.SPECIALIST)
    response = client.get(f"/search?q={query}&page=-3")
    assert response.status_code == 200
    for garbage in ("page=99999999999", "page=abc", "page=0"):
        assert client.get(f"/search?q={query}&{garbage}").status_code == 200
