"""Every message of the shared real-world corpus becomes a ticket, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from mailgate.sources import scan
from queues.ingest import ingest_bytes
from queues.models import Article, ArticleKind, Attachment, InboundMail, InboundState, Ticket
from queues.settings import Settings

pytestmark = pytest.mark.slow


def test_every_corpus_message_becomes_a_ticket(
    factory: sessionmaker[Session], settings: Settings, corpus_dir: Path
) -> None:
    files = scan([corpus_dir]).files
    assert len(files) == 301, "the corpus README promises 301 messages"
    kinds: Counter[str] = Counter()
    problems = []
    for path in files:
        outcome = ingest_bytes(
            factory, path.read_bytes(), settings, parse_message, source=f"file:{path.name}"
        )
        kinds[outcome.kind] += 1
        if outcome.kind not in ("new", "followup", "duplicate"):
            problems.append((path, outcome))
    assert problems == []
    with factory() as session:
        inbound = session.scalar(select(func.count()).select_from(InboundMail))
        done = session.scalar(
            select(func.count())
            .select_from(InboundMail)
            .where(InboundMail.state == InboundState.DONE)
        )
        incoming = session.scalar(
            select(func.count()).select_from(Article).where(Article.kind == ArticleKind.INCOMING)
        )
        tickets = session.scalar(select(func.count()).select_from(Ticket))
        attachments = session.scalar(select(func.count()).select_from(Attachment))
    assert inbound == 301
    assert done == incoming == kinds["new"] + kinds["followup"]
    assert tickets == kinds["new"]
    assert kinds["new"] > 250  # threads in the list archive legitimately become follow-ups
    assert attachments and attachments > 60
