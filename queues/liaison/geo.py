"""Where an IP address is: a country lookup in a MaxMind-format database, when one is set.

`geoip_database` (settings) names a .mmdb file of the GeoIP2/GeoLite2 Country or City kind
(or any MaxMind DB whose records carry `country.iso_code`). Without it every lookup answers
None and staff enter the country by hand. The lookup only *suggests*: `suggest` counts the
countries of a case's IP addresses, and a person must confirm the suggestion before it
becomes the case's country (webui.liaison; queues.liaison.cases.set_country).
"""

from __future__ import annotations

import ipaddress
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import maxminddb

from queues.settings import Settings


@dataclass(frozen=True)
class Suggestion:
    """The country most of a case's IP addresses are in, and how many agree."""

    country: str
    agreeing: int  # addresses in `country`
    looked_up: int  # addresses with a country at all
    total: int  # IP addresses given


@lru_cache(maxsize=4)
def _reader(path: str, mtime_ns: int) -> Any:
    # Keyed by the file's mtime too, so a database updated in place is opened again.
    return maxminddb.open_database(path)


def _open(settings: Settings) -> Any | None:
    path = settings.geoip_database
    if not path:
        return None
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return None  # configured but absent: entry is manual, as without one
    return _reader(path, mtime)


def available(settings: Settings) -> bool:
    return _open(settings) is not None


def _country_of(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    for key in ("country", "registered_country"):
        part = record.get(key)
        if isinstance(part, dict) and isinstance(part.get("iso_code"), str):
            code = str(part["iso_code"]).upper()
            if len(code) == 2 and code.isalpha():
                return code
    return None


def country_of(settings: Settings, address: str) -> str | None:
    """The ISO country code of `address`, or None (no database, not found, not an address)."""
    reader = _open(settings)
    if reader is None:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if not ip.is_global:
        return None  # private, loopback, documentation ranges: no country to be had
    try:
        return _country_of(reader.get(ip))
    except (ValueError, maxminddb.InvalidDatabaseError):
        return None


def suggest(settings: Settings, addresses: Iterable[str]) -> Suggestion | None:
    """The most common country of `addresses`, or None without a database or any hit.

    A tie between two countries suggests nothing: a person has to look.
    """
    given = [a for a in addresses if a.strip()]
    if not given or _open(settings) is None:
        return None
    found = [c for c in (country_of(settings, a) for a in given) if c is not None]
    if not found:
        return None
    ranked = Counter(found).most_common(2)
    if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
        return None
    country, agreeing = ranked[0]
    return Suggestion(country, agreeing, len(found), len(given))
