"""The rota pages (webui.rota, webui.rota_staff) through the test client, on SQLite and
PostgreSQL: the week view in the viewer's time zone with every hour without cover marked,
need to know (a volunteer never meets specialist-safety here), signing up and leaving,
the time zone, a swap from request to staff approval, and staff defining shifts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Queue, Role, User
from queues.team.rota import covering, week_start
from queues.team.rota_models import DUTY, Shift, ShiftCover, ShiftSignup, ShiftSwap
from tests.unit.queues.team.rota_helpers import BEFORE

from .conftest import Auth, People, csrf_from

SAFETY, HELP = "specialist-safety", "general-help"


def _queue(session: Session, slug: str) -> Queue:
    return session.scalars(select(Queue).where(Queue.slug == slug)).one()


def _shift(
    factory: sessionmaker[Session], slug: str, weekday: int, start: time, end: time, **kw: object
) -> int:
    with factory.begin() as session:
        shift = Shift(
            queue_id=_queue(session, slug).id,
            weekday=weekday,
            start=start,
            end=end,
            timezone=str(kw.get("timezone", "UTC")),
            needed=int(kw.get("needed", 1)),  # type: ignore[call-overload]
            name=str(kw.get("name", "")),
        )
        session.add(shift)
        session.flush()
        return shift.id


def _sign_up(factory: sessionmaker[Session], user: User, shift_id: int, role: str = DUTY) -> int:
    with factory.begin() as session:
        signup = ShiftSignup(
            shift_id=shift_id, user_id=user.id, role=role, first_date=BEFORE.date()
        )
        session.add(signup)
        session.flush()
        return signup.id


def _post(client: FlaskClient, url: str, page: str, **data: str) -> str:
    token = csrf_from(client.get(page))
    response = client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_week_marks_every_hour_without_cover_in_the_viewers_time_zone(
    auth: Auth, people: People, factory: sessionmaker[Session]
) -> None:
    specialist = people.by_role[Role.SPECIALIST]
    # Every day 00:00-24:00 UTC except 06:00-08:00: fourteen hours a week without cover.
    for weekday in range(7):
        _sign_up(factory, specialist, _shift(factory, SAFETY, weekday, time(8), time(6)))
    with factory.begin() as session:
        session.get_one(User, specialist.id).timezone = "Asia/Kolkata"  # UTC+5:30, no DST
    client = auth.as_role(Role.SPECIALIST)
    page = client.get("/rota/?queue=specialist-safety")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = _text(html)
    assert "nobody is on duty for 14 h (21 hours of the grid below marked)" in text
    assert "Asia/Kolkata" in text
    # 06:00-08:00 UTC is 11:30-13:30 in Kolkata: the 11:00, 12:00 and 13:00 hours are
    # partly or wholly without cover, every day.
    assert text.count("11:30–13:30") == 7 * 2  # the list of gaps and the day-by-day list
    assert html.count('class="rota-gap"') == 7 and html.count('class="rota-partial"') == 14
    assert text.count("No cover") == 7
    assert "Part of the hour without cover" in text


def test_a_volunteer_never_meets_specialist_safety_on_the_rota(
    auth: Auth, people: People, factory: sessionmaker[Session]
) -> None:
    _sign_up(factory, people.by_role[Role.SPECIALIST], _shift(factory, SAFETY, 0, time(0), time(0)))
    _shift(factory, HELP, 0, time(9), time(17), name="Help mornings")
    client = auth.as_role(Role.VOLUNTEER)
    html = client.get("/rota/").get_data(as_text=True)
    assert "Help mornings" in html and "General help" in html
    assert "Specialist safety" not in html and SAFETY not in html
    assert people.email(Role.SPECIALIST) not in html
    assert client.get("/rota/?queue=specialist-safety").status_code == 404
    assert client.get("/rota/?queue=police-liaison").status_code == 404
    assert client.get("/rota/?queue=no-such-queue").status_code == 404
    # Signing up for a specialist-safety shift: the shift does not exist for a volunteer.
    with factory() as session:
        safety_shift = session.scalars(
            select(Shift.id).where(Shift.queue_id == _queue(session, SAFETY).id)
        ).one()
    text = _text(
        _post(client, "/rota/signup", "/rota/", shift_id=str(safety_shift), first_date="2099-01-05")
    )
    assert "Not signed up: There is no such shift." in text


def test_sign_up_and_leave_through_the_page(
    auth: Auth, people: People, factory: sessionmaker[Session]
) -> None:
    shift_id = _shift(factory, SAFETY, 2, time(20), time(4), name="Wednesday night")
    client = auth.as_role(Role.SPECIALIST)
    monday = week_start(date.today()) + timedelta(days=7)
    text = _text(
        _post(
            client,
            "/rota/signup",
            "/rota/",
            shift_id=str(shift_id),
            role="duty",
            first_date=monday.isoformat(),
            queue=SAFETY,
        )
    )
    wednesday = monday + timedelta(days=2)
    assert f"You are on Wednesday night (on duty) from {wednesday:%a %d %b %Y}" in text
    with factory() as session:
        q = _queue(session, SAFETY)
        on = covering(session, q, datetime.combine(wednesday, time(22), tzinfo=UTC))
        assert [a.email for a in on] == [people.email(Role.SPECIALIST)]
        signup_id = session.scalars(select(ShiftSignup.id)).one()
    # Nothing chosen: a message, never an error page.
    assert "Choose a shift" in _text(_post(client, "/rota/signup", "/rota/"))
    text = _text(
        _post(
            client, "/rota/leave", "/rota/", signup_id=str(signup_id), from_date=monday.isoformat()
        )
    )
    assert "Your sign-up is removed." in text
    # Someone else's sign-up cannot be ended from the agents' page.
    other = _sign_up(factory, people.by_role[Role.STAFF], shift_id)
    text = _text(
        _post(client, "/rota/leave", "/rota/", signup_id=str(other), from_date=monday.isoformat())
    )
    assert "There is no such sign-up." in text


def test_the_time_zone_is_checked_and_kept(
    auth: Auth, people: People, factory: sessionmaker[Session]
) -> None:
    client = auth.as_role(Role.VOLUNTEER)
    assert "not a time zone name" in _text(
        _post(client, "/rota/timezone", "/rota/", timezone="Berlin")
    )
    text = _text(_post(client, "/rota/timezone", "/rota/", timezone="Europe/Berlin"))
    assert "Times on the rota are now in Europe/Berlin." in text
    with factory() as session:
        assert session.get_one(User, people.by_role[Role.VOLUNTEER].id).timezone == "Europe/Berlin"


def test_a_swap_from_request_to_approval(
    auth: Auth, people: People, factory: sessionmaker[Session], app: object
) -> None:
    specialist, staff = people.by_role[Role.SPECIALIST], people.by_role[Role.STAFF]
    monday_shift = _shift(factory, SAFETY, 0, time(18), time(22), name="Monday evening")
    mine = _sign_up(factory, specialist, monday_shift)
    next_monday = week_start(date.today()) + timedelta(days=7)
    asker = auth.as_role(Role.SPECIALIST)
    mine_page = _text(asker.get("/rota/mine").get_data(as_text=True))
    assert "Monday evening" in mine_page and "Ask for a swap" in mine_page
    step_one = asker.get(f"/rota/swap?signup_id={mine}&on_date={next_monday.isoformat()}")
    assert "staff@example.org (staff)" in step_one.get_data(as_text=True)
    step_two = f"/rota/swap?signup_id={mine}&on_date={next_monday.isoformat()}&with={staff.id}"
    assert "Nothing: staff@example.org takes my shift" in _text(
        asker.get(step_two).get_data(as_text=True)
    )
    text = _text(
        _post(
            asker,
            "/rota/swap",
            step_two,
            signup_id=str(mine),
            on_date=next_monday.isoformat(),
            **{"with": str(staff.id)},
            counter="",
            note="a family dinner",
        )
    )
    assert "staff@example.org is asked; staff decide once they agree." in text
    with factory() as session:
        swap_id = session.scalars(select(ShiftSwap.id)).one()
    # The other agent agrees on their own "my shifts" page ...
    other = auth.as_role(Role.STAFF, auth.app.test_client())
    assert "a family dinner" in _text(other.get("/rota/mine").get_data(as_text=True))
    text = _text(
        _post(other, "/rota/swaps/answer", "/rota/mine", swap_id=str(swap_id), answer="accept")
    )
    assert "You agreed; staff decide now." in text
    # ... and staff approve it on the staff page.
    assert "Both agreed." in _text(other.get("/staff/rota/").get_data(as_text=True))
    text = _text(
        _post(
            other,
            "/staff/rota/swaps/decide",
            "/staff/rota/",
            swap_id=str(swap_id),
            decision="approve",
        )
    )
    assert "The swap is approved." in text
    with factory() as session:
        cover = session.scalars(select(ShiftCover)).one()
        assert (cover.out_user_id, cover.in_user_id, cover.on_date) == (
            specialist.id,
            staff.id,
            next_monday,
        )


def test_staff_define_change_and_retire_shifts(
    auth: Auth, people: People, factory: sessionmaker[Session]
) -> None:
    client = auth.as_role(Role.STAFF)
    with factory() as session:
        safety_id = _queue(session, SAFETY).id
    form = {
        "queue_id": str(safety_id),
        "name": "Nights",
        "kind": "weekly",
        "weekday": "4",
        "start": "22:00",
        "end": "06:00",
        "timezone": "Europe/Berlin",
        "needed": "2",
    }
    assert "not a time zone" in _text(
        _post(
            client,
            "/staff/rota/shifts/new",
            "/staff/rota/shifts/new",
            **{**form, "timezone": "Mars"},
        )
    )
    text = _text(_post(client, "/staff/rota/shifts/new", "/staff/rota/shifts/new", **form))
    assert "The shift Nights is saved." in text
    assert "Fridays 22:00–06:00 the next day (Europe/Berlin). Needs 2 on duty." in text
    with factory() as session:
        shift_id = session.scalars(select(Shift.id).where(Shift.name == "Nights")).one()
    page = f"/staff/rota/shifts/{shift_id}"
    text = _text(_post(client, page, page, **{**form, "kind": "once", "on_date": "2099-12-31"}))
    assert "Thu 31 Dec 2099 22:00–06:00 the next day (Europe/Berlin)" in text
    text = _text(_post(client, f"/staff/rota/shifts/{shift_id}/retire", "/staff/rota/"))
    assert "The shift Nights is off the rota." in text
    assert client.get(page).status_code == 404
    # Not staff: none of it exists.
    specialist = auth.as_role(Role.SPECIALIST, auth.app.test_client())
    assert specialist.get("/staff/rota/").status_code == 404
    assert specialist.get("/staff/rota/shifts/new").status_code == 404


def test_staff_end_an_agents_sign_up(
    auth: Auth, people: People, factory: sessionmaker[Session]
) -> None:
    shift_id = _shift(factory, HELP, 1, time(9), time(12))
    signup = _sign_up(factory, people.by_role[Role.VOLUNTEER], shift_id)
    client = auth.as_role(Role.STAFF)
    assert "volunteer@example.org: on duty" in _text(
        client.get("/staff/rota/").get_data(as_text=True)
    )
    text = _text(
        _post(
            client,
            "/staff/rota/signups/end",
            "/staff/rota/",
            signup_id=str(signup),
            from_date=date.today().isoformat(),
        )
    )
    assert "The sign-up is ended after" in text
