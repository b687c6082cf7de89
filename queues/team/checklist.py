"""The training checklist: items staff define, and each agent's progress through them.

An item is done for an agent when their mentor or a staff member ticks it (the agent does
not sign off their own training). The agent, their mentor and staff see the progress
(webui.team). Retired items drop out of everyone's list but keep their ticks on record.
Probation cannot end while an active item is open for the agent (queues.team.probation
asks `open_items`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from queues.models import Role, User
from queues.team.models import AgentProfile, ChecklistItem, ChecklistTick

MAX_TITLE = 200
MAX_DESCRIPTION = 5000


class ChecklistError(ValueError):
    """A change to the checklist that cannot be made; the message is for people."""


@dataclass(frozen=True)
class Progress:
    """One active item and whether (when, by whom) the agent has done it."""

    item: ChecklistItem
    done_at: datetime | None
    done_by: str

    @property
    def done(self) -> bool:
        return self.done_at is not None


def items(session: Session, *, include_retired: bool = False) -> list[ChecklistItem]:
    stmt = select(ChecklistItem).order_by(ChecklistItem.position, ChecklistItem.id)
    if not include_retired:
        stmt = stmt.where(ChecklistItem.active.is_(True))
    return list(session.scalars(stmt))


def _clean(title: str, description: str) -> tuple[str, str]:
    title = " ".join(title.split())
    description = description.replace("\r\n", "\n").replace("\0", "").strip()
    if not title:
        raise ChecklistError("Give the item a title.")
    if len(title) > MAX_TITLE:
        raise ChecklistError(f"A title can have at most {MAX_TITLE} characters.")
    if len(description) > MAX_DESCRIPTION:
        raise ChecklistError(f"A description can have at most {MAX_DESCRIPTION:,} characters.")
    return title, description


def add_item(
    session: Session, title: str, description: str, by: str, now: datetime
) -> ChecklistItem:
    title, description = _clean(title, description)
    last = session.scalar(select(func.max(ChecklistItem.position))) or 0
    item = ChecklistItem(
        title=title,
        description=description,
        position=last + 10,
        active=True,
        created_at=now,
        created_by=by,
    )
    session.add(item)
    session.flush()
    return item


def edit_item(session: Session, item: ChecklistItem, title: str, description: str) -> None:
    item.title, item.description = _clean(title, description)
    session.flush()


def set_active(session: Session, item: ChecklistItem, active: bool) -> None:
    """Retire an item (it no longer counts as open for anyone) or bring it back."""
    item.active = active
    session.flush()


def progress(session: Session, user_id: int) -> list[Progress]:
    """The agent's progress through every active item, in checklist order."""
    ticks = {
        tick.item_id: tick
        for tick in session.scalars(select(ChecklistTick).where(ChecklistTick.user_id == user_id))
    }
    found = []
    for item in items(session):
        tick = ticks.get(item.id)
        found.append(Progress(item, tick.done_at if tick else None, tick.done_by if tick else ""))
    return found


def open_items(session: Session, user_id: int) -> list[ChecklistItem]:
    return [p.item for p in progress(session, user_id) if not p.done]


def may_tick(session: Session, by: User, agent_id: int) -> bool:
    """Staff, or the agent's mentor; never the agent themselves."""
    if not by.active or by.id == agent_id:
        return False
    if by.role is Role.STAFF:
        return True
    mentor_id = session.scalar(
        select(AgentProfile.mentor_id).where(AgentProfile.user_id == agent_id)
    )
    return mentor_id == by.id


def tick(session: Session, agent: User, item: ChecklistItem, by: User, now: datetime) -> None:
    """Mark `item` done for `agent`; only their mentor or staff may."""
    if not may_tick(session, by, agent.id):
        raise ChecklistError("Only the agent's mentor or staff can tick their checklist.")
    if not item.active:
        raise ChecklistError("That item is retired.")
    exists = session.scalar(
        select(ChecklistTick.id).where(
            ChecklistTick.user_id == agent.id, ChecklistTick.item_id == item.id
        )
    )
    if exists is not None:
        raise ChecklistError("That item is already done.")
    session.add(ChecklistTick(user_id=agent.id, item_id=item.id, done_at=now, done_by=by.email))
    session.flush()


def untick(session: Session, agent: User, item: ChecklistItem, by: User) -> None:
    """Mark `item` open again (a tick given by mistake)."""
    if not may_tick(session, by, agent.id):
        raise ChecklistError("Only the agent's mentor or staff can change their checklist.")
    session.execute(
        delete(ChecklistTick).where(
            ChecklistTick.user_id == agent.id, ChecklistTick.item_id == item.id
        )
    )
    session.flush()
