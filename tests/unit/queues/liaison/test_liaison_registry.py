"""Countries and their policy, partner forces and their keys, the IP country lookup (on a
small MaxMind-format database built here with mmdb-writer), and the register's CSV."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.liaison import countries, geo, partners
from queues.liaison.countries import CountryError
from queues.liaison.disclosure import record_disclosure, register, to_csv
from queues.liaison.models import PolicyKind
from queues.liaison.partners import PartnerError, PartnerInput
from queues.models import AuditEvent, Role, User
from queues.settings import Settings

from .keyring import PartnerKey

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def staff(factory: sessionmaker[Session]) -> int:
    with factory.begin() as session:
        user = User(email="staff@example.org", role=Role.STAFF, password_hash="x")
        session.add(user)
        session.flush()
        return user.id


# --- countries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "code"),
    [("de", "DE"), ("DEU", "DE"), ("Germany", "DE"), (" germany ", "DE"), ("Iran", "IR")],
)
def test_countries_are_iso_codes(given: str, code: str) -> None:
    assert countries.parse_country(given) == code


@pytest.mark.parametrize("given", ["", "XX", "Atlantis", "D"])
def test_unknown_countries_are_refused(given: str) -> None:
    with pytest.raises(CountryError):
        countries.parse_country(given)


def test_names_and_languages() -> None:
    assert countries.country_name("GB") == "United Kingdom"
    assert countries.country_name(None) == "unknown"
    assert countries.parse_language("German") == "de"
    assert countries.parse_language("fra") == "fr"
    with pytest.raises(CountryError):
        countries.parse_language("Klingon")


def test_never_needs_a_reason_and_every_change_is_audited(
    factory: sessionmaker[Session], staff: int
) -> None:
    with factory.begin() as session:
        user = session.get_one(User, staff)
        with pytest.raises(CountryError, match="Say why"):
            countries.set_policy(session, "BY", PolicyKind.NEVER, "  ", user, NOW)
        countries.set_policy(session, "BY", "never", "endangers the writer", user, NOW)
        assert countries.never_reason(session, "by") == "endangers the writer"
        assert countries.never_reason(session, "DE") is None
        assert countries.policy_of(session, "FR").policy is PolicyKind.NO_PARTNER  # no row
        details = session.scalars(select(AuditEvent.detail)).all()
        assert "country policy BY set to never" in details


# --- partners ----------------------------------------------------------------------------------


def _input(key: PartnerKey, **changes: object) -> PartnerInput:
    values: dict[str, object] = {
        "name": "Test Police",
        "countries": ["DE"],
        "referral_addresses": ["referrals@police.example"],
        "report_url": "https://police.example/report",
        "public_key": key.armored,
        "languages": ["de"],
    }
    values.update(changes)
    return PartnerInput(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": " "}, "name"),
        ({"countries": []}, "at least one country"),
        ({"countries": ["Narnia"]}, "not a country"),
        ({"referral_addresses": ["Police <p@police.example>"]}, "not an email address"),
        ({"referral_addresses": ["p@police.example\r\nBcc: x@evil.example"]}, "not an email"),
        ({"report_url": "javascript:alert(1)"}, "https://"),
        ({"public_key": "not a key"}, "The OpenPGP key cannot be used"),
        ({"languages": ["Elvish"]}, "not a language"),
    ],
)
def test_a_partner_is_checked_before_it_is_saved(
    factory: sessionmaker[Session],
    staff: int,
    partner_key: PartnerKey,
    changes: dict[str, object],
    message: str,
) -> None:
    with factory.begin() as session, pytest.raises(PartnerError, match=message):
        partners.save_partner(
            session, None, _input(partner_key, **changes), session.get_one(User, staff), NOW
        )


def test_a_private_key_is_refused(
    factory: sessionmaker[Session], staff: int, partner_key: PartnerKey
) -> None:
    import subprocess

    secret = subprocess.run(
        [
            "gpg",
            "--homedir",
            str(partner_key.home),
            "--batch",
            "--armor",
            "--export-secret-keys",
            partner_key.fingerprint,
        ],
        capture_output=True,
        check=True,
    ).stdout.decode()
    with factory.begin() as session, pytest.raises(PartnerError, match="private key"):
        partners.save_partner(
            session, None, _input(partner_key, public_key=secret), session.get_one(User, staff), NOW
        )


def test_a_saved_partner_and_what_makes_it_unusable(
    factory: sessionmaker[Session], staff: int, partner_key: PartnerKey
) -> None:
    with factory.begin() as session:
        user = session.get_one(User, staff)
        partner = partners.save_partner(
            session, None, _input(partner_key, countries=["de", "Austria"]), user, NOW
        )
        assert partner.key_fingerprint == partner_key.fingerprint
        assert partner.country_codes == ["AT", "DE"]
        assert partners.usability_problems(partner) == []
        assert [p.id for p in partners.partners_for(session, "AT")] == [partner.id]
        partners.save_partner(
            session,
            partner,
            _input(partner_key, public_key="", referral_addresses=[], active=False),
            user,
            NOW,
        )
        problems = " ".join(partners.usability_problems(partner))
        assert "inactive" in problems and "no usable OpenPGP key" in problems
        assert "no referral address" in problems


# --- the IP country lookup ------------------------------------------------------------------------


@pytest.fixture
def geo_settings(tmp_path: Path) -> Settings:
    """A small GeoIP2-Country-shaped database: two German networks, one French."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    writer.insert_network(
        IPSet(["81.2.69.0/24", "2a02:8100::/32"]), {"country": {"iso_code": "DE"}}
    )
    writer.insert_network(IPSet(["89.160.20.0/24"]), {"country": {"iso_code": "FR"}})
    path = tmp_path / "country.mmdb"
    writer.to_db_file(str(path))
    return Settings(database_url="sqlite://", var_dir=tmp_path, geoip_database=str(path))


def test_addresses_are_looked_up(geo_settings: Settings) -> None:
    assert geo.available(geo_settings)
    assert geo.country_of(geo_settings, "81.2.69.160") == "DE"
    assert geo.country_of(geo_settings, "2a02:8100::1") == "DE"
    assert geo.country_of(geo_settings, "89.160.20.112") == "FR"
    assert geo.country_of(geo_settings, "8.8.8.8") is None  # not in this database
    assert geo.country_of(geo_settings, "192.168.1.1") is None  # private: no country
    assert geo.country_of(geo_settings, "not an address") is None


def test_the_suggestion_is_the_most_common_country(geo_settings: Settings) -> None:
    found = geo.suggest(geo_settings, ["81.2.69.1", "81.2.69.2", "89.160.20.1", "8.8.8.8"])
    assert found == geo.Suggestion("DE", agreeing=2, looked_up=3, total=4)
    assert geo.suggest(geo_settings, ["81.2.69.1", "89.160.20.1"]) is None  # a tie: look
    assert geo.suggest(geo_settings, []) is None


def test_without_a_database_entry_is_manual(tmp_path: Path, geo_settings: Settings) -> None:
    for settings in (
        dataclasses.replace(geo_settings, geoip_database=""),
        dataclasses.replace(geo_settings, geoip_database=str(tmp_path / "absent.mmdb")),
    ):
        assert not geo.available(settings)
        assert geo.country_of(settings, "81.2.69.160") is None
        assert geo.suggest(settings, ["81.2.69.160"]) is None


# --- the register ---------------------------------------------------------------------------------


def test_the_register_as_csv(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        for i, what in enumerate(["evidence package: 2 messages", "@SUM(A1:A9)"]):
            record_disclosure(
                session,
                at=NOW.replace(hour=10 + i),
                what=what,
                recipient="Test Police",
                recipient_address="referrals@police.example",
                basis="police referral",
                approved_by=["a@example.org", "b@example.org"],
                handed_over_by="b@example.org",
                channel="mail",
                case_number="2026120300001",
                message_count=2,
            )
        rows = register(session)
    assert [r.what for r in rows] == ["@SUM(A1:A9)", "evidence package: 2 messages"]
    text = to_csv(rows)
    assert "\r\n" in text
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0][:5] == ["when (UTC)", "case", "ticket", "what", "to whom"]
    assert parsed[1][0] == "2026-12-03 11:00:00" and parsed[1][3] == "'@SUM(A1:A9)"
    assert parsed[2][7] == "a@example.org, b@example.org"
