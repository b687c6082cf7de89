"""One sender-authentication verdict per message, and what it means for follow-ups.

The verdict (`AuthVerdict`) is "pass", "fail" or "none", with its reasons (the DKIM,
SPF and DMARC results), and is made at acceptance: by the embedded gateway's own checks
(mailgate.senderauth) or from our own Authentication-Results behind Postfix
(queues.trust.authresults). Mail without an envelope (imported files, IMAP) has none.

- **pass**: DMARC passed, or (without a DMARC result) a DKIM signature of the From domain
  verified, or SPF passed for an envelope domain aligned with From's.
- **fail**, an explicit failure: DMARC failed (whatever the published policy: the From
  domain says its mail is authenticated and this message is not), or SPF failed with no
  aligned DKIM signature that verified.
- **none**: anything else, including every DNS failure ("temperror"): unknown changes
  nothing.

For follow-ups (queues.followup) the question is narrower: may the address this message
claims to be from (`IncomingMail.requester`, else From) be believed? `sender_standing`
answers it, comparing the claimed address with the envelope sender as well: an attacker
who writes `MAIL FROM:<attacker@evil.test>` with `From: victim@example.net` is unproven
even where no DNS check could run. The rule: From's domain must align (same
organisational domain, RFC 7489 relaxed alignment) with the envelope sender's domain or
with a domain that authenticated the message; a null envelope sender (a bounce) never
proves a person.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queues.trust.orgdomain import aligned, domain_of, normalize

PASS = "pass"  # noqa: S105 (a result, not a password)
FAIL = "fail"
NONE = "none"
_SUMMARY_LIMIT = 500
# The note of a verdict whose DKIM was not run because an aligned SPF pass decided it
# (mailgate.senderauth); the summary then does not say "dkim=none".
DKIM_SKIPPED = "dkim not checked: SPF passed for an aligned domain"


@dataclass(frozen=True)
class AuthVerdict:
    """The sender-authentication verdict of one message, with its reasons."""

    verdict: str  # PASS, FAIL or NONE
    source: str = ""  # "smtp" (our own checks) or "authentication-results <authserv-id>"
    from_domain: str = ""
    dkim: tuple[tuple[str, str], ...] = ()  # (result, signing domain d=) per signature
    spf: tuple[str, str] = ("", "")  # (result, the envelope domain it was checked for)
    dmarc: tuple[str, str] = ("", "")  # (result, the policy that applied)
    notes: tuple[str, ...] = ()  # e.g. why a check could not run

    def summary(self) -> str:
        """One line for the article, e.g. `dmarc=fail (p=reject) header.from=example.net`."""
        parts: list[str] = []
        result, policy = self.dmarc
        if result:
            extra = f" (p={policy})" if policy else ""
            parts.append(f"dmarc={result}{extra} header.from={self.from_domain or '?'}")
        result, domain = self.spf
        if result:
            parts.append(f"spf={result} smtp.mailfrom={domain or '?'}")
        parts += [f"dkim={r} header.d={d or '?'}" for r, d in self.dkim]
        if not self.dkim and (self.spf[0] or self.dmarc[0]) and DKIM_SKIPPED not in self.notes:
            parts.append("dkim=none")
        parts += list(self.notes)
        return "; ".join(parts)[:_SUMMARY_LIMIT]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "source": self.source,
            "from_domain": self.from_domain,
            "dkim": [list(d) for d in self.dkim],
            "spf": list(self.spf),
            "dmarc": list(self.dmarc),
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> AuthVerdict | None:
        """The verdict stored on an inbound row (None: there was no envelope to check)."""
        if not data:
            return None
        verdict = str(data.get("verdict", NONE))
        return cls(
            verdict=verdict if verdict in (PASS, FAIL) else NONE,
            source=str(data.get("source", "")),
            from_domain=str(data.get("from_domain", "")),
            dkim=tuple((str(r), str(d)) for r, d in data.get("dkim") or ()),
            spf=_pair(data.get("spf")),
            dmarc=_pair(data.get("dmarc")),
            notes=tuple(str(n) for n in data.get("notes") or ()),
        )


def _pair(value: Any) -> tuple[str, str]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return str(value[0]), str(value[1])
    return "", ""


def decide(
    from_domain: str,
    *,
    dkim: Sequence[tuple[str, str]] = (),
    spf: tuple[str, str] = ("", ""),
    dmarc: tuple[str, str] = ("", ""),
    source: str = "",
    notes: Sequence[str] = (),
) -> AuthVerdict:
    """Combine DKIM, SPF and DMARC results into the verdict (rules in the module docstring)."""
    from_domain = normalize(from_domain)
    dkim_aligned = any(r == PASS and aligned(d, from_domain) for r, d in dkim)
    spf_result, spf_domain = spf
    if dmarc[0] == PASS:
        verdict = PASS
    elif dmarc[0] == FAIL:
        verdict = FAIL
    elif dkim_aligned:
        verdict = PASS
    elif spf_result == FAIL:
        verdict = FAIL
    elif spf_result == PASS and aligned(spf_domain, from_domain):
        verdict = PASS
    else:
        verdict = NONE
    return AuthVerdict(
        verdict=verdict,
        source=source,
        from_domain=from_domain,
        dkim=tuple(dkim),
        spf=spf,
        dmarc=dmarc,
        notes=tuple(notes),
    )


class Standing(enum.StrEnum):
    """How far the address a message claims to be from may be believed."""

    PROVEN = "proven"  # a domain that authenticated the message is the address's
    PLAUSIBLE = "plausible"  # nothing contradicts it (no envelope, or an aligned one)
    UNPROVEN = "unproven"  # the envelope sender belongs to someone else (or is null)
    FAILED = "failed"  # sender authentication failed: a stranger, whatever From says

    @property
    def believed(self) -> bool:
        return self in (Standing.PROVEN, Standing.PLAUSIBLE)


def sender_standing(
    claimed: str, envelope_from: str | None, verdict: AuthVerdict | None
) -> Standing:
    """May `claimed` (the message's requester address) be believed for a follow-up?

    `envelope_from` None means the message came without an envelope (a file, IMAP): the
    header is then all there is, as before issue 8.
    """
    if verdict is not None and verdict.verdict == FAIL:
        return Standing.FAILED
    domain = domain_of(claimed)
    if not domain:
        return Standing.UNPROVEN
    if verdict is not None:
        if verdict.verdict == PASS and aligned(verdict.from_domain, domain):
            return Standing.PROVEN
        if any(r == PASS and aligned(d, domain) for r, d in verdict.dkim):
            return Standing.PROVEN
    if envelope_from is None:
        return Standing.PLAUSIBLE
    if not envelope_from.strip("<> "):
        return Standing.UNPROVEN  # the null reverse-path: a bounce, not a person writing
    if aligned(domain_of(envelope_from), domain):
        return Standing.PLAUSIBLE
    return Standing.UNPROVEN
