"""Issue 8, finding 3: a ticket the agent may not see is never named on one they may see.

Merges and links made by agents show the other ticket as "a restricted ticket" (no number,
no link, no subject) to whoever may not see it: in the history, the links section and the
merge notice. Rows that exist only because a stranger quoted a hidden ticket's number are
left out, so the page is the one a number that matches nothing would have given. Staff,
who see everything, get the numbers as links. SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues import tickets as work
from queues.ingest import ingest_bytes
from queues.models import Queue, Role, Ticket, TicketEvent, TicketLink, TicketState, User
from queues.present import TICKET_MARK
from queues.settings import Settings

from .conftest import Auth, People

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def page_text(client: FlaskClient, number: str) -> str:
    """The ticket page as text: tags dropped, entities decoded, white space collapsed."""
    response = client.get(f"/tickets/{number}")
    assert response.status_code == 200
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def page_html(client: FlaskClient, number: str) -> str:
    return client.get(f"/tickets/{number}").get_data(as_text=True)


def history_rows(client: FlaskClient, number: str) -> list[tuple[str, str, str]]:
    """(who, what, detail) of each history row on the page, without the time; "what" is the
    row's label in words (webui.tickets.HISTORY_LABELS), lowercased."""
    page = page_html(client, number)
    table = page[page.index('id="history-heading"') :]
    rows = re.findall(
        r"<tr>\s*<td>.*?</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", table, re.S
    )

    def clean(cell: str) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()

    return [(clean(who), clean(what).lower(), clean(detail)) for who, what, detail in rows]


def act(
    factory: sessionmaker[Session],
    people: People,
    role: Role,
    change: Callable[[Session, User], object],
) -> None:
    """Run a queues.tickets service as the agent with `role`, in its own transaction."""
    with factory.begin() as session:
        user = session.get_one(User, people.by_role[role].id)
        change(session, user)


def by_number(session: Session, number: str) -> Ticket:
    return session.scalars(select(Ticket).where(Ticket.number == number)).one()


def test_merge_into_a_hidden_ticket_names_it_only_to_those_who_see_it(
    factory: sessionmaker[Session],
    auth: Auth,
    client: FlaskClient,
    people: People,
    tickets: dict[str, str],
) -> None:
    general, safety = tickets["general-help"], tickets["specialist-safety"]
    act(
        factory,
        people,
        Role.SPECIALIST,
        lambda s, u: work.merge(s, by_number(s, general), safety, u, NOW),
    )
    auth.as_role(Role.VOLUNTEER)
    text = page_text(client, general)
    assert safety not in text
    assert "This ticket was merged into a restricted ticket." in text
    assert (
        "specialist@example.org",
        "merged",
        "merged into a restricted ticket (0 articles moved; was new)",
    ) in history_rows(client, general)

    auth.as_role(Role.SPECIALIST)
    assert f'merged into <a href="/tickets/{safety}">ticket {safety}</a>' in page_html(
        client, general
    )
    assert f"merged into ticket {safety} (0 articles moved" in page_text(client, general)
    target = page_html(client, safety)
    assert f'<a href="/tickets/{general}">ticket {general}</a> merged into this one' in target
    assert f'<a href="/tickets/{general}">Ticket {general}</a>' in target  # links section


def test_link_to_a_hidden_ticket_is_a_restricted_ticket(
    factory: sessionmaker[Session],
    auth: Auth,
    client: FlaskClient,
    people: People,
    tickets: dict[str, str],
) -> None:
    general, safety = tickets["general-help"], tickets["specialist-safety"]
    act(
        factory,
        people,
        Role.SPECIALIST,
        lambda s, u: work.link(s, by_number(s, general), safety, u, NOW),
    )
    auth.as_role(Role.VOLUNTEER)
    text = page_text(client, general)
    assert safety not in text and "secret subject specialist-safety" not in text
    assert "A restricted ticket (related)" in text
    assert ("specialist@example.org", "linked", "linked to a restricted ticket") in history_rows(
        client, general
    )
    auth.as_role(Role.SPECIALIST)
    assert f'linked to <a href="/tickets/{safety}">ticket {safety}</a>' in page_html(
        client, general
    )
    assert f'linked to <a href="/tickets/{general}">ticket {general}</a>' in page_html(
        client, safety
    )


def test_work_on_a_ticket_merged_into_a_hidden_one_does_not_name_it(
    factory: sessionmaker[Session], people: People, tickets: dict[str, str]
) -> None:
    general, safety = tickets["general-help"], tickets["specialist-safety"]
    act(
        factory,
        people,
        Role.SPECIALIST,
        lambda s, u: work.merge(s, by_number(s, general), safety, u, NOW),
    )
    with factory.begin() as session:
        volunteer = session.get_one(User, people.by_role[Role.VOLUNTEER].id)
        with pytest.raises(work.TicketError) as refused:
            work.acquire_lock(session, by_number(session, general), volunteer, NOW)
    assert safety not in str(refused.value)
    assert "merged into a restricted ticket" in str(refused.value)
    with factory.begin() as session:
        specialist = session.get_one(User, people.by_role[Role.SPECIALIST].id)
        with pytest.raises(work.TicketError, match=f"merged into ticket {safety}"):
            work.acquire_lock(session, by_number(session, general), specialist, NOW)


def _ingested(factory: sessionmaker[Session], number: str, slug: str, quoted: str | None) -> None:
    """A ticket as ingest makes it for a stranger's mail; `quoted`: the existing ticket
    whose number the stranger put in the subject (rows by ref_ticket_id, as queues.rows
    asks), or None for a number that matches nothing."""
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == slug)).one()
        ticket = Ticket(number=number, subject="s", queue_id=queue.id)
        session.add(ticket)
        session.flush()
        rows: list[tuple[str, str, int | None]] = [("created", f"from smtp to {slug}", None)]
        if quoted is not None:
            old = by_number(session, quoted)
            session.add(TicketLink(source_id=ticket.id, target_id=old.id, kind="quoted-number"))
            rows += [
                ("routing", f"quotes {TICKET_MARK}", old.id),
                (
                    "linked",
                    f"subject named {TICKET_MARK} but the sender is not a participant",
                    old.id,
                ),
                ("linked", "the sender quoted a ticket's number", old.id),  # no mark
            ]
        rows.append(("autoreply", "acknowledgement queued", None))
        for kind, detail, ref in rows:
            session.add(
                TicketEvent(ticket_id=ticket.id, kind=kind, detail=detail, ref_ticket_id=ref)
            )
        if quoted is not None:
            # A row on the quoted ticket too, as the mail side may write one.
            session.add(
                TicketEvent(
                    ticket_id=old.id,
                    kind="quoted",
                    detail=f"number quoted in {TICKET_MARK}",
                    ref_ticket_id=ticket.id,
                )
            )


def test_a_quoted_hidden_number_leaves_the_rows_of_a_number_that_does_not_exist(
    factory: sessionmaker[Session],
    auth: Auth,
    client: FlaskClient,
    people: People,
    tickets: dict[str, str],
) -> None:
    police = tickets["police-liaison"]
    _ingested(factory, "20261204000001", "specialist-safety", quoted=police)
    _ingested(factory, "20261204000002", "specialist-safety", quoted=None)
    auth.as_role(Role.SPECIALIST)
    quoted_page = page_html(client, "20261204000001")
    assert police not in quoted_page and "restricted ticket" not in quoted_page
    assert "quoted" not in quoted_page and "Linked tickets" not in quoted_page
    assert history_rows(client, "20261204000001") == history_rows(client, "20261204000002")
    # Staff see the police-liaison ticket, so they are told, with the number.
    auth.as_role(Role.STAFF)
    rows = history_rows(client, "20261204000001")
    assert ("system", "routing", f"quotes ticket {police}") in rows
    assert (
        "system",
        "linked",
        f"subject named ticket {police} but the sender is not a participant",
    ) in rows
    assert ("system", "linked", f"the sender quoted a ticket's number (ticket {police})") in rows
    assert ("system", "quoted", "number quoted in ticket 20261204000001") in history_rows(
        client, police
    )


def test_a_stranger_quoting_a_visible_number_from_a_hidden_ticket_leaves_no_trace(
    factory: sessionmaker[Session],
    auth: Auth,
    client: FlaskClient,
    people: People,
    tickets: dict[str, str],
) -> None:
    # The new ticket went to specialist-safety (triage): the volunteer on the quoted
    # general-help ticket must not learn that it exists.
    general = tickets["general-help"]
    auth.as_role(Role.VOLUNTEER)
    before = history_rows(client, general), page_text(client, general)
    _ingested(factory, "20261204000003", "specialist-safety", quoted=general)
    assert (history_rows(client, general), page_text(client, general)) == before
    auth.as_role(Role.SPECIALIST)
    text = page_text(client, general)
    assert "Ticket 20261204000003" in text and "quoted this ticket's number" in text
    assert "number quoted in ticket 20261204000003" in text


def test_hidden_rows_and_links_when_the_other_ticket_moves_away(
    factory: sessionmaker[Session],
    auth: Auth,
    client: FlaskClient,
    people: People,
    tickets: dict[str, str],
) -> None:
    """Visibility is decided when the page is shown, not when the row was written."""
    general = tickets["general-help"]
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        session.add(Ticket(number="20261204000004", subject="other", queue_id=queue.id))
    act(
        factory,
        people,
        Role.VOLUNTEER,
        lambda s, u: work.link(s, by_number(s, general), "20261204000004", u, NOW),
    )
    auth.as_role(Role.VOLUNTEER)
    assert "linked to ticket 20261204000004" in page_text(client, general)
    act(
        factory,
        people,
        Role.SPECIALIST,
        lambda s, u: work.move(s, by_number(s, "20261204000004"), u, "specialist-safety", NOW),
    )
    text = page_text(client, general)
    assert "20261204000004" not in text and "linked to a restricted ticket" in text


def test_the_operator_sees_numbers_an_agent_does_not(
    factory: sessionmaker[Session], people: People, tickets: dict[str, str]
) -> None:
    """`switchboard show` is the operator, who sees every ticket: numbers stay."""
    from queues.present import history_dict, ticket_history

    general, police = tickets["general-help"], tickets["police-liaison"]
    act(
        factory,
        people,
        Role.STAFF,
        lambda s, u: work.merge(s, by_number(s, general), police, u, NOW),
    )
    with factory() as session:
        ticket = by_number(session, general)
        assert ticket.state is TicketState.CLOSED
        operator = [history_dict(e) for e in ticket_history(session, ticket, None)]
        volunteer = session.get_one(User, people.by_role[Role.VOLUNTEER].id)
        seen = [history_dict(e) for e in ticket_history(session, ticket, volunteer)]
    assert operator[-1]["detail"].startswith(f"merged into ticket {police} (")
    assert operator[-1]["ticket"] == police
    assert seen[-1]["detail"].startswith("merged into a restricted ticket (")
    assert seen[-1]["ticket"] is None


# --- through the real parser and ingest (queues.ingest writes the rows by ref_ticket_id) ----


def _stranger_mail(number: str, body: str) -> bytes:
    return (
        "From: Stranger <stranger@evil.example>\r\n"
        "To: help@example.org\r\n"
        f"Subject: Re: [Ticket#{number}] about that case\r\n"
        f"Message-ID: <quote-{number}@evil.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def _ingest(factory: sessionmaker[Session], tmp_path: Path, raw: bytes) -> str:
    settings = Settings(
        var_dir=tmp_path / "var",
        addresses={"help@example.org": "general-help", "safety@example.org": "specialist-safety"},
        database_url="sqlite://",
    )
    outcome = ingest_bytes(factory, raw, settings, parse_message, source="test")
    assert outcome.kind == "new" and outcome.ticket_number is not None
    return outcome.ticket_number


def test_a_stranger_quoting_numbers_through_ingest(
    factory: sessionmaker[Session],
    auth: Auth,
    client: FlaskClient,
    tmp_path: Path,
) -> None:
    # Numbers of full length, as the subject tag reader wants them.
    general, police = "20261204000201", "20261204000203"
    with factory.begin() as session:
        for number, slug in ((general, "general-help"), (police, "police-liaison")):
            queue = session.scalars(select(Queue).where(Queue.slug == slug)).one()
            session.add(Ticket(number=number, subject="s", queue_id=queue.id))
    auth.as_role(Role.VOLUNTEER)
    before = history_rows(client, general), page_text(client, general)
    # A serious report quoting a general-help number goes to specialist-safety (triage):
    # the volunteer on the quoted ticket is told nothing, the specialist sees the link.
    serious = "He wrote that he will kill me and he knows where I live."
    new = _ingest(factory, tmp_path, _stranger_mail(general, serious))
    assert (history_rows(client, general), page_text(client, general)) == before
    assert client.get(f"/tickets/{new}").status_code == 404
    auth.as_role(Role.SPECIALIST)
    rows = history_rows(client, new)
    assert any(what == "linked" and f"ticket {general}" in detail for _, what, detail in rows)
    assert f"Ticket {new}" in page_text(client, general)
    # Quoting a police-liaison number: nothing on any page a specialist may open names it.
    other = _ingest(factory, tmp_path, _stranger_mail(police, "Where is my case?"))
    for number in (other, general, new):
        response = client.get(f"/tickets/{number}")
        assert police not in response.get_data(as_text=True)
    # Staff see where it came from, by number.
    auth.as_role(Role.STAFF)
    rows = history_rows(client, other)
    assert any(what == "linked" and f"ticket {police}" in detail for _, what, detail in rows)
    assert f"Ticket {other}" in page_text(client, police)
