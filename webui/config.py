"""The web UI's Flask configuration: from the Switchboard settings, plus test overrides.

Keys beyond Flask's own (all may be overridden through `create_app(test_config)`):

SETTINGS: the queues.settings.Settings object the app was built from.
DATABASE_URL: from settings.database_url.
DB_SESSIONMAKER: a ready sessionmaker to use instead of engines built from DATABASE_URL
    (tests; an embedding process that shares its engine).
SECRET_KEY_FILE: where the signing key lives when SECRET_KEY is not given: created on first
    start (random, mode 0600) in var_dir, so every web process of an installation (and
    every restart) signs sessions with the same key. Copy it to every web host.
SESSION_COOKIE_SECURE: True (default): the cookie is sent over HTTPS only and is named
    "__Host-switchboard". Set False only for plain http:// on loopback while trying things.
SESSION_IDLE_MINUTES / SESSION_MAX_HOURS: a signed-in session ends after this much
    inactivity, or this long after sign-in, whatever the browser does (webui.sessions).
LOGIN_ACCOUNT_LIMIT / LOGIN_CLIENT_LIMIT / LOGIN_WINDOW_SECONDS: failed sign-ins allowed
    per address typed and per client (IPv4 address, IPv6 /64) within one window.
INGEST_PARSER: the mail parser (bytes -> IncomingMail), given by the `switchboard` command
    (webui may not import mailgate); with it, staff re-running a quarantined message have it
    processed at once, without it the ingest runners pick it up (webui.staff_mail).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

from flask import current_app

from queues.settings import Settings


def settings() -> Settings:
    """The Settings of the app handling this request (SETTINGS above)."""
    found: Settings = current_app.config["SETTINGS"]
    return found


def base_config(settings: Settings) -> dict[str, Any]:
    return {
        "SETTINGS": settings,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY_FILE": str(Path(settings.var_dir) / "web_secret_key"),
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_NAME": None,  # derived in finish_config unless given
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_IDLE_MINUTES": 120,
        "SESSION_MAX_HOURS": 12,
        "LOGIN_ACCOUNT_LIMIT": 5,
        "LOGIN_CLIENT_LIMIT": 20,
        "LOGIN_WINDOW_SECONDS": 900,
        # A token lives as long as the sign-in session (whose lifetime the server enforces):
        # a reply typed for more than an hour must not be lost to an expired form.
        "WTF_CSRF_TIME_LIMIT": None,
        # Flask-WTF's "strict" HTTPS check wants a Referer header, which our
        # Referrer-Policy (no-referrer) never sends; the token and SameSite do the work.
        "WTF_CSRF_SSL_STRICT": False,
        # Forms here are small; uploads (later) will raise this where they need it.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "TEMPLATES_AUTO_RELOAD": False,
    }


def finish_config(config: dict[str, Any]) -> None:
    """Derive what depends on other keys, once test overrides are in."""
    # __Host- cookies are refused by browsers unless Secure, Path=/ and without Domain.
    secure = bool(config["SESSION_COOKIE_SECURE"])
    if not config.get("SESSION_COOKIE_NAME"):
        config["SESSION_COOKIE_NAME"] = "__Host-switchboard" if secure else "switchboard"
    config["SESSION_COOKIE_PATH"] = "/"
    config["SESSION_COOKIE_DOMAIN"] = None
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = load_secret_key(Path(config["SECRET_KEY_FILE"]))


def load_secret_key(path: Path) -> str:
    """Read the signing key at `path`, creating it first if it does not exist.

    Several processes may start at once: the key is written to a temporary file and linked
    into place, so every process ends up reading the one key that won.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: use its key
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"the web secret key in {path} is too short (at least 32 characters)")
    return key
