"""A private Dovecot IMAP server on 127.0.0.1 for integration tests (README, "Tests").

`start_dovecot()` writes a config into a fresh `tempfile.mkdtemp()` directory (nothing from
/etc/dovecot), with passwd-file users, a plain port (STARTTLS offered) and an IMAPS port
with a throwaway EC certificate, starts `dovecot -F` and waits until it greets with
"* OK". `Dovecot.stop()` sends SIGTERM. Errors go only to `Dovecot.log_path`, so failures
quote it. A pool of users is written before the start (passwd-file reloads on a change are
not reliable within the same second), and `add_user()` hands out a fresh one, so each test
gets a mailbox of its own.

Also here: `KILL_TEST_LOOP`, the entry script of the fetcher subprocess that the kill test
SIGKILLs and restarts.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient

DOVECOT = "/usr/sbin/dovecot"
USER_POOL = 200  # full path: /usr/sbin may be missing from a non-root PATH

CONFIG = """\
base_dir = D/run
state_dir = D/state
log_path = D/dovecot.log
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = INTERNALUSER
default_internal_group = INTERNALGROUP
default_login_user = LOGINUSER
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n D/passwd
}
userdb {
  driver = static
  args = uid=MAILUID gid=MAILGID home=D/mail/%n
}
mail_location = maildir:~/Maildir
ssl = yes
ssl_cert = <D/cert.pem
ssl_key = <D/key.pem
service imap-login {
CHROOT
  inet_listener imap {
    address = 127.0.0.1
    port = PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = SSLPORT
    ssl = yes
  }
}
ANVIL
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def no_verify_context() -> ssl.SSLContext:
    """For the throwaway self-signed certificate only."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class DovecotError(RuntimeError):
    pass


@dataclass
class Dovecot:
    dir: Path
    port: int
    ssl_port: int
    proc: subprocess.Popen[bytes]
    users: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def log_path(self) -> Path:
        return self.dir / "dovecot.log"

    @property
    def config_path(self) -> Path:
        return self.dir / "dovecot.conf"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no dovecot.log)"

    def add_user(self) -> tuple[str, str]:
        """A user nobody has used yet, with an empty mailbox: (username, password)."""
        with self._lock:
            if not self.users:
                raise DovecotError(f"all {USER_POOL} test users are taken; raise USER_POOL")
            return self.users.pop(0)

    def client(self, user: str, password: str, *, tls: bool = False) -> IMAPClient:
        """A logged-in imapclient connection (plain port, or IMAPS with `tls`)."""
        if tls:
            c = IMAPClient(
                "127.0.0.1", self.ssl_port, ssl=True, ssl_context=no_verify_context(), timeout=30
            )
        else:
            c = IMAPClient("127.0.0.1", self.port, ssl=False, timeout=30)
        c.login(user, password)
        return c

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """An open port is not enough: imap-login may be unable to start, so wait for "* OK"."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(1)
                if s.recv(200).startswith(b"* OK"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def start_dovecot() -> Dovecot:
    """Start a private Dovecot; raise DovecotError (with its log) if it does not come up."""
    if not os.path.exists(DOVECOT):
        raise FileNotFoundError(DOVECOT)
    d = Path(tempfile.mkdtemp(prefix="switchboard-dovecot-"))
    os.chmod(d, 0o711)  # mkdtemp makes it 0700; the mail processes run as another user
    users = [(f"u{i:03d}x{uuid.uuid4().hex[:6]}", uuid.uuid4().hex) for i in range(USER_POOL)]
    (d / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (d / "mail").mkdir()
    me = pwd.getpwuid(os.getuid()).pw_name
    my_group = grp.getgrgid(os.getgid()).gr_name
    if os.getuid() == 0:
        # imap-login must not run as root, and a mail uid of 0 is refused: use nobody.
        nobody = pwd.getpwnam("nobody")
        nogroup = grp.getgrnam("nogroup")
        os.chown(d / "mail", nobody.pw_uid, nogroup.gr_gid)
        values = {
            "INTERNALUSER": "root", "INTERNALGROUP": "root", "LOGINUSER": "dovenull",
            "MAILUID": "nobody", "MAILGID": "nogroup", "CHROOT": "", "ANVIL": "",
        }  # fmt: skip
    else:
        values = {
            "INTERNALUSER": me, "INTERNALGROUP": my_group, "LOGINUSER": me,
            "MAILUID": str(os.getuid()), "MAILGID": str(os.getgid()),
            "CHROOT": "  chroot =", "ANVIL": "service anvil {\n  chroot =\n}",
        }  # fmt: skip
    port, ssl_port = free_port(), free_port()
    values.update(PORT=str(port), SSLPORT=str(ssl_port))
    config = CONFIG
    for key in sorted(values, key=len, reverse=True):  # plain str.replace: no brace doubling
        config = config.replace(key, values[key])
    config = config.replace("D/", f"{d}/")
    (d / "dovecot.conf").write_text(config)
    proc = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(d / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Dovecot(dir=d, port=port, ssl_port=ssl_port, proc=proc, users=users)
    if not _wait_ready(port, proc, time.monotonic() + 10):
        proc.kill()
        _, err = proc.communicate()
        text = server.log()
        shutil.rmtree(d, ignore_errors=True)
        raise DovecotError(
            f"dovecot did not greet on 127.0.0.1:{port}\n"
            f"stderr: {err.decode(errors='replace')}\ndovecot.log:\n{text}"
        )
    return server


# The kill test's fetcher processes. A parent imports everything once (that takes seconds),
# then forks a fresh fetcher process for each line read from stdin and prints its pid; the
# test SIGKILLs that pid. Forking before any connection or thread exists gives each child
# the state of a freshly started program, at a fraction of the start-up time.
# argv: database URL, IMAP port, user, after; the password comes from the environment
# (SWITCHBOARD_TEST_IMAP_PASSWORD), as it would in production.
KILL_TEST_LOOP = """
import logging, os, sys, threading
from mailgate.fetcher import MailboxFetcher
from queues.db import make_engine, make_sessionmaker
from queues.settings import ImapMailbox, Settings

url, port, user, after = sys.argv[1:5]
logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(asctime)s %(process)d %(message)s")
mailbox = ImapMailbox(name="kill", host="127.0.0.1", port=int(port), username=user,
                      security="none", password_env="SWITCHBOARD_TEST_IMAP_PASSWORD",
                      after=after, queue_address="help@example.org")
settings = Settings(database_url=url, imap=(mailbox,), imap_poll_seconds=0.2)
child = 0
for _line in sys.stdin:
    if child:
        os.waitpid(child, 0)  # the test has killed it
    child = os.fork()
    if child == 0:
        factory = make_sessionmaker(make_engine(url))
        MailboxFetcher(mailbox, factory, settings).run(threading.Event())
        os._exit(0)
    print(child, flush=True)
if child:
    os.waitpid(child, 0)
"""
