"""DKIM, SPF and DMARC for one message, in the order that keeps them honest.

1. The DMARC record of the From domain (RFC 7489 6.6.3: the domain, then its
   organisational domain), from the From domain's own DNS.
2. SPF (RFC 7208, pyspf) for the envelope sender, else the HELO name.
3. DKIM (RFC 6376, dkimpy) for the signatures whose d= aligns with the From domain, at
   most `MAX_SIGNATURES`: a signature of any other domain cannot change the verdict, and
   verifying it would let a sender spend our time budget on a slow DNS of their own.
   Not at all when SPF already passed for an envelope domain aligned with From's: DMARC
   then passes (RFC 7489 4.2: one aligned pass is enough), no DKIM result can change the
   verdict or the sender's standing, and DKIM is most of the checks' cost (bench/README.md,
   "Sender checks at the gateway"). The verdict's notes say it was skipped.

The result is `queues.trust.verdict.decide`'s verdict. Nothing here raises: an unexpected
error is a "none" verdict with the error in its notes.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from email.parser import BytesHeaderParser
from email.policy import compat32

import dkim
import spf

from mailgate.addresses import parse_address_list
from mailgate.senderauth import canon, rsa
from mailgate.senderauth.resolver import DnsUnavailable, Lookups, for_pyspf
from queues.settings import Settings
from queues.trust import dmarc
from queues.trust.orgdomain import aligned, domain_of, normalize, organisational_domain
from queues.trust.verdict import DKIM_SKIPPED, NONE, AuthVerdict, decide

log = logging.getLogger(__name__)
rsa.install()  # dkimpy's RSA arithmetic done by OpenSSL: the same verdicts, a tenth the time
canon.install()  # dkimpy's splitting and relaxed canonicalisation: the same bytes, in bytes methods

SOURCE = "smtp"
MAX_SIGNATURES = 5
_SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
# Two line ends in a row, CR LF counted as one: a blank line to the email package (which
# splits lines at CR LF, CR and LF alike), so its header block ends there at the latest.
_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\n|\r\r|\n\r")


def check_message(
    raw: bytes,
    *,
    client_ip: str,
    helo: str | None,
    mail_from: str,
    settings: Settings,
    lookups: Lookups | None = None,
) -> AuthVerdict:
    """The sender-authentication verdict of a message as the client sent it (no header of
    ours prepended). `mail_from` "" is the null reverse-path."""
    try:
        lookups = lookups or Lookups(
            settings.dns_servers, settings.dns_timeout_seconds, settings.sender_check_seconds
        )
        return _check(raw, client_ip, helo, mail_from, lookups)
    except Exception as exc:  # the promise: a verdict, never an error that refuses mail
        log.warning("sender checks failed: %s: %s", type(exc).__name__, exc, exc_info=True)
        return AuthVerdict(NONE, source=SOURCE, notes=(f"checks failed: {type(exc).__name__}",))


def _check(
    raw: bytes, client_ip: str, helo: str | None, mail_from: str, lookups: Lookups
) -> AuthVerdict:
    notes: list[str] = []
    from_domain = from_header_domain(raw)
    if not from_domain:
        notes.append("no single From address: DMARC does not apply")
    policy, policy_domain, dmarc_error = _dmarc_policy(lookups, from_domain)
    spf_domain = domain_of(mail_from) or normalize(helo or "")
    spf_result = _spf(lookups, client_ip, mail_from, helo)
    if _spf_decides(from_domain, policy, spf_result, spf_domain, dmarc_error):
        signatures: list[tuple[str, str]] = []
        notes.append(DKIM_SKIPPED)
    else:
        signatures = _dkim(raw, lookups, from_domain)
    if dmarc_error:
        dmarc_result = ("temperror", "")
    elif from_domain:
        found = dmarc.evaluate(
            from_domain,
            policy,
            policy_domain=policy_domain,
            dkim=signatures,
            spf_result=spf_result,
            spf_domain=spf_domain,
        )
        dmarc_result = (found.result, found.policy)
    else:
        dmarc_result = ("", "")
    if lookups.failures:
        notes.append(f"DNS: {lookups.failures[0]}"[:200])
    return decide(
        from_domain,
        dkim=signatures,
        spf=(spf_result, spf_domain),
        dmarc=dmarc_result,
        source=SOURCE,
        notes=notes,
    )


def _spf_decides(
    from_domain: str,
    policy: dmarc.DmarcPolicy | None,
    spf_result: str,
    spf_domain: str,
    dmarc_error: bool,
) -> bool:
    """Whether SPF alone makes the verdict "pass", so that no DKIM result could change it.

    With a DMARC record, SPF must align as the record asks (aspf=s: the same domain); a
    DNS failure at the record keeps DKIM in play (the verdict is then not DMARC's)."""
    if not from_domain or dmarc_error or spf_result != "pass":
        return False
    strict = policy is not None and policy.aspf == "s"
    return aligned(spf_domain, from_domain, strict=strict)


def from_header_domain(raw: bytes) -> str:
    """The domain of the message's one From address; "" when there are none or several."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    values = headers.get_all("From") or []
    if len(values) != 1:
        return ""
    addresses = parse_address_list(str(values[0]))
    return domain_of(addresses[0].email) if len(addresses) == 1 else ""


def header_block(raw: bytes) -> bytes:
    """The message up to the blank line that ends its header (all of it without one).

    The header parser would read the whole body too (as lines it then ignores): most of the
    time of the From check for a message with attachments."""
    blank = _BLANK_LINE.search(raw)
    return raw if blank is None else raw[: blank.end()]


def _dmarc_policy(lookups: Lookups, from_domain: str) -> tuple[dmarc.DmarcPolicy | None, str, bool]:
    """(policy, the domain it was found at, whether DNS failed)."""
    if not from_domain:
        return None, "", False
    candidates = [from_domain]
    org = organisational_domain(from_domain)
    if org and org != from_domain:
        candidates.append(org)
    try:
        for domain in candidates:
            policy = dmarc.select_record(lookups.txt(f"_dmarc.{domain}"))
            if policy is not None:
                return policy, domain, False
    except DnsUnavailable:
        return None, "", True
    return None, "", False


def _spf(lookups: Lookups, client_ip: str, mail_from: str, helo: str | None) -> str:
    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        return "none"
    remaining = max(0.1, lookups.deadline - time.monotonic())
    with for_pyspf(lookups):
        result, _explanation = spf.check2(
            i=client_ip,
            s=mail_from,
            h=helo or "unknown",
            timeout=lookups.timeout,
            querytime=remaining,
        )
    result = str(result).lower()
    return result if result in _SPF_RESULTS else "permerror"


def _dkim(raw: bytes, lookups: Lookups, from_domain: str) -> list[tuple[str, str]]:
    """(result, d=) for each DKIM signature of the From domain (at most MAX_SIGNATURES)."""
    if not from_domain or b"dkim-signature" not in raw[:262144].lower():
        return []
    results: list[tuple[str, str]] = []
    verifier = dkim.DKIM(raw, timeout=lookups.timeout)
    count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
    for index in range(count):
        try:
            prepared = verifier.verify_headerprep(index)
        except dkim.DKIMException:
            continue  # a malformed signature names no domain we can trust
        if not prepared:
            continue
        domain = normalize((verifier.domain or b"").decode("ascii", "replace"))
        if not aligned(domain, from_domain):
            continue
        try:
            # What verify(idx) does, without preparing the signature's header a second time.
            signature, include_headers, signature_headers = prepared
            ok = verifier.verify_sig(
                signature, include_headers, signature_headers[index], lookups.dkim_txt
            )
            results.append(("pass" if ok else "fail", domain))
        except DnsUnavailable:
            results.append(("temperror", domain))
        except dkim.DKIMException:  # e.g. the body hash does not match: it does not verify
            results.append(("fail", domain))
        if len(results) >= MAX_SIGNATURES:
            break
    return results
