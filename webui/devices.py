"""Device cookies: a stranger's wrong passwords must not lock an agent out of their own browser.

The scheme is OWASP's "Slow Down Online Guessing Attacks with Device Cookies"
(https://owasp.org/www-community/Slow_Down_Online_Guessing_Attacks_with_Device_Cookies):

- After a successful sign-in the browser gets a device cookie: the account it was issued for
  (a keyed hash of the address, never the address), a random nonce and the time of issue,
  signed with the web secret key (itsdangerous, the signer Flask's own session uses).
- A sign-in attempt that brings a valid device cookie *for the address typed* is a trusted
  client: its failures count against that cookie's nonce only ("device:<hash>"), and only
  that cookie's lockout stops it. A stranger's failures elsewhere do not.
- Any other attempt (no cookie, a forged or expired one, one issued for another account) is
  an untrusted client: its failures count against the account's lockout for untrusted
  clients ("account:<hash>", webui.throttle) and against the client address, as before.
- Each success from a device renews its cookie (a fresh nonce), clears that device's count
  and leaves the untrusted count alone, so the owner signing in does not give a stranger a
  new set of guesses.

What a stolen cookie is worth: the same `LOGIN_ACCOUNT_LIMIT` guesses per window as its
owner had, then that cookie is locked out too; it never lifts or bypasses the account's
lockout for untrusted clients. A forged or altered one is simply untrusted.

One cookie holds the devices of the last MAX_ACCOUNTS accounts that signed in on this
browser (a shared computer at a help desk). Its name is "__Host-switchboard-device" when
the session cookie is Secure (HTTPS only, Path=/, no Domain), else "switchboard-device";
HttpOnly and SameSite=Strict, as only our own login form ever needs it. It lives
`LOGIN_DEVICE_DAYS` days (config, default 180), in the browser and in its signature.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import Request, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

__all__ = ["Device", "account_id", "cookie_name", "from_request", "remember"]

SALT = "switchboard.device-cookie"
DEFAULT_DAYS = 180
MAX_ACCOUNTS = 4
MAX_COOKIE_CHARS = 2048
NONCE_BYTES = 24


@dataclass(frozen=True)
class Device:
    """A valid device cookie's entry for one account."""

    account: str  # keyed hash of the address it was issued for
    nonce: str

    @property
    def key(self) -> str:
        """The throttle key its failures count against (the nonce itself is not stored)."""
        return f"device:{hashlib.sha256(self.nonce.encode()).hexdigest()[:48]}"


def account_id(secret: str, email: str) -> str:
    """The account as the cookie names it: a keyed hash of the normalized address."""
    normalized = email.strip().lower().encode()
    key = hmac.new(secret.encode(), b"device-account", hashlib.sha256).digest()
    return hmac.new(key, normalized, hashlib.sha256).hexdigest()[:32]


def cookie_name() -> str:
    secure = bool(current_app.config["SESSION_COOKIE_SECURE"])
    return "__Host-switchboard-device" if secure else "switchboard-device"


def _lifetime() -> timedelta:
    return timedelta(days=int(current_app.config.get("LOGIN_DEVICE_DAYS", DEFAULT_DAYS)))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _entries(req: Request) -> list[tuple[str, str]]:
    """The (account, nonce) pairs of this request's cookie, if its signature and age hold."""
    value = req.cookies.get(cookie_name(), "")
    if not value or len(value) > MAX_COOKIE_CHARS:
        return []
    try:
        data = _serializer().loads(value, max_age=int(_lifetime().total_seconds()))
    except BadSignature:  # also SignatureExpired: a forged, altered or old cookie
        return []
    if not isinstance(data, list):
        return []
    return [
        (entry[0], entry[1])
        for entry in data[:MAX_ACCOUNTS]
        if isinstance(entry, list)
        and len(entry) == 2
        and all(isinstance(part, str) for part in entry)
    ]


def from_request(email: str) -> Device | None:
    """The device this browser is for the account `email`, or None: an untrusted client."""
    wanted = account_id(current_app.config["SECRET_KEY"], email)
    for account, nonce in _entries(request):
        if hmac.compare_digest(account, wanted):
            return Device(account, nonce)
    return None


def remember(response: Response, email: str) -> None:
    """Give this browser a fresh device cookie for `email` (after a successful sign-in)."""
    account = account_id(current_app.config["SECRET_KEY"], email)
    others = [[a, n] for a, n in _entries(request) if a != account]
    entries = [[account, secrets.token_urlsafe(NONCE_BYTES)], *others][:MAX_ACCOUNTS]
    response.set_cookie(
        cookie_name(),
        _serializer().dumps(entries),
        max_age=int(_lifetime().total_seconds()),
        path="/",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        httponly=True,
        samesite="Strict",
    )
