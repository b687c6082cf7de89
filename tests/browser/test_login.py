"""A keyboard-only journey: sign in with Tab and Enter, see the overview, sign out; and a
volunteer who types the address of a specialist-safety ticket gets a 404."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from queues.models import Role

from .conftest import PASSWORD, LiveServer


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # HTTP errors (the 404s asked for below, Chromium's own /favicon.ico) are logged
        # as "Failed to load resource"; anything else (a CSP violation, say) is a problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on(
        "request", lambda r: None if r.url.startswith(live_server.url) else problems.append(r.url)
    )
    yield page
    context.close()
    assert problems == [], problems


def sign_in_with_keyboard(page: Page, email: str) -> None:
    expect(page.locator("#email")).to_be_focused()  # the form's first field has the focus
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_focused()
    # Focus must be visible: a solid outline around the focused button.
    assert button.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("Enter")


def test_sign_in_overview_sign_out_with_the_keyboard(page: Page, live_server: LiveServer) -> None:
    response = page.goto("/")
    assert response is not None and response.ok
    expect(page).to_have_url(f"{live_server.url}/login?next=/")
    assert "default-src 'none'" in response.headers["content-security-policy"]

    sign_in_with_keyboard(page, live_server.email(Role.SPECIALIST))
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    table = page.get_by_role("table", name="Your queues")
    expect(table.get_by_role("rowheader")).to_have_text(
        ["General help", "Specialist safety restricted"]
    )
    expect(page.get_by_text("Police liaison")).to_have_count(0)

    # The skip link is the first stop for the keyboard.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()

    # Tab along to "Sign out" and press Enter.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.get_by_role("button", name="Sign out").evaluate(
            "e => e === document.activeElement"
        ):
            break
    expect(page.get_by_role("button", name="Sign out")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/login")
    expect(page.get_by_role("status")).to_have_text("You have signed out.")

    # Signed out on the server: going back does not get the overview.
    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/login?next=/")


def test_volunteer_typing_a_specialist_ticket_address_gets_404(
    page: Page, live_server: LiveServer
) -> None:
    page.goto("/login")
    sign_in_with_keyboard(page, live_server.email(Role.VOLUNTEER))
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")

    hidden = page.goto(f"/staff/tickets/{live_server.tickets['specialist-safety']}/audit")
    assert hidden is not None and hidden.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    hidden_page = page.content()
    missing = page.goto("/staff/tickets/1999000099/audit")
    assert missing is not None and missing.status == 404
    assert page.content() == hidden_page  # a hidden ticket looks exactly like no ticket
    assert live_server.tickets["specialist-safety"] not in hidden_page


def test_wrong_password_message_is_announced(page: Page, live_server: LiveServer) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill("nobody@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email address or password.")
