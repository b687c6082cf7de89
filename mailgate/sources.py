"""Read raw messages out of files, folders, mbox files and Maildirs for `switchboard ingest`.

Each message is yielded as bytes exactly as stored (for mbox, without the "From " separator
line and with mboxrd ">From " quoting undone), together with a label for error reports
and the number of input bytes it accounts for, so a progress bar can run on bytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Names that say "this is documentation, not mail" when met while walking a folder.
_NOT_MAIL_SUFFIXES = {".md", ".rst", ".tsv", ".csv", ".json", ".py", ".sh", ".html", ".pdf"}
_NOT_MAIL_WORDS = {"readme", "license", "licence", "licenses", "copying", "notice", "sources"}
# "From sender Sat Nov 21 10:00:00 2026" (optionally a zone after the year): a sender, then a
# time of day and a year. Stricter than "From " so that an unescaped "From the start" line
# of an mboxo file is less likely to split a message.
_MBOX_FROM = re.compile(rb"^From \S+ +.*\d{1,2}:\d{2}(?::\d{2})?.*\d{4}", re.ASCII)
_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.ASCII)


@dataclass(frozen=True)
class SourceMessage:
    label: str  # "path" or "path#n" for the n-th message of an mbox
    raw: bytes
    input_bytes: int  # bytes of input this message accounts for (progress)


@dataclass
class Scan:
    """What a walk of the given paths found."""

    files: list[Path]
    skipped: list[Path]

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def looks_like_documentation(path: Path) -> bool:
    if path.suffix.lower() in _NOT_MAIL_SUFFIXES:
        return True
    words = {w for w in re.split(r"[._\-\s]+", path.name.lower()) if w}
    return bool(words & _NOT_MAIL_WORDS)


def scan(paths: list[Path]) -> Scan:
    """Expand `paths` into message files. Named files are always taken; in folders,
    hidden files, Maildir tmp/ and obvious documentation (README, LICENSE, *.md) are skipped."""
    found = Scan(files=[], skipped=[])
    for path in paths:
        if path.is_dir():
            _walk(path, found)
        elif path.exists():
            found.files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def _walk(top: Path, found: Scan) -> None:
    for root, dirs, files in os.walk(top):
        here = Path(root)
        # Maildir: tmp/ holds messages still being written by the delivering agent.
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not (d == "tmp" and is_maildir(here))
        )
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or looks_like_documentation(path):
                found.skipped.append(path)
            elif path.is_file():
                found.files.append(path)


def is_mbox(head: bytes) -> bool:
    return _MBOX_FROM.match(head.split(b"\n", 1)[0].rstrip(b"\r")) is not None


def read_messages(path: Path) -> Iterator[SourceMessage]:
    """The messages in one file: one for a plain message file, each one for an mbox."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if is_mbox(head):
        yield from _read_mbox(path)
        return
    data = path.read_bytes()
    yield SourceMessage(label=str(path), raw=data, input_bytes=len(data))


def _read_mbox(path: Path) -> Iterator[SourceMessage]:
    """Split an mbox on "From " lines that follow an empty line (or start the file)."""
    count = 0
    lines: list[bytes] = []
    consumed = 0
    previous_blank = True
    with open(path, "rb") as fh:
        for line in fh:
            if previous_blank and line.startswith(b"From ") and is_mbox(line):
                if lines or count:
                    count += 1
                    yield _mbox_message(path, count, lines, consumed)
                lines, consumed = [], 0
                consumed += len(line)
                previous_blank = False
                continue
            consumed += len(line)
            previous_blank = line in (b"\n", b"\r\n")
            lines.append(_MBOXRD_QUOTED.sub(rb"\1", line))
    if lines:
        count += 1
        yield _mbox_message(path, count, lines, consumed)


def _mbox_message(path: Path, n: int, lines: list[bytes], consumed: int) -> SourceMessage:
    # The blank line before the next "From " belongs to the mbox format, not the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return SourceMessage(label=f"{path}#{n}", raw=b"".join(lines), input_bytes=consumed)
