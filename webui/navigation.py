"""Where a page sits in the main navigation, so the bar can mark it with aria-current.

The bar is short on purpose: Overview, My tickets, Staff (staff only), Your account,
then search and sign-out (a specialist also has "My police reports"). A link is marked
aria-current="page" on the page it leads to, and aria-current="true" on the pages under it
(WAI-ARIA 1.2: "true" marks the current item within a set): a queue's list is under
Overview; every staff page is under Staff: those the staff hub lists, the other pages of
their blueprints (a referral case under the referrals), anything under /staff, a ticket's
audit log included. A ticket's own pages (/tickets/...) belong to no section: a ticket is
reached from many places.
"""

from __future__ import annotations

from flask import Flask, request

from webui.staffhub import hub_endpoints

OVERVIEW, MINE, STAFF, ACCOUNT, POLICE = "overview", "mine", "staff", "account", "police"
_SECTION_OF: dict[str, str] = {
    "home.index": OVERVIEW,
    "lists.queue": OVERVIEW,
    "lists.mine": MINE,
    "account.index": ACCOUNT,
    "auth.password": ACCOUNT,
    "staffhub.index": STAFF,
    "liaison.mine": POLICE,  # a specialist's own requests, not a staff page
}


def section(endpoint: str | None, path: str) -> str | None:
    """The section of the page at `endpoint` and `path`, or None."""
    if endpoint in _SECTION_OF:
        return _SECTION_OF[endpoint]
    if path.startswith("/tickets/"):
        return None
    hub = hub_endpoints()
    blueprint = endpoint.rpartition(".")[0] if endpoint else ""
    if endpoint in hub or blueprint in {e.rpartition(".")[0] for e in hub}:
        return STAFF
    if path == "/staff" or path.startswith("/staff/"):
        return STAFF
    return None


def nav_current(endpoint: str, link_section: str) -> str | None:
    """The aria-current value of the bar's link to `endpoint` (in `link_section`), or None."""
    if request.endpoint == endpoint:
        return "page"
    if section(request.endpoint, request.path) == link_section:
        return "true"
    return None


def init_app(app: Flask) -> None:
    app.jinja_env.globals["nav_current"] = nav_current
