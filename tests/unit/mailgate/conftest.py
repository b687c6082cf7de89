"""Helpers for the mail parser tests: where the shared corpus is, and how to build raw mail."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mailgate.parser import parse_message
from queues.mail import IncomingMail

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data"
# A copy of the shared corpus travels with the repository (with its licences), so that a
# clean clone anywhere runs the same tests; SWITCHBOARD_CORPUS points elsewhere if wanted.
CORPUS = Path(os.environ.get("SWITCHBOARD_CORPUS", DATA / "corpus"))


def corpus_files() -> list[Path]:
    """Every message in the shared corpus (not its README, SOURCES.tsv or licences)."""
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and "LICENSES" not in p.parts and p.name not in ("README.md", "SOURCES.tsv")
    )


@pytest.fixture
def corpus_mail() -> Callable[[str], IncomingMail]:
    """Parse one corpus message by its path relative to the corpus folder."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")

    def load(relative: str) -> IncomingMail:
        return parse_message((CORPUS / relative).read_bytes())

    return load


def mail(headers: str, body: str | bytes = "", crlf: bool = False) -> bytes:
    """Raw message bytes from a header block and a body (str bodies are UTF-8)."""
    raw = headers.strip("\n").encode("utf-8") + b"\n\n"
    raw += body.encode("utf-8") if isinstance(body, str) else body
    return raw.replace(b"\n", b"\r\n") if crlf else raw
