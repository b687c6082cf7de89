"""Fixtures of the liaison tests (tests/unit/queues/liaison/world.py)."""

from __future__ import annotations

from .world import liaison_settings, org_home, partner_key, world

__all__ = ["liaison_settings", "org_home", "partner_key", "world"]
