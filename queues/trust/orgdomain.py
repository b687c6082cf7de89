"""Organisational domains and DMARC identifier alignment (RFC 7489 3.2, 3.1.1).

The organisational domain is the registrable domain: one label below the longest public
suffix, found with the Public Suffix List. The list ships inside the `publicsuffixlist`
package (no download at run time), and is loaded once, on first use.
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList

_CACHE_SIZE = 4096


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def normalize(domain: str) -> str:
    """Lower-case, no trailing dot, IDNA (punycode) form; "" for what is not a domain."""
    domain = domain.strip().strip(".").lower()
    if not domain or any(c in domain for c in " @<>[]\\\"'"):
        return ""
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    return domain


@lru_cache(maxsize=_CACHE_SIZE)
def organisational_domain(domain: str) -> str:
    """The registrable domain of `domain` ("mail.example.co.uk" -> "example.co.uk").

    A domain that is itself a public suffix (or unknown to the list and a single label)
    is its own organisational domain, as RFC 7489 3.2 step 4 says.
    """
    domain = normalize(domain)
    if not domain:
        return ""
    found = _psl().privatesuffix(domain)
    return str(found) if found else domain


def domain_of(address: str) -> str:
    """The normalized domain of an email address ("" if there is none)."""
    return normalize(address.rpartition("@")[2]) if "@" in address else ""


def aligned(a: str, b: str, *, strict: bool = False) -> bool:
    """Are two domains aligned: the same (strict), or the same organisational domain?"""
    a, b = normalize(a), normalize(b)
    if not a or not b:
        return False
    if strict or a == b:
        return a == b
    return organisational_domain(a) == organisational_domain(b)
