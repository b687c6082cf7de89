"""Walk a parsed MIME tree and sort its parts into body text, HTML, attachments and
forwarded messages.

Multipart semantics follow RFC 2046 (mixed: parts in order; alternative: the text/plain
part gives the text body and the text/html part the HTML body), RFC 2387 (related: the
root is the body, the other parts are inline resources), RFC 1847 (signed: the first part
is the content, the signature is kept as an attachment; encrypted: nothing readable, every
part is an attachment) and RFC 6522 (report: parts in order, message/delivery-status kept
as an attachment). Body parts become `Segment`s in document order; the caller turns them
into body_text and body_html. Limits on parts and nesting keep hostile input cheap.
"""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32
from typing import Literal

from mailgate.filenames import safe_filename, type_for_name
from mailgate.flatten import flatten_message, flatten_payload, raw_payload
from mailgate.flowed import decode_flowed
from mailgate.headers import decode_header, to_bytes
from mailgate.params import HeaderParams, parse_params
from mailgate.partinfo import as_leaf, content_id, fallback_name, header
from mailgate.payload import decode_part_bytes, decode_text, html_meta_charset, transfer_encoding
from mailgate.pgpinline import unwrap_clearsigned
from mailgate.tnef import unpack_tnef
from mailgate.uuencode import extract_uuencoded
from queues.mail import IncomingAttachment, IncomingMail

__all__ = ["MAX_FORWARD_DEPTH", "MAX_PARTS", "Budget", "Segment", "Walker"]

MAX_PARTS = 1000  # MIME parts per received message, forwarded messages included
MAX_FORWARD_DEPTH = 5  # message/rfc822 inside message/rfc822 ...
MAX_MULTIPART_DEPTH = 40
MAX_DEFECTS = 200

Mode = Literal["all", "text", "html", "none"]  # which body parts a subtree may contribute
NestedParser = Callable[[Message, bytes, int], IncomingMail]

ENCRYPTED_NOTE = (
    "[This message is encrypted ({kind}) and cannot be shown here. "
    "The encrypted content is kept as an attachment.]"
)
_VALID_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_GUESS_BOUNDARY = re.compile(r"^--([^\s]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
_SMIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_FORWARD_TYPES = frozenset({"message/rfc822", "message/global", "message/news"})
_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})


@dataclass(slots=True)
class Segment:
    """One piece of the body in document order: plain text, HTML, or both alternatives."""

    text: str | None = None
    html: str | None = None


@dataclass(slots=True)
class Budget:
    """Work shared by a message and every message forwarded inside it."""

    parts: int = 0
    exhausted: bool = False


def _restrict(mode: Mode, kind: Literal["text", "html"]) -> Mode:
    return kind if mode in ("all", kind) else "none"


@dataclass(slots=True)
class Walker:
    """Collects the body segments, attachments and forwarded messages of one message."""

    budget: Budget
    depth: int
    linesep: str
    header_charset: str | None
    nested: NestedParser
    segments: list[Segment] = field(default_factory=list)
    attachments: list[IncomingAttachment] = field(default_factory=list)
    forwarded: list[IncomingMail] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    report_type: str = ""
    has_dsn_part: bool = False
    tnef_text: str = ""
    tnef_html: str = ""
    alternative_depth: int = 0
    _types: dict[int, tuple[Message, HeaderParams]] = field(default_factory=dict)
    _dispositions: dict[int, tuple[Message, HeaderParams]] = field(default_factory=dict)
    _depth_reported: bool = False

    # -- bookkeeping -----------------------------------------------------------------------
    def defect(self, text: str) -> None:
        if len(self.defects) < MAX_DEFECTS:
            self.defects.append(text)
        elif len(self.defects) == MAX_DEFECTS:
            self.defects.append("further defects were not recorded")

    def _record_part_defects(self, part: Message, path: str) -> None:
        where = f"part {path}" if path else "message"
        for item in part.defects:
            detail = " ".join(str(item).split())[:120]
            self.defect(f"{where}: {type(item).__name__}" + (f" ({detail})" if detail else ""))

    def content_type(self, part: Message) -> HeaderParams:
        """Content-Type with a valid type/subtype (the part's default when absent/invalid)."""
        cached = self._types.get(id(part))
        if cached is not None:
            return cached[1]
        raw = header(part, "content-type")
        parsed = parse_params(raw, self.header_charset)
        own = parsed.get("charset")
        if own and raw and not raw.isascii():
            parsed = parse_params(raw, own)  # raw 8-bit name= is likely in the part's charset
        if not _VALID_TYPE.match(parsed.value):
            parsed = HeaderParams(part.get_default_type(), parsed.params)
        self._types[id(part)] = (part, parsed)  # holding `part` keeps its id unique
        return parsed

    def _take_part(self, level: int) -> bool:
        self.budget.parts += 1
        if self.budget.parts > MAX_PARTS:
            if not self.budget.exhausted:
                self.budget.exhausted = True
                self.defect(f"more than {MAX_PARTS} MIME parts; the rest were ignored")
            return False
        if level > MAX_MULTIPART_DEPTH:
            if not self._depth_reported:
                self._depth_reported = True
                self.defect(f"MIME nesting deeper than {MAX_MULTIPART_DEPTH}; deeper parts ignored")
            return False
        return True

    # -- the walk --------------------------------------------------------------------------
    def walk(
        self,
        part: Message,
        mode: Mode = "all",
        path: str = "",
        level: int = 0,
        related: bool = False,
    ) -> None:
        """Visit `part` and everything below it."""
        if not self._take_part(level):
            return
        self._record_part_defects(part, path)
        try:
            self._dispatch(part, mode, path, level, related)
        except Exception as exc:  # one broken part must not cost the rest of the message
            self.defect(f"part {path or 'body'} could not be processed: {exc!r}")

    def _dispatch(self, part: Message, mode: Mode, path: str, level: int, related: bool) -> None:
        ctype = self.content_type(part)
        payload = raw_payload(part)
        if isinstance(payload, list):
            if ctype.value.startswith("message/"):
                self._message(part, ctype, payload, related)
            else:
                self._multipart(ctype, payload, mode, path, level, related)
        elif ctype.value.startswith("multipart/"):
            self._broken_multipart(part, ctype, mode, path, level)
        else:
            self._leaf(part, ctype, mode, path, related)

    def _child_path(self, path: str, index: int) -> str:
        return f"{path}.{index + 1}" if path else str(index + 1)

    def _multipart(
        self,
        ctype: HeaderParams,
        children: list[Message],
        mode: Mode,
        path: str,
        level: int,
        related: bool,
    ) -> None:
        subtype = ctype.value.split("/", 1)[1]
        if not children:
            return
        if subtype == "alternative":
            self._alternative(children, mode, path, level)
        elif subtype == "related":
            self._related(ctype, children, mode, path, level)
        elif subtype == "signed":
            self._signed(children, mode, path, level)
        elif subtype == "encrypted":
            self._encrypted(ctype, children, mode, path, level)
        else:
            if subtype == "report" and not self.report_type:
                self.report_type = (ctype.get("report-type") or "").lower()
            for index, child in enumerate(children):
                self.walk(child, mode, self._child_path(path, index), level + 1, related)

    def _alternative(self, children: list[Message], mode: Mode, path: str, level: int) -> None:
        """RFC 2046 section 5.1.4: take the text/plain and the text/html alternatives."""
        kinds = [self._kinds(child, 0) for child in children]
        text_i = next((i for i, k in enumerate(kinds) if "text" in k), None)
        html_i = next((i for i in reversed(range(len(kinds))) if "html" in kinds[i]), None)
        if text_i is None and html_i is None:
            last = len(children) - 1  # nothing readable: the richest version, as a mail reader
            self.walk(children[last], mode, self._child_path(path, last), level + 1)
            chosen = {last}
        elif text_i == html_i and text_i is not None:
            self.walk(children[text_i], mode, self._child_path(path, text_i), level + 1)
            chosen = {text_i}
        else:
            chosen = {i for i in (text_i, html_i) if i is not None}
            self.alternative_depth += 1
            try:
                segment = Segment(
                    text=self._capture(children, text_i, _restrict(mode, "text"), path, level),
                    html=self._capture(children, html_i, _restrict(mode, "html"), path, level),
                )
            finally:
                self.alternative_depth -= 1
            if segment.text is not None or segment.html is not None:
                self.segments.append(segment)
        for index, child in enumerate(children):
            if index not in chosen:
                self.walk(child, "none", self._child_path(path, index), level + 1)

    def _capture(
        self, children: list[Message], index: int | None, mode: Mode, path: str, level: int
    ) -> str | None:
        """Walk one alternative and return the text (or HTML) it contributed."""
        if index is None:
            return None
        saved, self.segments = self.segments, []
        try:
            self.walk(children[index], mode, self._child_path(path, index), level + 1)
            captured = self.segments
        finally:
            self.segments = saved
        if mode == "html":
            pieces = [s.html for s in captured if s.html is not None]
        else:
            pieces = [s.text for s in captured if s.text is not None]
        return "\n".join(pieces) if pieces else None

    def _kinds(self, part: Message, depth: int) -> set[str]:
        """Which body kinds ("text", "html") a subtree would contribute."""
        payload = raw_payload(part)
        ctype = self.content_type(part)
        if depth > 8:
            return set()
        if isinstance(payload, list):
            if ctype.value.startswith("message/"):
                return set()
            found: set[str] = set()
            for child in payload[:50]:
                found |= self._kinds(child, depth + 1)
            return found
        if ctype.value.startswith("multipart/"):
            return {"text"}
        if ctype.value not in ("text/plain", "text/html") or self._is_named(part, ctype):
            return set()
        return {"html" if ctype.value == "text/html" else "text"}

    def _related(
        self, ctype: HeaderParams, children: list[Message], mode: Mode, path: str, level: int
    ) -> None:
        """RFC 2387: the root (the "start" parameter, else the first part) is the body."""
        start = "".join((ctype.get("start") or "").split()).strip("<>")
        root = 0
        if start:
            root = next((i for i, c in enumerate(children) if content_id(c) == start), 0)
        for index, child in enumerate(children):
            if index == root:
                self.walk(child, mode, self._child_path(path, index), level + 1)
            else:
                self.walk(child, "none", self._child_path(path, index), level + 1, related=True)

    def _signed(self, children: list[Message], mode: Mode, path: str, level: int) -> None:
        """RFC 1847 section 2.1: content first, then the signature (kept as an attachment)."""
        for index, child in enumerate(children):
            self.walk(
                child, mode if index == 0 else "none", self._child_path(path, index), level + 1
            )

    def _encrypted(
        self, ctype: HeaderParams, children: list[Message], mode: Mode, path: str, level: int
    ) -> None:
        """RFC 1847 section 2.2: nothing readable without the key; keep every part."""
        if mode in ("all", "text"):
            kind = ctype.get("protocol") or "multipart/encrypted"
            self.segments.append(Segment(text=ENCRYPTED_NOTE.format(kind=kind)))
        for index, child in enumerate(children):
            self.walk(child, "none", self._child_path(path, index), level + 1)

    # -- message/* parts ---------------------------------------------------------------------
    def _message(
        self, part: Message, ctype: HeaderParams, payload: list[Message], related: bool
    ) -> None:
        if ctype.value in _DSN_TYPES:
            self.has_dsn_part = True
        if ctype.value in _FORWARD_TYPES and payload:
            self._forwarded(part, ctype, payload[0])
            return
        data = flatten_payload(part, self.linesep)
        self._attach(data, None, ctype.value, part, ctype, related)

    def _forwarded(self, part: Message, ctype: HeaderParams, inner: Message) -> None:
        """Keep a message/rfc822 part as an .eml attachment and parse it as a message."""
        if transfer_encoding(part) != "8bit":
            # Base64/QP on message/rfc822 is forbidden (RFC 2046 section 5.2.1) but sent.
            data, note = decode_part_bytes(as_leaf(part, self.linesep))
            inner = email.message_from_bytes(data, policy=compat32)
            self.defect(
                f"message/rfc822 part with {transfer_encoding(part)} encoding"
                + (f": {note}" if note else "")
            )
        else:
            data = flatten_message(inner, self.linesep)
        mail: IncomingMail | None = None
        if self.depth + 1 > MAX_FORWARD_DEPTH:
            self.defect(f"forwarded messages nested deeper than {MAX_FORWARD_DEPTH}; not parsed")
        else:
            mail = self.nested(inner, data, self.depth + 1)
            self.forwarded.append(mail)
        subject = mail.subject if mail else decode_header(header(inner, "subject"))
        name = self._given_name(part, ctype)
        if not name:
            stem = subject.replace("/", "_").replace("\\", "_").strip()
            name = f"{stem or 'Forwarded message'}.eml"
        self._attach(data, name, "message/rfc822", part, ctype, False)

    # -- leaves ------------------------------------------------------------------------------
    def _disposition_params(self, part: Message, ctype: HeaderParams) -> HeaderParams:
        cached = self._dispositions.get(id(part))
        if cached is not None:
            return cached[1]
        fallback = ctype.get("charset") or self.header_charset
        parsed = parse_params(header(part, "content-disposition"), fallback)
        self._dispositions[id(part)] = (part, parsed)
        return parsed

    def _disposition(self, part: Message, ctype: HeaderParams) -> str:
        """The Content-Disposition type (RFC 2183): "inline", "attachment" or ""."""
        return self._disposition_params(part, ctype).value

    def _is_named(self, part: Message, ctype: HeaderParams) -> bool:
        """An attachment by intent: disposition "attachment" or any file name given."""
        return self._disposition(part, ctype) == "attachment" or bool(self._given_name(part, ctype))

    def _given_name(self, part: Message, ctype: HeaderParams) -> str:
        """The sender's file name: Content-Disposition filename, else Content-Type name."""
        disposition = self._disposition_params(part, ctype)
        return disposition.get("filename") or ctype.get("name") or ""

    def _leaf(
        self, part: Message, ctype: HeaderParams, mode: Mode, path: str, related: bool
    ) -> None:
        value = ctype.value
        named = self._is_named(part, ctype)
        if related:
            self._attach_part(part, ctype, related=True)
        elif value in ("text/plain", "text/html") and (
            not named or self._whole_message(part, ctype, path)
        ):
            self._body_leaf(part, ctype, mode, path)
        elif _unchosen_rendering(value, named, mode):
            return  # another rendering of a chosen alternative (text/enriched, watch-html)
        elif value in _TNEF_TYPES or self._given_name(part, ctype).lower() == "winmail.dat":
            self._tnef(part, ctype)
        else:
            if (
                value in _SMIME_TYPES
                and mode in ("all", "text")
                and ((ctype.get("smime-type") or "").lower() == "enveloped-data")
            ):
                self.segments.append(Segment(text=ENCRYPTED_NOTE.format(kind="S/MIME")))
            self._attach_part(part, ctype, related=False)

    def _whole_message(self, part: Message, ctype: HeaderParams, path: str) -> bool:
        """A single-part message is its own body even when it names a file, unless it is
        explicitly an attachment."""
        return not path and self._disposition(part, ctype) != "attachment"

    def _body_leaf(self, part: Message, ctype: HeaderParams, mode: Mode, path: str) -> None:
        kind = "html" if ctype.value == "text/html" else "text"
        if mode not in ("all", kind):
            return
        data, note = decode_part_bytes(part)
        if note:
            self.defect(f"part {path or 'body'}: {note}")
        charset = ctype.get("charset")
        if kind == "html" and not charset:
            charset = html_meta_charset(data)
        text, note = decode_text(data, charset)
        if note:
            self.defect(f"part {path or 'body'}: {note}")
        if kind == "html":
            self.segments.append(Segment(html=text))
            return
        text = self._split_uuencoded(text)
        text = self._split_signature(text)
        if (ctype.get("format") or "").lower() == "flowed":
            text = decode_flowed(text, delsp=(ctype.get("delsp") or "").lower() == "yes")
        self.segments.append(Segment(text=text))

    def _split_uuencoded(self, text: str) -> str:
        found = extract_uuencoded(text)
        for item in found.files:
            if item.damaged:
                self.defect(f"uuencoded file {item.name!r}: {item.damaged} damaged lines")
            self._attach(item.data, item.name, type_for_name(item.name), None, None, False)
        return found.text

    def _split_signature(self, text: str) -> str:
        unwrapped = unwrap_clearsigned(text)
        if unwrapped is None:
            return text
        for signature in unwrapped.signatures:
            self._attach(
                signature.encode("utf-8"),
                "signature.asc",
                "application/pgp-signature",
                None,
                None,
                False,
            )
        return unwrapped.text

    def _tnef(self, part: Message, ctype: HeaderParams) -> None:
        data, note = decode_part_bytes(part)
        if note:
            self.defect(f"winmail.dat: {note}")
        result = unpack_tnef(data)
        for defect in result.defects:
            self.defect(defect)
        if not result.ok:
            self._attach(
                data,
                self._given_name(part, ctype) or "winmail.dat",
                ctype.value,
                part,
                ctype,
                False,
            )
            return
        for item in result.files:
            self._attach(item.data, item.name, type_for_name(item.name), None, None, False)
        self.tnef_text = self.tnef_text or result.body_text
        self.tnef_html = self.tnef_html or result.body_html

    def _broken_multipart(
        self, part: Message, ctype: HeaderParams, mode: Mode, path: str, level: int
    ) -> None:
        """A multipart whose boundary is missing or never occurs: guess it from the body
        ("--something" lines), else show the body as text rather than lose it."""
        body = raw_payload(part)
        text = body if isinstance(body, str) else ""
        match = _GUESS_BOUNDARY.search(text)
        if match and text.count("--" + match.group(1)) >= 2:
            header = f'Content-Type: {ctype.value}; boundary="{match.group(1)}"\n\n'
            rebuilt = email.message_from_bytes(to_bytes(header + text), policy=compat32)
            if isinstance(raw_payload(rebuilt), list):
                self.defect(f"part {path or 'body'}: multipart boundary guessed from the body")
                self.walk(rebuilt, mode, path, level + 1)
                return
        self.defect(f"part {path or 'body'}: multipart without usable boundary; kept as text")
        self._body_leaf(part, HeaderParams("text/plain", ctype.params), mode, path)

    # -- attachments ---------------------------------------------------------------------------
    def _attach_part(self, part: Message, ctype: HeaderParams, related: bool) -> None:
        data, note = decode_part_bytes(part)
        if note:
            self.defect(f"attachment {self._given_name(part, ctype)!r}: {note}")
        self._attach(data, None, ctype.value, part, ctype, related)

    def _attach(
        self,
        data: bytes,
        name: str | None,
        content_type: str,
        part: Message | None,
        ctype: HeaderParams | None,
        related: bool,
    ) -> None:
        cid = content_id(part) if part is not None else None
        if name is None and part is not None and ctype is not None:
            name = self._given_name(part, ctype) or fallback_name(part, cid, content_type)
        inline = related or (
            cid is not None
            and part is not None
            and (header(part, "content-disposition") or "").strip().lower().startswith("inline")
        )
        number = len(self.attachments) + 1
        attachment = IncomingAttachment.from_bytes(
            safe_filename(name, content_type, number), content_type, data, cid, inline
        )
        if self.alternative_depth and any(a.sha256 == attachment.sha256 for a in self.attachments):
            return  # the same image under both alternatives (Apple Mail): keep one
        self.attachments.append(attachment)


def _unchosen_rendering(content_type: str, named: bool, mode: Mode) -> bool:
    """An unnamed text part in a subtree that contributes no body (mode "none")."""
    return (
        mode == "none"
        and not named
        and content_type.startswith("text/")
        and content_type != "text/calendar"
    )
