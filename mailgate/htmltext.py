"""Convert HTML mail to readable plain text for the ticket body.

Why not html2text: it writes Markdown ("**bold**", "# Heading", "[text](url)", escaped
"\\-" characters) and offers no switch for headings or escaping; agents and the search
index want plain text as a mail client would show it. So the HTML first goes through nh3
(html5ever), which repairs broken markup (unclosed tags, stray </td>), drops scripts,
styles, titles and comments, and strips every attribute but href/alt; a small
html.parser-based walker then lays the clean tree out as text: paragraphs and headings
as blank-line separated blocks, <br> as line breaks, list items as "- " / "1. ", table
cells on one line, blockquotes prefixed with "> ", links as "text (url)". Entities are
decoded by the parser.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

__all__ = ["html_to_text"]

_PARAGRAPH = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "table",
        "dl",
        "address",
        "figure",
        "blockquote",
        "ul",
        "ol",
        "hr",
    }
)
_LINE = frozenset(
    {
        "div",
        "li",
        "tr",
        "dt",
        "dd",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "aside",
        "main",
        "form",
        "fieldset",
        "center",
        "caption",
        "details",
        "summary",
        "figcaption",
        "hgroup",
        "body",
        "html",
        "legend",
        "option",
    }
)
_CELLS = frozenset({"td", "th"})
_KEPT_TAGS = (_PARAGRAPH | _LINE | _CELLS | {"a", "br", "img"}) - {"html", "body"}
_DROPPED_CONTENT = {"script", "style", "title", "template", "svg", "math", "head"}
_SEPARATOR = "_" * 32  # what Outlook writes for <hr> in its own plain-text alternative
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_TRAILING = re.compile(r"[ \t]+\n")
_SHOWN_SCHEMES = ("http:", "https:", "ftp:", "tel:")


class _Layout(HTMLParser):
    """Walk nh3-cleaned HTML and build text; state is kept small and explicit."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.pending = 0  # newlines owed before the next text
        self.pending_quote = 0
        self.at_line_start = True
        self.space_owed = False
        self.pre = 0
        self.quote = 0
        self.lists: list[list[int]] = []  # [ordered?, counter] per open list
        self.bullet = ""
        self.links: list[tuple[str, int]] = []  # (href, index into out where its text starts)
        self.row_has_cell = False

    # -- output primitives -------------------------------------------------------------
    def _owe(self, newlines: int, add: bool = False) -> None:
        """Ask for line breaks before the next text; blank lines keep the quote marks of
        the shallowest blockquote they separate."""
        if not self.out:
            return
        self.pending_quote = min(self.pending_quote, self.quote) if self.pending else self.quote
        self.pending = self.pending + newlines if add else max(self.pending, newlines)
        self.space_owed = False

    def _block(self, newlines: int) -> None:
        self._owe(newlines)

    def _prefix(self) -> str:
        indent = "  " * max(0, len(self.lists) - 1) if self.lists else ""
        return "> " * self.quote + indent

    def _emit(self, text: str) -> None:
        if self.pending:
            blank = ("> " * min(self.pending_quote, self.quote)).rstrip() + "\n"
            self.out.append("\n" + blank * (self.pending - 1))
            self.pending = 0
            self.at_line_start = True
        if self.at_line_start:
            self.out.append(self._prefix() + self.bullet)
            self.bullet = ""
            self.at_line_start = False
            self.space_owed = False
        elif self.space_owed:
            self.out.append(" ")
            self.space_owed = False
        self.out.append(text)

    # -- parser callbacks ----------------------------------------------------------------
    def handle_data(self, data: str) -> None:
        if self.pre:
            self._pre_text(data)
            return
        text = _SPACES.sub(" ", data)
        if not text.strip():
            self.space_owed = self.space_owed or (bool(text) and not self.at_line_start)
            return
        if text.startswith(" ") and not self.at_line_start:
            self.space_owed = True
        self._emit(text.strip())
        self.space_owed = text.endswith(" ")

    def _pre_text(self, data: str) -> None:
        lines = data.replace("\r\n", "\n").split("\n")
        for index, line in enumerate(lines):
            if index:
                self._owe(1, add=True)
            if line:
                self._emit(line)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._owe(1, add=True)
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out)))
        elif tag == "img":
            self._image(attrs)
        elif tag in ("ul", "ol"):
            self._block(1 if self.lists else 2)
            self.lists.append([1 if tag == "ol" else 0, 1])
        elif tag == "li":
            self._list_item()
        elif tag in _CELLS:
            self._cell()
        else:
            self._open_block(tag)

    def _open_block(self, tag: str) -> None:
        if tag == "blockquote":
            self._block(2)
            self.quote += 1
        elif tag == "pre":
            self._block(2)
            self.pre += 1
        elif tag == "hr":
            self._block(2)
            self._emit(_SEPARATOR)
            self._block(2)
        elif tag == "tr":
            self._block(1)
            self.row_has_cell = False
        elif tag in _PARAGRAPH:
            self._block(2)
        elif tag in _LINE:
            self._block(1)

    def _list_item(self) -> None:
        self._block(1)
        if self.lists:
            ordered, number = self.lists[-1]
            self.bullet = f"{number}. " if ordered else "- "
            self.lists[-1][1] += 1
        else:
            self.bullet = "- "

    def _cell(self) -> None:
        if self.row_has_cell and not self.at_line_start and not self.pending:
            self.space_owed = True
        self.row_has_cell = True

    def _image(self, attrs: list[tuple[str, str | None]]) -> None:
        # Images carry no text; inside a link their alt text is the link's only label.
        alt = (dict(attrs).get("alt") or "").strip()
        if self.links and alt and len(self.out) == self.links[-1][1]:
            self._emit(_SPACES.sub(" ", alt))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close_link()
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._block(1 if self.lists else 2)
        elif tag == "blockquote":
            self._block(2)
            self.quote = max(0, self.quote - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self._block(2)
        elif tag in _PARAGRAPH:
            self._block(2)
        elif tag in _LINE:
            self._block(1)

    def _close_link(self) -> None:
        if not self.links:
            return
        href, start = self.links.pop()
        label = "".join(self.out[start:]).strip()
        target = href.strip()
        if not label or not target.lower().startswith(_SHOWN_SCHEMES):
            return
        shown = target.split(":", 1)[1] if target.lower().startswith("tel:") else target
        if label.rstrip("/") in (shown.rstrip("/"), target.rstrip("/")) or shown in label:
            return
        self.out.append(f" ({target})")

    def text(self) -> str:
        joined = "".join(self.out)
        joined = _TRAILING.sub("\n", joined)
        return _BLANK_LINES.sub("\n\n", joined).strip("\n")


def _prepare(html: str) -> str:
    """Repair and strip the markup to what the layout needs (html5ever via nh3)."""
    return nh3.clean(
        html,
        tags=set(_KEPT_TAGS),
        clean_content_tags=_DROPPED_CONTENT,
        attributes={"a": {"href"}, "img": {"alt"}},
        strip_comments=True,
        link_rel=None,
        url_schemes={"http", "https", "ftp", "mailto", "tel", "cid"},
    )


def html_to_text(html: str) -> str:
    """Readable plain text for an HTML document or fragment. Never raises."""
    if not html.strip():
        return ""
    layout = _Layout()
    try:
        layout.feed(_prepare(html))
        layout.close()
    except Exception:  # html.parser is lenient, but the walk must never break a message
        return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", html)).strip()
    return layout.text()
