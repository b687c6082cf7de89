"""The HTML that may be shown to agents: one allow-list for the mail edge and the web UI.

mailgate.htmlsafe sanitizes a message's HTML when it arrives; webui.mailhtml sanitizes it
again, stricter, right before a browser sees it. Both start from these sets (nh3, the
Rust ammonia sanitizer, on top of its defaults: no scripts, event handlers, javascript:
URLs, forms, frames, SVG or <base>), so the two passes cannot drift apart.
"""

from __future__ import annotations

import copy

import nh3

# Elements kept, and elements dropped together with their content.
TAGS: frozenset[str] = frozenset(set(nh3.ALLOWED_TAGS) | {"font"})
CONTENT_DROPPED: frozenset[str] = frozenset(
    {
        "script",
        "style",
        "title",
        "noscript",
        "template",
        "svg",
        "math",
        "iframe",
        "object",
        "embed",
        "textarea",
        "select",
    }
)
# Inline style properties kept: text only; nothing that positions, hides or loads.
STYLE_PROPERTIES: frozenset[str] = frozenset(
    {
        "color",
        "background-color",
        "font-weight",
        "font-style",
        "font-family",
        "font-size",
        "text-align",
        "text-decoration",
        "vertical-align",
        "white-space",
        "direction",
    }
)


def attributes() -> dict[str, set[str]]:
    """A fresh copy of the attributes kept per element (callers narrow it further)."""
    kept: dict[str, set[str]] = copy.deepcopy(nh3.ALLOWED_ATTRIBUTES)
    kept.setdefault("*", set()).update({"style", "title", "lang", "dir", "align"})
    kept.setdefault("font", set()).update({"color", "size", "face"})
    for cell in ("td", "th"):
        kept.setdefault(cell, set()).update({"valign", "width"})
    kept.setdefault("table", set()).update({"border", "cellpadding", "cellspacing", "width"})
    kept.setdefault("img", set()).add("title")
    return kept
