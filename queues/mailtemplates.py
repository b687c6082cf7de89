"""Render the trusted mail templates in templates/mail/<kind>/{subject.txt,body.txt}.

Files shipped in templates/ are trusted (DESIGN.md "Templates"); templates that staff edit
in the web UI are rendered elsewhere, in a sandbox. Callers pass a plain context dict, in
the manner of Warehouse's senders, so what a template can see is explicit.

Templates may use Jinja2's i18n extension (`{% trans %}`, `gettext`, `ngettext`, newstyle:
they format their own variables); `language` picks the reader's catalog (queues.i18n),
English when it is missing or unsupported. One environment per language, built on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from queues.i18n import DEFAULT_LANGUAGE, supported, translations
from queues.resources import templates_dir


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body_text: str


@cache
def _environment(language: str) -> Environment:
    # Plain-text mail, not HTML: HTML escaping would corrupt it. babel.cfg extracts the
    # templates with these same options, so the msgids match what is looked up.
    env = Environment(
        loader=FileSystemLoader(str(templates_dir() / "mail")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701
        extensions=["jinja2.ext.i18n"],
    )
    # The extension adds this method to the environment (Environment.extend): no stub.
    install = env.install_gettext_translations  # type: ignore[attr-defined]
    install(translations(language), newstyle=True)
    return env


def render_mail(
    kind: str, context: dict[str, Any], language: str = DEFAULT_LANGUAGE
) -> RenderedMail:
    env = _environment(supported(language))
    subject = env.get_template(f"{kind}/subject.txt").render(context)
    body = env.get_template(f"{kind}/body.txt").render(context)
    # A subject is one line whatever the template produced (no header injection by template).
    return RenderedMail(subject=" ".join(subject.split()), body_text=body)
