"""Decode format=flowed plain text (RFC 3676) into the paragraphs the sender wrote.

A flowed line ends in a space: it continues on the next line (a "soft" break). Quote
depth is the count of leading ">" characters; a line starting with a space after the
quote marks was space-stuffed and loses that space. With DelSp=yes the trailing space
was added by the encoder and is removed when lines are joined.
"""

from __future__ import annotations

__all__ = ["decode_flowed"]

_SIGNATURE_SEPARATOR = "-- "  # RFC 3676 section 4.3: never a flowed line


def _split_quote(line: str) -> tuple[int, str]:
    """Quote depth and the remaining content with space-stuffing removed (section 4.4/4.5)."""
    depth = len(line) - len(line.lstrip(">"))
    content = line[depth:]
    if content.startswith(" "):
        content = content[1:]
    return depth, content


def _render(depth: int, text: str) -> str:
    if not depth:
        return text
    return ">" * depth + (" " + text if text else "")


def decode_flowed(text: str, delsp: bool = False) -> str:
    """Join soft line breaks of `text` (lines separated by "\\n")."""
    out: list[str] = []
    para: list[str] = []
    para_depth = 0
    for line in text.split("\n"):
        depth, content = _split_quote(line)
        if para and depth != para_depth:
            # RFC 3676 section 4.5: a quote-depth change ends the paragraph (broken flow).
            out.append(_render(para_depth, "".join(para)))
            para = []
        flowed = content.endswith(" ") and content != _SIGNATURE_SEPARATOR
        if flowed and delsp:
            content = content[:-1]
        para.append(content)
        para_depth = depth
        if not flowed:
            out.append(_render(depth, "".join(para)))
            para = []
    if para:
        out.append(_render(para_depth, "".join(para)))
    return "\n".join(out)
