"""Ticket numbers and subject tags."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Counter
from queues.numbers import (
    allocate_number,
    clean_subject,
    find_tagged_numbers,
    tagged_subject,
)

N = "20261122000042"


def test_numbers_are_unique_and_dated(factory: sessionmaker[Session]) -> None:
    day = datetime(2026, 11, 22, tzinfo=UTC)
    with factory.begin() as session:
        numbers = [allocate_number(session, day) for _ in range(50)]
    assert len(set(numbers)) == 50
    assert all(n.startswith("20261122") and len(n) == 14 for n in numbers)


def test_numbers_keep_their_length_after_a_million_tickets(
    factory: sessionmaker[Session],
) -> None:
    """The tag reader wants exactly 14 digits: the counter part wraps, it never grows."""
    day = datetime(2026, 11, 22, tzinfo=UTC)
    with factory.begin() as session:
        allocate_number(session, day)  # creates the counter
        session.execute(update(Counter).where(Counter.name == "ticket").values(value=999_998))
        numbers = [allocate_number(session, day) for _ in range(3)]
    assert numbers == ["20261122999999", "20261122000000", "20261122000001"]
    assert find_tagged_numbers(tagged_subject("help", "Ticket#", numbers[1]), "Ticket#") == [
        numbers[1]
    ]


def test_tag_survives_prefixes_and_rewrites() -> None:
    for subject in (
        f"[Ticket#{N}] help",
        f"Re: [Ticket#{N}] help",
        f"AW: Re[2]: [Ticket#{N}] help",
        f"RE: [EXTERNAL] [Ticket #{N}] help",
        f"Fwd: Ticket# {N} help",
        f"help (ticket#{N})",
        f"TICKET#: {N}",
    ):
        assert find_tagged_numbers(subject, "Ticket#") == [N], subject


def test_tag_needs_a_full_number() -> None:
    assert find_tagged_numbers("Ticket#2026112200004", "Ticket#") == []  # one digit short
    assert find_tagged_numbers(f"Ticket#{N}9", "Ticket#") == []  # one too many
    assert find_tagged_numbers(f"order {N}", "Ticket#") == []  # not our tag


def test_clean_and_tagged_subjects() -> None:
    assert (
        clean_subject(f"Re: AW: [Ticket#{N}] Someone follows me", "Ticket#") == "Someone follows me"
    )
    assert (
        tagged_subject("Re: Someone follows me", "Ticket#", N)
        == f"Re: [Ticket#{N}] Someone follows me"
    )
    assert tagged_subject("", "Ticket#", N, reply=False) == f"[Ticket#{N}] (no subject)"
