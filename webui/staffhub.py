"""The `staffhub` blueprint: one page that leads to every staff page, saying what each is for.

The main navigation has one "Staff" entry instead of a link per staff page (it wrapped at
1280 px with five, and more are coming). A staff page joins the hub by a line in
STAFF_PAGES: its endpoint, title and what it is for. A line whose endpoint the app does not
have (a page not built yet) is left out of the hub, so the list may run ahead of the code.

Only staff may use it; for everyone else it is a 404, like a page that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, render_template, url_for

from webui.staff import staff_only

bp = Blueprint("staffhub", __name__)
bp.before_request(staff_only)


@dataclass(frozen=True)
class StaffPage:
    endpoint: str
    title: str
    purpose: str


@dataclass(frozen=True)
class Group:
    title: str
    pages: tuple[StaffPage, ...]


STAFF_PAGES: tuple[Group, ...] = (
    Group(
        "People",
        (
            StaffPage(
                "staff.users",
                "Users",
                "Agent accounts: add a vetted agent, change a role, disable or enable an "
                "account, give a new one-time password.",
            ),
            StaffPage(
                "team.applications",
                "Applications",
                "People who applied to volunteer: read, approve (role, mentor, probation) "
                "or decline with a reason.",
            ),
            StaffPage(
                "team.agents",
                "Agents: vetting, mentors, probation",
                "Who vetted each agent, their mentor, training progress and reviewed replies; "
                "end probation, reset two-factor sign-in, suspend or remove.",
            ),
            StaffPage(
                "mentor.index",
                "Replies waiting for review",
                "Replies of agents on probation: every one waiting, those of agents without "
                "a mentor too; approve, edit and send, or return with a comment.",
            ),
            StaffPage(
                "team.checklist",
                "Training checklist",
                "What every new agent does before probation can end.",
            ),
            StaffPage(
                "team.texts",
                "Pledge and code of conduct",
                "The texts applicants accept, versioned: each application records the "
                "version accepted.",
            ),
            StaffPage(
                "rota_staff.index",
                "Shifts and swaps",
                "The rota of every queue: define shifts in their own time zones, see the "
                "hours without cover, approve or decline the swaps agents agreed on.",
            ),
        ),
    ),
    Group(
        "Response and abuse",
        (
            StaffPage(
                "targets.index",
                "Response targets",
                "How soon each queue's reporters hear from us: first response and update "
                "targets in hours; tickets past them are raised and the agents on duty told.",
            ),
            StaffPage(
                "staff_abuse.index",
                "Abuse controls",
                "Block and allow lists, senders marked abusive, mail held for a decision, "
                "and what the per-sender cap and flood collapsing did (undo any of it).",
            ),
        ),
    ),
    Group(
        "Mail and routing",
        (
            StaffPage(
                "staff_templates.index",
                "Reply templates and signatures",
                "The texts agents start their replies from, and each queue's signature.",
            ),
            StaffPage(
                "staff_ack.index",
                "Acknowledgements",
                "The automatic answer reporters get at once, per queue and language: edit "
                "it with a preview, or go back to the shipped text.",
            ),
            StaffPage(
                "status.find_links",
                "Status links",
                "The reporter's status page of a ticket: revoke its links, or mail the "
                "reporter a new one.",
            ),
            StaffPage(
                "staff_rules.index",
                "Routing rules",
                "What happens to new mail by sender, recipient, subject, text or header: "
                "its queue, priority, a flag, or ignore it; try a rule on a ticket first.",
            ),
            StaffPage(
                "staff_mail.quarantine",
                "Quarantine",
                "Incoming messages that failed processing, with their error: look at the "
                "raw message and run it again.",
            ),
            StaffPage(
                "staff_mail.outbox",
                "Outbox failures",
                "Outgoing mail the relay refused or could not deliver in time: retry or "
                "discard it.",
            ),
        ),
    ),
    Group(
        "Safety triage",
        (
            StaffPage(
                "staff_triage.index",
                "Triage lexicon",
                "The phrases and rules that send serious reports to specialists: add a "
                "phrase (with a preview over recent tickets), switch any entry off or on.",
            ),
            StaffPage(
                "staff_triage.live_figures",
                "Triage figures",
                "Escalations (what triage missed) and false alarms per week, language and "
                "kind of risk, with precision and recall estimated from them.",
            ),
        ),
    ),
    Group(
        "Police liaison",
        (
            StaffPage(
                "liaison.index",
                "Police referrals",
                "Requests to report a ticket to police: review them, record where the "
                "harasser acts from, choose a partner, approve (two staff) or decline.",
            ),
            StaffPage(
                "partners.index",
                "Partner police forces",
                "The forces we refer to, each country's policy (partner, no partner, never) "
                "and the referral texts per language.",
            ),
            StaffPage(
                "liaison.disclosures",
                "Disclosure register",
                "Every hand-over of evidence to police: what, to whom, when, approved by "
                "whom; export it for an audit.",
            ),
        ),
    ),
)


@dataclass(frozen=True)
class HubLink:
    url: str
    title: str
    purpose: str


def hub_endpoints() -> frozenset[str]:
    """The endpoints the hub lists (built or not): the Staff section of the navigation."""
    return frozenset(page.endpoint for group in STAFF_PAGES for page in group.pages)


def _built(groups: tuple[Group, ...]) -> list[tuple[str, list[HubLink]]]:
    endpoints = set(current_app.view_functions)
    found = []
    for group in groups:
        links = [
            HubLink(url_for(p.endpoint), p.title, p.purpose)
            for p in group.pages
            if p.endpoint in endpoints
        ]
        if links:
            found.append((group.title, links))
    return found


@bp.route("/staff")
def index() -> str:
    return render_template("webui/staffhub/index.html", groups=_built(STAFF_PAGES))
