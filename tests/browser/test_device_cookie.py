"""Issue 8, finding 5, in Chromium: a stranger's wrong passwords do not lock the owner out.

Two browsers against the app served by waitress: the owner's, which signed in before and so
holds a device cookie (webui.devices), and a stranger's, which types five wrong passwords for
the owner's address. The stranger is throttled; the owner signs in from their browser as
usual; a fresh browser of the owner's is an untrusted client like the stranger's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from queues.models import Role
from webui.auth import THROTTLED, WRONG_LOGIN

from .conftest import PASSWORD, LiveServer

COOKIE = "__Host-switchboard-device"


@pytest.fixture
def contexts(browser: Any, live_server: LiveServer) -> Iterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def new_page(browser: Any, live_server: LiveServer, made: list[BrowserContext]) -> Page:
    context: BrowserContext = browser.new_context(base_url=live_server.url)
    made.append(context)
    return context.new_page()


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_stranger_cannot_lock_the_owner_out_of_their_browser(
    browser: Any, live_server: LiveServer, contexts: list[BrowserContext]
) -> None:
    email = live_server.email(Role.VOLUNTEER)
    owner = new_page(browser, live_server, contexts)
    sign_in(owner, email, PASSWORD)
    expect(owner.get_by_role("heading", level=1)).to_have_text("Overview")
    owner.get_by_role("button", name="Sign out").click()
    cookie = next(c for c in owner.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert cookie["expires"] > 0  # kept after the browser closes, unlike the session

    stranger = new_page(browser, live_server, contexts)
    for _ in range(5):
        sign_in(stranger, email, "a wrong guess at the password")
        expect(stranger.get_by_text(WRONG_LOGIN)).to_be_visible()
    sign_in(stranger, email, PASSWORD)  # even the right password: throttled
    expect(stranger.get_by_text(THROTTLED)).to_be_visible()

    sign_in(owner, email, PASSWORD)
    expect(owner.get_by_role("heading", level=1)).to_have_text("Overview")

    # The owner in a browser without the cookie is an untrusted client, as OWASP has it.
    elsewhere = new_page(browser, live_server, contexts)
    sign_in(elsewhere, email, PASSWORD)
    expect(elsewhere.get_by_text(THROTTLED)).to_be_visible()
    # And the stranger stays throttled after the owner's sign-in.
    sign_in(stranger, email, PASSWORD)
    expect(stranger.get_by_text(THROTTLED)).to_be_visible()
