"""Unwrap inline PGP clear-signed text (RFC 4880 section 7) for display.

The readable message is kept; the "-----BEGIN PGP SIGNED MESSAGE-----" line and its
armor headers ("Hash: SHA256") are removed, dash-escaped lines ("- -- ") are restored, and
the signature block is cut out and returned separately so it can be kept as an attachment
("signature.asc"). Nothing is verified here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["InlineSigned", "unwrap_clearsigned"]

_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
_SIG_BEGIN = "-----BEGIN PGP SIGNATURE-----"
_SIG_END = "-----END PGP SIGNATURE-----"
_ARMOR_HEADER = re.compile(r"^[A-Za-z][A-Za-z0-9-]*: ")


@dataclass(slots=True)
class InlineSigned:
    """The text with the armor removed and the signature blocks that were cut out."""

    text: str
    signatures: list[str] = field(default_factory=list)


class _Unwrapper:
    """A line-by-line state machine: outside -> armor headers -> signed text -> signature."""

    def __init__(self) -> None:
        self.state = "outside"
        self.out: list[str] = []
        self.signature: list[str] = []
        self.signatures: list[str] = []

    def feed(self, line: str) -> None:
        getattr(self, f"_{self.state}")(line)

    def _outside(self, line: str) -> None:
        if line.strip() == _BEGIN:
            self.state = "armor"
        else:
            self.out.append(line)

    def _armor(self, line: str) -> None:
        if _ARMOR_HEADER.match(line):
            return
        self.state = "signed"
        if line.strip():
            self._signed(line)

    def _signed(self, line: str) -> None:
        if line.strip() == _SIG_BEGIN:
            self.state = "signature"
            self.signature = [line]
        else:
            # RFC 4880 section 7.1: a signed line starting with "-" was prefixed with "- ".
            self.out.append(line[2:] if line.startswith("- ") else line)

    def _signature(self, line: str) -> None:
        self.signature.append(line)
        if line.strip() == _SIG_END:
            self.close()

    def close(self) -> None:
        if self.signature:
            self.signatures.append("\n".join(self.signature) + "\n")
            self.signature = []
        self.state = "outside"


def unwrap_clearsigned(text: str) -> InlineSigned | None:
    """Unwrap clear-signed sections of `text` ("\\n" line ends), or None if there are none."""
    if _BEGIN not in text:
        return None
    machine = _Unwrapper()
    for line in text.split("\n"):
        machine.feed(line)
    machine.close()
    return InlineSigned("\n".join(machine.out), machine.signatures)
