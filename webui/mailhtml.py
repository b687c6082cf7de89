"""A message's HTML as an inert standalone document for the ticket page's sandboxed iframe.

The HTML was sanitized with nh3 when the mail arrived (mailgate.htmlsafe); it is sanitized
again here, stricter, because what is stored may predate today's rules and because this is
the last step before a browser sees it:

- no scripts, event handlers, forms, frames, SVG, <base>, <meta> or <style> elements;
- no links at all: a click inside the frame would tell the sender when and from where the
  report was read (the text view shows every address in full);
- inline styles only for a short list of text properties, and none that mention url(),
  expression() or @import, or use CSS escapes;
- images only from the message itself: `cid:` references to the article's own inline
  images become data: URLs whose type is found from the image's bytes (PNG, JPEG, GIF,
  WebP; never the sender's claimed type, never SVG), and data: images of those types.
  Anything else is dropped, so the document loads nothing, not even from this server.

The document is served with its own Content-Security-Policy (`sandbox`, no scripts, images
from data: only) by webui.tickets.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from urllib.parse import unquote

import nh3

from queues import htmlpolicy

__all__ = ["IMAGE_TYPES", "document", "image_type", "sanitize"]

# The whitelist of image types shown inline, found by their first bytes.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 3 * 1024 * 1024
MAX_TOTAL_IMAGE_BYTES = 12 * 1024 * 1024

_TAGS = set(htmlpolicy.TAGS)
_ATTRIBUTES = htmlpolicy.attributes()
_ATTRIBUTES["a"] = set()  # the text of a link stays, the link does not
_CONTENT_DROPPED = set(htmlpolicy.CONTENT_DROPPED)
_STYLE_PROPERTIES = set(htmlpolicy.STYLE_PROPERTIES)
_DANGEROUS_STYLE = re.compile(r"url\(|expression|@import|\\|javascript:|behavior|binding", re.I)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_DATA_IMAGE = re.compile(r"^data:(image/(?:png|jpeg|gif|webp));base64,[A-Za-z0-9+/=\s]*$", re.I)

_DOCUMENT = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Message</title>
<style>
body {{ margin: 0.75rem; font-family: system-ui, sans-serif; line-height: 1.4;
  color: #1b1b1f; background: #ffffff; overflow-wrap: anywhere; }}
img {{ max-width: 100%; height: auto; }}
table {{ max-width: 100%; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def image_type(data: bytes) -> str | None:
    """The whitelisted image type `data` really is (by its first bytes), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def data_url(data: bytes) -> str | None:
    """A data: URL for an image of a whitelisted type, or None."""
    kind = image_type(data)
    if kind is None or len(data) > MAX_IMAGE_BYTES:
        return None
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def normalize_cid(value: str) -> str:
    """A Content-ID as stored (no angle brackets, no whitespace), from a `cid:` URL or header."""
    return "".join(unquote(value).split()).strip("<>").lower()


class _Filter:
    """nh3's attribute filter: images from the message only, harmless styles only."""

    def __init__(self, images: Mapping[str, bytes]) -> None:
        self.images = images
        self.budget = MAX_TOTAL_IMAGE_BYTES
        self.cache: dict[str, str | None] = {}

    def __call__(self, tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            cleaned = _CSS_COMMENT.sub("", value)
            return None if _DANGEROUS_STYLE.search(cleaned) else cleaned
        if attribute in ("href", "src", "srcset", "background", "action", "formaction"):
            return self._image(value) if (tag, attribute) == ("img", "src") else None
        return value

    def _image(self, value: str) -> str | None:
        stripped = value.strip()
        lowered = stripped.lower()
        if lowered.startswith("cid:"):
            return self._cid(normalize_cid(stripped[4:]))
        match = _DATA_IMAGE.match(stripped)
        if match is None or len(stripped) > MAX_IMAGE_BYTES * 2:
            return None
        payload = stripped.split(",", 1)[1]
        try:
            data = base64.b64decode(payload, validate=False)
        except ValueError:
            return None
        # The type is what the bytes are, not what the URL claims.
        return data_url(data) if self._spend(len(data)) else None

    def _cid(self, cid: str) -> str | None:
        if cid in self.cache:
            return self.cache[cid]
        data = self.images.get(cid)
        url = data_url(data) if data is not None and self._spend(len(data)) else None
        self.cache[cid] = url
        return url

    def _spend(self, size: int) -> bool:
        if size > self.budget:
            return False
        self.budget -= size
        return True


def sanitize(html: str, images: Mapping[str, bytes] | None = None) -> str:
    """Inert HTML: `images` maps normalized Content-IDs to the article's inline image bytes."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_CONTENT_DROPPED,
        attributes=_ATTRIBUTES,
        attribute_filter=_Filter({normalize_cid(k): v for k, v in (images or {}).items()}),
        strip_comments=True,
        link_rel=None,
        url_schemes={"cid", "data"},
        filter_style_properties=_STYLE_PROPERTIES,
    )


def document(html: str, images: Mapping[str, bytes] | None = None) -> str:
    """A whole HTML document holding the sanitized message, for the sandboxed iframe."""
    return _DOCUMENT.format(body=sanitize(html, images))
