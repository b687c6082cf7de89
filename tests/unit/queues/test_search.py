"""Full-text search: subjects and bodies, ranking, need to know, languages, hostile input."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from queues import search
from queues.models import Article, ArticleKind, Queue, Role, Ticket, User
from queues.search import Term, fts5_query, parse_query, search_tickets

HOSTILE = [
    '"',
    '""',
    "*",
    "**",
    "OR",
    "AND",
    "NOT",
    "a OR b",
    "NOT harassment",
    "subject:",
    "subject:harassment",
    "body_text:x",
    "tickets_fts:rude",
    "NEAR(",
    "NEAR(rude messages, 2)",
    "rude NEAR messages",
    '"unterminated phrase',
    "{subject body_text}: rude",
    "^rude",
    "-rude",
    "+rude",
    "rude*",
    "*rude",
    "r*",
    "(((",
    ")",
    "') OR 1=1 --",
    "'; DROP TABLE tickets; --",
    "\\",
    "%",
    "_",
    "__init__",
    "\x00",
    "rude\x00messages",
    ":*",
    "!rude & messages | x <-> y",
    "<2>",
    "😀 🙈",
    "a" * 5000,
    " ".join(["word"] * 400),
    "\u202e\u200b",
    "ß",
    "ǅ",
]


@pytest.fixture
def users(factory: sessionmaker[Session]) -> dict[Role, User]:
    with factory.begin() as session:
        people = {
            role: User(email=f"s-{role.value}@example.org", role=role, password_hash="x")
            for role in Role
        }
        session.add_all(people.values())
    return people


class Corpus:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.count = 0

    def add(self, slug: str, subject: str, *bodies: str) -> str:
        self.count += 1
        number = f"20261203{self.count:06d}"
        with self.factory.begin() as session:
            queue = session.scalars(select(Queue).where(Queue.slug == slug)).one()
            ticket = Ticket(number=number, subject=subject, queue_id=queue.id)
            session.add(ticket)
            session.flush()
            for body in bodies:
                session.add(
                    Article(
                        ticket_id=ticket.id,
                        kind=ArticleKind.INCOMING,
                        subject=subject,
                        body_text=body,
                    )
                )
        return number


@pytest.fixture
def corpus(factory: sessionmaker[Session]) -> Corpus:
    return Corpus(factory)


def found(factory: sessionmaker[Session], user: User, query: str, **kw: int) -> list[str]:
    with factory() as session:
        return [t.number for t in search_tickets(session, user, query, **kw).tickets]


def test_subjects_and_bodies_ranked(
    factory: sessionmaker[Session], users: dict[Role, User], corpus: Corpus
) -> None:
    in_subject = corpus.add("general-help", "Stalker follows me everywhere", "Please help.")
    in_body = corpus.add(
        "general-help",
        "Need advice",
        "Somebody has been posting about me for a long while now, and today I noticed "
        "a stalker account that copies my photos.",
    )
    corpus.add("general-help", "Unrelated", "Nothing to see here.")
    volunteer = users[Role.VOLUNTEER]
    assert found(factory, volunteer, "stalker") == [in_subject, in_body]
    assert found(factory, volunteer, "STALKER photos") == [in_body]  # all words must match
    assert found(factory, volunteer, "stalker unicorn") == []


def test_a_ticket_with_several_matching_articles_is_listed_once(
    factory: sessionmaker[Session], users: dict[Role, User], corpus: Corpus
) -> None:
    number = corpus.add("general-help", "threats", "threats again", "more threats", "threats")
    with factory() as session:
        results = search_tickets(session, users[Role.STAFF], "threats")
    assert [t.number for t in results.tickets] == [number]
    assert results.total == 1 and not results.capped


def test_volunteers_never_find_restricted_tickets(
    factory: sessionmaker[Session], users: dict[Role, User], corpus: Corpus
) -> None:
    safety = corpus.add("specialist-safety", "Erpressung", "He threatens to publish nudes")
    police = corpus.add("police-liaison", "Evidence package", "nudes evidence for the police")
    general = corpus.add("general-help", "Spam", "Someone sends spam with nudes links")
    with factory() as session:
        for query in ("erpressung", "threatens publish", "evidence package"):
            results = search_tickets(session, users[Role.VOLUNTEER], query)
            assert (results.tickets, results.total, results.capped) == ([], 0, False), query
        results = search_tickets(session, users[Role.VOLUNTEER], "nudes")
        assert [t.number for t in results.tickets] == [general]
        assert results.total == 1
        assert search_tickets(session, users[Role.VOLUNTEER], safety).exact is None
        assert search_tickets(session, users[Role.SPECIALIST], police).exact is None
    assert sorted(found(factory, users[Role.SPECIALIST], "nudes")) == sorted([safety, general])
    assert sorted(found(factory, users[Role.STAFF], "nudes")) == sorted([safety, police, general])


def test_disabled_accounts_find_nothing(
    factory: sessionmaker[Session], users: dict[Role, User], corpus: Corpus
) -> None:
    corpus.add("general-help", "insults", "insults")
    with factory.begin() as session:
        session.execute(update(User).where(User.id == users[Role.STAFF].id).values(active=False))
    with factory() as session:
        staff = session.get_one(User, users[Role.STAFF].id)
        assert search_tickets(session, staff, "insults").total == 0


@pytest.mark.parametrize(
    ("text", "queries", "misses"),
    [
        (
            "Ich erlebe seit Wochen Belästigung und Drohungen über die Plattform. Grüße, Jürgen",
            ["Belästigung", "belastigung", "BELÄSTIGUNG", "drohungen grüße", "Jürgen"],
            ["Belastung"],
        ),
        (
            "Je subis du harcèlement à l'école depuis des mois, il m'a menacé hier soir.",
            ["harcèlement", "harcelement", "HARCÈLEMENT", "école", "ECOLE", "menacé"],
            ["harceler"],
        ),
        (
            "Un niño de mi clase me amenazó y publicó mi dirección. ¿Qué hago?",
            ["niño", "nino", "amenazó", "amenazo", "dirección publicó", "qué"],
            ["ninos"],
        ),
        (
            "Someone keeps harassing me and posted my address: what can I do?",
            ["harassing", "HARASSING address", "harass*", "what can"],
            ["harass", "harassment"],
        ),
    ],
)
def test_languages_and_accents(
    factory: sessionmaker[Session],
    users: dict[Role, User],
    corpus: Corpus,
    text: str,
    queries: list[str],
    misses: list[str],
) -> None:
    number = corpus.add("general-help", "report", text)
    corpus.add("general-help", "other", "nothing in common with the first one")
    for query in queries:
        assert found(factory, users[Role.VOLUNTEER], query) == [number], query
    for query in misses:
        assert found(factory, users[Role.VOLUNTEER], query) == [], query


def test_phrases_and_prefixes(
    factory: sessionmaker[Session], users: dict[Role, User], corpus: Corpus
) -> None:
    together = corpus.add("general-help", "a", "he sends rude messages every day")
    apart = corpus.add("general-help", "b", "rude people send messages")
    volunteer = users[Role.VOLUNTEER]
    assert found(factory, volunteer, '"rude messages"') == [together]
    assert sorted(found(factory, volunteer, "rude messages")) == sorted([together, apart])
    assert sorted(found(factory, volunteer, "mess*")) == sorted([together, apart])
    assert found(factory, volunteer, "mes") == []


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_input_never_fails(
    factory: sessionmaker[Session], users: dict[Role, User], corpus: Corpus, query: str
) -> None:
    corpus.add("general-help", "rude messages", "rude messages from a stranger: harassment")
    with factory() as session:
        results = search_tickets(session, users[Role.STAFF], query)
    assert results.total == len(results.tickets)


def test_hostile_input_is_read_as_words() -> None:
    assert parse_query('NEAR(rude, "x y" OR subject:z*') == (
        Term(("near",)),
        Term(("rude",)),
        Term(("x", "y")),
        Term(("or",)),
        Term(("subject",)),
        Term(("z",)),  # one letter is too short for a prefix
    )
    assert fts5_query(parse_query('OR "NEAR" abc*')) == '"or" AND "near" AND "abc"*'
    assert parse_query('" * : ( ) ^ - +') == ()
    assert len(parse_query(" ".join(f"w{i}" for i in range(100)))) == search.MAX_TERMS


def test_exact_number_and_tag(
    factory: sessionmaker[Session], users: dict[Role, User], corpus: Corpus
) -> None:
    number = corpus.add("general-help", "Anything", "")
    with factory() as session:
        for query in (number, f" {number} ", f"[Ticket#{number}]", f"ticket #{number}"):
            exact = search_tickets(session, users[Role.VOLUNTEER], query).exact
            assert exact is not None and exact.number == number, query
        assert search_tickets(session, users[Role.VOLUNTEER], number[:-1]).exact is None


def test_the_index_follows_changes(
    factory: sessionmaker[Session], users: dict[Role, User], corpus: Corpus
) -> None:
    number = corpus.add("general-help", "Doxxing complaint", "my address was leaked")
    staff = users[Role.STAFF]
    with factory.begin() as session:
        session.execute(
            update(Ticket).where(Ticket.number == number).values(subject="Address leak")
        )
    assert found(factory, staff, "doxxing") == []
    assert found(factory, staff, "leak") == [number]
    with factory.begin() as session:
        ticket_id = session.scalars(select(Ticket.id).where(Ticket.number == number)).one()
        session.execute(
            update(Article).where(Article.ticket_id == ticket_id).values(body_text="changed text")
        )
    assert found(factory, staff, "leaked") == []
    assert found(factory, staff, "changed") == [number]
    with factory.begin() as session:
        session.execute(delete(Article).where(Article.ticket_id == ticket_id))
        session.execute(delete(Ticket).where(Ticket.id == ticket_id))
    assert found(factory, staff, "changed") == []
    assert found(factory, staff, "leak") == []


def test_pages_and_the_cap(
    factory: sessionmaker[Session],
    users: dict[Role, User],
    corpus: Corpus,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    numbers = {corpus.add("general-help", f"bullying case {i}", "bullying") for i in range(12)}
    staff = users[Role.STAFF]
    pages = [found(factory, staff, "bullying", limit=5, offset=o) for o in (0, 5, 10, 15)]
    assert [len(p) for p in pages] == [5, 5, 2, 0]
    assert {n for p in pages for n in p} == numbers
    monkeypatch.setattr(search, "MAX_RESULTS", 10)
    with factory() as session:
        results = search_tickets(session, staff, "bullying", limit=50)
    assert (len(results.tickets), results.total, results.capped) == (10, 10, True)


def test_a_broad_query_ranks_its_newest_matches_and_says_there_may_be_more(
    factory: sessionmaker[Session],
    users: dict[Role, User],
    corpus: Corpus,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    numbers = [corpus.add("general-help", "s", "insults") for _ in range(8)]
    monkeypatch.setattr(search, "CANDIDATES", 5)
    with factory() as session:
        results = search_tickets(session, users[Role.STAFF], "insults")
    assert results.capped and results.total == 5
    assert {t.number for t in results.tickets} == set(numbers[-5:])


def test_a_narrow_first_window_widens_until_it_finds_everything(
    factory: sessionmaker[Session],
    users: dict[Role, User],
    corpus: Corpus,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = corpus.add("general-help", "s", "cyberbullying at school")
    for _ in range(5):
        corpus.add("general-help", "s", "something else")
    new = corpus.add("general-help", "s", "more cyberbullying")
    monkeypatch.setattr(search, "WINDOW", 1)  # PostgreSQL: the newest article only, then x8
    assert sorted(found(factory, users[Role.STAFF], "cyberbullying")) == sorted([new, old])
