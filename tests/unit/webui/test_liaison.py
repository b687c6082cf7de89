"""The liaison pages: the password asked again at every approval, confirmation, download and
export; "never" countries refused in the page with their reason; what the source ticket
shows to whom; the partner and country pages refusing what the service refuses.
(Who gets a 404 where is in test_permissions.py.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from queues.audit import AuditAction
from queues.liaison import cases, countries, partners
from queues.liaison.evidence.keys import ensure_org_key
from queues.liaison.models import CaseState, Disclosure, LiaisonCase, Partner, PolicyKind
from queues.models import (
    Article,
    ArticleKind,
    AuditEvent,
    LoginThrottle,
    OutboxMessage,
    Role,
    Ticket,
    User,
)
from queues.settings import Settings
from tests.unit.queues.liaison.keyring import PartnerKey, make_partner_key, short_tempdir, stop
from tests.unit.queues.liaison.world import raw_report, store_report

from .conftest import PASSWORD, Auth, People, csrf_from

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def partner_key() -> Iterator[PartnerKey]:
    key = make_partner_key()
    yield key
    stop(key.home)


@pytest.fixture(scope="module")
def org_home() -> Iterator[Path]:
    home = short_tempdir("sb-org-")
    ensure_org_key(Settings(gnupg_home=str(home), database_url="sqlite://"))
    yield home
    stop(home)


@dataclasses.dataclass
class Setup:
    number: str  # the source ticket, in general-help
    partner_id: int
    staff2: str


@pytest.fixture
def setup(
    app: Flask,
    factory: sessionmaker[Session],
    people: People,
    password_hash: str,
    partner_key: PartnerKey,
    org_home: Path,
) -> Setup:
    app.config["SETTINGS"] = dataclasses.replace(app.config["SETTINGS"], gnupg_home=str(org_home))
    number = store_report(factory, raw_report("web-liaison@example.net"))
    with factory.begin() as session:
        staff2 = User(email="staff2@example.org", role=Role.STAFF, password_hash=password_hash)
        session.add(staff2)
        staff = session.get_one(User, people.by_role[Role.STAFF].id)
        countries.set_policy(session, "DE", PolicyKind.PARTNER, "", staff, NOW)
        countries.set_policy(
            session, "BY", PolicyKind.NEVER, "it would endanger the writer", staff, NOW
        )
        partner = partners.save_partner(
            session,
            None,
            partners.PartnerInput(
                name="Test Police Cybercrime",
                countries=["DE"],
                referral_addresses=["referrals@police.example"],
                report_url="https://police.example/report",
                public_key=partner_key.armored,
            ),
            staff,
            NOW,
        )
        return Setup(number, partner.id, staff2.email)


def _report_form(auth: Auth, client: FlaskClient, number: str, **changes: str) -> dict[str, object]:
    token = csrf_from(client.get(f"/tickets/{number}/police"))
    with auth.factory() as session:
        ids = session.scalars(
            select(Article.id)
            .join(Ticket)
            .where(Ticket.number == number, Article.kind == ArticleKind.INCOMING)
        ).all()
    form: dict[str, object] = {
        "csrf_token": token,
        "what_happened": "He threatens her.",
        "article": [str(i) for i in ids],
        "id_kind": ["account", "ip"],
        "id_value": ["darkstar99", "81.2.69.160"],
        "id_seen": ["", "2026-12-01T21:15"],
        "id_note": ["", ""],
        "country": "DE",
        "country_basis": "ip",
        "urgency": "serious",
        "consent": "given",
    }
    form.update(changes)
    return form


def _request(auth: Auth, setup: Setup, role: Role = Role.SPECIALIST) -> int:
    client = auth.as_role(role)
    response = client.post(
        f"/tickets/{setup.number}/police", data=_report_form(auth, client, setup.number)
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with auth.factory() as session:
        return session.scalars(select(LiaisonCase.id).order_by(LiaisonCase.id.desc())).first() or 0


def _state(auth: Auth, case_id: int) -> CaseState:
    with auth.factory() as session:
        return session.get_one(LiaisonCase, case_id).state


def _ready(auth: Auth, setup: Setup, case_id: int) -> None:
    with auth.factory.begin() as session:
        case = session.get_one(LiaisonCase, case_id)
        staff2 = session.scalars(select(User).where(User.email == setup.staff2)).one()
        cases.choose_partner(session, case, staff2, setup.partner_id, NOW)


def test_a_never_country_is_refused_in_the_page_with_its_reason(auth: Auth, setup: Setup) -> None:
    client = auth.as_role(Role.SPECIALIST)
    page = client.get(f"/tickets/{setup.number}/police").get_data(as_text=True)
    assert "We never refer to: Belarus (it would endanger the writer)" in page
    form = _report_form(auth, client, setup.number, country="BY")
    response = client.post(f"/tickets/{setup.number}/police", data=form)
    assert response.status_code == 200
    assert "Referrals to Belarus are never made: it would endanger the writer" in response.get_data(
        as_text=True
    )
    with auth.factory() as session:
        assert session.scalar(select(func.count()).select_from(LiaisonCase)) == 0


def test_the_source_ticket_shows_the_status_and_the_case_only_to_staff(
    auth: Auth, setup: Setup
) -> None:
    case_id = _request(auth, setup)
    with auth.factory() as session:
        case_number = session.get_one(
            Ticket, session.get_one(LiaisonCase, case_id).ticket_id
        ).number
    for role in (Role.VOLUNTEER, Role.SPECIALIST):
        page = auth.as_role(role).get(f"/tickets/{setup.number}").get_data(as_text=True)
        assert 'class="police-status">requested<' in page
        assert case_number not in page and "/liaison/cases/" not in page
        assert ('/police"' in page) is (role is Role.SPECIALIST)  # volunteers cannot request
    staff_page = auth.as_role(Role.STAFF).get(f"/tickets/{setup.number}").get_data(as_text=True)
    assert f"/liaison/cases/{case_id}" in staff_page and case_number in staff_page


def test_approving_and_confirming_need_the_password_every_time(
    auth: Auth, setup: Setup, app: Flask
) -> None:
    case_id = _request(auth, setup)
    _ready(auth, setup, case_id)
    client = auth.as_role(Role.STAFF)
    token = csrf_from(client.get(f"/liaison/cases/{case_id}"))
    url = f"/liaison/cases/{case_id}/approve"
    missing = client.post(url, data={"csrf_token": token})
    assert missing.status_code == 303 and _state(auth, case_id) is CaseState.REQUESTED
    wrong = client.post(url, data={"csrf_token": token, "reauth_password": "not it at all"})
    assert wrong.status_code == 303 and _state(auth, case_id) is CaseState.REQUESTED
    assert "That is not your password" in client.get(f"/liaison/cases/{case_id}").get_data(
        as_text=True
    )
    with auth.factory() as session:  # a wrong password counts like a failed sign-in
        assert session.scalar(select(func.sum(LoginThrottle.failures))) == 1
    right = client.post(url, data={"csrf_token": token, "reauth_password": PASSWORD})
    assert right.status_code == 303 and _state(auth, case_id) is CaseState.APPROVED

    # The approver's own confirmation is refused, whatever the password.
    confirm = f"/liaison/cases/{case_id}/confirm"
    client.post(confirm, data={"csrf_token": token, "reauth_password": PASSWORD})
    assert _state(auth, case_id) is CaseState.APPROVED

    other = auth.as_account(setup.staff2, client=auth.app.test_client())
    token2 = csrf_from(other.get(f"/liaison/cases/{case_id}"))
    other.post(confirm, data={"csrf_token": token2})
    assert _state(auth, case_id) is CaseState.APPROVED
    other.post(confirm, data={"csrf_token": token2, "reauth_password": PASSWORD})
    assert _state(auth, case_id) is CaseState.SENT
    with auth.factory() as session:
        kinds = session.scalars(select(OutboxMessage.kind)).all()
        assert "referral" in kinds and "police-report-notice" in kinds


def test_the_requester_sees_why_they_cannot_approve(auth: Auth, setup: Setup) -> None:
    case_id = _request(auth, setup, Role.STAFF)
    page = auth.as_role(Role.STAFF).get(f"/liaison/cases/{case_id}").get_data(as_text=True)
    assert "You made this request: two other staff members must approve it." in page
    assert (
        'name="reauth_password"'
        not in page.split("Approve (first staff member)")[1].split("</fieldset>")[0]
    )


def test_a_large_package_is_downloaded_with_the_password(
    auth: Auth, setup: Setup, app: Flask
) -> None:
    app.config["SETTINGS"] = dataclasses.replace(app.config["SETTINGS"], liaison_max_mail_bytes=100)
    case_id = _request(auth, setup)
    _ready(auth, setup, case_id)
    with auth.factory.begin() as session:
        case = session.get_one(LiaisonCase, case_id)
        staff = session.scalars(select(User).where(User.role == Role.STAFF)).first()
        staff2 = session.scalars(select(User).where(User.email == setup.staff2)).one()
        assert staff is not None
        cases.approve(session, case, staff2, NOW)
        cases.confirm(session, case, staff, app.config["SETTINGS"], NOW)
    assert _state(auth, case_id) is CaseState.CONFIRMED
    client = auth.as_role(Role.STAFF)
    token = csrf_from(client.get(f"/liaison/cases/{case_id}"))
    url = f"/liaison/cases/{case_id}/download"
    assert client.post(url, data={"csrf_token": token}).status_code == 303
    got = client.post(url, data={"csrf_token": token, "reauth_password": PASSWORD})
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert "attachment" in got.headers["Content-Disposition"]
    assert got.data[:1] != b"P"  # encrypted, not the plain zip
    assert _state(auth, case_id) is CaseState.SENT
    with auth.factory() as session:
        [row] = session.scalars(select(Disclosure)).all()
        assert row.channel == "download"


def test_the_register_exports_as_csv_with_the_password(auth: Auth, setup: Setup) -> None:
    with auth.factory.begin() as session:
        session.add(
            Disclosure(
                at=NOW,
                what="=HYPERLINK(1)",
                recipient="Test Police",
                basis="b",
                approved_by="a, b",
                handed_over_by="a",
                channel="mail",
            )
        )
    client = auth.as_role(Role.STAFF)
    page = client.get("/liaison/register")
    assert "Test Police" in page.get_data(as_text=True)
    token = csrf_from(page)
    refused = client.post("/liaison/register.csv", data={"csrf_token": token})
    assert refused.status_code == 303
    got = client.post(
        "/liaison/register.csv", data={"csrf_token": token, "reauth_password": PASSWORD}
    )
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/csv")
    text = got.get_data(as_text=True)
    assert text.startswith("when (UTC),case,ticket,what,to whom")
    assert "'=HYPERLINK(1)" in text  # no formula reaches a spreadsheet
    with auth.factory() as session:
        details = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == AuditAction.STAFF.value)
        ).all()
        assert "disclosure register exported (1 rows)" in details


def test_partner_and_country_pages_refuse_what_the_service_refuses(
    auth: Auth, setup: Setup
) -> None:
    client = auth.as_role(Role.STAFF)
    token = csrf_from(client.get("/staff/liaison/partners/new"))
    bad_key = client.post(
        "/staff/liaison/partners/new",
        data={
            "csrf_token": token,
            "name": "Broken",
            "countries": "DE",
            "addresses": "a@police.example",
            "public_key": "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnonsense\n",
            "active": "yes",
        },
    )
    assert bad_key.status_code == 200
    assert "The OpenPGP key cannot be used" in bad_key.get_data(as_text=True)
    never = client.post(
        "/staff/liaison/countries",
        data={"csrf_token": token, "country": "RU", "policy": "never", "reason": ""},
    )
    assert never.status_code == 303
    assert "Say why referrals to this country are never made." in client.get(
        "/staff/liaison/"
    ).get_data(as_text=True)
    with auth.factory() as session:
        assert session.scalar(select(func.count()).select_from(Partner)) == 1


def test_the_ip_suggestion_is_applied_only_when_a_person_confirms_it(
    auth: Auth, setup: Setup, app: Flask, tmp_path: Path
) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    writer.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "DE"}})
    writer.to_db_file(str(tmp_path / "country.mmdb"))
    app.config["SETTINGS"] = dataclasses.replace(
        app.config["SETTINGS"], geoip_database=str(tmp_path / "country.mmdb")
    )
    client = auth.as_role(Role.SPECIALIST)
    form = _report_form(auth, client, setup.number, country="", country_basis="")
    assert client.post(f"/tickets/{setup.number}/police", data=form).status_code == 303
    with auth.factory() as session:
        case_id = session.scalars(select(LiaisonCase.id)).one()
    staff = auth.as_role(Role.STAFF)
    page = staff.get(f"/liaison/cases/{case_id}").get_data(as_text=True)
    assert "Suggested by the IP addresses: <strong>Germany</strong> (1 of 1 addresses)" in page
    with auth.factory() as session:
        assert session.get_one(LiaisonCase, case_id).country is None  # not applied by itself
    token = csrf_from(page_response := staff.get(f"/liaison/cases/{case_id}"))
    assert page_response.status_code == 200
    staff.post(
        f"/liaison/cases/{case_id}/country",
        data={"csrf_token": token, "country": "DE", "country_basis": "ip", "country_note": ""},
    )
    with auth.factory() as session:
        case = session.get_one(LiaisonCase, case_id)
        assert (case.country, case.country_basis.value if case.country_basis else None) == (
            "DE",
            "ip",
        )
