"""The agent's day in the web UI (issue 10), on SQLite and PostgreSQL: the move to a wider
queue asks first, closing without an answer needs the box and a reason, the reply page shows
the message being answered and keeps a text with a placeholder, the ticket page warns of
the lock at the top and shows flags, attachment fingerprints and history in words, the
account page sets the public signature name, and a password someone else set must be
replaced before anything else opens."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from queues import tickets as work
from queues.mail import sha256_hex
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    Blob,
    Contact,
    OutboxMessage,
    Queue,
    ReplyTemplate,
    Role,
    Ticket,
    TicketState,
    User,
)
from queues.triage.feedback_models import FALSE_ALARM, TriageFeedback

from .conftest import PASSWORD, Auth, People, new_client

NUMBER = "20261203000055"
ATTACHED = b"a screenshot, say" * 100


@pytest.fixture
def thread(factory: sessionmaker[Session]) -> str:
    """A safety ticket from mail: the report, our acknowledgement, a follow-up quoting us."""
    now = datetime.now(UTC)
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "specialist-safety")).one()
        ticket = Ticket(
            number=NUMBER,
            subject="He knows where I live",
            queue_id=queue.id,
            requester=Contact(email="rita@example.net", name="Rita Requester"),
            triage_reasons=["threat of harm: 'knows where I live' (phrase en/knows-where)"],
            flagged=True,
        )
        session.add(ticket)
        session.flush()

        def article(kind: ArticleKind, minutes: int, body: str, **more: object) -> Article:
            row = Article(
                ticket_id=ticket.id,
                kind=kind,
                subject="He knows where I live",
                date=now - timedelta(minutes=minutes),
                body_text=body,
                **more,
            )
            session.add(row)
            session.flush()
            return row

        article(ArticleKind.INCOMING, 60, "First report.", from_email="rita@example.net")
        article(ArticleKind.AUTO, 59, "We have your report.", from_email="help@localhost")
        latest = article(
            ArticleKind.INCOMING,
            10,
            "It happened again tonight.\n\nOn Monday, Help wrote:\n> We have your report.\n"
            "> Reply at any time.",
            from_email="rita@example.net",
        )
        session.merge(Blob(sha256=sha256_hex(ATTACHED), size=len(ATTACHED), data=ATTACHED))
        session.flush()
        session.add(
            Attachment(
                article_id=latest.id,
                filename="proof.png",
                content_type="image/png",
                size=len(ATTACHED),
                sha256=sha256_hex(ATTACHED),
            )
        )
    return NUMBER


def post(auth: Auth, client: FlaskClient, url: str, **form: str) -> TestResponse:
    return client.post(url, data={"csrf_token": auth.csrf(client), **form})


def text_of(response: TestResponse) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def follow(client: FlaskClient, response: TestResponse) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:400]
    return text_of(client.get(response.headers["Location"]))


def ticket(factory: sessionmaker[Session], number: str = NUMBER) -> Ticket:
    with factory() as session:
        return session.scalars(select(Ticket).where(Ticket.number == number)).one()


# --- moving to a wider queue ---------------------------------------------------------------------


def test_the_move_form_starts_on_no_queue_and_a_wider_one_asks_first(
    auth: Auth, client: FlaskClient, thread: str, factory: sessionmaker[Session], people: People
) -> None:
    auth.as_role(Role.SPECIALIST)
    page = client.get(f"/tickets/{thread}").get_data(as_text=True)
    select_html = re.search(r'<select id="work-queue".*?</select>', page, re.S)
    assert select_html is not None
    assert '<option value="" selected>Choose a queue</option>' in select_html.group(0)
    assert "General help (more people will see it)" in select_html.group(0)
    assert " required" in select_html.group(0)
    # an empty choice moves nothing
    assert "Choose the queue" in follow(client, post(auth, client, f"/tickets/{thread}/move"))
    # the confirmation names who will see it, and nothing has moved
    response = post(auth, client, f"/tickets/{thread}/move", queue="general-help")
    assert response.status_code == 200
    page_text = text_of(response)
    assert "Move ticket 20261203000055 to General help?" in page_text
    assert "Now all specialists and staff (2 agents) may see it" in page_text
    assert "all volunteers, specialists and staff (4 agents) will see it" in page_text
    assert "2 of them volunteers who cannot see it now" in page_text
    assert ticket(factory).queue.slug == "specialist-safety"
    # confirming without a reason is refused on the same page, the choice kept
    form = {"queue": "general-help", "confirm": "1", "reason": "  "}
    response = post(auth, client, f"/tickets/{thread}/move", **form)
    assert response.status_code == 422 and "needs a reason" in text_of(response)
    assert ticket(factory).queue.slug == "specialist-safety"
    form["reason"] = "A question about blocking, nothing serious."
    done = follow(client, post(auth, client, f"/tickets/{thread}/move", **form))
    assert "The ticket is in General help now; your reason is in its history." in done
    assert "A question about blocking, nothing serious." in done  # the history row
    assert ticket(factory).queue.slug == "general-help"
    with factory() as session:
        feedback = session.scalars(select(TriageFeedback)).one()
        assert feedback.kind == FALSE_ALARM and feedback.actor == people.email(Role.SPECIALIST)


def test_a_move_to_a_narrower_queue_asks_nothing(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["general-help"]
    auth.as_role(Role.STAFF)
    page = follow(client, post(auth, client, f"/tickets/{number}/move", queue="police-liaison"))
    assert "The ticket is in Police liaison now." in page
    # and the way back asks, also for staff
    response = post(auth, client, f"/tickets/{number}/move", queue="general-help")
    assert response.status_code == 200 and "More people will see this ticket" in text_of(response)


# --- closing without an answer -------------------------------------------------------------------


def test_closing_without_an_answer_needs_the_box_and_a_reason(
    auth: Auth, client: FlaskClient, thread: str, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.SPECIALIST)
    page = client.get(f"/tickets/{thread}").get_data(as_text=True)
    assert 'id="work-no-answer"' in page and "Close without an answer" in page
    url = f"/tickets/{thread}/state"
    assert "Nobody has answered the requester yet" in follow(
        client, post(auth, client, url, state="closed", no_answer_reason="ticked no box")
    )
    assert "needs a reason" in follow(
        client, post(auth, client, url, state="closed", no_answer="1")
    )
    assert ticket(factory).state is not TicketState.CLOSED
    form = {"state": "closed", "no_answer": "1", "no_answer_reason": "She asked us to stop."}
    done = follow(client, post(auth, client, url, **form))
    assert "closed without an answer" in done and "She asked us to stop." in done
    assert ticket(factory).state is TicketState.CLOSED


def test_once_answered_the_close_form_asks_nothing(
    auth: Auth, client: FlaskClient, thread: str, factory: sessionmaker[Session]
) -> None:
    with factory.begin() as session:
        row = session.scalars(select(Ticket).where(Ticket.number == thread)).one()
        session.add(Article(ticket_id=row.id, kind=ArticleKind.OUTGOING, body_text="Hello."))
    auth.as_role(Role.SPECIALIST)
    assert 'id="work-no-answer"' not in client.get(f"/tickets/{thread}").get_data(as_text=True)
    done = follow(client, post(auth, client, f"/tickets/{thread}/state", state="closed"))
    assert "The ticket is closed now." in done


# --- the reply page ------------------------------------------------------------------------------


def test_the_reply_page_shows_the_newest_incoming_message_with_its_quote_folded(
    auth: Auth, client: FlaskClient, thread: str, factory: sessionmaker[Session]
) -> None:
    with factory.begin() as session:
        session.add(ReplyTemplate(name="Short", body="Hello {{ requester.name }}."))
    auth.as_role(Role.SPECIALIST)
    page = client.get(f"/tickets/{thread}/reply").get_data(as_text=True)
    aside = re.search(r'<aside class="reply-context".*?</aside>', page, re.S)
    assert aside is not None
    shown = aside.group(0)
    assert "What you are answering" in shown and '<details class="answered" open>' in shown
    assert "It happened again tonight." in shown
    quoted = re.search(
        r'<details class="quoted">\s*<summary>Quoted text \(3 lines\)</summary>', shown
    )
    assert quoted is not None, shown  # the attribution and two quoted lines
    assert "&gt; We have your report." in shown
    assert "1 attachment" in shown
    with factory() as session:
        newest = session.scalars(
            select(Article)
            .join(Ticket)
            .where(Ticket.number == thread, Article.kind == ArticleKind.INCOMING)
            .order_by(Article.id.desc())
        ).first()
    assert newest is not None
    assert f'<option value="{newest.id}" selected>' in page  # not the acknowledgement
    # choosing a template keeps the message chosen
    assert f'name="answer_to" value="{newest.id}"' in page


def test_a_reply_with_a_placeholder_comes_back_with_its_text_and_where(
    auth: Auth, client: FlaskClient, thread: str, factory: sessionmaker[Session]
) -> None:
    auth.as_role(Role.SPECIALIST)
    client.get(f"/tickets/{thread}/reply")
    body = "Dear Rita,\n\nwe read it. [What happens next, in plain words.]\nTake care."
    response = post(auth, client, f"/tickets/{thread}/reply", body=body)
    assert response.status_code == 200
    page = text_of(response)
    assert "so it was not sent" in page
    assert "the message, line 3: [What happens next, in plain words.]" in page
    assert html.escape(body, quote=False) in response.get_data(as_text=True)  # kept
    assert "What you are answering" in page
    with factory() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


# --- the ticket page -----------------------------------------------------------------------------


def test_the_ticket_page_warns_of_the_lock_at_the_top_and_shows_what_it_knows(
    app: Flask, auth: Auth, client: FlaskClient, thread: str, factory: sessionmaker[Session]
) -> None:
    holder = auth.as_role(Role.STAFF, new_client(app))
    holder.get(f"/tickets/{thread}/reply")  # takes the answering lock
    auth.as_role(Role.SPECIALIST)
    with factory.begin() as session:
        row = session.scalars(select(Ticket).where(Ticket.number == thread)).one()
        specialist = session.scalars(select(User).where(User.role == Role.SPECIALIST)).one()
        work.add_note(session, row, specialist, "Called the police liaison.", datetime.now(UTC))
    page = client.get(f"/tickets/{thread}").get_data(as_text=True)
    top = page.index("lock-warning lock-top")
    assert top < page.index('id="triage-heading"') < page.index('id="thread-heading"')
    assert "staff@example.org</strong> is answering this ticket until" in page[top : top + 400]
    flagged = re.search(r"<dt>Flagged</dt><dd>(.*?)</dd>", page)
    assert flagged is not None
    assert 'by <a href="#triage-heading">safety triage</a> (1 reason)' in flagged.group(1)
    assert f"{len(ATTACHED):,} bytes, SHA-256 <code>{sha256_hex(ATTACHED)}</code>" in page
    history = page[page.index('id="history-heading"') :]
    assert "<td>Internal note</td>" in history and "internal note added" in history
    assert "<td>Answering</td>" in history
    assert not re.search(r"internal note \d", history)
    # the lock's own holder is not warned about themselves
    assert "lock-top" not in holder.get(f"/tickets/{thread}").get_data(as_text=True)


def test_a_rule_flag_is_named_as_such(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], tickets: dict[str, str]
) -> None:
    number = tickets["general-help"]
    with factory.begin() as session:
        session.scalars(select(Ticket).where(Ticket.number == number)).one().flagged = True
    auth.as_role(Role.VOLUNTEER)
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert '<span class="tag">flagged</span> by a routing rule' in page
    with factory.begin() as session:
        session.scalars(select(Ticket).where(Ticket.number == number)).one().flagged = False
    assert "<dt>Flagged</dt><dd>no</dd>" in client.get(f"/tickets/{number}").get_data(as_text=True)


# --- the account page and the public signature name ----------------------------------------------


def test_the_account_page_sets_the_name_that_signs_replies(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], people: People
) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = text_of(client.get("/account"))
    assert "Your replies are signed now: Switchboard help team" in page
    for bad, why in (("me@example.org", "not an address"), ("Val\u0007", "one line")):
        response = post(auth, client, "/account", signature_name=bad)
        assert response.status_code == 200 and why in text_of(response)
    assert "x" * 61 not in text_of(post(auth, client, "/account", signature_name="x" * 61))
    done = follow(client, post(auth, client, "/account", signature_name="  Val   K. "))
    assert "Your replies are signed “Val K.” from now on." in done
    assert "Your replies are signed now: Val K." in done
    with factory() as session:
        assert session.get_one(User, people.by_role[Role.VOLUNTEER].id).signature_name == "Val K."
    done = follow(client, post(auth, client, "/account", signature_name=""))
    assert "Your replies are signed “Switchboard help team” from now on." in done


# --- a password someone else set -----------------------------------------------------------------


def test_an_agent_with_a_password_someone_else_set_must_change_it_first(
    app: Flask, auth: Auth, client: FlaskClient, tickets: dict[str, str], people: People
) -> None:
    staff = auth.as_role(Role.STAFF, new_client(app))
    token = auth.csrf(staff, "/staff/users/new")
    page = staff.post(
        "/staff/users/new",
        data={"csrf_token": token, "email": "fresh@example.org", "role": "volunteer"},
    ).get_data(as_text=True)
    found = re.search(r"<code>([^<]+)</code>", page)
    assert found is not None
    one_time = html.unescape(found.group(1))
    assert "must choose their own password" in page
    listed = text_of(staff.get("/staff/users"))
    assert "fresh@example.org" in listed and "must choose a password" in listed

    assert auth.sign_in("fresh@example.org", one_time).status_code == 302
    number = tickets["general-help"]
    for url in ("/", f"/tickets/{number}", "/account", "/mine", "/search?q=x"):
        response = client.get(url)
        assert response.status_code == 303 and response.headers["Location"] == "/password", url
    # a POST elsewhere changes nothing
    response = client.post(
        f"/tickets/{number}/take", data={"csrf_token": auth.csrf(client, "/password")}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/password"
    assert "Choose your own password before you go on" in text_of(client.get("/password"))

    new = "my own long passphrase"
    token = auth.csrf(client, "/password")
    form = {"csrf_token": token, "current": one_time, "new": new, "confirm": new}
    assert client.post("/password", data=form).status_code == 302
    assert client.get("/").status_code == 200
    assert client.get(f"/tickets/{number}").status_code == 200


def test_a_reset_by_staff_asks_for_a_new_password_again(
    app: Flask, auth: Auth, client: FlaskClient, factory: sessionmaker[Session], people: People
) -> None:
    auth.as_role(Role.STAFF)
    page = client.post(
        f"/staff/users/{people.target.id}/password", data={"csrf_token": auth.csrf(client)}
    ).get_data(as_text=True)
    assert "must choose their own password" in page
    with factory() as session:
        assert session.get_one(User, people.target.id).must_change_password
    other = new_client(app)
    found = re.search(r"<code>([^<]+)</code>", page)
    assert found is not None
    assert auth.sign_in("target@example.org", html.unescape(found.group(1)), client=other)
    assert other.get("/").headers["Location"] == "/password"
    # an agent who signs in with their own password is not stopped
    mine = new_client(app)
    assert auth.sign_in(Role.VOLUNTEER, PASSWORD, client=mine).status_code == 302
    assert mine.get("/").status_code == 200


def test_a_new_staff_member_changes_the_password_before_enrolling_a_second_factor(
    auth: Auth, client: FlaskClient, factory: sessionmaker[Session], password_hash: str
) -> None:
    with factory.begin() as session:
        session.add(
            User(
                email="newstaff@example.org",
                role=Role.STAFF,
                password_hash=password_hash,
                must_change_password=True,
            )
        )
    assert auth.sign_in("newstaff@example.org").status_code == 302
    response = client.get("/")
    assert response.status_code == 303 and response.headers["Location"] == "/password"
    assert client.get("/password").status_code == 200
    new = "a staff member's own passphrase"
    form = {"csrf_token": auth.csrf(client, "/password"), "current": PASSWORD}
    client.post("/password", data={**form, "new": new, "confirm": new})
    with factory() as session:
        user = session.scalars(select(User).where(User.email == "newstaff@example.org")).one()
        assert not user.must_change_password
    then = client.get("/")  # then the second factor, before anything else
    assert then.status_code == 200 and "Set up two-factor sign-in" in text_of(then)
