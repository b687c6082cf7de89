"""Authentication-Results (RFC 8601) from our own border MTA, and no one else's.

Behind Postfix, the milters (OpenDKIM and OpenDMARC, or rspamd) check DKIM, SPF and DMARC
and write their results in Authentication-Results header fields named by an authserv-id.
Anyone can write such a field into a message, so (RFC 8601 section 5):

- only fields whose authserv-id is listed in `settings.trusted_authserv_ids` are read;
- and only those *above* the border MTA's own Received field. Milters run in Postfix's
  smtpd insert their field at the top of the header block, above the Received field
  Postfix adds for the client; everything below that Received field came from outside,
  including a forged field that carries our own authserv-id (the border should remove
  those, section 5; we ignore them even if it did not). Our gateway's own Received field,
  prepended at acceptance, is skipped first. Where no Received field closes that zone, no
  field is read.

The header fields are parsed with `authres` (the parser dkimpy and authheaders use). A
field that does not parse is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

import authres

from queues.trust.orgdomain import domain_of, normalize
from queues.trust.verdict import NONE, AuthVerdict, decide

_HEADER_LIMIT = 256 * 1024  # a header block larger than this is not read further
# OpenDMARC writes the policy in a comment "(p=reject dis=none)", rspamd "(policy=reject)";
# authres keeps neither, so it is read from the field's text after "dmarc=".
_POLICY_COMMENT = re.compile(r"\b(?:p|policy)=(none|quarantine|reject)\b", re.IGNORECASE)


def header_fields(raw: bytes) -> Iterator[tuple[str, str]]:
    """(lower-cased name, unfolded value) of each header field, top to bottom."""
    end = len(raw)
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep, 0, _HEADER_LIMIT)
        if at != -1:
            end = min(end, at)
    block = raw[: min(end, _HEADER_LIMIT)].decode("utf-8", "replace")
    name, value = "", ""
    for line in block.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and name:
            value += " " + line.strip()
            continue
        if name:
            yield name, value
        head, colon, rest = line.partition(":")
        name, value = (head.strip().lower(), rest.strip()) if colon else ("", "")
    if name:
        yield name, value


Field = tuple[authres.AuthenticationResultsHeader, str]  # parsed, and the field's text


def trusted_fields(
    raw: bytes, trusted_ids: Collection[str], *, skip_own_received: bool = True
) -> list[Field]:
    """The Authentication-Results fields of our own authserv-ids above the border's Received."""
    ids = {i.strip().lower() for i in trusted_ids if i.strip()}
    if not ids:
        return []
    found: list[Field] = []
    skip = skip_own_received
    for name, value in header_fields(raw):
        if name == "received":
            if skip:
                skip = False
                continue
            return found  # the border's Received: everything below came from outside
        if name != "authentication-results":
            continue
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(value)
        except Exception:  # noqa: S112 (authres raises SyntaxError and others on bad fields)
            continue
        if str(parsed.authserv_id or "").lower() in ids:
            found.append((parsed, value))
    return []  # no Received field closed the zone: nothing here is known to be ours


def _property(result: authres.core.AuthenticationResult, ptype: str, pname: str) -> str:
    for prop in result.properties:
        if prop.type == ptype and prop.name == pname and prop.value:
            return str(prop.value)
    return ""


def verdict_from_fields(fields: list[Field], from_domain: str) -> AuthVerdict:
    """The verdict from our milters' results (their DMARC result, when there is one, wins)."""
    dkim: list[tuple[str, str]] = []
    spf: tuple[str, str] = ("", "")
    dmarc: tuple[str, str] = ("", "")
    ids: list[str] = []
    for header, text in fields:
        ids.append(str(header.authserv_id).lower())
        for result in header.results:
            method, outcome = str(result.method).lower(), str(result.result).lower()
            if method == "dkim":
                d = _property(result, "header", "d") or domain_of(_property(result, "header", "i"))
                dkim.append((outcome, normalize(d)))
            elif method == "spf" and not spf[0]:
                mailfrom = _property(result, "smtp", "mailfrom")
                domain = domain_of(mailfrom) if "@" in mailfrom else normalize(mailfrom)
                spf = (outcome, domain or normalize(_property(result, "smtp", "helo")))
            elif method == "dmarc" and not dmarc[0]:
                policy = _property(result, "policy", "dmarc").lower()
                if not policy:
                    after = text[text.lower().find("dmarc=") :]
                    match = _POLICY_COMMENT.search(after.split(";", 1)[0])
                    policy = match.group(1).lower() if match else ""
                dmarc = (outcome, policy)
                from_domain = _property(result, "header", "from") or from_domain
    source = "authentication-results " + " ".join(dict.fromkeys(ids))
    return decide(from_domain, dkim=dkim, spf=spf, dmarc=dmarc, source=source)


def verdict_from_headers(
    raw: bytes, trusted_ids: Collection[str], from_domain: str, *, skip_own_received: bool = True
) -> AuthVerdict:
    """The verdict of a message accepted behind our border MTA (LMTP)."""
    fields = trusted_fields(raw, trusted_ids, skip_own_received=skip_own_received)
    if not fields:
        why = (
            "no Authentication-Results from a trusted authserv-id"
            if trusted_ids
            else "no trusted_authserv_ids configured"
        )
        return AuthVerdict(NONE, source="authentication-results", notes=(why,))
    return verdict_from_fields(fields, from_domain)
