"""The main navigation (webui.navigation) and the staff hub (webui.staffhub): a short bar, one
"Staff" entry leading to every staff page, and aria-current right on every page."""

from __future__ import annotations

import re

from flask import Flask, url_for
from flask.testing import FlaskClient

from queues.models import Role
from webui.navigation import STAFF, section
from webui.staffhub import STAFF_PAGES, Group, StaffPage, _built

from .conftest import Auth


def main_nav(page: str) -> list[tuple[str, str | None]]:
    """(label, aria-current) of each entry of the main navigation's list."""
    nav = re.search(r'<nav class="site-nav" aria-label="Main">\s*<ul>(.*?)</ul>', page, re.S)
    assert nav, "no main navigation"
    return [
        (label, current or None)
        for current, label in re.findall(
            r'<li><a href="[^"]*"(?: aria-current="([^"]+)")?>([^<]+)</a></li>', nav.group(1)
        )
    ]


def test_the_main_navigation_is_short(auth: Auth, client: FlaskClient) -> None:
    auth.as_role(Role.VOLUNTEER)
    page = client.get("/").get_data(as_text=True)
    assert [label for label, _ in main_nav(page)] == [
        "Overview",
        "My tickets",
        "Dashboard",
        "Rota",
        "Your account",
    ]
    auth.as_role(Role.STAFF)
    page = client.get("/").get_data(as_text=True)
    assert [label for label, _ in main_nav(page)] == [
        "Overview",
        "My tickets",
        "Dashboard",
        "Rota",
        "Staff",
        "Your account",
    ]
    assert 'role="search"' in page and "Sign out" in page


def test_aria_current_marks_the_page_or_its_section(
    auth: Auth, client: FlaskClient, tickets: dict[str, str]
) -> None:
    auth.as_role(Role.STAFF)
    number = tickets["specialist-safety"]
    expected = {
        "/": {"Overview": "page"},
        "/queues/general-help": {"Overview": "true"},
        "/mine": {"My tickets": "page"},
        "/account": {"Your account": "page"},
        "/password": {"Your account": "true"},
        "/staff": {"Staff": "page"},
        "/staff/users": {"Staff": "true"},
        "/staff/users/new": {"Staff": "true"},
        "/staff/templates/": {"Staff": "true"},
        "/staff/rules/": {"Staff": "true"},
        "/staff/mail/quarantine": {"Staff": "true"},
        "/staff/mail/outbox": {"Staff": "true"},
        "/rota/": {"Rota": "page"},
        "/staff/rota/": {"Staff": "true"},
        f"/staff/tickets/{number}/audit": {"Staff": "true"},
        f"/tickets/{number}": {},
        "/search?q=x": {},
    }
    for url, marked in expected.items():
        response = client.get(url)
        assert response.status_code == 200, url
        got = {label: current for label, current in main_nav(response.get_data(as_text=True))}
        assert {k: v for k, v in got.items() if v} == marked, url


def test_the_audit_log_leads_back_to_its_ticket(
    auth: Auth, client: FlaskClient, tickets: dict[str, str]
) -> None:
    auth.as_role(Role.STAFF)
    number = tickets["specialist-safety"]
    page = client.get(f"/staff/tickets/{number}/audit").get_data(as_text=True)
    crumbs = re.search(r'<nav class="breadcrumb" aria-label="Breadcrumb">(.*?)</nav>', page, re.S)
    assert crumbs
    assert re.findall(r'<a href="([^"]+)"', crumbs.group(1)) == [
        "/staff",
        f"/tickets/{number}",
        f"/staff/tickets/{number}/audit",
    ]
    assert f'<a href="/tickets/{number}">Back to ticket {number}</a>' in page


def test_the_hub_lists_every_staff_page_with_its_purpose(
    app: Flask, auth: Auth, client: FlaskClient
) -> None:
    auth.as_role(Role.STAFF)
    page = client.get("/staff").get_data(as_text=True)
    for group in STAFF_PAGES:
        assert f">{group.title}</h2>" in page
        for entry in group.pages:
            with app.test_request_context():
                url = url_for(entry.endpoint)
            assert f'<a href="{url}">{entry.title}</a>' in page
            assert f"<p>{entry.purpose}</p>" in page.replace("&#39;", "'")
    # Every staff page of the app (in the Staff section of the navigation, reached without
    # naming a row) is in the hub: a new one cannot be forgotten.
    staff_views = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if section(rule.endpoint, rule.rule) == STAFF
        and "GET" in (rule.methods or ())
        and not rule.arguments
    }
    listed = {entry.endpoint for group in STAFF_PAGES for entry in group.pages}
    # Forms reached from a listed page (adding a user, a template, a rule...) need no line.
    forms = {e for e in staff_views if re.search(r"\.(new|add)(_|$)|_new$", e)}
    assert staff_views - listed - forms - {"staffhub.index"} == set()


def test_pages_not_built_yet_are_left_out(app: Flask) -> None:
    groups = (
        Group("Later", (StaffPage("rota.index", "Rota", "Shifts per queue."),)),
        Group("Now", (StaffPage("staff.users", "Users", "Accounts."),)),
    )
    with app.test_request_context():
        built = _built(groups)
    assert [(title, [link.url for link in links]) for title, links in built] == [
        ("Now", ["/staff/users"])
    ]


def test_only_staff_see_the_hub(auth: Auth, client: FlaskClient) -> None:
    for role in (Role.VOLUNTEER, Role.SPECIALIST):
        auth.as_role(role)
        assert client.get("/staff").status_code == 404
        labels = [label for label, _ in main_nav(client.get("/").get_data(as_text=True))]
        assert "Staff" not in labels


def test_staff_pages_are_in_the_staff_section() -> None:
    assert section("staff_rules.edit", "/staff/rules/3") == STAFF
    assert section("partners.anything", "/staff/liaison/partners/9") == STAFF
    # Another page of a blueprint the hub lists, outside /staff: a referral case.
    assert section("liaison.case", "/liaison/cases/4") == STAFF
    assert section("liaison.mine", "/liaison/mine") == "police"
    # A ticket's own pages belong to no section, whatever blueprint serves them.
    assert section("liaison.report", "/tickets/2026120300/police") is None
    assert section("tickets.view", "/tickets/2026120300") is None
    assert section("lists.search", "/search") is None
