"""The reasons and marks of the ticket page (queues.triage.marks): segments around the words
that fired, stored reasons taken apart and tied to the messages that show them today."""

from __future__ import annotations

from queues.models import Article, ArticleKind
from queues.triage import reasons as reason_texts
from queues.triage import signal_reason
from queues.triage.marks import MAX_ARTICLES, Segment, article_marks, reasons, segments

BODY = "Hi,\n\nhe said he will come to my house tonight.\nPlease help.\n"


def incoming(article_id: int, body: str, subject: str = "Help") -> Article:
    return Article(id=article_id, kind=ArticleKind.INCOMING, subject=subject, body_text=body)


def test_segments_mark_merged_spans_and_keep_every_character() -> None:
    parts = segments("abcdefghij", [(6, 8), (1, 3), (2, 4), (4, 5), (20, 30), (9, 9)])
    assert parts == (
        Segment("a"),
        Segment("bcde", True),
        Segment("f"),
        Segment("gh", True),
        Segment("ij"),
    )
    assert "".join(p.text for p in parts) == "abcdefghij"
    assert segments("", []) == (Segment(""),)
    assert segments("abc", [(0, 3)]) == (Segment("abc", True),)


def test_marks_are_the_words_that_fired_in_the_stored_text() -> None:
    note = Article(id=3, kind=ArticleKind.NOTE, subject="", body_text="he will kill you")
    found = article_marks([incoming(1, BODY), incoming(2, "Thank you!"), note])
    assert list(found) == [1]  # notes are not triaged, nor messages without a hit
    marked = [p.text for p in found[1].body if p.marked]
    assert marked and all(m in BODY for m in marked)
    assert "".join(p.text for p in found[1].body) == BODY
    assert "".join(p.text for p in found[1].subject) == "Help"


def test_only_the_first_messages_are_scanned() -> None:
    many = [incoming(i, "Thanks.") for i in range(1, MAX_ARTICLES + 1)]
    assert article_marks([*many, incoming(999, BODY)]) == {}


def test_stored_reasons_are_tied_to_the_messages_and_marked_in_their_quote() -> None:
    found = article_marks([incoming(7, BODY)])
    stored = reason_texts(found[7].hits)
    shown = reasons([signal_reason("safety-address"), *stored, "threat of harm (en: 'x')"], found)
    signal, first, old = shown[0], shown[1], shown[-1]
    assert signal.signal and signal.label == "signal"
    assert first.articles == (7,) and first.how in ("phrase", "rule")
    assert "/" in first.ref and first.label in stored[0]
    assert any(p.marked for p in first.quote)
    quote = "".join(p.text for p in first.quote)
    assert f'"{quote}"' in stored[0]
    assert (old.label, old.articles, old.quote) == (old.text, (), ())


def test_a_reason_the_lexicon_no_longer_finds_is_shown_unmarked() -> None:
    stored = 'threat of harm: "…he will come to my house…" (phrase en/some-old-entry)'
    (reason,) = reasons([stored], article_marks([incoming(1, "Nothing here.")]))
    assert reason.articles == () and reason.ref == "en/some-old-entry"
    assert [p.marked for p in reason.quote] == [False]
