"""Render the trusted mail templates in templates/mail/<kind>/{subject.txt,body.txt}.

Files shipped in templates/ are trusted (DESIGN.md "Templates"); templates that staff edit
in the web UI are rendered elsewhere, in a sandbox. Callers pass a plain context dict, in
the manner of Warehouse's senders, so what a template can see is explicit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from queues.resources import templates_dir


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body_text: str


@cache
def _environment() -> Environment:
    # Plain-text mail, not HTML: HTML escaping would corrupt it.
    return Environment(
        loader=FileSystemLoader(str(templates_dir() / "mail")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701
    )


def render_mail(kind: str, context: dict[str, Any]) -> RenderedMail:
    env = _environment()
    subject = env.get_template(f"{kind}/subject.txt").render(context)
    body = env.get_template(f"{kind}/body.txt").render(context)
    # A subject is one line whatever the template produced (no header injection by template).
    return RenderedMail(subject=" ".join(subject.split()), body_text=body)
