"""Probation (queues.team.probation, the hook in queues.replies.send_reply) and the training
checklist (queues.team.checklist): a probationary reply never reaches the outbox before
approval (checked at the outbox table), it keeps the answering lock, the mentor is told
without report content, approve / edit / return, counts, and probation cannot end while
checklist items are open; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import replies
from queues import tickets as work
from queues.models import Article, ArticleKind, TicketEvent, TicketState
from queues.settings import Settings
from queues.team import checklist, probation
from queues.team.models import HeldReply, HeldState

from .team_world import T0, Team, mail_ticket, outbox, session, team

__all__ = ["session", "team"]
SECRET_WORDS = "rude comments under my photos"  # from the report (team_world.mail_ticket)
REPLY = "Dear reporter,\n\nwe have asked the site to remove the posts.\n"


def hold_one(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> tuple[replies.HeldForReview, HeldReply]:
    ticket = mail_ticket(factory, settings, session)
    work.acquire_lock(session, ticket, team.novice, T0)
    result = replies.send_reply(
        session, ticket, team.novice, replies.Draft(body=REPLY), settings, T0
    )
    assert isinstance(result, replies.HeldForReview)
    return result, session.get_one(HeldReply, result.held_id)


def test_a_probationary_reply_is_held_and_never_reaches_the_outbox(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    result, held = hold_one(factory, settings, session, team)
    session.commit()
    # At the outbox itself: no reply row, nothing carrying the reply's words.
    assert outbox(session, "reply") == []
    assert all(REPLY.encode()[:40] not in row.raw for row in outbox(session))
    assert held.state is HeldState.WAITING and held.mentor_id == team.mentor.id
    assert held.body == REPLY
    ticket = session.get_one(Article, session.scalars(select(Article.id)).first()).ticket
    kinds = [a.kind for a in ticket.articles]
    assert ArticleKind.OUTGOING not in kinds  # no article written either
    assert ticket.waiting_since is not None  # the requester still waits
    assert result.subject.startswith("Re: [Ticket#")


def test_the_held_reply_keeps_the_answering_lock(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    _, held = hold_one(factory, settings, session, team)
    ticket = held_ticket(session, held)
    later = T0 + timedelta(days=3)  # far beyond the usual ten minutes
    lock = work.current_lock(session, ticket, later)
    assert lock is not None and lock.user_id == team.novice.id
    with pytest.raises(work.LockHeld):
        replies.send_reply(
            session, ticket, team.veteran, replies.Draft(body="Me too"), settings, later
        )
    with pytest.raises(work.TicketError, match="still waits"):
        replies.send_reply(
            session, ticket, team.novice, replies.Draft(body="Again"), settings, later
        )


def held_ticket(session: Session, held: HeldReply) -> work.Ticket:
    return session.get_one(work.Ticket, held.ticket_id)


def test_the_mentor_is_told_by_mail_without_report_content(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    _, held = hold_one(factory, settings, session, team)
    ticket = held_ticket(session, held)
    [mail] = outbox(session, "mentor-review-waiting")
    assert mail.recipients == [team.mentor.email]
    assert mail.ticket_id is None
    raw = mail.raw.decode("ascii", "replace")
    assert "Nico" in raw  # who wrote it
    for secret in (SECRET_WORDS, ticket.subject, ticket.number, "remove the posts", "alice"):
        assert secret not in raw, secret


def test_without_a_mentor_staff_are_told_and_may_review(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    probation.set_mentor(session, team.novice, None)
    _, held = hold_one(factory, settings, session, team)
    assert held.mentor_id is None
    [mail] = outbox(session, "mentor-review-waiting")
    assert mail.recipients == [team.staff.email]
    assert probation.waiting_for(session, team.staff) == [held]
    assert probation.waiting_for(session, team.mentor) == []


def test_the_mentor_approves_and_the_reply_is_sent_as_the_agents(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    _, held = hold_one(factory, settings, session, team)
    assert probation.waiting_for(session, team.mentor) == [held]
    assert probation.of_author(session, team.novice) == [held]
    later = T0 + timedelta(hours=1)
    sent = probation.approve(session, held, team.mentor, settings, later)
    [row] = outbox(session, "reply")
    assert row.id == sent.outbox_id and b"asked the site to remove the posts" in row.raw
    assert held.state is HeldState.APPROVED and held.decided_by == team.mentor.email
    assert held.article_id == sent.article_id
    ticket = held_ticket(session, held)
    assert ticket.locked_by_id is None and ticket.waiting_since is None
    assert ticket.owner_id == team.novice.id and ticket.state is TicketState.OPEN
    events = [(e.kind, e.actor) for e in session.scalars(select(TicketEvent))]
    assert ("reply", team.novice.email) in events
    assert ("reply-reviewed", team.mentor.email) in events
    assert probation.counts(session, team.novice.id) == probation.Counts(approved=1)
    with pytest.raises(work.TicketError, match="already approved"):
        probation.approve(session, held, team.mentor, settings, later)


def test_the_mentor_edits_and_sends(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    _, held = hold_one(factory, settings, session, team)
    edited = "Dear reporter,\n\nwe reported the posts; please keep the links for us.\n"
    probation.approve(session, held, team.mentor, settings, T0, body=edited)
    [row] = outbox(session, "reply")
    assert b"please keep the links" in row.raw and b"asked the site" not in row.raw
    assert held.state is HeldState.EDITED and held.body == REPLY  # the agent's own words kept
    assert probation.counts(session, team.novice.id).edited == 1


def test_the_mentor_returns_with_a_comment_and_nothing_is_sent(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    _, held = hold_one(factory, settings, session, team)
    with pytest.raises(work.TicketError, match="Say what"):
        probation.return_reply(session, held, team.mentor, " ", T0)
    probation.return_reply(session, held, team.mentor, "Add the reporting link.", T0)
    assert outbox(session, "reply") == []
    assert held.state is HeldState.RETURNED and held.comment == "Add the reporting link."
    assert held_ticket(session, held).locked_by_id is None  # the lock is freed
    assert probation.counts(session, team.novice.id) == probation.Counts(returned=1)
    # The agent may now write again (and that reply waits again).
    again = replies.send_reply(
        session, held_ticket(session, held), team.novice, replies.Draft(body="v2"), settings, T0
    )
    assert isinstance(again, replies.HeldForReview)


def test_only_the_mentor_or_staff_review_and_never_the_author(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    _, held = hold_one(factory, settings, session, team)
    for outsider in (team.novice, team.veteran, team.specialist):
        assert not probation.may_review(session, outsider, held)
        with pytest.raises(work.TicketError, match="no such reply"):
            probation.approve(session, held, outsider, settings, T0)
    assert probation.may_see(session, team.novice, held)
    assert not probation.may_see(session, team.veteran, held)
    assert probation.may_review(session, team.staff, held)
    assert outbox(session, "reply") == []


def test_replies_of_agents_not_on_probation_go_straight_out(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    ticket = mail_ticket(factory, settings, session)
    sent = replies.send_reply(
        session, ticket, team.veteran, replies.Draft(body=REPLY), settings, T0
    )
    assert isinstance(sent, replies.SentReply)
    assert len(outbox(session, "reply")) == 1


def test_probation_cannot_end_while_checklist_items_are_open(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    guidance = checklist.add_item(session, "Read the guidance", "", team.staff.email, T0)
    shadow = checklist.add_item(session, "Shadowed 5 tickets", "", team.staff.email, T0)
    with pytest.raises(probation.ProbationError, match="Read the guidance, Shadowed 5"):
        probation.end(session, team.novice, team.staff, T0)
    checklist.tick(session, team.novice, guidance, team.mentor, T0)
    with pytest.raises(checklist.ChecklistError, match="mentor or staff"):
        checklist.tick(session, team.novice, shadow, team.novice, T0)  # not their own
    with pytest.raises(checklist.ChecklistError, match="mentor or staff"):
        checklist.tick(session, team.novice, shadow, team.veteran, T0)
    with pytest.raises(probation.ProbationError, match="Shadowed 5"):
        probation.end(session, team.novice, team.staff, T0)
    checklist.tick(session, team.novice, shadow, team.staff, T0)
    with pytest.raises(probation.ProbationError, match="Only staff"):
        probation.end(session, team.novice, team.mentor, T0)
    later = T0 + timedelta(days=30)
    probation.end(session, team.novice, team.staff, later)
    assert not probation.holds_replies(session, team.novice)
    ticket = mail_ticket(factory, settings, session)
    sent = replies.send_reply(
        session, ticket, team.novice, replies.Draft(body="x"), settings, later
    )
    assert isinstance(sent, replies.SentReply)


def test_a_retired_item_no_longer_counts_and_progress_is_per_agent(
    session: Session, team: Team
) -> None:
    old = checklist.add_item(session, "Old item", "", team.staff.email, T0)
    new = checklist.add_item(session, "Conversation with the mentor", "1 hour", "s", T0)
    checklist.tick(session, team.novice, new, team.mentor, T0)
    progress = checklist.progress(session, team.novice.id)
    assert [(p.item.title, p.done, p.done_by) for p in progress] == [
        ("Old item", False, ""),
        ("Conversation with the mentor", True, team.mentor.email),
    ]
    assert [p.done for p in checklist.progress(session, team.veteran.id)] == [False, False]
    checklist.set_active(session, old, False)
    assert checklist.open_items(session, team.novice.id) == []
    checklist.untick(session, team.novice, new, team.staff)
    assert checklist.open_items(session, team.novice.id) == [new]


def test_a_waiting_reply_also_stops_the_end_of_probation(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    hold_one(factory, settings, session, team)
    with pytest.raises(probation.ProbationError, match="still waits"):
        probation.end(session, team.novice, team.staff, T0)


def test_a_pending_date_that_passed_while_waiting_does_not_block_the_mentor(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    ticket = mail_ticket(factory, settings, session)
    draft = replies.Draft(
        body=REPLY, state=TicketState.PENDING, pending_until=T0 + timedelta(hours=2)
    )
    held = replies.send_reply(session, ticket, team.novice, draft, settings, T0)
    assert isinstance(held, replies.HeldForReview)
    row = session.get_one(HeldReply, held.held_id)
    probation.approve(session, row, team.mentor, settings, T0 + timedelta(days=1))
    assert held_ticket(session, row).state is TicketState.OPEN
    assert len(outbox(session, "reply")) == 1
