"""Ask for the password (and a two-factor code) again before sensitive actions.

Approving or confirming a police referral, downloading an evidence package, exporting the
disclosure register, changing an agent's role or two-factor sign-in, reading a ticket's
audit log and making new recovery codes each need the signed-in agent's password, typed
into the very form that does it (field `reauth_password`, templates/webui/liaison/
_reauth.html), every time: a session left open on a shared computer is not enough. An agent
who signs in with a second factor (queues.team.twofactor) must also give a code from their
app or a recovery code (field `reauth_code`); the code is used up like at sign-in.

A wrong password counts against the account's sign-in throttle like a failed sign-in, and a
wrong code against the account's code throttle, so a borrowed session cannot be used to
guess either; nothing is done and the page says why.
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
from queues.models import User
from queues.team import twofactor
from webui import db, throttle
from webui.login import agent

FIELD = "reauth_password"
CODE_FIELD = "reauth_code"
View = TypeVar("View", bound=Callable[..., Any])


def _limit() -> throttle.Limit:
    key = throttle.account_key(current_app.config["SECRET_KEY"], agent().email)
    return throttle.Limit(key, current_app.config["LOGIN_ACCOUNT_LIMIT"])


def check(action: str) -> str | None:
    """None when the form carries the signed-in agent's password (and, when they use two-factor
    sign-in, a good code); else why not (to show)."""
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
    if twofactor.enrolled(db.session(), me.user.id):
        return _check_code(action, me.user.id, now, window)
    return None


def _check_code(action: str, user_id: int, now: datetime, window: timedelta) -> str | None:
    # Imported here: webui.twofactor uses this module's decorator for its own views.
    from webui.twofactor import box, code_limit

    typed = request.form.get(CODE_FIELD, "")[:40]
    if not typed.strip():
        return f"Enter a code from your two-factor app (or a recovery code) to {action}."
    limit = code_limit(user_id)
    if throttle.blocked_until(db.session(), [limit], now, window) is not None:
        return "Too many wrong codes. Please wait a few minutes and try again."
    with db.writing() as writer:
        used = twofactor.verify(writer, writer.get_one(User, user_id), typed, box(), now)
        if used is None:
            throttle.record_failure(writer, [limit.key], now, window)
    if used is None:
        return (
            f"That code is not right, or was used already: nothing was done. Try again to {action}."
        )
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
