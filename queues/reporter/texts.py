"""The reporter's mail in their language: the acknowledgement and the fixed-wording status mail.

Shipped texts are trusted files with `{% trans %}` blocks (templates/mail/<kind>/), one set
for every language through the catalogs (queues.i18n). The acknowledgement is per queue:
staff may write their own for a queue and a language (`AckTemplate`, rendered in the
sandbox: queues.reporter.acks); without one, `acknowledgement/<queue-slug>/` is used, or the
general `acknowledgement/` for a queue that has no file of its own.

A reporter whose language is not known (None: nothing chosen, nothing detected, or a
language we have no texts in) gets the mail in English with the same text in each of the
other languages below it; the subject is English.

Paragraphs are written one to a `{% trans trimmed %}` block (translators see whole
sentences); the rendered text is wrapped at 76 columns here, never inside a word, so a
link stays whole on its line.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from queues.i18n import DEFAULT_LANGUAGE, LANGUAGES, native_name, translator
from queues.mailtemplates import RenderedMail, render_mail
from queues.resources import templates_dir
from queues.settings import Settings

WIDTH = 76
ACKNOWLEDGEMENT = "acknowledgement"
STATUS_KINDS = ("status_taken", "status_pending", "status_specialists", "status_closed")


def N_(message: str) -> str:
    """Marks a text for the catalogs (Babel extracts N_) without translating it here."""
    return message


# The default of settings.emergency_text, in the catalogs so each language has its own; a
# text an installation configured itself is used as it is, in every language.
DEFAULT_EMERGENCY_TEXT = N_(
    "If you or someone else is in immediate danger, call your local emergency number "
    "now (112 in Europe, 911 in North America, 999 in the UK)."
)


@dataclass(frozen=True)
class ReporterMail:
    subject: str
    body_text: str
    language: str | None  # None: English with the other languages below


# A renderer of one language's version: (language, context) -> subject and body.
Renderer = Callable[[str, Mapping[str, Any]], RenderedMail]


def emergency_text(settings: Settings, language: str) -> str:
    return translator(language).gettext(settings.emergency_text)


def tidy(text: str, width: int = WIDTH) -> str:
    """At most one blank line between paragraphs, one newline at the end, lines wrapped."""
    return wrap(re.sub(r"\n{3,}", "\n\n", text.strip("\n")), width) + "\n"


def wrap(text: str, width: int = WIDTH) -> str:
    """Lines longer than `width` wrapped at spaces (indentation kept; words never split)."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        out += textwrap.wrap(
            line,
            width=width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(out)


def file_kind(kind: str, queue_slug: str | None) -> str:
    """The template directory for `kind`: the queue's own when it exists."""
    if queue_slug and "/" not in queue_slug and not queue_slug.startswith("."):
        own = f"{kind}/{queue_slug}"
        if (templates_dir() / "mail" / own / "body.txt").is_file():
            return own
    return kind


def file_renderer(kind: str) -> Renderer:
    def render(language: str, context: Mapping[str, Any]) -> RenderedMail:
        return render_mail(kind, dict(context), language)

    return render


def in_language(
    render: Renderer,
    context: Mapping[str, Any],
    language: str | None,
    settings: Settings,
) -> ReporterMail:
    """The mail in `language`, or (None) in English with the other languages below."""
    if language in LANGUAGES:
        one = render(language, _localized(context, language, settings))
        return ReporterMail(one.subject, tidy(one.body_text), language)
    first = render(DEFAULT_LANGUAGE, _localized(context, DEFAULT_LANGUAGE, settings))
    parts = [tidy(first.body_text)]
    for other in LANGUAGES:
        if other == DEFAULT_LANGUAGE:
            continue
        version = render(other, _localized(context, other, settings))
        parts.append(f"---- {native_name(other)} ----\n\n{tidy(version.body_text)}")
    return ReporterMail(first.subject, "\n\n".join(parts), None)


def _localized(context: Mapping[str, Any], language: str, settings: Settings) -> dict[str, Any]:
    return {**context, "emergency_text": emergency_text(settings, language)}
