"""DNS for the sender checks: dnspython with our own servers, timeouts and time budget.

One `Lookups` serves one message: every lookup gets at most `dns_timeout_seconds` and
all of them together at most `sender_check_seconds`; a timeout, a SERVFAIL or a spent
budget raises `DnsUnavailable`, which the checks report as "temperror". Tests point
`dns_servers` at a small DNS server of their own on 127.0.0.1.

dkimpy takes a `dnsfunc`; pyspf has no such parameter and calls its module's
`DNSLookup`, so that function is replaced once, at import, by one that uses the `Lookups`
of the check running in the current context (contextvars: each gateway worker thread
runs its own), and pyspf's own when there is none.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
import spf

DEFAULT_PORT = 53
# One cache per set of servers for the process (dnspython's is thread-safe and keeps
# negative answers too): a help desk hears from the same domains again and again, and a
# round trip to a resolver costs more than the rest of accepting a message.
CACHE_ENTRIES = 20_000
_resolvers: dict[tuple[str, ...], dns.resolver.Resolver] = {}
_resolvers_lock = threading.Lock()


class DnsUnavailable(Exception):
    """No answer in time (timeout, SERVFAIL, no servers, or the budget is spent)."""


def resolver_for(servers: tuple[str, ...]) -> dns.resolver.Resolver:
    """The process's resolver for `servers` (() = the system's), with the shared cache."""
    with _resolvers_lock:
        found = _resolvers.get(servers)
        if found is None:
            found = dns.resolver.Resolver(configure=not servers)
            if servers:
                found.nameservers = [
                    dns.nameserver.Do53Nameserver(*parse_server(s)) for s in servers
                ]
            found.cache = dns.resolver.LRUCache(CACHE_ENTRIES)
            _resolvers[servers] = found
        return found


def parse_server(value: str) -> tuple[str, int]:
    """ "192.0.2.1", "192.0.2.1:5353", "[2001:db8::1]:53" or "2001:db8::1" -> (address, port)."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or DEFAULT_PORT)
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, DEFAULT_PORT


class Lookups:
    """The DNS of one message's checks, within `timeout` per lookup and `budget` in all."""

    def __init__(self, servers: Sequence[str], timeout: float, budget: float) -> None:
        self.resolver = resolver_for(tuple(servers))
        self.timeout = timeout
        self.deadline = time.monotonic() + budget
        self.failures: list[str] = []

    def query(self, name: str, rdtype: str) -> list[Any]:
        """The records of `name`; [] when it does not exist or has none of that type."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._unavailable(name, "time budget spent")
        try:
            answer = self.resolver.resolve(
                name,
                rdtype,
                lifetime=min(self.timeout, remaining),
                search=False,
                raise_on_no_answer=False,
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise self._unavailable(name, type(exc).__name__) from None
        except dns.exception.DNSException as exc:
            raise self._unavailable(name, f"{type(exc).__name__}: {exc}") from None
        return list(answer.rrset) if answer.rrset is not None else []

    def _unavailable(self, name: str, why: str) -> DnsUnavailable:
        self.failures.append(f"{name}: {why}")
        return DnsUnavailable(f"DNS lookup of {name} failed: {why}")

    def txt(self, name: str) -> list[str]:
        """Each TXT record of `name`, its strings joined (RFC 7208 3.3)."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.query(name, "TXT")]

    def dkim_txt(self, name: bytes, timeout: float = 5.0) -> bytes | None:
        """dkimpy's `dnsfunc`: the key record, or None when there is none."""
        records = self.query(name.decode("ascii", "replace"), "TXT")
        return b"".join(records[0].strings) if records else None

    def spf_lookup(self, name: str, qtype: str) -> list[tuple[tuple[str, str], Any]]:
        """pyspf's `DNSLookup` answer shape: ((name, type), value) pairs."""
        try:
            records = self.query(name, qtype)
        except DnsUnavailable as exc:
            raise spf.TempError(str(exc)) from None
        found: list[tuple[tuple[str, str], Any]] = []
        for r in records:
            if qtype in ("A", "AAAA"):
                value: Any = r.address
            elif qtype == "MX":
                value = (r.preference, r.exchange)
            elif qtype == "PTR":
                value = r.target.to_text(True)
            elif qtype in ("TXT", "SPF"):
                value = r.strings
            else:
                continue
            found.append(((name, qtype), value))
        return found


_current: contextvars.ContextVar[Lookups | None] = contextvars.ContextVar(
    "switchboard_spf_lookups", default=None
)
_pyspf_own = spf.DNSLookup


def _pyspf_dns(name: str, qtype: str, strict: Any = True, timeout: float = 20.0) -> Any:
    lookups = _current.get()
    if lookups is None:
        return _pyspf_own(name, qtype, strict, timeout)
    return lookups.spf_lookup(name, qtype)


spf.DNSLookup = _pyspf_dns


@contextmanager
def for_pyspf(lookups: Lookups) -> Iterator[None]:
    """pyspf's lookups in this block go through `lookups`."""
    token = _current.set(lookups)
    try:
        yield
    finally:
        _current.reset(token)
