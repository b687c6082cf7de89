"""The IMAP fetcher against a real Dovecot, on a fresh SQLite file and a fresh PostgreSQL database.

What is checked: every message is stored once with its exact bytes and its imap key; the
server copy is handled (seen / moved / deleted / kept) only after the commit and never after
a failed import; the crash window between the two is closed on the next pass; a new
UIDVALIDITY means new keys; IDLE brings new mail in within seconds; `stop` ends the loop
promptly; TLS and STARTTLS work; and a fetcher SIGKILLed again and again still imports each
message exactly once.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
import random
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import mailgate.fetcher as fetcher_module
from mailgate.fetcher import FetchError, MailboxFetcher, run_fetchers
from queues.db import make_engine, make_sessionmaker
from queues.ingest import store_inbound
from queues.migrate import upgrade
from queues.models import InboundMail
from queues.seed import seed_queues
from queues.settings import ImapMailbox, Settings
from tests.conftest import PG_ADMIN_URL, service_missing
from tests.integration.dovecot import (
    DOVECOT,
    KILL_TEST_LOOP,
    Dovecot,
    free_port,
    no_verify_context,
    start_dovecot,
)

REPO = Path(__file__).resolve().parents[2]
HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)

# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if not os.path.exists(DOVECOT):
        service_missing(f"Dovecot is not installed ({DOVECOT}; Debian package dovecot-imapd)")
    server = start_dovecot()
    yield server
    server.stop()


@dataclass
class Account:
    server: Dovecot
    user: str
    password: str
    password_file: str

    def client(self, *, tls: bool = False) -> IMAPClient:
        return self.server.client(self.user, self.password, tls=tls)

    def mailbox(self, after: str = "seen", **overrides: Any) -> ImapMailbox:
        values: dict[str, Any] = {
            "name": "reports",
            "host": "127.0.0.1",
            "port": self.server.port,
            "username": self.user,
            "security": "none",
            "password_file": self.password_file,
            "after": after,
            "queue_address": "help@example.org",
        }
        values.update(overrides)
        return ImapMailbox(**values)


@pytest.fixture
def account(dovecot: Dovecot, tmp_path: Path) -> Iterator[Account]:
    """A user of its own per test; Dovecot's log lines from the test show if it fails."""
    start = len(dovecot.log())
    user, password = dovecot.add_user()
    secret = tmp_path / "imap-password"
    secret.write_text(password + "\n")
    yield Account(dovecot, user, password, str(secret))
    new = dovecot.log()[start:]
    if new.strip():
        print(f"--- {dovecot.log_path} during this test ---\n{new}")  # shown on failure


def _create_pg_database() -> str:
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = "switchboard_fetch_" + uuid.uuid4().hex[:10]
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        service_missing(f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string()}: {exc}")
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated and seeded database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fetch.db'}"
    else:
        url = _create_pg_database()
    engine = make_engine(url)
    upgrade(engine)
    with sessionmaker(bind=engine).begin() as session:
        seed_queues(session)
    engine.dispose()
    yield url
    if request.param == "postgresql":
        _drop_pg_database(url)


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """For tests where the backend does not matter."""
    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def settings_for(*mailboxes: ImapMailbox, poll: float = 60.0) -> Settings:
    return Settings(database_url="sqlite://", imap=mailboxes, imap_poll_seconds=poll)


# -- helpers -------------------------------------------------------------------------------


def make_message(tag: str, i: int) -> bytes:
    """CRLF lines as IMAP carries them; one message in three has an 8-bit UTF-8 body."""
    body = "Hallo, ich werde belästigt. Größe: ünïcödé\r\n" if i % 3 == 0 else "plain text\r\n"
    cte = "8bit" if i % 3 == 0 else "7bit"
    head = (
        f"From: Reporter {i} <r{i}@example.net>\r\n"
        "To: help@example.org\r\n"
        f"Subject: report {tag} {i}\r\n"
        f"Message-ID: <{tag}.{i}@example.net>\r\n"
        "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode() + body.encode() + f"line {i}\r\n".encode()


def append(
    account: Account, messages: list[bytes], folder: str = "INBOX", flags: Any = ()
) -> list[int]:
    """APPEND each message; return the UIDs the server gave them (RFC 4315 APPENDUID)."""
    uids = []
    with account.client() as c:
        for raw in messages:
            response = c.append(folder, raw, flags=flags)
            uids.append(int(response.split(b"]")[0].split()[-1]))
    return uids


def server_state(account: Account, folder: str = "INBOX") -> dict[int, tuple[set[bytes], bytes]]:
    """uid -> (flags, raw) of every message in `folder`, read without setting \\Seen."""
    with account.client() as c:
        if not c.folder_exists(folder):
            return {}
        c.select_folder(folder, readonly=True)
        uids = c.search("ALL")
        if not uids:
            return {}
        data = c.fetch(uids, [b"FLAGS", b"BODY.PEEK[]"])
        return {
            int(u): ({f for f in d[b"FLAGS"] if f != b"\\Recent"}, d[b"BODY[]"])
            for u, d in data.items()
        }


def uidvalidity(account: Account, folder: str = "INBOX") -> int:
    with account.client() as c:
        return int(c.select_folder(folder, readonly=True)[b"UIDVALIDITY"])


def rows(factory: sessionmaker[Session]) -> list[InboundMail]:
    with factory() as session:
        return list(session.scalars(select(InboundMail).order_by(InboundMail.id)))


def count_rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(InboundMail)) or 0


def message_id(raw: bytes) -> str:
    return str(HEADER_PARSER.parsebytes(raw)["Message-ID"])


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


# -- one pass: store, then handle the server copy -------------------------------------------


@pytest.mark.parametrize("after", ["seen", "move:Archive", "delete", "keep"])
def test_fetch_once_stores_each_message_and_then_applies_after(
    account: Account, db: sessionmaker[Session], after: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    sent = [make_message(tag, i) for i in range(5)]
    uids = append(account, sent[:3])
    # Already read and flagged on the server: still imported ("seen"/"keep" track UIDs).
    uids += append(account, sent[3:4], flags=[b"\\Seen"])
    uids += append(account, sent[4:], flags=[b"\\Flagged"])
    before = server_state(account)
    validity = uidvalidity(account)
    mailbox = account.mailbox(after)
    woken: list[int] = []
    fetcher = MailboxFetcher(mailbox, db, settings_for(mailbox), lambda: woken.append(1))

    assert fetcher.fetch_once() == 5

    stored = rows(db)
    assert [r.raw for r in stored] == sent  # exact bytes, in UID order
    assert [r.imap_key for r in stored] == [
        f"reports:127.0.0.1:{account.user}:INBOX:{validity}:{uid}" for uid in uids
    ]
    assert {r.source for r in stored} == {"imap:reports"}
    assert all(r.envelope_to == ["help@example.org"] for r in stored)
    assert all(r.size == len(r.raw) for r in stored)
    assert woken
    inbox = server_state(account)
    if after == "seen":
        assert set(inbox) == set(uids)
        assert all(b"\\Seen" in flags for flags, _ in inbox.values())
        assert b"\\Flagged" in inbox[uids[4]][0]
    elif after == "move:Archive":
        assert inbox == {}
        archived = server_state(account, "Archive")
        assert sorted(raw for _, raw in archived.values()) == sorted(sent)
    elif after == "delete":
        assert inbox == {}
    else:
        assert inbox == before  # keep: not even \Seen

    # A second pass imports nothing and changes nothing.
    assert fetcher.fetch_once() == 0
    assert server_state(account) == inbox
    # New mail is picked up, and only it.
    extra = make_message(tag, 5)
    append(account, [extra])
    assert fetcher.fetch_once() == 1
    assert [r.raw for r in rows(db)] == [*sent, extra]
    # A fresh fetcher (a restart) finds everything already imported.
    assert MailboxFetcher(mailbox, db, settings_for(mailbox)).fetch_once() == 0
    assert count_rows(db) == 6
    fetcher.close()


@pytest.mark.parametrize("after", ["seen", "move:Archive"])
def test_database_refusing_connections_leaves_the_server_untouched(
    account: Account, after: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    append(account, [make_message(tag, i) for i in range(5)])
    before = server_state(account)
    dead = create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere",
        connect_args={"connect_timeout": 2},
    )
    mailbox = account.mailbox(after)
    fetcher = MailboxFetcher(mailbox, make_sessionmaker(dead), settings_for(mailbox))
    with pytest.raises(Exception, match=r"(?i)connect"):
        fetcher.fetch_once()
    assert server_state(account) == before
    assert server_state(account, "Archive") == {}
    dead.dispose()


def test_failure_midway_handles_only_committed_messages(
    account: Account, db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    sent = [make_message(tag, i) for i in range(5)]
    uids = append(account, sent)
    real_store = store_inbound
    calls = 0

    def failing_store(session: Session, raw: bytes, **kwargs: Any) -> InboundMail:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk full (simulated)")
        return real_store(session, raw, **kwargs)

    monkeypatch.setattr(fetcher_module, "store_inbound", failing_store)
    mailbox = account.mailbox("move:Archive")
    fetcher = MailboxFetcher(mailbox, db, settings_for(mailbox))
    with pytest.raises(RuntimeError, match="disk full"):
        fetcher.fetch_once()
    assert [r.raw for r in rows(db)] == sent[:2]
    assert sorted(server_state(account)) == uids[2:]  # the failed one and the rest: untouched
    assert sorted(raw for _, raw in server_state(account, "Archive").values()) == sent[:2]

    monkeypatch.setattr(fetcher_module, "store_inbound", real_store)
    assert fetcher.fetch_once() == 3
    assert [r.raw for r in rows(db)] == sent
    assert server_state(account) == {}
    assert len(server_state(account, "Archive")) == 5


@pytest.mark.parametrize("after", ["seen", "move:Archive", "delete"])
def test_crash_between_commit_and_after_is_repaired_by_the_next_pass(
    account: Account, db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    sent = [make_message(tag, i) for i in range(5)]
    append(account, sent)
    before = server_state(account)
    real_apply = MailboxFetcher._apply_after

    def crash(self: MailboxFetcher, client: IMAPClient, uids: list[int]) -> None:
        raise ConnectionResetError("crashed before the after-step (simulated)")

    monkeypatch.setattr(MailboxFetcher, "_apply_after", crash)
    mailbox = account.mailbox(after)
    with pytest.raises(ConnectionResetError):
        MailboxFetcher(mailbox, db, settings_for(mailbox)).fetch_once()
    assert count_rows(db) == 5
    assert server_state(account) == before  # committed, but the server copy not yet handled

    monkeypatch.setattr(MailboxFetcher, "_apply_after", real_apply)
    restarted = MailboxFetcher(mailbox, db, settings_for(mailbox))
    assert restarted.fetch_once() == 0  # nothing imported twice ...
    assert [r.raw for r in rows(db)] == sent
    inbox = server_state(account)  # ... and the action is applied now
    if after == "seen":
        assert len(inbox) == 5
        assert all(b"\\Seen" in flags for flags, _ in inbox.values())
    else:
        assert inbox == {}
    if after == "move:Archive":
        assert len(server_state(account, "Archive")) == 5
    restarted.close()


def test_new_uidvalidity_means_new_keys(account: Account, db: sessionmaker[Session]) -> None:
    tag = uuid.uuid4().hex[:8]
    sent = [make_message(tag, i) for i in range(3)]
    with account.client() as c:
        c.create_folder("Reports")
    append(account, sent, folder="Reports")
    first = uidvalidity(account, "Reports")
    mailbox = account.mailbox("keep", folder="Reports")
    fetcher = MailboxFetcher(mailbox, db, settings_for(mailbox))
    assert fetcher.fetch_once() == 3
    assert fetcher.fetch_once() == 0

    # The folder is recreated: the same UIDs 1..3 now name other messages (RFC 3501 2.3.1.1).
    with account.client() as c:
        c.delete_folder("Reports")
        c.create_folder("Reports")
    append(account, sent, folder="Reports")
    second = uidvalidity(account, "Reports")
    assert second != first
    assert fetcher.fetch_once() == 3
    keys = [r.imap_key or "" for r in rows(db)]
    prefix = f"reports:127.0.0.1:{account.user}:Reports:"
    assert keys == [f"{prefix}{v}:{u}" for v in (first, second) for u in (1, 2, 3)]
    assert MailboxFetcher(mailbox, db, settings_for(mailbox)).fetch_once() == 0


# -- the loop: IDLE, stop, reconnect --------------------------------------------------------


def test_idle_brings_new_mail_in_and_stop_ends_run(
    account: Account, db: sessionmaker[Session]
) -> None:
    tag = uuid.uuid4().hex[:8]
    append(account, [make_message(tag, 0)])
    mailbox = account.mailbox("seen")
    woken = threading.Event()
    # A poll interval far beyond the test: only IDLE can bring the second message in time.
    fetcher = MailboxFetcher(mailbox, db, settings_for(mailbox, poll=600), woken.set)
    stop = threading.Event()
    thread = threading.Thread(target=fetcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: count_rows(db) == 1, 10, "the first message")
        time.sleep(0.3)  # let it enter IDLE
        woken.clear()
        append(account, [make_message(tag, 1)])
        latency = wait_for(lambda: count_rows(db) == 2, 5, "the message appended during IDLE")
        print(f"stored {latency:.2f} s after APPEND")
        assert woken.is_set()
        wait_for(
            lambda: all(b"\\Seen" in f for f, _ in server_state(account).values()), 5, "\\Seen"
        )
    finally:
        stop.set()
        started = time.monotonic()
        thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.5


def test_run_reconnects_when_the_server_drops_the_connection(
    account: Account, db: sessionmaker[Session]
) -> None:
    tag = uuid.uuid4().hex[:8]
    mailbox = account.mailbox("seen")
    fetcher = MailboxFetcher(mailbox, db, settings_for(mailbox, poll=600))
    stop = threading.Event()
    thread = threading.Thread(target=fetcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        kicked = subprocess.run(
            ["doveadm", "-c", str(account.server.config_path), "kick", account.user],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert kicked.returncode == 0, kicked.stderr
        append(account, [make_message(tag, 0)])
        wait_for(lambda: count_rows(db) == 1, 10, "the message after the reconnect")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_stop_ends_run_promptly_while_backing_off(
    account: Account, sqlite_db: sessionmaker[Session]
) -> None:
    mailbox = account.mailbox("seen", port=free_port())  # nobody listens there
    fetcher = MailboxFetcher(mailbox, sqlite_db, settings_for(mailbox), timeout=2)
    stop = threading.Event()
    thread = threading.Thread(target=fetcher.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(2.0)  # a few failed attempts: 1 s, then 2 s of backoff
    stop.set()
    started = time.monotonic()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0


def test_servers_without_move_uidplus_or_idle(
    account: Account, sqlite_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """COPY + \\Deleted + EXPUNGE instead of MOVE (RFC 6851) and UID EXPUNGE (RFC 4315),
    and polling instead of IDLE (RFC 2177)."""
    real = IMAPClient.has_capability
    hidden = {"MOVE", "UIDPLUS", "IDLE"}

    def has_capability(self: IMAPClient, capability: str) -> bool:
        return capability.upper() not in hidden and bool(real(self, capability))

    def forbidden(*args: Any) -> None:
        raise AssertionError("a command the server does not offer was used")

    monkeypatch.setattr(IMAPClient, "has_capability", has_capability)
    for method in ("move", "uid_expunge", "idle", "idle_check", "idle_done"):
        monkeypatch.setattr(IMAPClient, method, forbidden)
    tag = uuid.uuid4().hex[:8]
    sent = [make_message(tag, i) for i in range(3)]
    append(account, sent)
    mailbox = account.mailbox("move:Archive")
    fetcher = MailboxFetcher(mailbox, sqlite_db, settings_for(mailbox, poll=0.3))
    assert fetcher.fetch_once() == 3
    assert server_state(account) == {}
    assert sorted(raw for _, raw in server_state(account, "Archive").values()) == sorted(sent)
    fetcher.close()

    stop = threading.Event()
    thread = threading.Thread(target=fetcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.2)
        append(account, [make_message(tag, 3)])
        wait_for(lambda: count_rows(sqlite_db) == 4, 5, "the polled message")
        wait_for(lambda: server_state(account) == {}, 5, "an empty INBOX")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


# -- TLS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls(
    account: Account, sqlite_db: sessionmaker[Session], security: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    sent = [make_message(tag, i) for i in range(2)]
    append(account, sent)
    port = account.server.ssl_port if security == "tls" else account.server.port
    mailbox = account.mailbox("seen", security=security, port=port)
    fetcher = MailboxFetcher(
        mailbox, sqlite_db, settings_for(mailbox), ssl_context=no_verify_context()
    )
    assert fetcher.fetch_once() == 2
    assert fetcher._client is not None
    sock = fetcher._client.socket()
    assert isinstance(sock, ssl.SSLSocket) and sock.version() is not None
    assert [r.raw for r in rows(sqlite_db)] == sent
    fetcher.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_certificates_are_verified_by_default(
    account: Account, sqlite_db: sessionmaker[Session], security: str
) -> None:
    append(account, [make_message("v", 0)])
    port = account.server.ssl_port if security == "tls" else account.server.port
    mailbox = account.mailbox("seen", security=security, port=port)
    with pytest.raises(ssl.SSLCertVerificationError):
        MailboxFetcher(mailbox, sqlite_db, settings_for(mailbox)).fetch_once()
    assert count_rows(sqlite_db) == 0


# -- run_fetchers --------------------------------------------------------------------------


def test_run_fetchers_once_fetches_every_mailbox_and_reports_failures(
    dovecot: Dovecot, account: Account, sqlite_db: sessionmaker[Session], tmp_path: Path
) -> None:
    user2, password2 = dovecot.add_user()
    (tmp_path / "pw2").write_text(password2)
    second = Account(dovecot, user2, password2, str(tmp_path / "pw2"))
    append(account, [make_message("a", 0)])
    append(second, [make_message("b", 0), make_message("b", 1)])
    one = account.mailbox("seen", name="one")
    two = second.mailbox("move:Done", name="two")
    broken = account.mailbox("seen", name="broken", port=free_port())
    stop = threading.Event()
    with pytest.raises(FetchError, match="broken"):
        run_fetchers(settings_for(one, broken, two), sqlite_db, once=True, stop=stop)
    assert Counter(r.source for r in rows(sqlite_db)) == {"imap:one": 1, "imap:two": 2}
    assert server_state(second) == {}
    assert len(server_state(second, "Done")) == 2

    # The loop form: one thread per mailbox until stop.
    append(account, [make_message("a", 1)])
    append(second, [make_message("b", 2)])
    runner = threading.Thread(
        target=run_fetchers,
        args=(settings_for(one, two), sqlite_db),
        kwargs={"once": False, "stop": stop},
        daemon=True,
    )
    runner.start()
    try:
        wait_for(lambda: count_rows(sqlite_db) == 5, 10, "both mailboxes")
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()


# -- SIGKILL, again and again ----------------------------------------------------------------


def folder_size(account: Account, folder: str = "INBOX") -> int:
    with account.client() as c:
        return int(c.select_folder(folder, readonly=True)[b"EXISTS"])


def unseen(account: Account) -> int:
    with account.client() as c:
        c.select_folder("INBOX", readonly=True)
        return len(c.search(["UNSEEN"]))


@pytest.mark.slow
@pytest.mark.parametrize("after", ["move:Archive", "seen"])
def test_killed_fetcher_imports_every_message_exactly_once(
    account: Account, db_url: str, tmp_path: Path, after: str
) -> None:
    total = 300
    tag = uuid.uuid4().hex[:8]
    sent = {f"<{tag}.{i}@example.net>": make_message(tag, i) for i in range(total)}
    with account.client() as c:
        c.multiappend("INBOX", list(sent.values()))
    reader = make_engine(db_url, sqlite_immediate=False)
    factory = make_sessionmaker(reader)
    env = {
        **os.environ,
        "SWITCHBOARD_TEST_IMAP_PASSWORD": account.password,
        "PYTHONPATH": str(REPO),
    }
    argv = [sys.executable, "-c", KILL_TEST_LOOP, db_url, str(account.server.port),
            account.user, after]  # fmt: skip
    log_path = tmp_path / "fetcher.log"
    rng = random.Random(tag)
    kills = mid_import = 0
    started = time.monotonic()
    with open(log_path, "ab") as log:
        forker = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
        )
        assert forker.stdin is not None and forker.stdout is not None

        def start_fetcher() -> int:
            forker.stdin.write(b"go\n")  # type: ignore[union-attr]
            forker.stdin.flush()  # type: ignore[union-attr]
            line = forker.stdout.readline()  # type: ignore[union-attr]
            assert line, f"the fetcher parent died: see {log_path}"
            return int(line)

        try:
            # Kill each fetcher mid-import, after a random number of new rows (1 to a bit
            # more than one FETCH group): mostly mid-group (committed rows whose server
            # copies are not yet handled), sometimes after a group's `after` step.
            while count_rows(factory) < total and kills < 40 and time.monotonic() - started < 40:
                target = min(total, count_rows(factory) + rng.randint(1, 60))
                pid = start_fetcher()
                try:
                    wait_for(
                        lambda: count_rows(factory) >= target,  # noqa: B023
                        15, "progress", interval=0.005,
                    )  # fmt: skip
                finally:
                    os.kill(pid, signal.SIGKILL)
                kills += 1
                mid_import += count_rows(factory) < total
            # Then one fetcher that may finish.
            pid = start_fetcher()
            try:
                wait_for(lambda: count_rows(factory) == total, 30, "all messages")
                if after == "seen":
                    wait_for(lambda: unseen(account) == 0, 10, "\\Seen on every server copy")
                else:
                    wait_for(lambda: folder_size(account) == 0, 10, "an empty INBOX")
            finally:
                os.kill(pid, signal.SIGKILL)
        finally:
            forker.stdin.close()
            forker.wait(10)
    elapsed = time.monotonic() - started
    print(f"{kills} kills ({mid_import} mid-import), {elapsed:.1f} s")

    stored = rows(factory)
    reader.dispose()
    assert len(stored) == total
    per_key = Counter(r.imap_key for r in stored)
    assert max(per_key.values()) == 1 and None not in per_key
    per_message_id = Counter(message_id(r.raw) for r in stored)
    assert per_message_id == Counter(list(sent))  # each sent message exactly once
    assert all(sent[message_id(r.raw)] == r.raw for r in stored)
    if after == "seen":
        inbox = server_state(account)
        assert len(inbox) == total
        assert all(b"\\Seen" in flags for flags, _ in inbox.values())
    else:
        assert folder_size(account) == 0
        archived = Counter(message_id(raw) for _, raw in server_state(account, "Archive").values())
        assert archived == Counter(list(sent))
    assert mid_import >= 3, f"the kills missed the import: see {log_path}"
