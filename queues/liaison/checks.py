"""What must hold before a referral may go on: the rules every step checks again.

A "never" country, a partner that is inactive, has no usable key or no referral address,
a missing country, partner or evidence: each is a reason a person can read. The request
refuses a "never" country at once; review, approval, confirmation, sending and download
(queues.liaison.cases, queues.liaison.referral) refuse while any reason is left, so that a
policy changed in between is honoured at the next step, not only at the first.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.liaison.countries import country_name, never_reason, policy_of
from queues.liaison.models import LiaisonCase, Partner, PolicyKind
from queues.liaison.partners import usability_problems
from queues.models import Article, ArticleKind, Ticket


class ReferralRefused(ValueError):
    """A referral step that the rules refuse; the message is meant for the person."""


def never_problem(session: Session, country: str | None) -> str | None:
    reason = never_reason(session, country)
    if reason is None:
        return None
    return f"Referrals to {country_name(country)} are never made: {reason}"


def refuse_never(session: Session, country: str | None) -> None:
    problem = never_problem(session, country)
    if problem is not None:
        raise ReferralRefused(problem)


def evidence_articles(session: Session, case: LiaisonCase) -> list[Article]:
    """The chosen evidence: incoming messages of the source ticket, in thread order."""
    if case.source_ticket_id is None or not case.evidence_article_ids:
        return []
    return list(
        session.scalars(
            select(Article)
            .where(
                Article.id.in_([int(i) for i in case.evidence_article_ids]),
                Article.ticket_id == case.source_ticket_id,
                Article.kind == ArticleKind.INCOMING,
            )
            .order_by(Article.id)
        )
    )


def referral_problems(session: Session, case: LiaisonCase) -> list[str]:
    """Every reason the referral cannot go ahead now ([] when it can)."""
    if not case.country:
        return ["Record the country the harasser is believed to act from."]
    problems: list[str] = []
    never = never_problem(session, case.country)
    if never is not None:
        return [never]  # nothing else matters: this case goes nowhere
    policy = policy_of(session, case.country)
    if policy.policy is not PolicyKind.PARTNER:
        problems.append(
            f"{policy.name} has no partner force (its policy is {policy.label!r})"
            + (f": {policy.reason}" if policy.reason else ".")
        )
    if case.country_basis is None:
        problems.append("Say on what basis the harasser is believed to act from there.")
    partner = session.get(Partner, case.partner_id) if case.partner_id is not None else None
    problems += usability_problems(partner)
    if partner is not None and case.country not in partner.country_codes:
        problems.append(f"{partner.name} does not take referrals for {policy.name}.")
    source = session.get(Ticket, case.source_ticket_id) if case.source_ticket_id else None
    if source is None:
        problems.append("The ticket the request was made on no longer exists.")
    if not evidence_articles(session, case):
        problems.append("Choose at least one message of the ticket as evidence.")
    if case.notify_reporter:
        if source is not None and (source.requester is None or not source.requester.email):
            problems.append(
                "The reporter has no address to tell them: record why they are not told."
            )
    elif not case.no_notice_reason.strip():
        problems.append("Record why the reporter is not told of the referral.")
    return problems


def require_referable(session: Session, case: LiaisonCase) -> None:
    problems = referral_problems(session, case)
    if problems:
        raise ReferralRefused(" ".join(problems))
