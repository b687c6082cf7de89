"""Migration 0006 on a database with history rows from before it: numbers become references.

Rows that named another ticket by number in `detail` (merges, links, a stranger's quoted
number) get `ref_ticket_id` and the mark instead, so that pages can hide the number from
those who may not see that ticket; the downgrade puts the numbers back.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, text

from queues.migrate import alembic_config, upgrade
from queues.present import TICKET_MARK

# (kind, detail before 0006, detail after, the ticket it names: "other", "gone" or None)
LEGACY_ROWS = [
    ("merged", "merged into 2026110200002 (3 articles moved; was open)",
     f"merged into {TICKET_MARK} (3 articles moved; was open)", "other"),
    ("merged-from", "ticket 2026110200002 merged into this one (3 articles)",
     f"{TICKET_MARK} merged into this one (3 articles)", "other"),
    ("link", "linked to 2026110200002", f"linked to {TICKET_MARK}", "other"),
    ("linked", "subject named ticket 2026110200002 but the sender is not a participant",
     f"subject named {TICKET_MARK} but the sender is not a participant", "other"),
    ("linked", "follow-up to closed ticket 2026110200002",
     f"follow-up to closed {TICKET_MARK}", "other"),
    ("routing", "quotes restricted ticket 2026110200002", f"quotes {TICKET_MARK}", "other"),
    ("link", "linked to 2026110299999", "linked to another ticket", "gone"),
    # Rows that only look alike stay as they are.
    ("routing", "routing rule #3 'linked to 2026110200002' matched: flag",
     "routing rule #3 'linked to 2026110200002' matched: flag", None),
    ("state", "state new -> open", "state new -> open", None),
    ("note", "linked to 2026110200002", "linked to 2026110200002", None),
]  # fmt: skip


def _fill_at_0005(engine: Engine) -> dict[str, int]:
    """Two tickets in a restricted and an open queue and the legacy rows on the first."""
    upgrade(engine, "0005")
    with engine.begin() as conn:
        for slug, restricted in [("general-help", False), ("police-liaison", True)]:
            conn.execute(
                text(
                    "INSERT INTO queues (slug, name, restricted, followup_closed, signature,"
                    " created_at) VALUES (:s, :s, :r, 'reopen', '', CURRENT_TIMESTAMP)"
                ),
                {"s": slug, "r": restricted},
            )
        ids = {}
        for number, slug in [
            ("2026110200001", "general-help"),
            ("2026110200002", "police-liaison"),
        ]:
            conn.execute(
                text(
                    "INSERT INTO tickets (number, subject, queue_id, state, priority, flagged,"
                    " triage_reasons, created_at, updated_at) SELECT :n, 's', id, 'open', 3,"
                    " false, '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM queues"
                    " WHERE slug = :q"
                ),
                {"n": number, "q": slug},
            )
            ids[number] = conn.execute(
                text("SELECT id FROM tickets WHERE number = :n"), {"n": number}
            ).scalar_one()
        for kind, detail, _after, _ref in LEGACY_ROWS:
            conn.execute(
                text(
                    "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail)"
                    " VALUES (:t, CURRENT_TIMESTAMP, 'system', :k, :d)"
                ),
                {"t": ids["2026110200001"], "k": kind, "d": detail},
            )
    return ids


def _rows(engine: Engine, with_ref: bool = True) -> list[tuple[object, ...]]:
    columns = "kind, detail, ref_ticket_id" if with_ref else "kind, detail"
    with engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM ticket_events ORDER BY id"))
        ]


def test_numbers_in_old_rows_become_references(empty_engine: Engine) -> None:
    ids = _fill_at_0005(empty_engine)
    upgrade(empty_engine, "0006")
    other = ids["2026110200002"]
    expected = [
        (kind, after, other if ref == "other" else None) for kind, _, after, ref in LEGACY_ROWS
    ]
    assert _rows(empty_engine) == expected
    assert not any("2026110200002" in str(d) for k, d, r in _rows(empty_engine) if r is not None)


def test_downgrade_puts_the_numbers_back(empty_engine: Engine) -> None:
    _fill_at_0005(empty_engine)
    upgrade(empty_engine, "0006")
    cfg = alembic_config()
    with empty_engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0005")
    # A number that named no ticket stays "another ticket": there is nothing to put back.
    expected = [
        (kind, after if ref == "gone" else before) for kind, before, after, ref in LEGACY_ROWS
    ]
    assert _rows(empty_engine, with_ref=False) == expected
