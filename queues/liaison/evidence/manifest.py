"""The package's checksum files: manifest.json and SHA256SUMS, written and read back.

SHA256SUMS uses the format GNU coreutils' `sha256sum -c` reads: one line per file, the
lower-case hex digest, two spaces (text mode; "*" marks binary mode and is accepted on
reading), the path. Paths in a package are plain ASCII without backslashes or line breaks,
so no line needs sha256sum's escaping. manifest.json is UTF-8 JSON; SHA256SUMS lists it too,
so the signature over SHA256SUMS covers everything.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

FORMAT = "switchboard-evidence-package"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.asc"
TIMESTAMP = "SHA256SUMS.tsr"
# Files about SHA256SUMS itself: never listed in it.
OUTSIDE_SUMS = frozenset({SUMS, SIGNATURE, TIMESTAMP})

_LINE = re.compile(r"^([0-9a-fA-F]{64}) ([ *])(.+)$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "sha256": sha256_hex(data), "size": len(data)}


def check_path(path: str) -> str:
    """`path` if it is a safe relative member name for a package, else ValueError."""
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
        or any(ord(c) < 33 or ord(c) > 126 for c in path)
    ):
        raise ValueError(f"unsafe path in a package: {path!r}")
    return path


def sums_bytes(files: list[tuple[str, bytes]]) -> bytes:
    """SHA256SUMS for `files` (path, content), in the given order."""
    lines = [f"{sha256_hex(data)}  {check_path(path)}\n" for path, data in files]
    return "".join(lines).encode("ascii")


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


@dataclass
class ParsedSums:
    """SHA256SUMS read back: path -> digest, and what was wrong with it."""

    digests: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def parse_sums(data: bytes) -> ParsedSums:
    parsed = ParsedSums()
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        parsed.problems.append(f"{SUMS} is not plain ASCII")
        return parsed
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.match(line)
        if match is None:
            parsed.problems.append(f"{SUMS} line {number} is not '<sha256>  <file>'")
            continue
        digest, _mode, path = match.groups()
        if path in parsed.digests:
            parsed.problems.append(f"{SUMS} lists {path} twice")
            continue
        parsed.digests[path] = digest.lower()
    if not parsed.digests and not parsed.problems:
        parsed.problems.append(f"{SUMS} lists no files")
    return parsed
