"""DMARC (RFC 7489): the policy record, and the result for one message.

Pure functions: the mail edge looks the record up in DNS (`_dmarc.<From domain>`, then
`_dmarc.<organisational domain>`, RFC 7489 6.6.3) and hands the text here, with the DKIM
signatures that verified and the SPF result it found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from queues.trust.orgdomain import aligned, normalize

_POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True)
class DmarcPolicy:
    """A parsed `v=DMARC1` record: the policy and the alignment modes ("r" or "s")."""

    p: str
    sp: str
    adkim: str = "r"
    aspf: str = "r"


@dataclass(frozen=True)
class DmarcResult:
    result: str  # "pass", "fail", "none" (no record), "temperror", "permerror"
    policy: str = ""  # the policy that applies to the From domain, when there is a record
    from_domain: str = ""


def parse_record(text: str) -> DmarcPolicy | None:
    """The policy of a DMARC TXT record, or None if it is not one (RFC 7489 6.3, 6.6.3).

    The record must start with `v=DMARC1`; an unknown or missing `p` counts as "none"
    when the record is otherwise a DMARC record (6.6.3 step 6 lets `rua` alone stand).
    """
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags.setdefault(name.strip().lower(), value.strip())
    if tags.get("v", "").upper() != "DMARC1" or not text.strip().upper().startswith("V"):
        return None
    p = tags.get("p", "").lower()
    if p not in _POLICIES:
        p = "none"
    sp = tags.get("sp", "").lower()
    return DmarcPolicy(
        p=p,
        sp=sp if sp in _POLICIES else p,
        adkim="s" if tags.get("adkim", "r").lower() == "s" else "r",
        aspf="s" if tags.get("aspf", "r").lower() == "s" else "r",
    )


def select_record(records: Sequence[str]) -> DmarcPolicy | None:
    """The one DMARC record among a name's TXT records; none, or several, is no policy."""
    found = [p for p in (parse_record(r) for r in records) if p is not None]
    return found[0] if len(found) == 1 else None


def evaluate(
    from_domain: str,
    policy: DmarcPolicy | None,
    *,
    policy_domain: str,
    dkim: Sequence[tuple[str, str]],
    spf_result: str,
    spf_domain: str,
) -> DmarcResult:
    """The DMARC result: pass when an authenticated identifier aligns with From's domain.

    `policy_domain` is where the record was found (the From domain itself, or its
    organisational domain, whose `sp` then applies); `dkim` the (result, d=) of each
    signature. SPF counts only for the envelope domain (RFC 7489 4.2). Where no aligned
    identifier passed but an aligned one could not be checked (a DNS failure at the From
    domain's own servers), the result is "temperror", not "fail": an outage must not
    turn a genuine sender into a stranger. Identifiers that do not align cannot change
    the result, so a slow or failing DNS of someone else's domain cannot either.
    """
    from_domain = normalize(from_domain)
    if policy is None:
        return DmarcResult("none", "", from_domain)
    applied = policy.p if normalize(policy_domain) == from_domain else policy.sp
    dkim_aligned = [r for r, d in dkim if aligned(d, from_domain, strict=policy.adkim == "s")]
    spf_aligned = aligned(spf_domain, from_domain, strict=policy.aspf == "s")
    if "pass" in dkim_aligned or (spf_aligned and spf_result == "pass"):
        return DmarcResult("pass", applied, from_domain)
    if "temperror" in dkim_aligned or (spf_aligned and spf_result == "temperror"):
        return DmarcResult("temperror", applied, from_domain)
    return DmarcResult("fail", applied, from_domain)
