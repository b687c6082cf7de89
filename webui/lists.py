"""The `lists` blueprint: a queue's tickets, "my tickets" and full-text search.

Every list starts from queues.access (through queues.ticketlist and queues.search): a
queue the agent may not see is a 404 like any missing page, and its tickets are in no
list, count or search result. Query parameters are read through whitelists; anything
unknown falls back to the default instead of failing. Filters are a plain GET form, so
everything works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint, abort, redirect, render_template, request, url_for
from sqlalchemy import Select, select
from werkzeug.wrappers import Response

from queues.access import visible_queues_query
from queues.models import Queue, Ticket, TicketState, User
from queues.search import MAX_RESULTS, search_tickets
from queues.ticketlist import (
    DEFAULT_DESCENDING,
    PAGE_SIZE,
    Cursor,
    DueFilter,
    ListFilter,
    OwnerFilter,
    Page,
    Sort,
    SortKey,
    StateFilter,
    apply_filter,
    base_query,
    list_page,
)
from webui import db
from webui.labels import priority_label
from webui.login import agent
from webui.tickets import ticket_url
from webui.timefmt import since, stamp

bp = Blueprint("lists", __name__)

# The query parameters a list understands; links keep exactly these.
LIST_PARAMETERS = ("state", "priority", "owner", "flagged", "due", "sort", "dir")
MAX_SEARCH_PAGES = MAX_RESULTS // PAGE_SIZE
PRIORITY_CHOICES = [(1, "1 low"), (2, "2"), (3, "3 normal"), (4, "4 high"), (5, "5 urgent")]
STATE_CHOICES = [
    (StateFilter.ACTIVE, "Not closed"),
    (StateFilter.ANY, "Any"),
    (StateFilter.NEW, "New"),
    (StateFilter.OPEN, "Open"),
    (StateFilter.PENDING, "Pending"),
    (StateFilter.CLOSED, "Closed"),
]


@dataclass(frozen=True)
class ListParams:
    """What the query string asked for, after the whitelist."""

    filter: ListFilter
    sort: Sort
    values: dict[str, str]  # the accepted parameters, for links and the form

    def sorted_by(self, key: str) -> str | None:
        """The aria-sort value of a column header sorted by `key`."""
        if self.sort.key != key:
            return None
        return "descending" if self.sort.descending else "ascending"


def read_params(args: Mapping[str, str], *, owner_filter: bool = True) -> ListParams:
    values: dict[str, str] = {}
    state = _choice(args.get("state"), StateFilter, StateFilter.ACTIVE)
    values["state"] = state.value
    priority: int | None = None
    if (raw := args.get("priority", "")).isdigit() and 1 <= int(raw) <= 5:
        priority = int(raw)
        values["priority"] = raw
    owner, owner_id = OwnerFilter.ANY, None
    raw_owner = args.get("owner", "") if owner_filter else ""
    if raw_owner in (OwnerFilter.ME, OwnerFilter.NOBODY):
        owner = OwnerFilter(raw_owner)
        values["owner"] = raw_owner
    elif raw_owner.isdigit() and len(raw_owner) < 12:
        owner, owner_id = OwnerFilter.USER, int(raw_owner)
        values["owner"] = raw_owner
    flagged = {"yes": True, "no": False}.get(args.get("flagged", ""))
    if flagged is not None:
        values["flagged"] = args["flagged"]
    due = _choice(args.get("due"), DueFilter, DueFilter.ANY)
    if due is not DueFilter.ANY:
        values["due"] = due.value
    key = _choice(args.get("sort"), SortKey, SortKey.UPDATED)
    descending = DEFAULT_DESCENDING[key]
    if args.get("dir") in ("asc", "desc"):
        descending = args["dir"] == "desc"
    values["sort"] = key.value
    values["dir"] = "desc" if descending else "asc"
    flt = ListFilter(state, priority, owner, owner_id, flagged, due)
    return ListParams(flt, Sort(key, descending), values)


_E = TypeVar("_E", StateFilter, SortKey, DueFilter)


def _choice(raw: str | None, kind: type[_E], default: _E) -> _E:
    try:
        return kind(raw) if raw else default
    except ValueError:
        return default


def _owners(ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in db.session().scalars(select(User).where(User.id.in_(ids)))}


def _page_links(endpoint: str, params: ListParams, page: Page, **view_args: Any) -> dict[str, str]:
    def link(**extra: Any) -> str:
        values: dict[str, Any] = {**view_args, **params.values, **extra}
        return url_for(endpoint, **values)

    links = {}
    if page.prev_cursor:
        links["first"] = link()
        links["prev"] = link(before=page.prev_cursor)
    if page.next_cursor:
        links["next"] = link(after=page.next_cursor)
        links["last"] = link(last="1")
    return links


def _sort_link(endpoint: str, params: ListParams, **view_args: Any) -> Callable[[str], str]:
    """A header link: sort by that key, flipping the direction when it is already the key."""

    def link(key: str) -> str:
        sort_key = SortKey(key)
        if params.sort.key is sort_key:
            direction = "asc" if params.sort.descending else "desc"
        else:
            direction = "desc" if DEFAULT_DESCENDING[sort_key] else "asc"
        values: dict[str, Any] = {**params.values, "sort": key, "dir": direction}
        return url_for(endpoint, **view_args, **values)

    return link


def _cursor(name: str, key: SortKey) -> Cursor | None:
    return Cursor.decode(request.args.get(name), key)


def _render_list(
    template: str, *, endpoint: str, params: ListParams, page: Page, **context: object
) -> str:
    view_args = {k: str(v) for k, v in (request.view_args or {}).items()}
    me = agent().user
    active_users = db.session().scalars(select(User).where(User.active).order_by(User.email))
    return render_template(
        template,
        page=page,
        params=params,
        owners=_owners(page.owner_ids),
        agents=list(active_users),
        me=me,
        links=_page_links(endpoint, params, page, **view_args),
        sort_link=_sort_link(endpoint, params, **view_args),
        ticket_url=ticket_url,
        priority_label=priority_label,
        state_choices=STATE_CHOICES,
        priority_choices=PRIORITY_CHOICES,
        since=since,
        stamp=stamp,
        now=datetime.now(UTC),
        closed=TicketState.CLOSED,
        **context,
    )


def _list_page(stmt: Select[Ticket], params: ListParams) -> Page:
    return list_page(
        db.session(),
        stmt,
        params.sort,
        after=_cursor("after", params.sort.key),
        before=_cursor("before", params.sort.key),
        last=request.args.get("last") == "1",
    )


@bp.get("/queues/<slug>")
def queue(slug: str) -> str:
    me = agent().user
    found = db.session().scalar(visible_queues_query(me).where(Queue.slug == slug))
    if found is None:
        abort(404)
    params = read_params(request.args)
    page = _list_page(apply_filter(base_query(me, queue_id=found.id), params.filter, me), params)
    return _render_list(
        "webui/lists/queue.html", endpoint="lists.queue", params=params, page=page, queue=found
    )


@bp.get("/mine")
def mine() -> str:
    me = agent().user
    params = read_params(request.args, owner_filter=False)
    page = _list_page(apply_filter(base_query(me, owner_id=me.id), params.filter, me), params)
    return _render_list("webui/lists/mine.html", endpoint="lists.mine", params=params, page=page)


@bp.get("/search")
def search() -> str | Response:
    me = agent().user
    query = request.args.get("q", "")[:500]
    raw_page = request.args.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and len(raw_page) < 6 else 1
    number = min(max(number, 1), MAX_SEARCH_PAGES)
    results = search_tickets(
        db.session(), me, query, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    if results.exact is not None:
        return redirect(ticket_url(results.exact.number))
    pages = max(1, -(-results.total // PAGE_SIZE))
    links = {}
    if number > 1:
        links["prev"] = url_for("lists.search", q=query, page=number - 1)
    if number < pages:
        links["next"] = url_for("lists.search", q=query, page=number + 1)
    ids = {t.owner_id for t in results.tickets if t.owner_id is not None}
    return render_template(
        "webui/lists/search.html",
        query=query,
        results=results,
        page_number=number,
        pages=pages,
        first=(number - 1) * PAGE_SIZE + 1,
        links=links,
        owners=_owners(ids),
        ticket_url=ticket_url,
        priority_label=priority_label,
        since=since,
        stamp=stamp,
        closed=TicketState.CLOSED,
    )
