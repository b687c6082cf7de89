"""Need to know: which queues and tickets each role may see; account lifecycle; migration 0002."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from queues.access import (
    can_see_queue,
    check_new_password,
    disable_user,
    find_user,
    parse_role,
    role_at_least,
    set_min_role,
    set_password,
    ticket_for,
    visible_queue_ids,
    visible_queues,
    visible_tickets,
)
from queues.accounts import create_user, verify_password
from queues.migrate import upgrade
from queues.models import Queue, Role, Ticket, User

SEES = {
    Role.VOLUNTEER: ["general-help"],
    Role.SPECIALIST: ["general-help", "specialist-safety"],
    Role.STAFF: ["general-help", "specialist-safety", "police-liaison"],
}


@pytest.fixture
def accounts(factory: sessionmaker[Session]) -> dict[Role, int]:
    ids = {}
    with factory.begin() as session:
        for role in Role:
            user = User(email=f"{role.value}@example.org", role=role, password_hash="x")
            session.add(user)
            session.flush()
            ids[role] = user.id
    return ids


@pytest.fixture
def numbers(factory: sessionmaker[Session]) -> dict[str, str]:
    found = {}
    with factory.begin() as session:
        for i, queue in enumerate(session.scalars(select(Queue).order_by(Queue.id)), 1):
            session.add(Ticket(number=f"77{i}", subject="s", queue_id=queue.id))
            found[queue.slug] = f"77{i}"
    return found


def test_seeded_queues_and_their_roles(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        queues = {q.slug: q for q in session.scalars(select(Queue))}
    assert queues["general-help"].min_role is Role.VOLUNTEER
    assert queues["specialist-safety"].min_role is Role.SPECIALIST
    assert queues["police-liaison"].min_role is Role.STAFF
    # `restricted` keeps meaning "above volunteer".
    assert all(q.restricted == (q.min_role is not Role.VOLUNTEER) for q in queues.values())


@pytest.mark.parametrize("role", list(Role))
def test_visible_queues_and_tickets_per_role(
    factory: sessionmaker[Session], accounts: dict[Role, int], numbers: dict[str, str], role: Role
) -> None:
    with factory() as session:
        user = session.get_one(User, accounts[role])
        assert [q.slug for q in visible_queues(session, user)] == SEES[role]
        ids = visible_queue_ids(session, user)
        assert {q.slug for q in session.scalars(select(Queue).where(Queue.id.in_(ids)))} == set(
            SEES[role]
        )
        for slug, number in numbers.items():
            ticket = ticket_for(session, user, number)
            assert (ticket is not None) == (slug in SEES[role]), (role, slug)
        listed = {t.queue.slug for t in session.scalars(visible_tickets(user))}
        assert listed == set(SEES[role])


def test_missing_and_hidden_tickets_look_the_same(
    factory: sessionmaker[Session], accounts: dict[Role, int], numbers: dict[str, str]
) -> None:
    with factory() as session:
        volunteer = session.get_one(User, accounts[Role.VOLUNTEER])
        assert ticket_for(session, volunteer, numbers["police-liaison"]) is None
        assert ticket_for(session, volunteer, "does-not-exist") is None
        assert ticket_for(session, volunteer, "") is None
        assert ticket_for(session, volunteer, "9" * 500) is None
        assert ticket_for(session, volunteer, f"  {numbers['general-help']} ") is not None


def test_disabled_accounts_see_nothing(
    factory: sessionmaker[Session], accounts: dict[Role, int], numbers: dict[str, str]
) -> None:
    with factory.begin() as session:
        staff = session.get_one(User, accounts[Role.STAFF])
        disable_user(session, staff)
        assert visible_queues(session, staff) == []
        assert ticket_for(session, staff, numbers["general-help"]) is None


def test_a_new_queue_is_only_as_visible_as_its_role(
    factory: sessionmaker[Session], accounts: dict[Role, int]
) -> None:
    with factory.begin() as session:
        queue = Queue(slug="abuse-images", name="Abuse images")
        set_min_role(queue, Role.STAFF)
        session.add(queue)
        session.flush()
        assert queue.restricted
        specialist = session.get_one(User, accounts[Role.SPECIALIST])
        assert queue.id not in visible_queue_ids(session, specialist)
        set_min_role(queue, Role.VOLUNTEER)
        assert not queue.restricted


def test_role_order() -> None:
    assert role_at_least(Role.STAFF, Role.SPECIALIST)
    assert not role_at_least(Role.VOLUNTEER, Role.SPECIALIST)
    queue = Queue(slug="q", name="q", min_role=Role.SPECIALIST)
    assert [can_see_queue(r, queue) for r in Role] == [False, True, True]


def test_parse_role() -> None:
    assert parse_role(" Staff ") is Role.STAFF
    with pytest.raises(ValueError, match="use one of volunteer, specialist, staff"):
        parse_role("admin")


def test_password_rules() -> None:
    check_new_password("twelve chars")
    for bad, reason in [
        ("short", "at least 12"),
        ("x" * 1025, "at most 1024"),
        (" padded password ", "space"),
    ]:
        with pytest.raises(ValueError, match=reason):
            check_new_password(bad)


def test_password_change_and_disabling_end_sessions(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        user = create_user(session, "agent@example.org", Role.VOLUNTEER, "first password!")
        session.flush()
        version = user.session_version
        set_password(session, user, "second password!")
        assert user.session_version == version + 1
        assert verify_password(user, "second password!")
        assert not verify_password(user, "first password!")
        with pytest.raises(ValueError):
            set_password(session, user, "short")
        disable_user(session, user)
        assert not user.active and user.session_version == version + 2
        assert find_user(session, " AGENT@example.org") is user


# --- Migration 0002 on a database that has data from 0001 --------------------------------


def test_migration_0002_gives_existing_queues_their_roles(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0001")
    with empty_engine.begin() as conn:
        for slug, restricted in [
            ("general-help", False),
            ("specialist-safety", True),
            ("police-liaison", True),
            ("local-extra", False),
            ("local-secret", True),
        ]:
            conn.execute(
                text(
                    "INSERT INTO queues (slug, name, restricted, followup_closed, signature,"
                    " created_at) VALUES (:s, :s, :r, 'reopen', '', CURRENT_TIMESTAMP)"
                ),
                {"s": slug, "r": restricted},
            )
    upgrade(empty_engine)
    with Session(empty_engine) as session:
        roles = {q.slug: q.min_role for q in session.scalars(select(Queue))}
    assert roles == {
        "general-help": Role.VOLUNTEER,
        "specialist-safety": Role.SPECIALIST,
        "police-liaison": Role.STAFF,
        "local-extra": Role.VOLUNTEER,
        "local-secret": Role.SPECIALIST,
    }


def test_migration_0002_downgrades_cleanly(empty_engine: Engine) -> None:
    from alembic import command

    from queues.migrate import alembic_config

    upgrade(empty_engine)
    cfg = alembic_config()
    with empty_engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0001")
    upgrade(empty_engine)


def test_migrations_match_the_models(empty_engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from queues.migrate import include_name
    from queues.models import Base

    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        # include_name leaves out the full-text search schema, which the models cannot hold.
        opts = {"compare_type": True, "include_name": include_name}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, Base.metadata) == []
