"""A wake-up call from the processes that take mail to the one that turns it into tickets.

In `switchboard serve` the gateway wakes the ingest runner in its own process. Split into
`switchboard gateway` (or `fetch`) and `switchboard work`, the shape behind Postfix, the
runner only looked once a second when it had nothing to do, so a message on a quiet line
waited up to a second before it became a ticket and its acknowledgement left. Here `work`
listens on a Unix datagram socket in the var directory, and a process that has committed
a message sends it one byte.

A ring is a hint, never a promise: the message is already committed, and the runner
still looks every `ingest_poll_seconds` (1 s). So ringing never blocks and never fails
(no listener, a full socket buffer, a var directory whose path is too long for a socket
name: the runner then finds the message at its next look), and a second `work` on the
same var directory takes the bell over (the first one keeps polling).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

BELL_NAME = "ingest.bell"
# The longest socket name Linux takes (sun_path is 108 bytes, ending in a NUL).
_MAX_PATH_BYTES = 107
# How often the listening thread looks whether it is to stop.
LISTEN_TICK_SECONDS = 0.5


def bell_path(var_dir: Path) -> Path:
    """Where the bell of the installation with this var directory is."""
    return var_dir / "run" / BELL_NAME


class Doorbell:
    """The listening end, in `work`: calls `on_ring` for each ring, from a thread of its own."""

    def __init__(self, path: Path, on_ring: Callable[[], None]) -> None:
        self.path = path
        self.on_ring = on_ring
        self._sock: socket.socket | None = None
        self._inode = 0
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> bool:
        """Start listening; False (logged) when the bell cannot be set up here."""
        if len(os.fsencode(self.path)) > _MAX_PATH_BYTES:
            log.warning("no doorbell: %s is too long for a socket name", self.path)
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.path.unlink(missing_ok=True)  # a bell left by a process that died
            sock.bind(os.fspath(self.path))
            self._inode = self.path.stat().st_ino
        except OSError as exc:
            sock.close()
            log.warning("no doorbell at %s: %s; new mail waits for a poll", self.path, exc)
            return False
        sock.settimeout(LISTEN_TICK_SECONDS)
        self._sock = sock
        self._thread = threading.Thread(target=self._listen, name="doorbell", daemon=True)
        self._thread.start()
        log.info("doorbell at %s: the gateway wakes the runners when mail comes", self.path)
        return True

    def _listen(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._closing.is_set():
            try:
                sock.recv(64)
            except TimeoutError:  # a tick to see whether to stop
                continue
            except OSError as exc:
                log.warning("doorbell stopped: %s; new mail waits for a poll", exc)
                return
            self.on_ring()

    def close(self) -> None:
        """Stop listening, and remove the bell unless another process has taken it over."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=LISTEN_TICK_SECONDS * 4)
        sock.close()
        try:
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
        except OSError:
            pass


class Ringer:
    """The ringing end, in `gateway` and `fetch`: `ring()` after each committed message."""

    def __init__(self, path: Path) -> None:
        self.path = os.fspath(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._lock = threading.Lock()  # the gateway's store threads ring concurrently

    def ring(self) -> None:
        try:
            with self._lock:
                self._sock.sendto(b"!", self.path)
        except OSError:  # nobody listening, or the buffer is full: a poll finds the mail
            pass

    def close(self) -> None:
        self._sock.close()
