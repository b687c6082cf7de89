"""The `apply` blueprint: the public application to volunteer (/apply) and the single-use
link an approved applicant sets their password with. Both work without signing in.

/apply never tells who else applied: whatever happens to an application (stored, or
quietly dropped beyond the address's daily limit, queues.team.applications) the answer is
the same page. A filled-in honeypot field (hidden from people, labelled "leave this empty"
for screen readers) gets that answer too and stores nothing. Beyond the client's daily
limit the page says to try later (429). The client's address is kept only as a keyed hash
for that limit.

The set-password page answers the same for a link that never existed, was used, or has
run out; a good link sets the password (the rules of queues.access) and leads to the
sign-in page, where two-factor enrolment follows for those who need it.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length

from queues.access import MAX_PASSWORD_LENGTH, check_new_password
from queues.i18n import negotiate, parse_accept_language
from queues.models import utcnow
from queues.team import applications, vetting
from queues.team.applications import ApplicationError, Outcome, Submission
from queues.team.models import TextKind
from webui import db, throttle
from webui.config import settings as _settings
from webui.login import client_address
from webui.security import public

bp = Blueprint("apply", __name__)

TRY_LATER = (
    "We have had many applications from your network today. Please try again tomorrow; "
    "nothing you typed was kept."
)


class ApplicationForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Your name", validators=[DataRequired(), Length(max=200)])
    email = StringField("Email address", validators=[DataRequired(), Length(max=254)])
    languages = StringField(
        "Languages you can answer people in", validators=[DataRequired(), Length(max=200)]
    )
    timezone = SelectField("Your time zone", default="UTC", validate_choice=False)
    hours = TextAreaField(
        "Hours you can give", validators=[DataRequired(), Length(max=applications.MAX_TEXT)]
    )
    experience = TextAreaField("Your experience", validators=[Length(max=applications.MAX_TEXT)])
    references = TextAreaField("References", validators=[Length(max=applications.MAX_TEXT)])
    pledge = BooleanField(
        "I accept the confidentiality pledge above",
        validators=[DataRequired("Please read and accept the confidentiality pledge.")],
    )
    conduct = BooleanField(
        "I accept the code of conduct above",
        validators=[DataRequired("Please read and accept the code of conduct.")],
    )
    pledge_version = HiddenField()
    conduct_version = HiddenField()
    # The honeypot: people never see it (module docstring); a robot fills it in.
    website = StringField("Leave this empty", validators=[Length(max=200)])


class SetPasswordForm(FlaskForm):  # type: ignore[misc]
    new = PasswordField(
        "Choose a password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        "The same password again",
        validators=[DataRequired(), EqualTo("new", message="The two passwords differ.")],
    )


def _client_key() -> str:
    """A keyed hash of the client's address or network (the address itself is not kept)."""
    plain = throttle.client_key(client_address())
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"apply", hashlib.sha256).digest()
    return "apply:" + hmac.new(key, plain.encode(), hashlib.sha256).hexdigest()[:48]


def _version(value: str | None) -> int:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) < 9 else 0


def _page(form: ApplicationForm, error: str | None, status: int = 200) -> tuple[str, int]:
    current = db.session()
    pledge = applications.current_text(current, TextKind.PLEDGE)
    conduct = applications.current_text(current, TextKind.CONDUCT)
    form.pledge_version.data = str(pledge.version)
    form.conduct_version.data = str(conduct.version)
    page = render_template(
        "webui/apply/form.html", form=form, error=error, pledge=pledge, conduct=conduct
    )
    return page, status


@bp.route("/apply", methods=["GET", "POST"])
@public
def form() -> Response | tuple[str, int]:
    form = ApplicationForm()
    form.timezone.choices = list(applications.timezone_names())
    if not form.validate_on_submit():
        return _page(form, None)
    if form.website.data:
        return redirect(url_for("apply.thanks"), code=303)  # a robot: the usual answer
    try:
        languages = applications.parse_languages(form.languages.data)
        submission = Submission(
            name=form.name.data,
            email=form.email.data,
            languages=languages,
            timezone=form.timezone.data or "UTC",
            hours=form.hours.data or "",
            experience=form.experience.data or "",
            references=form.references.data or "",
            pledge_version=_version(form.pledge_version.data),
            conduct_version=_version(form.conduct_version.data),
        )
        language = negotiate(
            *languages, *parse_accept_language(request.headers.get("Accept-Language"))
        )
        with db.writing() as writer:
            outcome = applications.submit(
                writer, submission, _client_key(), _settings(), utcnow(), language=language
            )
    except ApplicationError as exc:
        return _page(form, str(exc))
    if outcome is Outcome.TRY_LATER:
        return _page(form, TRY_LATER, 429)
    return redirect(url_for("apply.thanks"), code=303)


@bp.route("/apply/thanks")
@public
def thanks() -> str:
    return render_template("webui/apply/thanks.html")


@bp.route(vetting.SET_PASSWORD_PATH + "<token>", methods=["GET", "POST"])
@public
def set_password(token: str) -> Response | str:
    now = utcnow()
    user = vetting.token_user(db.session(), token, now)
    if user is None:
        return render_template("webui/apply/link_invalid.html")
    form = SetPasswordForm()
    if not form.validate_on_submit():
        return render_template("webui/apply/set_password.html", form=form, email=user.email)
    try:
        check_new_password(form.new.data)
        with db.writing() as writer:
            vetting.use_token(writer, token, form.new.data, now)
    except vetting.VettingError:
        return render_template("webui/apply/link_invalid.html")
    except ValueError as exc:
        form.new.errors.append(f"Please choose another: {exc}.")
        return render_template("webui/apply/set_password.html", form=form, email=user.email)
    flash("Your password is set. Sign in with it now.")
    return redirect(url_for("auth.login"), code=303)
