"""Referral cases in the core: the request, four eyes, "never" and unusable partners refused
at every step (in the service, not only the page), declines that reach the requester, and
what the source ticket shows to whom."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from queues.liaison import cases, countries
from queues.liaison.cases import LiaisonError
from queues.liaison.models import (
    Approval,
    ApprovalStep,
    CaseState,
    LiaisonCase,
    Partner,
    PolicyKind,
)
from queues.liaison.retention import is_held
from queues.models import (
    ArticleKind,
    AuditEvent,
    OutboxMessage,
    Ticket,
    TicketEvent,
    TicketLink,
)

from .world import NOW, World


def _approve(world: World, case_id: int, who: str) -> None:
    with world.factory.begin() as session:
        cases.approve(session, world.case(session, case_id), world.user(session, who), NOW)


def _confirm(world: World, case_id: int, who: str) -> None:
    with world.factory.begin() as session:
        case = world.case(session, case_id)
        cases.confirm(session, case, world.user(session, who), world.settings, NOW)


def _outbox(session: Session, kind: str) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


# --- the request ----------------------------------------------------------------------------


def test_a_specialist_request_opens_a_case_ticket_linked_to_the_source(world: World) -> None:
    case_id = world.request("specialist")
    with world.factory() as session:
        case = world.case(session, case_id)
        ticket = session.get_one(Ticket, case.ticket_id)
        source = world.source(session)
        assert ticket.queue.slug == "police-liaison"
        assert source.queue.slug == "general-help"  # the source stays where it is
        assert case.state is CaseState.REQUESTED
        assert case.country == "DE" and case.victim_country == "FR"
        assert [(i.kind.value, i.value) for i in case.identifiers] == [
            ("account", "darkstar99"),
            ("ip", "81.2.69.160"),
        ]
        link = session.scalars(select(TicketLink).where(TicketLink.target_id == ticket.id)).one()
        assert (link.source_id, link.kind) == (source.id, "liaison-case")
        # The source's history names the case ticket by id only, never by number.
        row = session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == source.id, TicketEvent.kind == "liaison-request"
            )
        ).one()
        assert row.ref_ticket_id == ticket.id and ticket.number not in row.detail
        # Both tickets are on legal hold; the request is audited on the case ticket.
        assert is_held(session, source.id) and is_held(session, ticket.id)
        actions = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.ticket_id == ticket.id)
        ).all()
        assert f"liaison case {case_id}: liaison-request" in actions
        assert [a.kind for a in ticket.articles] == [ArticleKind.NOTE]


def test_volunteers_cannot_request(world: World) -> None:
    with pytest.raises(LiaisonError, match="escalate the ticket to a specialist"):
        world.request("volunteer")
    with world.factory() as session:
        assert session.scalar(select(func.count()).select_from(LiaisonCase)) == 0


def test_a_never_country_is_refused_at_the_request(world: World) -> None:
    with world.factory.begin() as session:
        staff = world.user(session, "staff_c")
        countries.set_policy(
            session, "BY", PolicyKind.NEVER, "would endanger the writer", staff, NOW
        )
    with pytest.raises(LiaisonError, match="Belarus are never made: would endanger the writer"):
        world.request("specialist", country="BY")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"what_happened": "  "}, "What happened"),
        ({"consent": "refused"}, "why the reporter was not asked, or why they refused"),
        ({"urgency": "whenever"}, "how urgent"),
        ({"country": "Atlantis"}, "is not a country"),
        ({"article_ids": []}, "at least one message"),
        ({"article_ids": [999_999]}, "incoming messages of this ticket"),
        (
            {"identifiers": [cases.IdentifierInput("ip", "81.2.69.160")]},
            "Give the time 81.2.69.160 was seen",
        ),
        ({"identifiers": [cases.IdentifierInput("ip", "not-an-ip", NOW)]}, "not an IP address"),
        ({"identifiers": [cases.IdentifierInput("profile-url", "javascript:x")]}, "web address"),
    ],
)
def test_a_request_is_checked(world: World, changes: dict[str, object], message: str) -> None:
    with pytest.raises(LiaisonError, match=message):
        world.request("specialist", **changes)


# --- four eyes ------------------------------------------------------------------------------


def test_the_requester_can_neither_approve_nor_confirm(world: World) -> None:
    case_id = world.request("staff_a")
    with world.factory.begin() as session:
        cases.choose_partner(
            session,
            world.case(session, case_id),
            world.user(session, "staff_b"),
            world.partner_id,
            NOW,
        )
    with pytest.raises(LiaisonError, match="You made this request"):
        _approve(world, case_id, "staff_a")
    _approve(world, case_id, "staff_b")
    with pytest.raises(LiaisonError, match="You made this request"):
        _confirm(world, case_id, "staff_a")
    with world.factory() as session:
        assert world.case(session, case_id).state is CaseState.APPROVED
        assert _outbox(session, "referral") == []


def test_the_approver_cannot_also_confirm(world: World) -> None:
    case_id = world.request()
    world.ready(case_id)
    _approve(world, case_id, "staff_a")
    with pytest.raises(LiaisonError, match="a different staff member must confirm"):
        _confirm(world, case_id, "staff_a")
    with pytest.raises(LiaisonError, match="cannot be approved now"):
        _approve(world, case_id, "staff_b")  # a second "approve" is not a confirmation
    with world.factory() as session:
        assert world.case(session, case_id).state is CaseState.APPROVED
        assert _outbox(session, "referral") == []


def test_the_schema_refuses_one_person_twice_or_one_step_twice(world: World) -> None:
    """The unique keys hold even if a bug or a race got past the checks."""
    case_id = world.request()
    for second in (
        {"user": "staff_a", "step": ApprovalStep.CONFIRM},  # same person, other step
        {"user": "staff_b", "step": ApprovalStep.APPROVE},  # other person, same step
    ):
        with world.factory() as session, pytest.raises(IntegrityError):
            a = world.user(session, "staff_a")
            session.add(
                Approval(
                    case_id=case_id, user_id=a.id, user_email=a.email, step=ApprovalStep.APPROVE
                )
            )
            session.flush()
            other = world.user(session, str(second["user"]))
            session.add(
                Approval(
                    case_id=case_id, user_id=other.id, user_email=other.email, step=second["step"]
                )
            )
            session.flush()


def test_volunteers_and_specialists_cannot_work_a_case(world: World) -> None:
    case_id = world.request()
    for who in ("volunteer", "specialist"):
        with world.factory.begin() as session, pytest.raises(LiaisonError, match="Only staff"):
            cases.approve(session, world.case(session, case_id), world.user(session, who), NOW)
        with world.factory.begin() as session, pytest.raises(LiaisonError, match="Only staff"):
            cases.start_review(session, world.case(session, case_id), world.user(session, who), NOW)


def test_details_are_frozen_once_approved(world: World) -> None:
    case_id = world.request()
    world.ready(case_id)
    _approve(world, case_id, "staff_a")
    with (
        world.factory.begin() as session,
        pytest.raises(LiaisonError, match="can no longer change"),
    ):
        case = world.case(session, case_id)
        cases.set_country(session, case, world.user(session, "staff_b"), "AT", "ip", "", NOW)


# --- "never" and unusable partners at every step -----------------------------------------------


def test_a_country_turned_never_after_approval_stops_the_confirmation(world: World) -> None:
    case_id = world.request()
    world.ready(case_id)
    _approve(world, case_id, "staff_a")
    with world.factory.begin() as session:
        countries.set_policy(
            session,
            "DE",
            PolicyKind.NEVER,
            "courts no longer fair",
            world.user(session, "staff_c"),
            NOW,
        )
    with pytest.raises(LiaisonError, match="Germany are never made: courts no longer fair"):
        _confirm(world, case_id, "staff_b")
    with world.factory() as session:
        assert world.case(session, case_id).state is CaseState.APPROVED
        assert _outbox(session, "referral") == []


def test_never_refuses_setting_the_country_in_review(world: World) -> None:
    case_id = world.request()
    with world.factory.begin() as session:
        countries.set_policy(
            session,
            "IR",
            PolicyKind.NEVER,
            "endangers the reporter",
            world.user(session, "staff_c"),
            NOW,
        )
    with world.factory.begin() as session, pytest.raises(LiaisonError, match="Iran"):
        case = world.case(session, case_id)
        cases.set_country(session, case, world.user(session, "staff_a"), "IR", "statement", "", NOW)


@pytest.mark.parametrize("flaw", ["inactive", "no key"])
def test_an_unusable_partner_is_refused_at_every_step(world: World, flaw: str) -> None:
    case_id = world.request()
    world.ready(case_id)

    def spoil() -> None:
        with world.factory.begin() as session:
            partner = session.get_one(Partner, world.partner_id)
            if flaw == "inactive":
                partner.active = False
            else:
                partner.public_key, partner.key_fingerprint = "", ""

    spoil()
    expected = "is inactive" if flaw == "inactive" else "no usable OpenPGP key"
    with pytest.raises(LiaisonError, match=expected):
        _approve(world, case_id, "staff_a")
    with world.factory.begin() as session, pytest.raises(LiaisonError, match=expected):
        case = world.case(session, case_id)
        cases.choose_partner(session, case, world.user(session, "staff_a"), world.partner_id, NOW)
    # Usable while approving, spoiled before the confirmation: refused there too.
    with world.factory.begin() as session:
        partner = session.get_one(Partner, world.partner_id)
        partner.active = True
        partner.public_key, partner.key_fingerprint = world.partner_key.armored, "X"
    _approve(world, case_id, "staff_a")
    spoil()
    with pytest.raises(LiaisonError, match=expected):
        _confirm(world, case_id, "staff_b")
    with world.factory() as session:
        assert _outbox(session, "referral") == []


def test_a_partner_must_cover_the_country(world: World) -> None:
    case_id = world.request(country="PL")
    with world.factory.begin() as session, pytest.raises(LiaisonError, match="does not take"):
        case = world.case(session, case_id)
        cases.choose_partner(session, case, world.user(session, "staff_a"), world.partner_id, NOW)


# --- declines and what the source ticket shows ---------------------------------------------------


def test_a_decline_needs_a_reason_and_reaches_the_requester(world: World) -> None:
    case_id = world.request()
    with world.factory.begin() as session, pytest.raises(LiaisonError, match="reason"):
        cases.decline(
            session, world.case(session, case_id), world.user(session, "staff_a"), " ", NOW
        )
    with world.factory.begin() as session, pytest.raises(LiaisonError, match="Only staff"):
        cases.decline(
            session, world.case(session, case_id), world.user(session, "specialist"), "no", NOW
        )
    with world.factory.begin() as session:
        cases.decline(
            session,
            world.case(session, case_id),
            world.user(session, "staff_a"),
            "Not enough to identify him yet.",
            NOW,
        )
    with world.factory() as session:
        specialist = world.user(session, "specialist")
        [status] = cases.statuses_for_source(session, world.source(session), specialist)
        assert (status.label, status.reason) == ("declined", "Not enough to identify him yet.")
        # The specialist may not see the police-liaison queue: no case number for them.
        assert status.case_number is None and status.case_id is None
        [mine] = cases.requests_by(session, specialist)
        assert mine.reason == "Not enough to identify him yet."
        staff = world.user(session, "staff_b")
        [seen] = cases.statuses_for_source(session, world.source(session), staff)
        assert seen.case_id == case_id and seen.case_number is not None
    with pytest.raises(LiaisonError, match="cannot be approved now"):
        _approve(world, case_id, "staff_b")


def test_status_labels_follow_the_case(world: World) -> None:
    case_id = world.request()

    def label() -> str:
        with world.factory() as session:
            viewer = world.user(session, "volunteer")
            return cases.statuses_for_source(session, world.source(session), viewer)[0].label

    assert label() == "requested"
    world.ready(case_id)
    assert label() == "in review"
    _approve(world, case_id, "staff_a")
    assert label() == "in review"
    _confirm(world, case_id, "staff_b")
    assert label() == "sent"
