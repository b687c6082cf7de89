"""How ticket values are named on every page: one wording for priorities everywhere."""

from __future__ import annotations

from flask import Flask

from queues.models import Priority


def priority_label(value: int) -> str:
    """ "4 high", "2" (a level without a name), "5 urgent"."""
    try:
        return f"{value} {Priority(value).name.lower()}"
    except ValueError:
        return str(value)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["priority_label"] = priority_label
