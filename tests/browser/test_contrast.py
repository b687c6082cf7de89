"""Readable everywhere: every visible piece of text on the main pages, buttons included, has
the contrast WCAG 2.1 asks for (1.4.3: 4.5:1, large text 3:1), as Chromium renders it.

The colours are read from the computed styles; a transparent background is looked up the
ancestors. This caught a button drawn white on white (a header style used on the page).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from queues.models import Role

from .conftest import PASSWORD, LiveServer

# Runs in the page: [description, ratio, needed] for every text element below the bar.
LOW_CONTRAST_JS = """
() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!own || box.width === 0 || box.height === 0 || style.visibility === "hidden") continue;
    const [fg, bg] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) {
      bad.push([el.tagName + " " + JSON.stringify(el.textContent.trim().slice(0, 40)),
                Math.round(ratio * 100) / 100, needed]);
    }
  }
  return bad;
}
"""


@pytest.fixture
def staff_page(browser: Any, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/login")
    page.fill("#email", live_server.email(Role.STAFF))
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")
    yield page
    context.close()


def test_text_and_buttons_have_enough_contrast(staff_page: Page, live_server: LiveServer) -> None:
    number = live_server.tickets["general-help"]
    paths = [
        "/",
        "/queues/general-help",
        f"/tickets/{number}",
        f"/tickets/{number}/reply",
        "/search?q=about",
        "/mine",
        "/staff/users",
        "/password",
    ]
    problems = {}
    for path in paths:
        response = staff_page.goto(path)
        assert response is not None and response.ok, path
        bad = staff_page.evaluate(LOW_CONTRAST_JS)
        if bad:
            problems[path] = bad
    assert problems == {}
