"""Ask for the password again before the actions that hand evidence over or let it leave.

Approving or confirming a police referral, downloading an evidence package and exporting
the disclosure register each need the signed-in agent's password, typed into the very form
that does it (field `reauth_password`, templates/webui/liaison/_reauth.html), every time: a
session left open on a shared computer is not enough. Two-factor codes come with another
issue and belong here, in `check`, so the views need not change.

A wrong password counts against the account's sign-in throttle like a failed sign-in, so a
borrowed session cannot be used to guess it; nothing is done and the page says why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, flash, redirect, request
from werkzeug.wrappers import Response

from queues.access import MAX_PASSWORD_LENGTH
from queues.accounts import verify_password
from webui import db, throttle
from webui.login import agent

FIELD = "reauth_password"
View = TypeVar("View", bound=Callable[..., Any])


def _limit() -> throttle.Limit:
    key = throttle.account_key(current_app.config["SECRET_KEY"], agent().email)
    return throttle.Limit(key, current_app.config["LOGIN_ACCOUNT_LIMIT"])


def check(action: str) -> str | None:
    """None when the form carries the signed-in agent's password; else why not (to show)."""
    typed = request.form.get(FIELD, "")
    if not typed:
        return f"Enter your password to {action}."
    now = datetime.now(UTC)
    window = timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])
    limit = _limit()
    if throttle.blocked_until(db.session(), [limit], now, window) is not None:
        return "Too many wrong passwords. Please wait a few minutes and try again."
    me = agent()
    if len(typed) > MAX_PASSWORD_LENGTH or not verify_password(me.user, typed):
        with db.writing() as writer:
            throttle.record_failure(writer, [limit.key], now, window)
        return f"That is not your password: nothing was done. Enter it again to {action}."
    return None


def required(
    action: str, back: Callable[..., str], guard: Callable[..., object] | None = None
) -> Callable[[View], View]:
    """Decorate a POST view: without the agent's password it does nothing, flashes why and
    answers 303 to `back(**view_args)` (the page the form was on).

    `guard(**view_args)` runs first: who may not use the view at all gets its 404 before
    any password is asked for or counted.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if guard is not None:
                guard(**kwargs)
            problem = check(action)
            if problem is not None:
                flash(problem)
                return redirect(back(**kwargs), code=303)
            return view(*args, **kwargs)

        return cast(View, wrapper)

    return decorate


def refused(problem: str, target: str) -> Response:
    flash(problem)
    return redirect(target, code=303)
