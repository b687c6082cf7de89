"""The `account` blueprint: an agent's own account page (their public signature name), and
the rule that a password someone else set must be replaced before anything else opens.

The signature name is the only name of an agent that reaches mail (queues.replies): a first
name or a team alias the agent chooses; empty means the team's name (settings.organisation).
A volunteer's full name must never reach whoever wrote in, who may be a harasser posing as
a victim.

An account whose password was made or seen by someone else (added by staff or the command,
`init`'s first account, a reset) has `must_change_password` set. While it is set, every
page but the password page, signing out and the public ones sends the agent to the
password page; a POST elsewhere changes nothing. Changing the password clears it
(queues.access.set_password). This check runs before the other sign-in gates (the
enrolment of a second factor, webui.security), so a new agent does the two in that order.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import Length, Optional

from queues.models import User
from queues.replies import public_name
from queues.team import twofactor
from webui import db
from webui.config import settings as _settings
from webui.login import agent, signed_in
from webui.security import is_public

bp = Blueprint("account", __name__, url_prefix="/account")

MAX_SIGNATURE_NAME = 60
# What an agent who must choose a password may still open.
WHILE_CHANGING = frozenset({"auth.password", "auth.logout", "static"})
MUST_CHANGE = (
    "Choose your own password before you go on: the one you signed in with was set by someone else."
)


class SignatureForm(FlaskForm):  # type: ignore[misc]
    signature_name = StringField(
        "Name in your replies", validators=[Optional(), Length(max=MAX_SIGNATURE_NAME)]
    )


def clean_signature_name(value: str) -> str:
    """One line of printable text, spaces collapsed; ValueError saying what is wrong."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("Use one line of ordinary text.")
    name = " ".join(value.split())
    if "@" in name or "://" in name:
        raise ValueError("A name, please: not an address or a link.")
    return name


@bp.route("", methods=["GET", "POST"])
def index() -> Response | str:
    me = agent().user
    form = SignatureForm()
    if request.method == "GET":
        form.signature_name.data = me.signature_name
    elif form.validate_on_submit():
        try:
            name = clean_signature_name(form.signature_name.data or "")
        except ValueError as exc:
            form.signature_name.errors.append(str(exc))
        else:
            with db.writing() as writer:
                writer.get_one(User, me.id).signature_name = name
            shown = name or _settings().organisation
            flash(f"Your replies are signed “{shown}” from now on.")
            return redirect(url_for("account.index"), code=303)
    return render_template(
        "webui/account/index.html",
        form=form,
        me=me,
        public=public_name(me, _settings()),
        organisation=_settings().organisation,
        two_factor=twofactor.enrolled(db.session(), me.id),
    )


def _password_first() -> Response | None:
    """Send an agent whose password someone else set to the password page, and nowhere else."""
    me = signed_in()
    endpoint = request.endpoint
    if me is None or not me.user.must_change_password or endpoint is None:
        return None
    if endpoint in WHILE_CHANGING or is_public(current_app, endpoint):
        return None
    flash(MUST_CHANGE)
    return redirect(url_for("auth.password"), code=303)


def init_app(app: Flask) -> None:
    """The blueprint, and the password rule before every request (after the sign-in check)."""
    app.register_blueprint(bp)
    app.before_request(_password_first)
