"""Staff edit each queue's acknowledgement in every language: start from the shipped text,
preview in the sandbox with sample data, save (syntax checked), go back to the shipped text.
Every change is audited. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import AuditEvent, Queue, Role
from queues.reporter.models import AckTemplate

from .conftest import Auth, csrf_from


def queue_id(factory: sessionmaker[Session], slug: str) -> int:
    with factory() as session:
        return session.scalars(select(Queue.id).where(Queue.slug == slug)).one()


def test_only_staff(auth: Auth, factory: sessionmaker[Session]) -> None:
    safety = queue_id(factory, "specialist-safety")
    for role in (Role.VOLUNTEER, Role.SPECIALIST):
        client = auth.as_role(role, auth.app.test_client())
        assert client.get("/staff/acknowledgements/").status_code == 404
        assert client.get(f"/staff/acknowledgements/{safety}/de").status_code == 404


def test_edit_preview_save_and_reset(auth: Auth, factory: sessionmaker[Session]) -> None:
    client = auth.as_role(Role.STAFF)
    safety = queue_id(factory, "specialist-safety")
    index = client.get("/staff/acknowledgements/").get_data(as_text=True)
    assert "Specialist safety" in index and "Deutsch" in index and "Shipped" in index
    page = client.get(f"/staff/acknowledgements/{safety}/de").get_data(as_text=True)
    assert "Wenn Sie jetzt in Gefahr sind" in page and "{{ emergency_text }}" in page
    token = csrf_from(client.get(f"/staff/acknowledgements/{safety}/de"))
    body = "{{ emergency_text }}\n\nHallo, Ihre Meldung ist Ticket {{ number }}."
    preview = client.post(
        f"/staff/acknowledgements/{safety}/de",
        data={"csrf_token": token, "subject": "", "body": body, "action": "preview"},
    ).get_data(as_text=True)
    preview = " ".join(preview.split())
    assert "Wenn Sie oder jemand anderes in unmittelbarer Gefahr sind" in preview
    assert "Ticket 2026010100001" in preview and "Nothing was saved" in preview
    with factory() as session:
        assert session.scalars(select(AckTemplate)).all() == []
    bad = client.post(
        f"/staff/acknowledgements/{safety}/de",
        data={"csrf_token": token, "subject": "", "body": "{{ number ", "action": "save"},
    ).get_data(as_text=True)
    assert 'id="body-error"' in bad
    saved = client.post(
        f"/staff/acknowledgements/{safety}/de",
        data={"csrf_token": token, "subject": "{{ tag }} Danke", "body": body, "action": "save"},
    )
    assert saved.status_code == 302
    with factory() as session:
        row = session.scalars(select(AckTemplate)).one()
        assert (row.language, row.subject, row.updated_by) == (
            "de",
            "{{ tag }} Danke",
            "staff@example.org",
        )
        audit = session.scalars(select(AuditEvent.detail)).all()
        assert "acknowledgement of queue specialist-safety in de changed" in audit
    assert "Your own" in client.get("/staff/acknowledgements/").get_data(as_text=True)
    reset = client.post(f"/staff/acknowledgements/{safety}/de/reset", data={"csrf_token": token})
    assert reset.status_code == 302
    with factory() as session:
        assert session.scalars(select(AckTemplate)).all() == []
    assert client.get(f"/staff/acknowledgements/{safety}/xx").status_code == 404
