"""Make attachment file names safe to store, show and download.

A name from a message is attacker-controlled: it may carry directory parts
("../../etc/passwd", "C:\\Windows\\x"), control characters, bidirectional overrides that
disguise the extension ("invoice\u202efdp.exe"), Windows device names, leading dots that
hide the file, or thousands of characters. The result is a bare NFC name of bounded length
that keeps its extension, or a generated name built from the content type.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_NAME_CHARS",
    "extension_for",
    "generated_name",
    "safe_filename",
    "type_for_name",
]

MAX_NAME_CHARS = 200
MAX_NAME_BYTES = 240  # common file systems allow 255 bytes per name
_MAX_EXT_CHARS = 16

# C0/C1 controls, DEL, and the invisible formatting characters used for spoofing
# (bidi embeddings/overrides/isolates, zero-width characters, BOM).
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)
_SURROGATES = re.compile("[\ud800-\udfff]")
_RESERVED_CHARS = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")
_DRIVE = re.compile(r"^[A-Za-z]:")
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)

# Built-in table only: the result must not depend on the host's /etc/mime.types.
_TYPES = mimetypes.MimeTypes(filenames=())
_EXTENSIONS: dict[str, str] = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/x-patch": ".patch",
    "text/x-diff": ".diff",
    "text/csv": ".csv",
    "text/rfc822-headers": ".txt",
    "image/jpeg": ".jpg",
    "image/pjpeg": ".jpg",
    "application/octet-stream": ".bin",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/global-delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
    "application/pgp-signature": ".asc",
    "application/pgp-encrypted": ".asc",
    "application/pgp-keys": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/x-pkcs7-mime": ".p7m",
    "application/ms-tnef": ".dat",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/x-zip-compressed": ".zip",
    "application/vnd.ms-tnef": ".dat",
}


def extension_for(content_type: str) -> str:
    """A file extension (with the dot) for a MIME type; ".bin" when nothing is known."""
    content_type = content_type.lower()
    known = _EXTENSIONS.get(content_type)
    if known:
        return known
    guessed = _TYPES.guess_extension(content_type, strict=False)
    if guessed:
        return guessed
    return ".txt" if content_type.startswith("text/") else ".bin"


def type_for_name(name: str) -> str:
    """A MIME type guessed from a file name; application/octet-stream when unknown."""
    guessed, _encoding = _TYPES.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def generated_name(content_type: str, number: int) -> str:
    """The name for an unnamed attachment, e.g. "attachment-1.pdf"."""
    return f"attachment-{number}{extension_for(content_type)}"


def _basename(name: str) -> str:
    """The last path component, whatever the separator; drive letters removed."""
    parts = [p for p in re.split(r"[/\\]", name) if p.strip()]
    base = parts[-1] if parts else ""
    return _DRIVE.sub("", base)


def _truncate(name: str) -> str:
    """Shorten to the character and byte limits, keeping a reasonable extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXT_CHARS or " " in ext:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget_chars = MAX_NAME_CHARS - len(suffix)
    budget_bytes = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem = stem[:budget_chars]
    encoded = stem.encode("utf-8")
    if len(encoded) > budget_bytes:
        stem = encoded[:budget_bytes].decode("utf-8", "ignore")  # drops a split character
    return stem.rstrip(" .") + suffix


def safe_filename(name: str | None, content_type: str, number: int) -> str:
    """A safe version of `name`, or a generated one when nothing usable is left."""
    if not name:
        return generated_name(content_type, number)
    text = unicodedata.normalize("NFC", _SURROGATES.sub("", name))
    text = _INVISIBLE.sub("", text)
    text = _basename(text)
    text = _RESERVED_CHARS.sub("_", text)
    text = _SPACES.sub(" ", text).strip()
    text = text.lstrip(".").rstrip(" .").strip()
    if len(text) > MAX_NAME_CHARS or len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = _truncate(text)
    if not text or not any(c.isalnum() for c in text):
        return generated_name(content_type, number)
    if text.split(".", 1)[0].strip().lower() in _WINDOWS_DEVICES:
        text = f"_{text}"
    return text
