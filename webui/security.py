"""Security that applies to every response: sign-in required by default, and the headers.

Every endpoint needs a signed-in agent unless its view is marked `@public` (the login page,
the stylesheet): a new view is protected even if its author forgets. An agent who must use
a second factor but has none yet (marked at sign-in by webui.twofactor) is sent to enrol
before any other page opens. Every response gets a
strict Content-Security-Policy and the usual headers; every page but the stylesheet is
`Cache-Control: no-store`, so no ticket is left in a shared computer's cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from webui.login import signed_in

View = TypeVar("View", bound=Callable[..., Any])

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
PUBLIC_ENDPOINTS = frozenset({"static"})
# Set in the signed session at sign-in for an agent who must enrol a second factor first;
# what they may open meanwhile (changing a password someone else set comes first: webui.
# account sends them there, so it must stay open here too).
ENROL_FIRST = "switchboard.enrol_first"
WHILE_ENROLLING = frozenset({"twofactor.enrol", "auth.logout", "auth.password", "static"})


def public(view: View) -> View:
    """Mark a view as reachable without signing in."""
    view.switchboard_public = True  # type: ignore[attr-defined]
    return view


def is_public(app: Flask, endpoint: str) -> bool:
    view = app.view_functions.get(endpoint)
    return endpoint in PUBLIC_ENDPOINTS or bool(getattr(view, "switchboard_public", False))


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\r\n\t\\"):
        return None
    return target


def _require_login() -> BaseResponse | None:
    endpoint = request.endpoint
    if endpoint is None or is_public(current_app, endpoint):
        return None  # unknown URLs fall through to the 404 page
    if signed_in() is not None:
        return None
    # A dead session's token is of no more use: drop it with everything else in the cookie.
    session.clear()
    target = request.full_path if request.method == "GET" else None
    if target is not None and target.endswith("?"):
        target = target[:-1]
    return redirect(url_for("auth.login", next=safe_next(target)))


def _enrol_first() -> BaseResponse | str | None:
    endpoint = request.endpoint
    if not session.get(ENROL_FIRST) or endpoint is None or endpoint in WHILE_ENROLLING:
        return None
    if is_public(current_app, endpoint) or signed_in() is None:
        return None
    if request.method == "GET":  # the enrolment page in place of the page asked for
        enrol = current_app.view_functions["twofactor.enrol"]
        return cast(Callable[[], BaseResponse | str], enrol)()
    return redirect(url_for("twofactor.enrol"), code=303)  # and nothing is done


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    app.before_request(_require_login)
    app.before_request(_enrol_first)
    app.after_request(_add_headers)
