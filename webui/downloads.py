"""Attachment downloads that cannot hurt: a safe file name and headers that forbid rendering.

An attachment is whatever a stranger sent. Served on our origin with the sender's type, an
HTML or SVG file would run as a page of this site; so every download is
`application/octet-stream`, `Content-Disposition: attachment`, `nosniff`, and sandboxed by
its own Content-Security-Policy. The name in the header is rebuilt from the stored one
(already made safe at ingest, but this is the last line): no directory parts, no control
or bidirectional-override characters (which disguise an .exe as a .pdf with U+202E), no
quotes or semicolons breaking the header, no leading dots, bounded length; non-ASCII names
travel as RFC 5987 `filename*` with a plain ASCII `filename` for old clients (RFC 6266).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

__all__ = ["DOWNLOAD_POLICY", "content_disposition", "download_headers", "safe_download_name"]

DOWNLOAD_POLICY = "default-src 'none'; sandbox"
MAX_NAME_CHARS = 150

# C0/C1 controls, DEL, bidi embeddings/overrides/isolates, zero-width characters, BOM, the
# Unicode line and paragraph separators, and lone surrogates.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
# Characters Windows refuses in names, and those that would end or split a header value.
_RESERVED = re.compile(r'[<>:"|?*;,\\/%]')
_SPACES = re.compile(r"\s+")
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()\[\]+=@~!#$&'^`{}-]")
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)


def safe_download_name(name: str, fallback: str) -> str:
    """A bare, visible file name from `name`; `fallback` (plain ASCII) when nothing is left."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]  # the last path part only
    name = _INVISIBLE.sub("", name)
    name = _RESERVED.sub("_", name)
    name = _SPACES.sub(" ", name).strip(" .")
    if name.split(".", 1)[0].strip().lower() in _WINDOWS_DEVICES:
        name = f"_{name}"
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = f"{stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(' .')}.{ext}"
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name or fallback


def _ascii_fallback(name: str, fallback: str) -> str:
    """The name in plain ASCII for the `filename` parameter (accents dropped, others `_`)."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = _ASCII_UNSAFE.sub("_", plain).strip(" .")
    return plain if plain.strip("_ .") else fallback


def content_disposition(name: str, fallback: str) -> str:
    """`attachment` with a safe `filename` and, for non-ASCII names, `filename*` (RFC 6266)."""
    safe = safe_download_name(name, fallback)
    plain = _ascii_fallback(safe, fallback)
    header = f'attachment; filename="{plain}"'
    if plain != safe:
        header += f"; filename*=UTF-8''{quote(safe, safe='')}"
    return header


def download_headers(name: str, fallback: str) -> dict[str, str]:
    """Every header a download needs besides its length."""
    return {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition(name, fallback),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DOWNLOAD_POLICY,
    }
