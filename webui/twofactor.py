"""The `twofactor` blueprint: enrolling a TOTP app (QR code drawn on the server as inline SVG),
recovery codes, and the code step of signing in (queues.team.twofactor does the rest).

Signing in with a second factor: after the right password (webui.auth) an enrolled agent
gets no session yet, only a note in the signed Flask session of who passed the password
step, when, and under which `session_version`; `/login/code` then asks for a code from the
app or a recovery code, and only a right one starts the server-side session. The note
lasts PENDING_SECONDS and dies with a password change. Wrong codes count against the
account's own code throttle (webui.throttle, key "code:<id>"), whatever the client.

Agents who must use a second factor (settings.twofactor_required_roles, or staff required
it of them) but have none yet are signed in with a mark (webui.security.ENROL_FIRST): until
they enrol, every other page sends them to the enrolment page (webui.security).

The secret is shown while enrolling only; once a first code confirms it, it is never shown
again. The ten recovery codes are shown once, in the answer that made them (no redirect).
New recovery codes and turning two-factor off (for agents who need not use it) ask for the
password and a code again (webui.reauth).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import login_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from queues.models import User
from queues.team import twofactor
from webui import db, reauth, sessions, throttle
from webui.config import settings
from webui.login import Agent, agent, client_address, lifetimes, signed_in, utcnow
from webui.security import ENROL_FIRST, public, safe_next

bp = Blueprint("twofactor", __name__)

PENDING = "switchboard.second_step"
PENDING_SECONDS = 300
_EXTENSION = "switchboard.twofactor"
WRONG_CODE = "That code is not right, or it was used already. Type the code your app shows now."
THROTTLED = "Too many wrong codes. Please wait a few minutes and try again."


class CodeForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        "Code from your app, or a recovery code", validators=[DataRequired(), Length(max=40)]
    )


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        "The 6-digit code your app shows now", validators=[DataRequired(), Length(max=12)]
    )


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something (with the password and code asked again)."""


def box() -> twofactor.SecretBox:
    """The installation's sealing key for TOTP secrets, loaded once per app."""
    found: twofactor.SecretBox | None = current_app.extensions.get(_EXTENSION)
    if found is None:
        found = twofactor.load_box(settings())
        current_app.extensions[_EXTENSION] = found
    return found


def code_limit(user_id: int) -> throttle.Limit:
    return throttle.Limit(f"code:{user_id}", current_app.config["LOGIN_ACCOUNT_LIMIT"])


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])


# --- the sign-in steps (called by webui.auth) -------------------------------------------------


def asks_for_code(user: User) -> bool:
    """Whether signing in as `user` needs a code after the password."""
    return twofactor.enrolled(db.session(), user.id)


def finish_sign_in(user: User, token: str) -> None:
    """Sign the browser in with its new session; mark it when the agent must enrol first."""
    # Nothing from before sign-in (an old CSRF token, say) survives into the new session.
    session.clear()
    login_user(Agent(user, token))
    current = db.session()
    if twofactor.required(current, user, settings()) and not twofactor.enrolled(current, user.id):
        session[ENROL_FIRST] = True


def ask_for_code(user: User, target: str | None) -> Response:
    """After the right password of an enrolled agent: remember the step, ask for the code."""
    session.clear()
    session[PENDING] = {
        "user": user.id,
        "version": user.session_version,
        "at": int(utcnow().timestamp()),
        "next": target or "",
    }
    return redirect(url_for("twofactor.code"), code=303)


def _pending(now: datetime) -> tuple[User, str] | None:
    note = session.get(PENDING)
    if not isinstance(note, dict):
        return None
    try:
        user_id, version, at = int(note["user"]), int(note["version"]), int(note["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= now.timestamp() - at <= PENDING_SECONDS:
        return None
    user = db.session().get(User, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return user, safe_next(str(note.get("next") or "")) or ""


def _throttled(template: str, now: datetime, until: datetime, **context: Any) -> Response:
    page = render_template(template, error=THROTTLED, **context)
    response = current_app.make_response((page, 429))
    response.headers["Retry-After"] = str(max(1, int((until - now).total_seconds()) + 1))
    return response


@bp.route("/login/code", methods=["GET", "POST"])
@public
def code() -> Response | str:
    now = utcnow()
    pending = _pending(now)
    if pending is None:
        session.pop(PENDING, None)
        flash("Please sign in again: the sign-in took too long or is no longer valid.")
        return redirect(url_for("auth.login"), code=303)
    user, target = pending
    form = CodeForm()
    template = "webui/twofactor/code.html"
    if not form.validate_on_submit():
        return render_template(template, form=form, error=None)
    limit = code_limit(user.id)
    until = throttle.blocked_until(db.session(), [limit], now, _window())
    if until is not None:
        return _throttled(template, now, until, form=form)
    token = None
    with db.writing() as writer:
        fresh = writer.get_one(User, user.id)
        used = twofactor.verify(writer, fresh, form.code.data, box(), now)
        if used is None:
            throttle.record_failure(writer, [limit.key], now, _window())
        else:
            throttle.clear(writer, limit.key)
            sessions.prune(writer, now, lifetimes())
            token = sessions.start(writer, fresh, client_address(), now)
    if token is None:
        return render_template(template, form=form, error=WRONG_CODE)
    finish_sign_in(db.session().get_one(User, user.id), token)
    if used == "recovery":
        left = twofactor.recovery_codes_left(db.session(), user.id)
        flash(
            f"You signed in with a recovery code; {left} are left. If you lost your phone, "
            "ask staff to reset your two-factor sign-in."
        )
    return redirect(target or url_for("home.index"), code=303)


# --- enrolment and the agent's own page ------------------------------------------------------


def _issuer() -> str:
    return settings().organisation or "Switchboard"


@bp.route("/account/two-factor")
def index() -> str:
    me = agent().user
    current = db.session()
    return render_template(
        "webui/twofactor/index.html",
        enrolled=twofactor.enrolled(current, me.id),
        required=twofactor.required(current, me, settings()),
        codes_left=twofactor.recovery_codes_left(current, me.id),
        form=ActionForm(),
    )


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@bp.route("/account/two-factor/enrol", methods=["GET", "POST"])
def enrol() -> Response | str:
    me = agent().user
    if twofactor.enrolled(db.session(), me.id):
        session.pop(ENROL_FIRST, None)
        flash("Two-factor sign-in is already set up for your account.")
        return redirect(url_for("twofactor.index"), code=303)
    form = ConfirmForm()
    now, error = utcnow(), None
    if form.validate_on_submit():
        limit = code_limit(me.id)
        until = throttle.blocked_until(db.session(), [limit], now, _window())
        if until is not None:
            return _throttled("webui/twofactor/enrol.html", now, until, form=form, **_enrolment(me))
        try:
            with db.writing() as writer:
                codes = twofactor.confirm(
                    writer, writer.get_one(User, me.id), form.code.data, box(), now
                )
        except twofactor.TwoFactorError as exc:
            with db.writing() as writer:
                throttle.record_failure(writer, [limit.key], now, _window())
            error = str(exc)
        else:
            session.pop(ENROL_FIRST, None)
            # Shown once, in this answer only (no redirect): only their digests are kept.
            return render_template("webui/twofactor/codes.html", codes=codes, first=True)
    return render_template("webui/twofactor/enrol.html", form=form, error=error, **_enrolment(me))


def _enrolment(me: User) -> dict[str, object]:
    """The pending secret (made on first need), its QR code and its text form."""
    with db.writing() as writer:
        secret = twofactor.begin(writer, writer.get_one(User, me.id), box(), utcnow())
    uri = twofactor.provisioning_uri(secret, me.email, _issuer())
    return {
        "qr": twofactor.qr_svg(uri, "QR code to scan with your authenticator app"),
        "secret": _grouped(secret),
        "must": bool(session.get(ENROL_FIRST)),
    }


def _back() -> str:
    return url_for("twofactor.index")


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@reauth.required("make new recovery codes", _back)
def recovery_codes() -> Response | str:
    me = agent().user
    if not twofactor.enrolled(db.session(), me.id):
        flash("Set up two-factor sign-in first.")
        return redirect(_back(), code=303)
    with db.writing() as writer:
        codes = twofactor.new_recovery_codes(writer, writer.get_one(User, me.id), utcnow())
    return render_template("webui/twofactor/codes.html", codes=codes, first=False)


@bp.route("/account/two-factor/off", methods=["POST"])
@reauth.required("turn two-factor sign-in off", _back)
def turn_off() -> Response:
    me = agent().user
    if twofactor.required(db.session(), me, settings()):
        flash(
            "Your account must use two-factor sign-in; staff can reset it if you lost your phone."
        )
        return redirect(_back(), code=303)
    with db.writing() as writer:
        twofactor.remove(writer, writer.get_one(User, me.id))
    flash("Two-factor sign-in is off. Signing in needs your password only.")
    return redirect(_back(), code=303)


def _reauth_needs_code() -> bool:
    """For the forms that ask again (templates/webui/liaison/_reauth.html)."""
    me = signed_in()
    return me is not None and twofactor.enrolled(db.session(), me.user.id)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["reauth_needs_code"] = _reauth_needs_code
