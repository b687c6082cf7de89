"""Sanitize a message's HTML for display to agents (nh3, the Rust ammonia sanitizer).

Beyond ammonia's defaults (no scripts, no event handlers, no javascript: URLs, no forms,
frames, SVG or <base>), nothing may load from the network when an agent opens a ticket:
a remote image or stylesheet tells a harasser when and from where the report was read.
So images keep only cid: references (parts of the message itself) and inline data:image
URLs; inline styles survive only for a short list of harmless text properties (no
url(), no positioning that could overlay the agent UI, no display:none hiding text).
"""

from __future__ import annotations

import nh3

from queues import htmlpolicy

__all__ = ["sanitize_html"]

_TAGS = set(htmlpolicy.TAGS)
_ATTRIBUTES = htmlpolicy.attributes()
_CONTENT_DROPPED = set(htmlpolicy.CONTENT_DROPPED)
_URL_SCHEMES = {"http", "https", "mailto", "cid", "data", "tel"}
_STYLE_PROPERTIES = set(htmlpolicy.STYLE_PROPERTIES)
_SAFE_DATA_IMAGE = ("data:image/png", "data:image/gif", "data:image/jpeg", "data:image/webp")


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Drop anything that would fetch from the network or smuggle a document in."""
    lowered = value.strip().lower()
    if tag == "img" and attribute == "src":
        if lowered.startswith("cid:") or lowered.startswith(_SAFE_DATA_IMAGE):
            return value
        return None
    if attribute == "href" and lowered.startswith("data:"):
        return None
    return value


def sanitize_html(html: str) -> str:
    """Safe HTML for display; the structure and text of the message are kept."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_CONTENT_DROPPED,
        attributes=_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes=_URL_SCHEMES,
        filter_style_properties=_STYLE_PROPERTIES,
    )
