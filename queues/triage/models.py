"""The triage lexicon's table: what staff changed in the web UI (issue 9).

One row per entry staff touched, keyed by language and entry id:

- origin "staff": a phrase staff added (category, pattern, example sentences), on or off;
- origin "file": a switch on an entry or window rule of the data files (enabled False
  switches it off; the data files themselves never change from the web UI).

queues.triage.staff reads these rows into the lexicon and writes every change to the audit
log (queues.audit.record_staff_change).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, utcnow


class TriageEntry(Base):
    """A staff-added triage phrase, or a switch on a data-file entry or rule."""

    __tablename__ = "triage_entries"
    __table_args__ = (UniqueConstraint("language", "entry_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    entry_id: Mapped[str] = mapped_column(String(80))
    origin: Mapped[str] = mapped_column(String(10))  # "staff" or "file"
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    category: Mapped[str] = mapped_column(String(30), default="")
    pattern: Mapped[str] = mapped_column(Text, default="")
    positive: Mapped[list[str]] = mapped_column(JSON, default=list)
    negative: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
