"""The `staff` blueprint: agent accounts (list, add, change role, disable, enable, reset the
password) and a ticket's audit log. Every change to an account is in the audit log.

An agent added here is vetted by the staff member who adds them (queues.team.vetting).
Disabling suspends them (queues.team.leaving: their locks and tickets go back, the reason
is kept). Changing a role and reading a ticket's audit log ask for the password and code
again (webui.reauth).

Only staff may use it; for everyone else every page here is a 404, like a page that does
not exist.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import EmailField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from queues.access import (
    ROLE_ORDER,
    parse_role,
    set_password,
    set_role,
    ticket_for,
)
from queues.accounts import create_user
from queues.audit import AuditAction, record_staff_change, ticket_audit_log
from queues.models import Role, Ticket, User, utcnow
from queues.team import leaving, vetting
from webui import db, reauth
from webui.login import agent, client_address, signed_in
from webui.need_to_know import ticket_or_404

bp = Blueprint("staff", __name__, url_prefix="/staff")


class AddUserForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email address", validators=[DataRequired(), Length(max=320)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    role = SelectField(
        "Role",
        choices=[SelectChoice(r.value, r.value.capitalize()) for r in ROLE_ORDER],
        default=Role.VOLUNTEER.value,
    )


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: only its CSRF token is checked."""


class RoleForm(FlaskForm):  # type: ignore[misc]
    role = SelectField(
        "Role", choices=[SelectChoice(r.value, r.value.capitalize()) for r in ROLE_ORDER]
    )


def _audit(writer: Session, detail: str) -> None:
    record_staff_change(writer, agent().user, client_address(), detail)


def _other_account(writer: Session, user_id: int) -> User | None:
    """The account to change, or None (after a flash) when it is the staff member's own:
    nobody demotes, disables or resets themselves here by accident."""
    user = writer.get(User, user_id)
    if user is None:
        abort(404)
    if user.id == agent().user.id:
        flash("You cannot change your own account here (use Your account).")
        return None
    return user


@bp.before_request
def staff_only() -> None:
    me = signed_in()
    if me is None or me.role is not Role.STAFF:
        abort(404)


@bp.route("/users")
def users() -> str:
    accounts = db.session().scalars(select(User).order_by(User.active.desc(), User.email))
    return render_template(
        "webui/staff/users.html", users=list(accounts), me=agent().user, roles=ROLE_ORDER
    )


@bp.route("/users/new", methods=["GET", "POST"])
def add_user() -> str:
    form = AddUserForm()
    if not form.validate_on_submit():
        return render_template("webui/staff/add_user.html", form=form)
    password = secrets.token_urlsafe(15)
    try:
        with db.writing() as writer:
            user = create_user(
                writer,
                form.email.data,
                parse_role(form.role.data),
                password,
                name=(form.name.data or "").strip(),
                one_time=True,  # they choose their own at the first sign-in
            )
            writer.flush()
            vetting.record_vetting(writer, user, agent().user.email, utcnow())
            email, role = user.email, user.role
            _audit(writer, f"account {email} added as {role.value}")
    except ValueError as exc:
        reason = str(exc)
        form.email.errors.append(f"{reason[:1].upper()}{reason[1:]}.")
        return render_template("webui/staff/add_user.html", form=form)
    # Shown once, in this answer only (no redirect): it is never stored or logged.
    return render_template(
        "webui/staff/user_created.html", email=email, role=role, password=password
    )


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
def disable(user_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    if user_id == agent().user.id:
        flash("You cannot disable your own account.")
        return redirect(url_for("staff.users"))
    reason = request.form.get("reason", "")[:2000].strip() or "disabled on the users page"
    try:
        with db.writing() as writer:
            user = writer.get(User, user_id)
            if user is None:
                abort(404)
            me = writer.get_one(User, agent().user.id)
            leaving.suspend(writer, user, me, reason, utcnow(), client=client_address())
            email = user.email
            _audit(writer, f"account {email} disabled")
    except leaving.LeavingError as exc:
        flash(str(exc))
        return redirect(url_for("staff.users"))
    flash(f"{email} is disabled and signed out everywhere; their tickets are back in the queue.")
    return redirect(url_for("staff.users"))


def _users_page(**_: object) -> str:
    return url_for("staff.users")


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@reauth.required("change roles", _users_page)
def change_role(user_id: int) -> Response:
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choose a role: volunteer, specialist or staff.")
        return redirect(url_for("staff.users"))
    with db.writing() as writer:
        user = _other_account(writer, user_id)
        if user is None:
            return redirect(url_for("staff.users"))
        old, new = user.role, parse_role(form.role.data)
        set_role(writer, user, new)
        email = user.email
        if old is not new:
            _audit(writer, f"account {email} role {old.value} -> {new.value}")
    if old is new:
        flash(f"{email} is already {new.value}.")
    else:
        flash(f"{email} is now {new.value}; their sessions have ended.")
    return redirect(url_for("staff.users"))


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
def enable(user_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with db.writing() as writer:
            user = writer.get(User, user_id)
            if user is None:
                abort(404)
            leaving.enable(writer, user)
            email = user.email
            _audit(writer, f"account {email} enabled")
    except leaving.LeavingError as exc:
        flash(str(exc))
        return redirect(url_for("staff.users"))
    flash(f"{email} may sign in again.")
    return redirect(url_for("staff.users"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def reset_password(user_id: int) -> Response | str:
    if not ActionForm().validate_on_submit():
        abort(400)
    password = secrets.token_urlsafe(15)
    with db.writing() as writer:
        user = _other_account(writer, user_id)
        if user is None:
            return redirect(url_for("staff.users"))
        set_password(writer, user, password, one_time=True)
        email, role = user.email, user.role
        _audit(writer, f"account {email} password reset")
    # Shown once, in this answer only (no redirect): it is never stored or logged.
    return render_template(
        "webui/staff/user_created.html", email=email, role=role, password=password, reset=True
    )


def _visible(number: str) -> Ticket:
    """The ticket if the staff member may see it (not audited: nothing is read yet), else 404."""
    ticket = ticket_for(db.session(), agent().user, number)
    if ticket is None:
        abort(404)
    return ticket


def _audit_page(number: str) -> str:
    return url_for("staff.ticket_audit", number=number)


@bp.route("/tickets/<number>/audit")
def ticket_audit(number: str) -> str:
    """The form that asks for the password (and code) before the log is shown."""
    ticket = _visible(number)
    return render_template("webui/staff/ticket_audit.html", ticket=ticket, events=None)


@bp.route("/tickets/<number>/audit", methods=["POST"], endpoint="read_audit")
@reauth.required("read the audit log", _audit_page, guard=_visible)
def read_audit(number: str) -> str:
    ticket = ticket_or_404(number, AuditAction.READ_AUDIT)
    events = ticket_audit_log(db.session(), ticket)
    return render_template("webui/staff/ticket_audit.html", ticket=ticket, events=events)
