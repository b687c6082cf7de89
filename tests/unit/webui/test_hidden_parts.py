"""Issue 8, finding 4: a hidden ticket's own article or attachment answers like a missing one.

`/tickets/N/articles/A/html` and `/tickets/N/attachments/A` decide in one query whether the
part belongs to a ticket N the agent may see. Timing is not asserted here (bench/
timing_oracle.py prints it); what is asserted is the cause of a timing difference: for a
hidden ticket's own id, another ticket's id and an id that does not exist, the request runs
the same number of SQL statements and answers the same bytes. On the old code the hidden
ticket's own id took an extra query (the part was found, then the ticket refused).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Role

from .conftest import Auth
from .test_ticket_view import Built, build

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block (savepoints included)."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def answer(engine: Engine, client: FlaskClient, url: str) -> tuple[int, bytes, int]:
    """Status, body and the number of SQL statements of one request."""
    with counted(engine) as statements:
        response = client.get(url)
        body = response.get_data()
    return response.status_code, body, len(statements)


@pytest.fixture
def three(factory: sessionmaker[Session]) -> tuple[Built, Built, Built]:
    """A visible ticket, another visible one and a hidden one, each with HTML and a file."""
    files = (("a.png", "image/png", PNG, None),)
    return (
        build(factory, "2026120400001", files=files),
        build(factory, "2026120400002", files=files),
        build(factory, "2026120400003", slug="specialist-safety", files=files),
    )


@pytest.mark.parametrize("part", ["articles", "attachments"])
@pytest.mark.parametrize("number", ["2026120400003", "2026120400001", "2026120499999"])
def test_hidden_own_foreign_and_missing_ids_take_the_same_path(
    engine: Engine,
    auth: Auth,
    client: FlaskClient,
    three: tuple[Built, Built, Built],
    part: str,
    number: str,
) -> None:
    mine, other, hidden = three

    def url(built: Built | None) -> str:
        if part == "articles":
            article = built.articles["incoming"] if built else 10**9
            return f"/tickets/{number}/articles/{article}/html"
        attachment = built.attachments["a.png"] if built else 10**9
        return f"/tickets/{number}/attachments/{attachment}"

    auth.as_role(Role.VOLUNTEER)
    client.get(url(None))  # first use of the route and the 404 page: nothing is counted yet
    cases = {
        "the hidden ticket's own id": url(hidden),
        "another ticket's id": url(other if number != other.number else mine),
        "an id that does not exist": url(None),
    }
    answers = {name: answer(engine, client, u) for name, u in cases.items()}
    statuses = {name: a[0] for name, a in answers.items()}
    assert set(statuses.values()) == {404}, statuses
    bodies = {a[1] for a in answers.values()}
    assert len(bodies) == 1, "the three answers differ"
    queries = {name: a[2] for name, a in answers.items()}
    assert len(set(queries.values())) == 1, queries
    # And the answer is the site's ordinary "not found" page.
    assert bodies == {client.get("/no-such-page").get_data()}


def test_the_owner_of_the_ticket_still_gets_the_part(
    engine: Engine, auth: Auth, client: FlaskClient, three: tuple[Built, Built, Built]
) -> None:
    _mine, _other, hidden = three
    auth.as_role(Role.SPECIALIST)
    base = f"/tickets/{hidden.number}"
    status, body, _ = answer(engine, client, f"{base}/attachments/{hidden.attachments['a.png']}")
    assert (status, body) == (200, PNG)
    status, body, _ = answer(engine, client, f"{base}/articles/{hidden.articles['incoming']}/html")
    assert status == 200 and b"helpers" in body
    # An article without HTML is not found either, whoever asks.
    note = hidden.articles["note"]
    assert client.get(f"{base}/articles/{note}/html").status_code == 404
