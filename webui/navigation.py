"""Where a page sits in the main navigation, so the bar can mark it with aria-current.

The bar is short on purpose: Overview, My tickets, Staff (staff only), Change password,
then search and sign-out. A link is marked aria-current="page" on the page it leads to, and
aria-current="true" on the pages under it (WAI-ARIA 1.2: "true" marks the current item
within a set): a queue's list is under Overview; every staff page (listed in the staff hub,
or with a URL under /staff) is under Staff, a ticket's audit log included. A ticket's own
pages belong to no section: a ticket is reached from many places.
"""

from __future__ import annotations

from flask import Flask, request

from webui.staffhub import hub_endpoints

OVERVIEW, MINE, STAFF, ACCOUNT = "overview", "mine", "staff", "account"
_SECTION_OF: dict[str, str] = {
    "home.index": OVERVIEW,
    "lists.queue": OVERVIEW,
    "lists.mine": MINE,
    "auth.password": ACCOUNT,
    "staffhub.index": STAFF,
}


def section(endpoint: str | None, path: str) -> str | None:
    """The section of the page at `endpoint` and `path`, or None."""
    if endpoint in _SECTION_OF:
        return _SECTION_OF[endpoint]
    if endpoint in hub_endpoints() or path == "/staff" or path.startswith("/staff/"):
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
