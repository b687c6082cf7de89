"""The `team` blueprint: applications and vetting, the texts applicants accept, the training
checklist, and each agent's page (vetting, mentor, probation and its counts, checklist
progress, two-factor, role, leaving).

Staff use every page. An agent's page is also open to the agent and to their mentor (their
progress is theirs to see); the mentor and staff tick checklist items there. For everyone
else every page here is a 404, like a page that does not exist.

Changing an agent's role or their two-factor sign-in asks for the staff member's password
and code again (webui.reauth). Suspending or removing an agent goes through
queues.team.leaving: sessions end at once, locks and tickets go back, the reason is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from queues.access import ROLE_ORDER, parse_role, set_role
from queues.audit import record_staff_change
from queues.models import Role, User, utcnow
from queues.team import applications, checklist, leaving, probation, twofactor, vetting
from queues.team.models import (
    AgentProfile,
    Application,
    ChecklistItem,
    DepartureKind,
    TextKind,
)
from webui import db, reauth
from webui.config import settings as _settings
from webui.login import agent, client_address, signed_in

bp = Blueprint("team", __name__, url_prefix="/team")

MAX_FIELD = 5000
# Pages also open to the agent themselves and their mentor (each view checks who).
NOT_ONLY_STAFF = frozenset({"team.agent", "team.tick", "team.profile"})


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A form whose fields are read from request.form: only its CSRF token is checked."""


@bp.before_request
def who_may() -> None:
    me = signed_in()
    if me is None or (me.role is not Role.STAFF and request.endpoint not in NOT_ONLY_STAFF):
        abort(404)


def _text(name: str, limit: int = MAX_FIELD) -> str:
    return request.form.get(name, "")[:limit]


def _checked() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


def _back(message: str, target: str) -> Response:
    flash(message)
    return redirect(target, code=303)


def _link_base() -> str:
    """Where links in mail lead: the configured address, else this request's own."""
    return _settings().web_base_url or request.host_url


def _audit(detail: str) -> None:
    with db.writing() as writer:
        record_staff_change(writer, writer.get_one(User, agent().user.id), client_address(), detail)


# --- applications ----------------------------------------------------------------------------


@bp.route("/applications", endpoint="applications")
def applications_list() -> str:
    current = db.session()
    return render_template(
        "webui/team/applications.html",
        waiting=applications.waiting(current),
        decided=applications.decided(current),
    )


def _application_or_404(application_id: int) -> Application:
    found = db.session().get(Application, application_id)
    if found is None:
        abort(404)
    return found


def _mentors() -> list[User]:
    stmt = select(User).where(User.active.is_(True)).order_by(User.name, User.email)
    return list(db.session().scalars(stmt))


@bp.route("/applications/<int:application_id>")
def application(application_id: int) -> str:
    found = _application_or_404(application_id)
    current = db.session()
    return render_template(
        "webui/team/application.html",
        application=found,
        earlier=applications.earlier_from(current, found),
        mentors=_mentors(),
        roles=ROLE_ORDER,
        form=ActionForm(),
    )


def _application_url(application_id: int) -> str:
    return url_for("team.application", application_id=application_id)


@bp.route("/applications/<int:application_id>/approve", methods=["POST"])
def approve(application_id: int) -> Response:
    _checked()
    _application_or_404(application_id)
    mentor = _text("mentor", 20)
    try:
        choice = vetting.Approval(
            role=parse_role(_text("role", 20) or "volunteer"),
            mentor_id=int(mentor) if mentor.isdigit() else None,
            probation=_text("probation", 5) == "yes",
            require_twofactor=_text("twofactor", 5) == "yes",
        )
        with db.writing() as writer:
            found = writer.get_one(Application, application_id)
            staff = writer.get_one(User, agent().user.id)
            approved = vetting.approve(
                writer,
                found,
                staff,
                choice,
                _settings(),
                utcnow(),
                _link_base(),
                client=client_address(),
            )
    except ValueError as exc:  # VettingError, an unknown role
        return _back(str(exc), _application_url(application_id))
    flash(
        "Approved: the account is made, and the applicant has been sent a link to set "
        "their password."
    )
    return redirect(url_for("team.agent", user_id=approved.user_id), code=303)


@bp.route("/applications/<int:application_id>/decline", methods=["POST"])
def decline(application_id: int) -> Response:
    _checked()
    _application_or_404(application_id)
    try:
        with db.writing() as writer:
            found = writer.get_one(Application, application_id)
            staff = writer.get_one(User, agent().user.id)
            vetting.decline(
                writer,
                found,
                staff,
                _text("reason"),
                _settings(),
                utcnow(),
                client=client_address(),
            )
    except vetting.VettingError as exc:
        return _back(str(exc), _application_url(application_id))
    return _back("Declined; the applicant has been told.", url_for("team.applications"))


# --- the texts applicants accept -------------------------------------------------------------


@bp.route("/texts", methods=["GET", "POST"])
def texts() -> Response | str:
    if request.method == "POST":
        _checked()
        kind_name = _text("kind", 20)
        kind = TextKind(kind_name) if kind_name in {k.value for k in TextKind} else None
        if kind is None:
            return _back("Choose the pledge or the code of conduct.", url_for("team.texts"))
        try:
            with db.writing() as writer:
                new = applications.edit_text(
                    writer,
                    kind,
                    _text("body", applications.MAX_TEXT_BODY + 1),
                    agent().user.email,
                    utcnow(),
                )
                version = new.version
                record_staff_change(
                    writer,
                    writer.get_one(User, agent().user.id),
                    client_address(),
                    f"{kind.value} text version {version}",
                )
        except applications.ApplicationError as exc:
            return _back(str(exc), url_for("team.texts"))
        return _back(
            f"Saved as version {version}. New applicants accept it from now on.",
            url_for("team.texts"),
        )
    current = db.session()
    return render_template(
        "webui/team/texts.html",
        texts=[
            (kind, applications.text_versions(current, kind))
            for kind in (TextKind.PLEDGE, TextKind.CONDUCT)
        ],
        form=ActionForm(),
    )


# --- the training checklist ------------------------------------------------------------------


@bp.route("/checklist", methods=["GET", "POST"], endpoint="checklist")
def checklist_items() -> Response | str:
    if request.method == "POST":
        _checked()
        try:
            with db.writing() as writer:
                checklist.add_item(
                    writer,
                    _text("title", 300),
                    _text("description"),
                    agent().user.email,
                    utcnow(),
                )
        except checklist.ChecklistError as exc:
            return _back(str(exc), url_for("team.checklist"))
        return _back("Item added to everyone's checklist.", url_for("team.checklist"))
    return render_template(
        "webui/team/checklist.html",
        items=checklist.items(db.session(), include_retired=True),
        form=ActionForm(),
    )


def _item_or_404(item_id: int) -> ChecklistItem:
    found = db.session().get(ChecklistItem, item_id)
    if found is None:
        abort(404)
    return found


@bp.route("/checklist/<int:item_id>", methods=["GET", "POST"])
def checklist_item(item_id: int) -> Response | str:
    item = _item_or_404(item_id)
    if request.method == "POST":
        _checked()
        try:
            with db.writing() as writer:
                checklist.edit_item(
                    writer,
                    writer.get_one(ChecklistItem, item_id),
                    _text("title", 300),
                    _text("description"),
                )
        except checklist.ChecklistError as exc:
            return _back(str(exc), url_for("team.checklist_item", item_id=item_id))
        return _back("Item saved.", url_for("team.checklist"))
    return render_template("webui/team/checklist_item.html", item=item, form=ActionForm())


@bp.route("/checklist/<int:item_id>/active", methods=["POST"])
def checklist_active(item_id: int) -> Response:
    _checked()
    _item_or_404(item_id)
    active = _text("active", 5) == "yes"
    with db.writing() as writer:
        checklist.set_active(writer, writer.get_one(ChecklistItem, item_id), active)
    message = "Item back on the checklist." if active else "Item retired: it no longer counts."
    return _back(message, url_for("team.checklist"))


# --- agents ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentRow:
    user: User
    profile: AgentProfile | None
    mentor: User | None
    done: int
    total: int
    counts: probation.Counts


def _row(user: User, profiles: dict[int, AgentProfile], users: dict[int, User]) -> AgentRow:
    current = db.session()
    found = profiles.get(user.id)
    progress = checklist.progress(current, user.id)
    mentor = users.get(found.mentor_id) if found is not None and found.mentor_id else None
    return AgentRow(
        user=user,
        profile=found,
        mentor=mentor,
        done=sum(1 for p in progress if p.done),
        total=len(progress),
        counts=probation.counts(current, user.id),
    )


@bp.route("/agents")
def agents() -> str:
    current = db.session()
    users = {
        u.id: u for u in current.scalars(select(User).order_by(User.active.desc(), User.email))
    }
    profiles = {p.user_id: p for p in current.scalars(select(AgentProfile))}
    rows = [_row(user, profiles, users) for user in users.values()]
    return render_template("webui/team/agents.html", rows=rows)


def _agent_or_404(user_id: int) -> tuple[User, AgentProfile | None, bool]:
    """The agent, their profile, and whether the viewer is staff; 404 unless the viewer is
    staff, the agent, or their mentor."""
    me = agent().user
    current = db.session()
    user = current.get(User, user_id)
    if user is None:
        abort(404)
    found = current.get(AgentProfile, user_id)
    is_staff = me.role is Role.STAFF
    is_mentor = found is not None and found.mentor_id == me.id
    if not (is_staff or me.id == user.id or is_mentor):
        abort(404)
    return user, found, is_staff


def agent_url(user_id: int) -> str:
    return url_for("team.agent", user_id=user_id)


@bp.route("/agents/<int:user_id>", endpoint="agent")
def agent_page(user_id: int) -> str:
    user, found, is_staff = _agent_or_404(user_id)
    current = db.session()
    me = agent().user
    mentor = current.get(User, found.mentor_id) if found and found.mentor_id else None
    return render_template(
        "webui/team/agent.html",
        user=user,
        profile=found,
        mentor=mentor,
        is_staff=is_staff,
        may_tick=checklist.may_tick(current, me, user.id),
        progress=checklist.progress(current, user.id),
        counts=probation.counts(current, user.id),
        enrolled=twofactor.enrolled(current, user.id),
        codes_left=twofactor.recovery_codes_left(current, user.id),
        required=twofactor.required(current, user, _settings()),
        departures=leaving.departures(current, user.id) if is_staff else [],
        mentors=[m for m in _mentors() if m.id != user.id] if is_staff else [],
        roles=ROLE_ORDER,
        zones=applications.timezone_names(),
        may_edit_profile=is_staff or me.id == user.id,
        kinds=list(DepartureKind),
        me=me,
        form=ActionForm(),
    )


@bp.route("/agents/<int:user_id>/checklist/<int:item_id>", methods=["POST"])
def tick(user_id: int, item_id: int) -> Response:
    _agent_or_404(user_id)
    _checked()
    _item_or_404(item_id)
    done = _text("done", 5) == "yes"
    try:
        with db.writing() as writer:
            target = writer.get_one(User, user_id)
            item = writer.get_one(ChecklistItem, item_id)
            me = writer.get_one(User, agent().user.id)
            if done:
                checklist.tick(writer, target, item, me, utcnow())
            else:
                checklist.untick(writer, target, item, me)
    except checklist.ChecklistError as exc:
        return _back(str(exc), agent_url(user_id))
    return _back("Checklist updated.", agent_url(user_id))


@bp.route("/agents/<int:user_id>/profile", methods=["POST"])
def profile(user_id: int) -> Response:
    """The languages and time zone an agent works in: the agent's own to say, or staff's."""
    _agent_or_404(user_id)
    _checked()
    me = agent().user
    if me.id != user_id and me.role is not Role.STAFF:
        return _back(
            "Only the agent or staff change their languages and time zone.", agent_url(user_id)
        )
    zone = _text("timezone", 64)
    try:
        languages = applications.parse_languages(_text("languages", 200))
    except applications.ApplicationError as exc:
        return _back(str(exc), agent_url(user_id))
    if zone not in applications.timezone_names():
        return _back("Choose a time zone from the list.", agent_url(user_id))
    with db.writing() as writer:
        target = writer.get_one(User, user_id)
        target.languages = languages
        target.timezone = zone
    return _back("Languages and time zone saved.", agent_url(user_id))


@bp.route("/agents/<int:user_id>/mentor", methods=["POST"])
def mentor(user_id: int) -> Response:
    _agent_or_404(user_id)
    _checked()
    chosen = _text("mentor", 20)
    try:
        with db.writing() as writer:
            target = writer.get_one(User, user_id)
            new = writer.get(User, int(chosen)) if chosen.isdigit() else None
            probation.set_mentor(writer, target, new)
            record_staff_change(
                writer,
                writer.get_one(User, agent().user.id),
                client_address(),
                f"account {target.email} mentor {'set' if new else 'removed'}",
            )
    except probation.ProbationError as exc:
        return _back(str(exc), agent_url(user_id))
    return _back("Mentor saved.", agent_url(user_id))


@bp.route("/agents/<int:user_id>/probation", methods=["POST"], endpoint="probation")
def probation_change(user_id: int) -> Response:
    _agent_or_404(user_id)
    _checked()
    action = _text("action", 10)
    if action not in ("start", "end"):
        return _back("Choose to start or to end probation.", agent_url(user_id))
    try:
        with db.writing() as writer:
            target = writer.get_one(User, user_id)
            me = writer.get_one(User, agent().user.id)
            if action == "start":
                probation.start(writer, target, utcnow())
            else:
                probation.end(writer, target, me, utcnow())
            record_staff_change(
                writer, me, client_address(), f"account {target.email} probation {action}"
            )
    except probation.ProbationError as exc:
        return _back(str(exc), agent_url(user_id))
    message = "Probation ended." if action == "end" else "Probation started."
    return _back(message, agent_url(user_id))


def _guard(user_id: int, **_: object) -> None:
    _agent_or_404(user_id)


@bp.route("/agents/<int:user_id>/role", methods=["POST"])
@reauth.required("change roles", agent_url, guard=_guard)
def role(user_id: int) -> Response:
    _checked()
    if user_id == agent().user.id:
        return _back("You cannot change your own role.", agent_url(user_id))
    try:
        new = parse_role(_text("role", 20))
    except ValueError as exc:
        return _back(str(exc), agent_url(user_id))
    with db.writing() as writer:
        target = writer.get_one(User, user_id)
        old = target.role
        set_role(writer, target, new)
        if old is not new:
            record_staff_change(
                writer,
                writer.get_one(User, agent().user.id),
                client_address(),
                f"account {target.email} role {old.value} -> {new.value}",
            )
    if old is new:
        return _back(f"The role is already {new.value}.", agent_url(user_id))
    return _back(f"Now {new.value}; their sessions have ended.", agent_url(user_id))


@bp.route("/agents/<int:user_id>/two-factor", methods=["POST"], endpoint="twofactor")
@reauth.required("change another agent's two-factor sign-in", agent_url, guard=_guard)
def twofactor_change(user_id: int) -> Response:
    _checked()
    action = _text("action", 20)
    if user_id == agent().user.id:
        return _back("Change your own on your two-factor page.", agent_url(user_id))
    if action not in ("reset", "require", "optional"):
        return _back("Choose what to change.", agent_url(user_id))
    with db.writing() as writer:
        target = writer.get_one(User, user_id)
        if action == "reset":
            twofactor.remove(writer, target)
            target.session_version += 1  # signed in with the old factor: sign in again
        else:
            vetting.profile(writer, user_id).twofactor_required = action == "require"
        record_staff_change(
            writer,
            writer.get_one(User, agent().user.id),
            client_address(),
            f"account {target.email} two-factor {action}",
        )
    messages = {
        "reset": "Two-factor sign-in reset: they set it up again at their next sign-in.",
        "require": "They must now use two-factor sign-in (from their next sign-in).",
        "optional": "Two-factor sign-in is now their choice (unless their role needs it).",
    }
    return _back(messages[action], agent_url(user_id))


@bp.route("/agents/<int:user_id>/link", methods=["POST"])
def link(user_id: int) -> Response:
    _agent_or_404(user_id)
    _checked()
    try:
        with db.writing() as writer:
            vetting.send_new_link(
                writer,
                writer.get_one(User, user_id),
                writer.get_one(User, agent().user.id),
                _settings(),
                utcnow(),
                _link_base(),
                client=client_address(),
            )
    except vetting.VettingError as exc:
        return _back(str(exc), agent_url(user_id))
    return _back("A new link to set their password is on its way.", agent_url(user_id))


@bp.route("/agents/<int:user_id>/leave", methods=["POST"])
def leave(user_id: int) -> Response:
    _agent_or_404(user_id)
    _checked()
    kind = _text("kind", 20)
    if kind not in {k.value for k in DepartureKind}:
        return _back("Choose to suspend or to remove.", agent_url(user_id))
    try:
        with db.writing() as writer:
            target = writer.get_one(User, user_id)
            me = writer.get_one(User, agent().user.id)
            do = leaving.remove if kind == DepartureKind.REMOVED.value else leaving.suspend
            departure = do(writer, target, me, _text("reason"), utcnow(), client=client_address())
            summary = (
                f"{target.email} is {kind}: signed out everywhere, "
                f"{departure.tickets_returned} tickets back in their queues, "
                f"{departure.locks_released} locks freed, "
                f"{departure.replies_withdrawn} waiting replies withdrawn."
            )
    except leaving.LeavingError as exc:
        return _back(str(exc), agent_url(user_id))
    return _back(summary, agent_url(user_id))
