"""Partner police forces: who they are, which countries they take referrals for, where
referrals go, where victims can report directly, and the OpenPGP key referrals are
encrypted to.

Staff edit partners (webui.partners); every change is audited. A partner can receive a
referral only when it is active, has a usable public key (checked with
queues.liaison.evidence.keys.import_check when it is saved) and at least one referral
address: `usability_problems` says what is missing, and every step of a referral checks it
(queues.liaison.cases).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.audit import record_staff_change
from queues.liaison.countries import CountryError, parse_country, parse_language
from queues.liaison.models import Partner, PartnerCountry
from queues.models import User

MAX_NAME = 200
MAX_ADDRESSES = 10
MAX_URL = 2000
MAX_NOTES = 20_000
MAX_KEY = 200_000


class PartnerError(ValueError):
    """A partner that cannot be saved as given; the message is meant for staff."""


@dataclass
class PartnerInput:
    """What the partner form holds (lists may come as text: comma or line separated)."""

    name: str
    countries: Iterable[str] = ()
    referral_addresses: Iterable[str] = ()
    report_url: str = ""
    public_key: str = ""
    languages: Iterable[str] = ()
    notes: str = ""
    active: bool = True
    problems: list[str] = field(default_factory=list)


def split_list(text: str) -> list[str]:
    """Items of a form field separated by commas, semicolons or lines."""
    for sep in (";", "\n", "\r"):
        text = text.replace(sep, ",")
    return [item.strip() for item in text.split(",") if item.strip()]


def check_address(value: str) -> str:
    """One plain email address (no display name, no line breaks), lower-cased domain."""
    text = value.strip()
    _name, address = parseaddr(text)
    local, _, domain = address.rpartition("@")
    if (
        address != text
        or not local
        or "." not in domain
        or any(c in address for c in ' <>(),;:"[]\\\r\n\0')
    ):
        raise PartnerError(f"{text[:80]!r} is not an email address.")
    return f"{local}@{domain.lower()}"


def check_url(value: str) -> str:
    """An http(s) URL without spaces or control characters, or "" when none is given."""
    text = value.strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if (
        len(text) > MAX_URL
        or parts.scheme not in ("https", "http")
        or not parts.netloc
        or any(c.isspace() or ord(c) < 32 for c in text)
    ):
        raise PartnerError("The reporting link must be a web address starting with https://.")
    return text


def check_key(armored: str) -> str:
    """The fingerprint of a usable public encryption key, or "" when none is given."""
    text = armored.strip()
    if not text:
        return ""
    if len(text) > MAX_KEY:
        raise PartnerError("That key is too large to be a public key.")
    from queues.liaison.evidence.keys import import_check  # gpg: only when a key is saved

    try:
        return import_check(text)
    except ValueError as exc:
        raise PartnerError(f"The OpenPGP key cannot be used: {exc}") from None


def save_partner(
    session: Session,
    partner: Partner | None,
    data: PartnerInput,
    user: User,
    now: datetime,
    *,
    client: str | None = None,
) -> Partner:
    """Add (`partner` None) or change a partner force; PartnerError says what is wrong."""
    name = " ".join(data.name.split())
    if not name or len(name) > MAX_NAME:
        raise PartnerError(f"Give the force's name (at most {MAX_NAME} characters).")
    try:
        countries = sorted({parse_country(c) for c in data.countries})
        languages = list(dict.fromkeys(parse_language(lang) for lang in data.languages))
    except CountryError as exc:
        raise PartnerError(str(exc)) from None
    if not countries:
        raise PartnerError("Name at least one country this force takes referrals for.")
    addresses = list(dict.fromkeys(check_address(a) for a in data.referral_addresses))
    if len(addresses) > MAX_ADDRESSES:
        raise PartnerError(f"At most {MAX_ADDRESSES} referral addresses.")
    notes = data.notes.replace("\r\n", "\n").replace("\0", "").strip()
    if len(notes) > MAX_NOTES:
        raise PartnerError(f"The notes can have at most {MAX_NOTES:,} characters.")
    report_url = check_url(data.report_url)
    key = data.public_key.replace("\r\n", "\n").strip()
    fingerprint = check_key(key)

    row = partner if partner is not None else Partner(created_at=now)
    if partner is None:
        session.add(row)
    row.name = name
    row.referral_addresses = addresses
    row.report_url = report_url
    row.public_key = key
    row.key_fingerprint = fingerprint
    row.languages = languages
    row.notes = notes
    row.active = bool(data.active)
    row.updated_at = now
    row.updated_by = user.email
    row.countries = [PartnerCountry(country=code) for code in countries]
    session.flush()
    verb = "added" if partner is None else "changed"
    state = "active" if row.active else "inactive"
    record_staff_change(session, user, client, f"partner force {row.id} {verb} ({state})")
    return row


def usability_problems(partner: Partner | None) -> list[str]:
    """Why a referral cannot go to `partner` now ([] when it can)."""
    if partner is None:
        return ["Choose the partner force."]
    problems = []
    if not partner.active:
        problems.append(f"{partner.name} is inactive: referrals to it are not made.")
    if not partner.public_key or not partner.key_fingerprint:
        problems.append(f"{partner.name} has no usable OpenPGP key: add one first.")
    if not partner.referral_addresses:
        problems.append(f"{partner.name} has no referral address.")
    return problems


def partners_for(session: Session, country: str) -> list[Partner]:
    """Partner forces covering `country` (active or not), by name."""
    return list(
        session.scalars(
            select(Partner)
            .join(PartnerCountry, PartnerCountry.partner_id == Partner.id)
            .where(PartnerCountry.country == country.upper())
            .order_by(Partner.name, Partner.id)
        )
    )


def all_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.name, Partner.id)))
