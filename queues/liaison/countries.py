"""Countries and each country's referral policy: partner, no partner, or never (with why).

Countries are ISO 3166-1 alpha-2 codes, checked and named with pycountry (no list of our
own to drift). A country without a policy row has no partner. "Never" means a referral to
that country's police would endanger the reporter or the writer (a state that would rather
catch people for what they write): it needs a reason, and every step of a referral refuses
it with that reason (queues.liaison.cases).
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import pycountry
from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.audit import record_staff_change
from queues.liaison.models import CountryPolicy, Partner, PartnerCountry, PolicyKind
from queues.models import User

MAX_REASON = 2000
POLICY_LABELS = {
    PolicyKind.PARTNER: "partner force",
    PolicyKind.NO_PARTNER: "no partner",
    PolicyKind.NEVER: "never",
}


class CountryError(ValueError):
    """A country or policy that cannot be used; the message is meant for staff."""


@cache
def _names() -> dict[str, str]:
    """alpha-2 code -> the name people use (pycountry's common name where it has one)."""
    return {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}


def all_countries() -> list[tuple[str, str]]:
    """(code, name) for every country, by name: the choices of a country field."""
    return sorted(_names().items(), key=lambda item: item[1])


def country_name(code: str | None) -> str:
    """The country's name, or the code itself when it is not one (never raises)."""
    if not code:
        return "unknown"
    return _names().get(code.upper(), code)


def country_name_in(code: str | None, language: str | None) -> str:
    """The country's name in `language` (pycountry's ISO 3166 catalogs, as reporters read it;
    English when there is no translation), or the code itself when it is not one."""
    name = country_name(code)
    if not code or not language or language == "en" or name == code:
        return name
    try:
        catalog = gettext.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
        )
    except OSError:
        return name
    country = pycountry.countries.get(alpha_2=code.upper())
    official = getattr(country, "name", "")
    # The catalogs translate the ISO names; a common name ("Taiwan") has no entry of its own.
    translated = catalog.gettext(name)
    if translated == name and official and official != name:
        translated = catalog.gettext(official)
    return translated or name


def parse_country(value: str) -> str:
    """The alpha-2 code for a code (alpha-2 or alpha-3) or an exact name; CountryError."""
    text = value.strip()
    if not text:
        raise CountryError("Choose a country.")
    if len(text) <= 3 and text.isalpha():
        found = pycountry.countries.get(alpha_2=text.upper()) if len(text) == 2 else None
        found = found or pycountry.countries.get(alpha_3=text.upper())
        if found is not None:
            return str(found.alpha_2)
    lowered = text.casefold()
    for code, name in _names().items():
        if name.casefold() == lowered:
            return code
    raise CountryError(f"{text[:60]!r} is not a country (use its ISO 3166 code, e.g. DE).")


def parse_language(value: str) -> str:
    """An ISO 639-1 language code ("de"), from the code or the language's English name."""
    text = value.strip()
    found = None
    if len(text) == 2:
        found = pycountry.languages.get(alpha_2=text.lower())
    if found is None and len(text) == 3:
        found = pycountry.languages.get(alpha_3=text.lower())
    if found is None and text:
        found = pycountry.languages.get(name=text.capitalize())
    code = getattr(found, "alpha_2", None)
    if not code:
        raise CountryError(f"{text[:60]!r} is not a language (use its ISO 639-1 code, e.g. de).")
    return str(code)


def language_name(code: str) -> str:
    found = pycountry.languages.get(alpha_2=code)
    return str(found.name) if found is not None else code


@dataclass(frozen=True)
class PolicyView:
    """A country's policy as a page or a check needs it."""

    country: str
    name: str
    policy: PolicyKind
    reason: str
    partners: list[Partner]  # partner forces that cover the country, active or not

    @property
    def label(self) -> str:
        return POLICY_LABELS[self.policy]


def policy_of(session: Session, country: str) -> PolicyView:
    code = country.upper()
    row = session.get(CountryPolicy, code)
    partners = list(
        session.scalars(
            select(Partner)
            .join(PartnerCountry, PartnerCountry.partner_id == Partner.id)
            .where(PartnerCountry.country == code)
            .order_by(Partner.name, Partner.id)
        )
    )
    if row is None:
        return PolicyView(code, country_name(code), PolicyKind.NO_PARTNER, "", partners)
    return PolicyView(code, country_name(code), row.policy, row.reason, partners)


def never_reason(session: Session, country: str | None) -> str | None:
    """Why referrals to `country` are never made, or None when they may be."""
    if not country:
        return None
    row = session.get(CountryPolicy, country.upper())
    if row is None or row.policy is not PolicyKind.NEVER:
        return None
    return row.reason or "the team never refers to this country"


def policies(session: Session) -> list[PolicyView]:
    """Every country that has a policy or a partner force, by name (the staff overview)."""
    codes = set(session.scalars(select(CountryPolicy.country)))
    codes |= set(session.scalars(select(PartnerCountry.country)))
    views = [policy_of(session, code) for code in codes]
    return sorted(views, key=lambda v: v.name)


def set_policy(
    session: Session,
    country: str,
    policy: PolicyKind | str,
    reason: str,
    user: User,
    now: datetime,
    *,
    client: str | None = None,
) -> CountryPolicy:
    """Set a country's policy (staff); "never" needs a reason. Audited as a staff change."""
    code = parse_country(country)
    try:
        kind = PolicyKind(policy)
    except ValueError:
        raise CountryError("Choose a policy: partner force, no partner or never.") from None
    why = reason.replace("\r\n", "\n").replace("\0", "").strip()
    if len(why) > MAX_REASON:
        raise CountryError(f"The reason can have at most {MAX_REASON} characters.")
    if kind is PolicyKind.NEVER and not why:
        raise CountryError("Say why referrals to this country are never made.")
    row = session.get(CountryPolicy, code)
    if row is None:
        row = CountryPolicy(country=code)
        session.add(row)
    row.policy = kind
    row.reason = why
    row.updated_at = now
    row.updated_by = user.email
    session.flush()
    record_staff_change(session, user, client, f"country policy {code} set to {kind.value}")
    return row
