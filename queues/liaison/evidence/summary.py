"""summary.html and summary.txt: the package read by a person (timeline, headers, texts,
identifiers, the country and its basis, the chain of custody).

Rendered from the trusted templates in templates/evidence/. The HTML is autoescaped, runs
no script and loads nothing (a Content-Security-Policy meta forbids it), because whoever
opens it may do so from a mail client or a file manager: every value in it came from a
stranger's mail. Texts are shown as text only; a message's HTML never enters the package's
summary (the raw message holds it).
"""

from __future__ import annotations

import contextlib
import email.header
import email.parser
import email.policy
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from queues.resources import templates_dir

MAX_HEADERS = 300
MAX_HEADER_VALUE = 4000


@cache
def _environment(html: bool) -> Environment:
    options: dict[str, Any] = {
        "loader": FileSystemLoader(str(templates_dir() / "evidence")),
        "undefined": StrictUndefined,
        "keep_trailing_newline": True,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }
    if html:
        return Environment(autoescape=True, **options)
    # summary.txt is plain text: HTML escaping would corrupt it.
    return Environment(autoescape=False, **options)  # noqa: S701


def render_summary(context: dict[str, Any]) -> tuple[bytes, bytes]:
    """(summary.txt, summary.html) as UTF-8 for the package described by `context`."""
    text = _environment(False).get_template("summary.txt").render(context)
    html = _environment(True).get_template("summary.html").render(context)
    return text.encode("utf-8"), html.encode("utf-8")


def raw_headers(raw: bytes) -> list[tuple[str, str]]:
    """The header fields of a raw message in order, decoded for reading (RFC 2047), folding
    undone. Broken encodings are shown as they are rather than dropped: this is evidence."""
    message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    fields = []
    for name, value in message.items()[:MAX_HEADERS]:
        fields.append((str(name), _decoded(value)[:MAX_HEADER_VALUE]))
    return fields


def _decoded(value: Any) -> str:
    if isinstance(value, email.header.Header):
        value = str(value)
    text = str(value)
    if any("\udc80" <= c <= "\udcff" for c in text):
        # Raw 8-bit bytes in a header (against RFC 5322, common all the same): most are UTF-8.
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    with contextlib.suppress(ValueError, LookupError, UnicodeError):  # else as received
        text = str(email.header.make_header(email.header.decode_header(text)))
    # Unfold (RFC 5322 section 2.2.3) and drop control characters but tabs.
    text = " ".join(text.split())
    return "".join(c for c in text if c == "\t" or ord(c) >= 32)
