"""Staff changes to the triage lexicon (queues.triage.staff): add a phrase, switch entries
and rules off and on, preview over recent tickets, audited; and the ingest path triages
with them."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import triage as triage_module
from queues.models import AuditEvent, Role, Ticket, User
from queues.settings import Settings
from queues.triage import Lexicon, LexiconError, TriageHit
from queues.triage.models import TriageEntry
from queues.triage.staff import (
    add_entry,
    check_entry,
    current_lexicon,
    entries,
    preview,
    set_enabled,
)

from .builders import FakeGate, make_mail


@pytest.fixture
def staff(factory: sessionmaker[Session]) -> int:
    with factory.begin() as session:
        user = User(email="staff@example.org", role=Role.STAFF, password_hash="x")
        session.add(user)
        session.flush()
        return user.id


def triage(subject: str, body: str, lexicon: Lexicon | None = None) -> list[TriageHit]:
    """The lexicon's hits alone: staff change the lexicon (the wording model beside it has
    its own tests, test_triage_model*.py)."""
    return triage_module.triage(subject, body, lexicon, model=False)


@pytest.fixture
def gate(factory: sessionmaker[Session], settings: Settings) -> FakeGate:
    """Ingest with the lexicon alone, whose staff changes these tests are about."""
    return FakeGate(factory, dataclasses.replace(settings, triage_model=False))


def _audit(session: Session) -> list[str]:
    return [e.detail for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_a_staff_phrase_is_checked_stored_audited_and_used(
    factory: sessionmaker[Session], staff: int
) -> None:
    text = "He says he will feed me to the pigs."
    assert triage("", text) == []
    with factory.begin() as session:
        user = session.get_one(User, staff)
        row = add_entry(
            session,
            user,
            "192.0.2.7",
            language="en",
            category="threat",
            pattern="feed (?:me|you|her|him) to the (?:pigs|fish|dogs)",
            positive=[text],
            negative=["Please feed the fish while I'm away."],
            note="seen in reports this month",
        )
        assert row.entry_id.startswith("staff-") and row.origin == "staff"
        assert _audit(session) == [f"triage entry en/{row.entry_id} added"]
    with factory() as session:
        lexicon = current_lexicon(session)
        hits = triage("", text, lexicon)
        assert [(h.category, h.entry) for h in hits] == [("threat", row.entry_id)]
        assert "feed me to the pigs" in hits[0].reason()
        listed = {(s.language, s.id): s for s in entries(session)}
        assert listed[("en", row.entry_id)].origin == "staff"
        assert listed[("en", "kill-you")].enabled
        assert listed[("en", "adult-child-asks")].kind == "rule"


@pytest.mark.parametrize(
    ("pattern", "positive", "negative", "message"),
    [
        ("kill (you", ["kill you"], [], "not a valid pattern"),
        ("kill (you)", ["kill you"], [], "capturing group"),
        ("<NOPE> you", ["x"], [], "unknown macro"),
        ("feed me to the pigs", ["he will feed you to the dogs"], [], "misses its example"),
        ("feed (?:me|you) to", ["feed me to the pigs"], ["feed you to sleep"], "fires on"),
    ],
)
def test_a_bad_staff_phrase_is_refused_with_a_reason(
    pattern: str, positive: list[str], negative: list[str], message: str
) -> None:
    with pytest.raises(LexiconError, match=message):
        check_entry("en", "threat", pattern, positive, negative)


def test_unknown_category_or_language_is_refused() -> None:
    with pytest.raises(LexiconError, match="category 'spam'"):
        check_entry("en", "spam", "kill you", ["kill you"])
    with pytest.raises(LexiconError, match="no lexicon for language 'it'"):
        check_entry("it", "threat", "ti ammazzo", ["ti ammazzo"])


def test_switching_a_file_entry_and_a_rule_off_and_on(
    factory: sessionmaker[Session], staff: int
) -> None:
    threat = "I will kill you."
    grooming = (
        "A grown man writes to my daughter, she is 12. He asks her to keep it a secret and "
        "to send him pictures."
    )
    with factory.begin() as session:
        user = session.get_one(User, staff)
        set_enabled(session, user, None, "en", "kill-you", False)
        set_enabled(session, user, None, "en", "adult-child-asks", False)
        with pytest.raises(LexiconError, match="no triage entry or rule en/nope"):
            set_enabled(session, user, None, "en", "nope", False)
    with factory() as session:
        lexicon = current_lexicon(session)
        assert triage("", threat, lexicon) == []
        assert "adult-child-asks" not in {h.entry for h in triage("", grooming, lexicon)}
        assert not {(s.language, s.id): s for s in entries(session)}[("en", "kill-you")].enabled
        assert _audit(session) == [
            "triage entry en/kill-you disabled",
            "triage entry en/adult-child-asks disabled",
        ]
    with factory.begin() as session:
        set_enabled(session, session.get_one(User, staff), None, "en", "kill-you", True)
    with factory() as session:
        assert [h.entry for h in triage("", threat, current_lexicon(session))] == ["kill-you"]
        assert session.scalars(select(TriageEntry)).all()[0].origin == "file"


def test_without_staff_rows_the_lexicon_is_the_files() -> None:
    from queues.triage import default_lexicon

    class NoRows:
        def scalars(self, statement: object) -> list[object]:
            return []

    assert current_lexicon(NoRows()) is default_lexicon()  # type: ignore[arg-type]


def test_a_broken_staff_row_never_stops_triage(factory: sessionmaker[Session], staff: int) -> None:
    with factory.begin() as session:
        session.add(
            TriageEntry(
                language="en",
                entry_id="staff-99",
                origin="staff",
                category="threat",
                pattern="kill (you",  # stored before a check existed, say
                created_by="x",
                updated_by="x",
            )
        )
    with factory() as session:
        lexicon = current_lexicon(session)
    assert [h.entry for h in triage("", "I will kill you", lexicon)] == ["kill-you"]


def test_preview_over_recent_tickets(
    factory: sessionmaker[Session], staff: int, gate: FakeGate
) -> None:
    gate.send(make_mail(body="He said he would feed me to the pigs. I will kill you, he said."))
    gate.send(make_mail(body="My neighbour wants to feed you to the fish, funny guy."))
    gate.send(make_mail(body="Please reset my password."))
    with factory() as session:
        result = preview(
            session,
            language="en",
            category="threat",
            pattern="feed (?:me|you) to the (?:pigs|fish)",
            last=10,
        )
        assert result.looked_at == 3 and result.flagged == 2
        assert result.newly_flagged == 1  # the other was flagged already (kill you)
        numbers = {t.number: t.triage_reasons for t in session.scalars(select(Ticket))}
        for hit in result.hits:
            assert hit.number in numbers
            assert "feed" in hit.hit.excerpt
    with factory() as session, pytest.raises(LexiconError):
        preview(session, language="en", category="threat", pattern="(unclosed")


def test_ingest_triages_with_staff_changes(
    factory: sessionmaker[Session], staff: int, gate: FakeGate
) -> None:
    with factory.begin() as session:
        user = session.get_one(User, staff)
        add_entry(
            session,
            user,
            None,
            language="en",
            category="threat",
            pattern="feed (?:me|you) to the pigs",
            positive=["he will feed me to the pigs"],
        )
        set_enabled(session, user, None, "en", "stalking", False)
    out = gate.send(make_mail(body="He wrote that he will feed me to the pigs."))
    quiet = gate.send(make_mail(body="This is stalking, he follows my posts."))
    with factory() as session:
        flagged = session.scalars(select(Ticket).where(Ticket.number == out.ticket_number)).one()
        assert flagged.queue.slug == "specialist-safety"
        assert any("feed me to the pigs" in r for r in flagged.triage_reasons)
        other = session.scalars(select(Ticket).where(Ticket.number == quiet.ticket_number)).one()
        assert other.queue.slug == "general-help"
