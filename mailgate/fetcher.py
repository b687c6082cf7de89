"""The IMAP fetcher: import every message of a configured IMAP folder into the inbound backlog.

One job: copy each message of `ImapMailbox.folder` into an inbound row exactly once, and
only after that row is committed, do what `ImapMailbox.after` says with the server copy
(DESIGN.md, "How a message travels", step 1). In detail:

* A message is known by its key `name:host:username:folder:UIDVALIDITY:UID`, stored with
  the raw bytes in the same transaction (`InboundMail.imap_key` is UNIQUE). RFC 3501
  2.3.1.1: a UID names one message for as long as the folder's UIDVALIDITY stays the same,
  and UIDs are handed out in ascending order. A new UIDVALIDITY therefore means new keys;
  importing the folder again is then correct.
* The `after` action ("seen", "delete", "move:<Folder>", "keep") runs only after the
  commit and never for a message whose import failed. A crash between the two leaves a
  message that is stored but not yet handled: the next run recognises its key, imports
  nothing and applies the action then.
* Messages are imported in ascending UID order and the run stops at the first failure, so
  for each UIDVALIDITY every UID up to the highest imported one is done. That "watermark"
  lets "keep" and "seen" (where handled messages stay in the folder) ask only for newer
  UIDs; after a restart it is read back from the database.
* Bodies are fetched with BODY.PEEK[] (RFC 3501 6.4.5), so fetching does not set \\Seen.

`MailboxFetcher.run` loops: fetch, then wait with IDLE (RFC 2177) or poll, reconnecting
with exponential backoff. `run_fetchers` runs one fetcher thread per configured mailbox.
Logs name UIDs, sizes and inbound ids, never content.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from queues.ingest import store_inbound
from queues.models import InboundMail
from queues.settings import ImapMailbox, Settings

log = logging.getLogger(__name__)

SEEN = b"\\Seen"
DELETED = b"\\Deleted"

# RFC 2177: a server may log a client out after 30 minutes of inactivity even in IDLE,
# so IDLE is ended and issued again at least every 29 minutes; we use 25.
IDLE_RENEW_SECONDS = 25 * 60
IDLE_CHECK_SECONDS = 1.0  # how long one idle_check waits, so that `stop` is seen promptly
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0
KEY_BATCH = 500  # keys per "which of these are imported?" query
FETCH_BATCH_MESSAGES = 50  # messages per FETCH ...
FETCH_BATCH_BYTES = 16 * 1024 * 1024  # ... and at most this many bytes (one larger message alone)


class FetchError(RuntimeError):
    """`run_fetchers(once=True)` could not fetch from one or more mailboxes."""


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MailboxFetcher:
    """Imports one IMAP folder; see the module docstring for the guarantees.

    `on_stored` is called (from this fetcher's thread) after new rows were committed,
    e.g. to wake the ingest runner. `ssl_context` replaces the default verifying
    context (tests use one that accepts a self-signed certificate). `timeout` is the
    socket timeout in seconds for connecting and for each command.
    """

    def __init__(
        self,
        mailbox: ImapMailbox,
        factory: sessionmaker[Session],
        settings: Settings,
        on_stored: Callable[[], None] | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.mailbox = mailbox
        self.factory = factory
        self.settings = settings
        self.on_stored = on_stored
        self.ssl_context = ssl_context
        self.timeout = timeout
        self._client: IMAPClient | None = None
        # uidvalidity -> highest UID such that every message at or below it is imported.
        self._watermark: dict[int, int] = {}
        self._folder_ready = False  # the move target exists (checked once per connection)

    # -- connection -------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"imap {self.mailbox.name}"

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def connect(self) -> IMAPClient:
        """Connect and log in (once); later calls return the open connection."""
        if self._client is not None:
            return self._client
        mb = self.mailbox
        if mb.security == "tls":
            client = IMAPClient(
                mb.host, port=mb.port, ssl=True, ssl_context=self._context(), timeout=self.timeout
            )
        else:
            client = IMAPClient(mb.host, port=mb.port, ssl=False, timeout=self.timeout)
        try:
            if mb.security == "starttls":
                client.starttls(self._context())
            elif mb.security == "none" and mb.host not in ("127.0.0.1", "::1", "localhost"):
                log.warning("%s: logging in to %s without TLS", self.label, mb.host)
            client.login(mb.username, mb.password())
        except BaseException:
            _close_quietly(client)
            raise
        self._client = client
        self._folder_ready = False
        log.info("%s: connected to %s:%s (%s)", self.label, mb.host, mb.port, mb.security)
        return client

    def close(self) -> None:
        """Log out and drop the connection (the next fetch_once connects again)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except Exception:
                _close_quietly(client)

    def _drop(self) -> None:
        """Forget a connection that failed: no LOGOUT, the stream may be in any state."""
        client, self._client = self._client, None
        if client is not None:
            _close_quietly(client)

    # -- one pass ---------------------------------------------------------------------

    def fetch_once(self) -> int:
        """Import every message of the folder not imported yet, apply `after` to every
        imported message still there; return how many new rows were committed.

        Raises on any error (after dropping the connection); rows committed before the
        error stay committed and their `after` action has been applied where possible.
        """
        try:
            return self._fetch_once()
        except BaseException:
            self._drop()
            raise

    def _fetch_once(self) -> int:
        client = self.connect()
        mb = self.mailbox
        # Select again on every pass: it reports the current UIDVALIDITY (RFC 3501 6.3.1)
        # and unlike CLOSE it expunges nothing.
        info = client.select_folder(mb.folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        prefix = f"{mb.name}:{mb.host}:{mb.username}:{mb.folder}:{uidvalidity}:"
        self._prepare_target(client)
        candidates = self._candidates(client, uidvalidity, prefix)
        stored = 0
        for batch in _chunks(candidates, KEY_BATCH):
            stored += self._import_batch(client, uidvalidity, prefix, batch)
        return stored

    def _prepare_target(self, client: IMAPClient) -> None:
        after = self.mailbox.after
        if self._folder_ready or not after.startswith("move:"):
            return
        target = after.removeprefix("move:")
        if not client.folder_exists(target):
            client.create_folder(target)
            log.info("%s: created folder %s", self.label, target)
        self._folder_ready = True

    def _candidates(self, client: IMAPClient, uidvalidity: int, prefix: str) -> list[int]:
        """UIDs that may need importing or their `after` action, ascending."""
        after = self.mailbox.after
        if after == "delete" or after.startswith("move:"):
            # Handled messages leave the folder: whatever is left needs one or the other.
            return sorted(int(u) for u in client.search("ALL"))
        watermark = self._watermark.get(uidvalidity)
        if watermark is None:
            watermark = self._watermark[uidvalidity] = self._stored_watermark(prefix)
        # "n:*" always includes the highest UID, even below n (RFC 3501 6.4.8): filter.
        found = {int(u) for u in client.search(["UID", f"{watermark + 1}:*"])}
        uids = {u for u in found if u > watermark}
        if after == "seen":
            # Imported but not yet flagged (a crash in between) shows as unseen.
            uids |= {int(u) for u in client.search(["UNSEEN"])}
        return sorted(uids)

    def _stored_watermark(self, prefix: str) -> int:
        """The highest UID imported for this folder and UIDVALIDITY, from the database."""
        # Keys end in a decimal UID: the longest, then lexically greatest, is the largest.
        query = (
            select(InboundMail.imap_key)
            .where(InboundMail.imap_key.startswith(prefix, autoescape=True))
            .order_by(func.length(InboundMail.imap_key).desc(), InboundMail.imap_key.desc())
            .limit(1)
        )
        with self.factory() as session:
            key = session.scalar(query)
        return int(key.rsplit(":", 1)[1]) if key else 0

    def _known(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` are imported already."""
        query = select(InboundMail.imap_key).where(InboundMail.imap_key.in_(list(keys)))
        with self.factory() as session:
            return {key for key in session.scalars(query) if key is not None}

    def _import_batch(
        self, client: IMAPClient, uidvalidity: int, prefix: str, uids: Sequence[int]
    ) -> int:
        """Import the new messages among `uids` (ascending) group by group; after each
        group, apply `after` to its messages whose import is committed (now or earlier)."""
        known = self._known(prefix + str(u) for u in uids)
        todo = [u for u in uids if prefix + str(u) not in known]
        sizes: dict[int, int] = {}
        if todo:
            for uid, data in client.fetch(todo, [b"RFC822.SIZE"]).items():
                sizes[int(uid)] = int(data.get(b"RFC822.SIZE", 0))
        stored = position = 0
        while position < len(uids):
            group = self._next_group(uids[position:], known, prefix, sizes)
            position += len(group)
            stored += self._import_group(client, uidvalidity, prefix, group, known)
        return stored

    def _import_group(
        self,
        client: IMAPClient,
        uidvalidity: int,
        prefix: str,
        group: Sequence[int],
        known: set[str],
    ) -> int:
        stored = 0
        done: list[int] = []  # committed (now or before), in UID order: their `after` is due
        error: Exception | None = None
        try:
            bodies = self._bodies(client, [u for u in group if prefix + str(u) not in known])
            for uid in group:
                key = prefix + str(uid)
                if key not in known:
                    raw = bodies.get(uid)
                    if raw is None:
                        # Gone between SEARCH and FETCH (another client expunged it).
                        log.info("%s: uid %s vanished before it was fetched", self.label, uid)
                        continue
                    if self._store(uid, raw, key):
                        stored += 1
                done.append(uid)
        except Exception as exc:
            # Stop at the first failure: it and what follows stay untouched on the server.
            error = exc
        if stored and self.on_stored is not None:
            self.on_stored()
        if done and self.mailbox.after in ("keep", "seen"):
            # Every UID of this pass up to done[-1] is in `done` or gone.
            top = max(self._watermark.get(uidvalidity, 0), done[-1])
            self._watermark[uidvalidity] = top
        if done and (error is None or not _is_connection_error(error)):
            try:
                self._apply_after(client, done)
            except Exception as exc:
                if error is None:
                    raise
                log.warning("%s: after-step failed too: %s", self.label, describe(exc))
        if error is not None:
            raise error
        return stored

    def _next_group(
        self, pending: Sequence[int], known: set[str], prefix: str, sizes: dict[int, int]
    ) -> list[int]:
        """The next UIDs to handle: at most FETCH_BATCH_MESSAGES new ones and about
        FETCH_BATCH_BYTES of bodies (a larger message goes alone)."""
        group: list[int] = []
        new = total = 0
        for uid in pending:
            if prefix + str(uid) not in known:
                size = sizes.get(uid, 0)
                if new and (new >= FETCH_BATCH_MESSAGES or total + size > FETCH_BATCH_BYTES):
                    break
                new += 1
                total += size
            group.append(uid)
        return group

    def _bodies(self, client: IMAPClient, uids: list[int]) -> dict[int, bytes]:
        if not uids:
            return {}
        # BODY.PEEK[] returns the whole message like BODY[] without setting \Seen
        # (RFC 3501 6.4.5); the response names it BODY[].
        response = client.fetch(uids, [b"BODY.PEEK[]"])
        bodies: dict[int, bytes] = {}
        for uid, data in response.items():
            raw = data.get(b"BODY[]")
            if isinstance(raw, bytes):
                bodies[int(uid)] = raw
        return bodies

    def _store(self, uid: int, raw: bytes, key: str) -> bool:
        """Commit one message; False if its key was already there (a concurrent import)."""
        mb = self.mailbox
        try:
            with self.factory.begin() as session:
                row = store_inbound(
                    session,
                    raw,
                    source=f"imap:{mb.name}",
                    envelope_to=[mb.queue_address] if mb.queue_address else [],
                    imap_key=key,
                )
                inbound_id = row.id
        except IntegrityError:
            if key in self._known([key]):
                log.info("%s: uid %s was already imported", self.label, uid)
                return False
            raise
        log.info(
            "%s: stored uid %s (%d bytes) as inbound %s", self.label, uid, len(raw), inbound_id
        )
        return True

    def _apply_after(self, client: IMAPClient, uids: list[int]) -> None:
        """Handle server copies whose import is committed (never any other)."""
        after = self.mailbox.after
        if after == "keep" or not uids:
            return
        if after == "seen":
            client.add_flags(uids, [SEEN], silent=True)
        elif after == "delete":
            client.add_flags(uids, [DELETED], silent=True)
            self._expunge(client, uids)
        else:
            target = after.removeprefix("move:")
            if client.has_capability("MOVE"):
                client.move(uids, target)  # RFC 6851: atomic, no \Deleted copy left behind
            else:
                # Without MOVE: COPY, flag, expunge (RFC 6851 section 1). A crash after
                # the COPY leaves the message in both places; the next pass copies it again.
                client.copy(uids, target)
                client.add_flags(uids, [DELETED], silent=True)
                self._expunge(client, uids)
        log.info("%s: %s applied to %d message(s)", self.label, after, len(uids))

    def _expunge(self, client: IMAPClient, uids: list[int]) -> None:
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)  # RFC 4315 2.1: removes only these UIDs
        else:
            # RFC 3501 6.4.3: EXPUNGE removes every \Deleted message in the folder,
            # including ones another client flagged; without UIDPLUS there is no other way.
            client.expunge()

    # -- the loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Fetch, then wait for new mail (IDLE or poll), until `stop` is set.

        Errors are logged and retried after 1 s, 2 s, 4 s ... up to 5 minutes, with a
        fresh connection; a successful pass resets the delay.
        """
        backoff = BACKOFF_FIRST
        try:
            while not stop.is_set():
                try:
                    self.fetch_once()
                    backoff = BACKOFF_FIRST
                    self._wait_for_mail(stop)
                except Exception as exc:
                    self._drop()
                    log.warning("%s: %s (retrying in %.0f s)", self.label, describe(exc), backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            self.close()

    def _wait_for_mail(self, stop: threading.Event) -> None:
        client = self._client
        if client is None:
            return
        if not client.has_capability("IDLE"):
            stop.wait(self.settings.imap_poll_seconds)
            return
        # RFC 2177: IDLE on the selected folder; the server pushes EXISTS for new mail.
        client.idle()
        started = time.monotonic()
        quick_empty = 0
        changed = False
        while not stop.is_set() and time.monotonic() - started < IDLE_RENEW_SECONDS:
            began = time.monotonic()
            responses = client.idle_check(timeout=IDLE_CHECK_SECONDS)
            if any(_is_bye(r) for r in responses):
                raise ConnectionError("the server ended the session (BYE)")
            if any(not _is_keepalive(r) for r in responses):
                changed = True
                break
            # imapclient's idle_check swallows EOF and returns []: an empty answer that
            # came back well before the timeout means the socket was readable and closed.
            if not responses and time.monotonic() - began < IDLE_CHECK_SECONDS / 2:
                quick_empty += 1
                if quick_empty >= 3:
                    raise ConnectionError("the connection was closed during IDLE")
            else:
                quick_empty = 0
        client.idle_done()
        if changed:
            log.debug("%s: IDLE reported a change", self.label)


def _is_keepalive(response: Any) -> bool:
    """An untagged "* OK Still here" and the like: nothing changed."""
    return isinstance(response, tuple) and len(response) >= 1 and response[0] == b"OK"


def _is_bye(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 1 and response[0] == b"BYE"


def describe(exc: BaseException) -> str:
    """An error for the log without message content.

    SQLAlchemy's own text quotes the statement's parameters, which here include the raw
    message: name only the driver's error instead.
    """
    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
    return f"{type(exc).__name__}: {str(exc)[:500]}"


def _is_connection_error(exc: BaseException) -> bool:
    """Errors after which the IMAP connection cannot be used for the `after` step."""
    return isinstance(exc, (OSError, ssl.SSLError, IMAPClient.AbortError))


def _close_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):  # the connection is being thrown away anyway
        client.shutdown()


def run_fetchers(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    once: bool,
    stop: threading.Event,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """Fetch from every mailbox in `settings.imap`.

    once=True: one pass per mailbox, one after the other; then raise FetchError if any
    failed (the others were still fetched). once=False: one thread per mailbox running
    `MailboxFetcher.run` until `stop` is set; returns when all have ended.
    """
    if not settings.imap:
        log.info("no IMAP mailboxes configured")
        return
    if once:
        failed: list[str] = []
        for mailbox in settings.imap:
            if stop.is_set():
                break
            fetcher = MailboxFetcher(mailbox, factory, settings, on_stored)
            try:
                count = fetcher.fetch_once()
                log.info("%s: %d new message(s)", fetcher.label, count)
            except Exception as exc:
                log.error("%s: %s", fetcher.label, describe(exc))
                failed.append(f"{mailbox.name} ({describe(exc)})")
            finally:
                fetcher.close()
        if failed:
            raise FetchError("could not fetch from " + "; ".join(failed))
        return
    threads = [
        threading.Thread(
            target=MailboxFetcher(mailbox, factory, settings, on_stored).run,
            args=(stop,),
            name=f"imap-{mailbox.name}",
            daemon=True,
        )
        for mailbox in settings.imap
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
