"""The `auth` blueprint: sign in, sign out, change password.

Signing in answers the same message, after the same work (one password hash check and
one write), whether the address belongs to an account, a disabled account or nobody. An
agent with a second factor then gives a code before any session starts (webui.twofactor).

Guessing is throttled with OWASP's device-cookie scheme (webui.devices): a browser where
the agent signed in before brings a device cookie, and its attempts count against that
cookie alone, so a stranger's wrong passwords, which lock the account for untrusted
clients, do not lock its owner out of their usual browser. Attempts without a valid
device cookie for the address count against the account and the client address
(webui.throttle). Changing the password follows the same rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import logout_user
from flask_wtf import FlaskForm
from sqlalchemy import update
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from queues.access import MAX_PASSWORD_LENGTH, check_new_password, find_user, set_password
from queues.accounts import hash_password, needs_rehash, verify_password
from queues.models import User
from webui import db, devices, sessions, throttle, twofactor
from webui.login import agent, client_address, dummy_user, lifetimes, signed_in, utcnow
from webui.security import public, safe_next

bp = Blueprint("auth", __name__)

WRONG_LOGIN = "Wrong email address or password."
THROTTLED = "Too many failed attempts. Please wait a few minutes and try again."


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email address", validators=[DataRequired(), Length(max=320)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


class PasswordForm(FlaskForm):  # type: ignore[misc]
    current = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    new = PasswordField("New password", validators=[DataRequired()])
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new", message="The two new passwords differ.")],
    )


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])


def _account_limit(email: str) -> throttle.Limit:
    key = throttle.account_key(current_app.config["SECRET_KEY"], email)
    return throttle.Limit(key, current_app.config["LOGIN_ACCOUNT_LIMIT"])


def _client_limit() -> throttle.Limit:
    key = throttle.client_key(client_address())
    return throttle.Limit(key, current_app.config["LOGIN_CLIENT_LIMIT"])


def _limits(email: str, device: devices.Device | None) -> list[throttle.Limit]:
    """What an attempt for `email` counts against: its device cookie alone when it brings a
    valid one for that account (a trusted client), else the account's lockout for untrusted
    clients and the client address."""
    if device is not None:
        return [throttle.Limit(device.key, current_app.config["LOGIN_ACCOUNT_LIMIT"])]
    return [_account_limit(email), _client_limit()]


def _throttled(template: str, form: FlaskForm, until: datetime, now: datetime) -> Response:
    page = render_template(template, form=form, error=THROTTLED)
    response = current_app.make_response((page, 429))
    response.headers["Retry-After"] = str(max(1, int((until - now).total_seconds()) + 1))
    return response


def _sign_in(user: User, token: str) -> None:
    twofactor.finish_sign_in(user, token)  # a fresh Flask session; enrol first if due


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | str:
    if signed_in() is not None:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("webui/auth/login.html", form=form, error=None)
    email = form.email.data.strip().lower()
    now, window = utcnow(), _window()
    device = devices.from_request(email)
    limits = _limits(email, device)
    until = throttle.blocked_until(db.session(), limits, now, window)
    if until is not None:
        return _throttled("webui/auth/login.html", form, until, now)
    user = find_user(db.session(), email)
    # Always one hash check, so an unknown address answers no faster than a known one.
    password_ok = verify_password(user or dummy_user(), form.password.data)
    if user is None or not user.active or not password_ok:
        with db.writing() as writer:
            throttle.record_failure(writer, [item.key for item in limits], now, window)
        return render_template("webui/auth/login.html", form=form, error=WRONG_LOGIN)
    rehash = hash_password(form.password.data) if needs_rehash(user) else None
    code_step = twofactor.asks_for_code(user)
    with db.writing() as writer:
        # This device's count, or (untrusted) the account's; never the client's, and a
        # trusted sign-in leaves the untrusted count to run out: the stranger stays slowed.
        throttle.clear(writer, limits[0].key)
        if rehash is not None:  # stronger parameters than when it was set
            writer.execute(update(User).where(User.id == user.id).values(password_hash=rehash))
        sessions.prune(writer, now, lifetimes())
        token = None if code_step else sessions.start(writer, user, client_address(), now)
    target = safe_next(request.args.get("next"))
    if token is None:  # no session before the code (webui.twofactor)
        response = twofactor.ask_for_code(user, target)
    else:
        _sign_in(user, token)
        response = redirect(target or url_for("home.index"))
    devices.remember(response, email)
    return response


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    with db.writing() as writer:
        sessions.end(writer, agent().token)
    logout_user()
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
def password() -> Response | str:
    form = PasswordForm()
    template = "webui/auth/password.html"
    if not form.validate_on_submit():
        return render_template(template, form=form, error=None)
    me, now, window = agent(), utcnow(), _window()
    # Guessing the current password from a borrowed session counts like failed sign-ins,
    # against this browser's device cookie when it has one for the account.
    limits = _limits(me.email, devices.from_request(me.email))[:1]
    until = throttle.blocked_until(db.session(), limits, now, window)
    if until is not None:
        return _throttled(template, form, until, now)
    if not verify_password(me.user, form.current.data):
        with db.writing() as writer:
            throttle.record_failure(writer, [limits[0].key], now, window)
        form.current.errors.append("This is not your current password.")
        return render_template(template, form=form, error=None)
    try:
        check_new_password(form.new.data)
    except ValueError as exc:
        form.new.errors.append(f"Please choose another: {exc}.")
        return render_template(template, form=form, error=None)
    with db.writing() as writer:
        user = writer.get_one(User, me.user.id)
        set_password(writer, user, form.new.data)  # ends every session, this one too
        sessions.end(writer, me.token)
        token = sessions.start(writer, user, client_address(), now)
    _sign_in(db.session().get_one(User, me.user.id), token)
    flash("Your password has been changed. Every other session has been signed out.")
    return redirect(url_for("home.index"))
