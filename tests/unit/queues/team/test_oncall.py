"""On call (queues.team.oncall), on a controlled clock: the agents on duty are told at once of
a ticket new in specialist-safety, however it got there (mail, escalation, a move); the
backup and staff when nobody takes it in time, again on each step; never twice for one
entry; each notice a history row; no word of the report in the mail (checked in the
outbox's raw bytes). SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import threading
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from time import monotonic as _monotonic
from time import sleep as _sleep
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.db import make_engine, make_sessionmaker
from queues.migrate import upgrade
from queues.models import OutboxMessage, Role, Ticket, TicketEvent, TicketState, User
from queues.seed import seed_queues
from queues.settings import Settings
from queues.team import oncall
from queues.team.oncall import (
    EVENT_BACKUP,
    EVENT_NOBODY,
    EVENT_ON_DUTY,
    OnCallRunner,
    StepReport,
    ticket_url,
)
from queues.team.rota_models import BACKUP, OnCallAlert
from queues.tickets import move, take
from queues.triage.feedback import move_back, record_escalation
from tests.conftest import SqliteFile, new_pg_database
from tests.unit.queues.builders import FakeGate, make_mail

from .rota_helpers import agent, on, staff, ticket, weekly

SAFETY = "specialist-safety"
HELP = "general-help"
# Monday 9 March 2026, 14:00 UTC: Ann is on duty (Mondays 08-20 UTC), Bob is her backup.
T = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
SECRET_WORDS = ("hurt", "tonight", "Kowalski", "Marzipan")


@dataclasses.dataclass
class Team:
    ann: User
    bob: User
    boss: User


def _team(session: Session, backup: bool = True) -> Team:
    boss = staff(session)
    ann = agent(session, "ann@example.org", name="Ann")
    bob = agent(session, "bob@example.org", name="Bob")
    day = weekly(session, boss, SAFETY, 0, time(8), time(20))
    on(session, ann, day)
    if backup:
        on(session, bob, day, BACKUP)
    return Team(ann, bob, boss)


def _mails(session: Session, number: str | None = None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.kind == "oncall").order_by(OutboxMessage.id)
    rows = list(session.scalars(stmt))
    if number is None:
        return rows
    ticket_id = session.scalars(select(Ticket.id).where(Ticket.number == number)).one()
    return [r for r in rows if r.ticket_id == ticket_id]


def _to(rows: list[OutboxMessage]) -> list[str]:
    return [r for row in rows for r in row.recipients]


def _history(session: Session, number: str) -> list[TicketEvent]:
    ticket_id = session.scalars(select(Ticket.id).where(Ticket.number == number)).one()
    stmt = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind.like("oncall%"))
        .order_by(TicketEvent.id)
    )
    return list(session.scalars(stmt))


@pytest.fixture
def runner(factory: sessionmaker[Session], settings: Settings) -> OnCallRunner:
    return OnCallRunner(factory, settings)


def test_the_agent_on_duty_is_told_at_once_and_only_once(
    factory: sessionmaker[Session], runner: OnCallRunner
) -> None:
    with factory.begin() as session:
        team = _team(session)
        ticket(session, SAFETY, "2026030900001", T)
    # The runner looks two seconds after the ticket arrived: the delay is measured on its
    # clock, from the ticket's entry to the notice.
    report = runner.step(T + timedelta(seconds=2))
    assert report.entries == 1 and report.mails == 1
    assert report.delays == {"2026030900001": timedelta(seconds=2)}
    with factory() as session:
        mails = _mails(session)
        assert _to(mails) == [team.ann.email]
        (row,) = _history(session, "2026030900001")
        assert row.kind == EVENT_ON_DUTY and row.at == T + timedelta(seconds=2)
        assert "Ann (on duty)" in row.detail and "2 s after the ticket entered" in row.detail
    # Looking again, now or later before the backup is due, tells nobody again.
    for later in (timedelta(seconds=3), timedelta(minutes=5), timedelta(minutes=14, seconds=59)):
        assert runner.step(T + later).mails == 0
    with factory() as session:
        assert len(_mails(session)) == 1 and len(_history(session, "2026030900001")) == 1


def test_the_backup_and_staff_are_told_when_nobody_takes_it_and_again_each_step(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    runner = OnCallRunner(factory, dataclasses.replace(settings, oncall_max_steps=2))
    with factory.begin() as session:
        team = _team(session)
        ticket(session, SAFETY, "2026030900002", T)
    runner.step(T)
    report = runner.step(T + timedelta(minutes=15))
    assert report.steps == 1 and report.mails == 2
    with factory() as session:
        first_step = _mails(session)[1:]
        assert sorted(_to(first_step)) == sorted([team.bob.email, team.boss.email])
        row = _history(session, "2026030900002")[-1]
        assert row.kind == EVENT_BACKUP
        assert "15 min after the first notice" in row.detail
        assert "Bob (backup)" in row.detail and f"{team.boss.email} (staff)" in row.detail
        assert "step 1 of 2" in row.detail
    assert runner.step(T + timedelta(minutes=20)).mails == 0
    assert runner.step(T + timedelta(minutes=30)).mails == 2  # the second step
    assert runner.step(T + timedelta(minutes=45)).mails == 0  # no more after the last
    assert runner.step(T + timedelta(hours=3)).mails == 0
    with factory() as session:
        assert [r.kind for r in _history(session, "2026030900002")] == [
            EVENT_ON_DUTY,
            EVENT_BACKUP,
            EVENT_BACKUP,
        ]
        assert "step 2 of 2, the last" in _history(session, "2026030900002")[-1].detail
        alert = session.scalars(select(OnCallAlert)).one()
        assert alert.next_step_at is None and "after 2 steps" in alert.settled


def test_nobody_is_told_again_once_an_agent_has_taken_the_ticket(
    factory: sessionmaker[Session], runner: OnCallRunner
) -> None:
    with factory.begin() as session:
        team = _team(session)
        ticket(session, SAFETY, "2026030900003", T)
    runner.step(T)
    with factory.begin() as session:
        found = session.scalars(select(Ticket).where(Ticket.number == "2026030900003")).one()
        take(session, found, session.get_one(User, team.ann.id), T + timedelta(minutes=3))
    assert runner.step(T + timedelta(minutes=15)).mails == 0
    with factory() as session:
        assert len(_mails(session)) == 1
        assert session.scalars(select(OnCallAlert)).one().settled == "taken by Ann"


def test_without_a_backup_the_agents_on_duty_next_are_told(
    factory: sessionmaker[Session], runner: OnCallRunner
) -> None:
    with factory.begin() as session:
        team = _team(session, backup=False)
        carl = agent(session, "carl@example.org", name="Carl")
        on(session, carl, weekly(session, team.boss, SAFETY, 0, time(20), time(8)))
        ticket(session, SAFETY, "2026030900004", T)
    runner.step(T)
    runner.step(T + timedelta(minutes=15))
    with factory() as session:
        assert sorted(_to(_mails(session)[1:])) == sorted([carl.email, team.boss.email])
        assert "Carl (next on duty)" in _history(session, "2026030900004")[-1].detail


def test_nobody_on_duty_staff_are_told_at_once_and_the_history_says_so(
    factory: sessionmaker[Session], runner: OnCallRunner
) -> None:
    with factory.begin() as session:
        team = _team(session)
        ticket(session, SAFETY, "2026030900005", T.replace(hour=22))  # after Ann's shift
    runner.step(T.replace(hour=22, second=1))
    with factory() as session:
        assert _to(_mails(session)) == [team.boss.email]
        (row,) = _history(session, "2026030900005")
        assert row.kind == EVENT_NOBODY
        assert "nobody was on duty in Specialist safety; told staff at once" in row.detail


def test_escalation_moves_and_returns_each_count_as_a_new_entry(
    factory: sessionmaker[Session], runner: OnCallRunner
) -> None:
    with factory.begin() as session:
        team = _team(session)
        vol = agent(session, "vol@example.org", Role.VOLUNTEER)
        ticket(session, HELP, "2026030900006", T - timedelta(hours=1))
    assert runner.step(T).mails == 0  # general-help is not watched
    with factory.begin() as session:
        found = session.scalars(select(Ticket).where(Ticket.number == "2026030900006")).one()
        record_escalation(
            session, found, session.get_one(User, vol.id), "he knows her address", now=T
        )
    report = runner.step(T + timedelta(seconds=4))
    assert report.delays == {"2026030900006": timedelta(seconds=4)}
    with factory.begin() as session:
        found = session.scalars(select(Ticket).where(Ticket.number == "2026030900006")).one()
        ann = session.get_one(User, team.ann.id)
        move_back(session, found, ann, HELP, "an edit dispute", T + timedelta(minutes=1))
    runner.step(T + timedelta(minutes=1, seconds=1))
    with factory() as session:
        alert = session.scalars(select(OnCallAlert)).one()
        assert alert.is_current is None and alert.settled == "the ticket left the queue"
    # Out and back in again between two looks of the runner: still a new entry.
    with factory.begin() as session:
        found = session.scalars(select(Ticket).where(Ticket.number == "2026030900006")).one()
        boss = session.get_one(User, team.boss.id)
        move(session, found, boss, SAFETY, T + timedelta(minutes=2))
    runner.step(T + timedelta(minutes=2, seconds=1))
    with factory.begin() as session:
        found = session.scalars(select(Ticket).where(Ticket.number == "2026030900006")).one()
        boss = session.get_one(User, team.boss.id)
        move_back(session, found, boss, HELP, "not serious", T + timedelta(minutes=3))
        move(session, found, boss, SAFETY, T + timedelta(minutes=3, seconds=30))
    report = runner.step(T + timedelta(minutes=4))
    assert report.delays == {"2026030900006": timedelta(seconds=30)}
    with factory() as session:
        assert _to(_mails(session)) == [team.ann.email] * 3
        assert [r.kind for r in _history(session, "2026030900006")] == [EVENT_ON_DUTY] * 3
        alerts = session.scalars(select(OnCallAlert).order_by(OnCallAlert.id)).all()
        assert [a.is_current for a in alerts] == [None, None, True]
        assert alerts[1].settled == "the ticket left the queue and came back"


def test_a_report_by_mail_to_the_safety_address_reaches_the_agent_on_duty_without_its_words(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    with factory.begin() as session:
        team = _team(session)
    outcome = FakeGate(factory, settings).send(
        make_mail(
            subject="Marzipan Kowalski says he will hurt me tonight",
            body="Kowalski wrote that he will hurt me tonight at the Marzipan cafe.",
            sender=("Jo Reporter", "jo.reporter@example.net"),
            to=["safety@example.org"],
        )
    )
    assert outcome.ticket_number is not None
    with factory() as session:
        created = session.scalars(
            select(Ticket).where(Ticket.number == outcome.ticket_number)
        ).one()
    # On the ticket's own clock: Ann's Monday shift, with the ticket as it was stored.
    runner = OnCallRunner(
        factory, dataclasses.replace(settings, web_base_url="https://sb.example/")
    )
    with factory.begin() as session:
        session.get_one(Ticket, created.id).created_at = T
    runner.step(T + timedelta(seconds=1))
    runner.step(T + timedelta(minutes=15, seconds=1))
    with factory() as session:
        rows = _mails(session, outcome.ticket_number)
        assert len(rows) == 3  # Ann at once; then Bob and staff
        for row in rows:
            raw = row.raw
            for word in (*SECRET_WORDS, "jo.reporter", "Reporter", "cafe"):
                assert word.encode() not in raw, word
                assert word.lower().encode() not in raw.lower(), word
            assert outcome.ticket_number.encode() in raw
            url = f"https://sb.example/tickets/{outcome.ticket_number}"
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert url in message.get_content()
            assert message["Auto-Submitted"] == "auto-generated"
            assert row.envelope_from == ""
            assert "[Ticket#" not in str(message["Subject"])
        assert rows[0].recipients == [team.ann.email]


def test_closed_old_and_unwatched_tickets_are_left_alone(
    factory: sessionmaker[Session], runner: OnCallRunner
) -> None:
    with factory.begin() as session:
        _team(session)
        closed = ticket(session, SAFETY, "2026030900007", T)
        closed.state = TicketState.CLOSED
        ticket(session, SAFETY, "2026030900008", T - timedelta(days=2))  # before on call
    report = runner.step(T)
    assert report.mails == 0 and report.entries == 1
    with factory() as session:
        alert = session.scalars(select(OnCallAlert)).one()
        assert alert.next_step_at is None and "nobody was told" in alert.settled
        assert _history(session, "2026030900008") == []
    assert runner.step(T + timedelta(hours=1)).entries == 0


def test_two_runners_looking_at_the_same_moment_tell_once(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    first, second = OnCallRunner(factory, settings), OnCallRunner(factory, settings)
    with factory.begin() as session:
        _team(session)
        ticket(session, SAFETY, "2026030900009", T)
    assert first.step(T).mails == 1
    assert second.step(T).mails == 0
    assert second.step(T + timedelta(minutes=15)).mails == 2
    assert first.step(T + timedelta(minutes=15)).mails == 0


def test_run_wakes_at_once_and_wakes_the_outbox(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """`run` steps as soon as it starts (and whenever woken); queued mail wakes the outbox.
    One thread: the outbox wake-up ends the loop, so nothing here depends on timing."""
    stop, wake = threading.Event(), threading.Event()
    with factory.begin() as session:
        team = _team(session)
        ticket(session, SAFETY, "2026030900010", datetime.now(UTC))
        # A shift covering the real clock, whatever day this test runs on.
        for weekday in range(7):
            on(session, team.ann, weekly(session, team.boss, SAFETY, weekday, time(0), time(0)))
    woken: list[int] = []

    def after_mail() -> None:
        woken.append(1)
        stop.set()

    runner = OnCallRunner(factory, settings, after_mail=after_mail)
    wake.set()
    runner.run(stop, wake)
    assert woken == [1]
    with factory() as session:
        assert team.ann.email in _to(_mails(session))


def test_the_link_without_a_configured_base_is_the_web_ui_address(settings: Settings) -> None:
    assert ticket_url(settings, "2026030900001") == "http://127.0.0.1:8080/tickets/2026030900001"
    configured = dataclasses.replace(settings, web_base_url="https://help.example.org/sb/")
    assert ticket_url(configured, "1/2") == "https://help.example.org/sb/tickets/1%2F2"


class _RacingRunner(OnCallRunner):
    """Waits after finding new entries until the other runner has found them too, so both
    try to record the same entry at once (the real race of two `work` processes)."""

    def __init__(self, *args: Any, barrier: threading.Barrier, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.barrier = barrier

    def _new_entries(self, *args: Any, **kwargs: Any) -> list[tuple[Ticket, datetime]]:
        found = super()._new_entries(*args, **kwargs)
        self.barrier.wait()
        return found


def test_two_runners_racing_on_postgresql_tell_once(
    pg_database_url: str, settings: Settings
) -> None:
    """Two runners in two connections find the same new ticket at the same moment: the
    unique key on (ticket, is_current) lets one record it; the other's insert waits for
    the first commit, fails, and is rolled back to its savepoint. One notice, one row."""
    with new_pg_database("switchboard_oncall") as url:
        engine = make_engine(url)
        upgrade(engine)
        factory = make_sessionmaker(engine)
        with factory.begin() as session:
            seed_queues(session)
            team = _team(session)
            ticket(session, SAFETY, "2026030900011", T)
        barrier = threading.Barrier(2, timeout=30)
        runners = [_RacingRunner(factory, settings, barrier=barrier) for _ in range(2)]
        reports: list[int] = []
        threads = [
            threading.Thread(target=lambda r=r: reports.append(r.step(T).mails)) for r in runners
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(reports) == [0, 1]
        with factory() as session:
            assert _to(_mails(session)) == [team.ann.email]
            assert len(_history(session, "2026030900011")) == 1
            assert len(session.scalars(select(OnCallAlert)).all()) == 1
        engine.dispose()


class _ChangedAfterTheLook(OnCallRunner):
    """Runs `change` between the look and the write, as another agent or runner might."""

    def __init__(self, *args: Any, change: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.change = change

    def _plan(self, *args: Any, **kwargs: Any) -> Any:
        plan = super()._plan(*args, **kwargs)
        self.change()
        return plan


def _alter(
    factory: sessionmaker[Session], number: str, how: Callable[[Session, Ticket], None]
) -> Callable[[], None]:
    def change() -> None:
        with factory.begin() as session:
            how(session, session.scalars(select(Ticket).where(Ticket.number == number)).one())

    return change


def test_a_ticket_closed_or_moved_between_the_look_and_the_write_is_not_announced(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """The look prepares the notices without the write lock; the write checks the ticket
    again, so a ticket that left the queue in between gets no notice and no alert."""
    with factory.begin() as session:
        team = _team(session)

    def close(session: Session, found: Ticket) -> None:
        found.state = TicketState.CLOSED

    def elsewhere(session: Session, found: Ticket) -> None:
        boss = session.get_one(User, team.boss.id)
        move(session, found, boss, HELP, T, reason="not serious after all")

    for number, how in (("2026030900012", close), ("2026030900013", elsewhere)):
        with factory.begin() as session:
            ticket(session, SAFETY, number, T)
        runner = _ChangedAfterTheLook(factory, settings, change=_alter(factory, number, how))
        report = runner.step(T + timedelta(seconds=1))
        assert (report.entries, report.mails, report.delays) == (0, 0, {})
        with factory() as session:
            assert _mails(session, number) == [] and _history(session, number) == []
            assert session.scalars(select(OnCallAlert)).all() == []
        # The next look sees the ticket as it is now: closed, or in a queue not watched.
        assert OnCallRunner(factory, settings).step(T + timedelta(seconds=2)).mails == 0


def test_a_ticket_taken_between_the_look_and_the_write_settles_its_step_without_mail(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    with factory.begin() as session:
        team = _team(session)
        ticket(session, SAFETY, "2026030900014", T)
    OnCallRunner(factory, settings).step(T)

    def take_it(session: Session, found: Ticket) -> None:
        take(session, found, session.get_one(User, team.ann.id), T + timedelta(minutes=14))

    runner = _ChangedAfterTheLook(
        factory, settings, change=_alter(factory, "2026030900014", take_it)
    )
    report = runner.step(T + timedelta(minutes=15))
    assert report.mails == 0 and report.steps == 0
    with factory() as session:
        assert _to(_mails(session)) == [team.ann.email]  # the first notice only
        assert session.scalars(select(OnCallAlert)).one().settled == "taken by Ann"


def test_a_look_that_finds_nothing_takes_no_write_lock(
    sqlite_file: SqliteFile, settings: Settings
) -> None:
    """On SQLite the look reads in a deferred transaction: while another process holds the
    write lock (a long ingest, say), a look with nothing to do still finishes, at once
    instead of after the busy timeout with "database is locked"."""
    factory = sqlite_file.factory
    with factory.begin() as session:
        _team(session)
        ticket(session, SAFETY, "2026030900015", T)
    runner = OnCallRunner(factory, settings, readers=sqlite_file.readers)
    assert runner.step(T).mails == 1
    other = make_engine(sqlite_file.url)
    with other.connect() as holder:
        holder.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the write lock, held elsewhere
        report = runner.step(T + timedelta(minutes=1))  # nothing new, nothing due
        holder.rollback()
    assert (report.entries, report.mails, report.steps) == (0, 0, 0)
    other.dispose()


def test_wakes_in_a_burst_are_gathered_into_one_look(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner is woken once per ingested message; while mail streams in, the looks come
    at most every GATHER_SECONDS (here 2 s), each announcing what came meanwhile. A stop
    still ends the wait at once."""
    monkeypatch.setattr(oncall, "GATHER_SECONDS", 2.0)

    looks: list[float] = []

    class Counting(OnCallRunner):
        def step(self, now: datetime) -> StepReport:
            looks.append(_monotonic())
            return StepReport()

    runner = Counting(None, settings)  # type: ignore[arg-type]  # never touches a database
    stop, wake = threading.Event(), threading.Event()
    wake.set()
    thread = threading.Thread(target=runner.run, args=(stop, wake))
    thread.start()
    try:
        for _ in range(20):  # a burst of wakes, one per message
            _sleep(0.02)
            wake.set()
        _sleep(0.5)
        assert len(looks) == 1  # the burst has not caused a look per message
        deadline = _monotonic() + 10
        while len(looks) < 2 and _monotonic() < deadline:
            _sleep(0.05)
        assert len(looks) == 2 and looks[1] - looks[0] >= 2.0
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
