"""The template sandbox: normal templates render, every known escape fails safely and fast."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

import pytest

from queues.sandbox import TemplateError, check_untrusted, render_untrusted, variables_used

CONTEXT: dict[str, object] = {
    "ticket": {
        "number": 2024061512,
        "subject": "Someone keeps messaging me",
        "queue": "General help",
        "state": "open",
        "priority": 3,
    },
    "requester": {"name": "ann lee", "email": "ann@example.org"},
    "agent": {"name": "Sam Agent", "email": "sam@help.example"},
    "queue": {"name": "General help", "slug": "general-help"},
    "items": ["one", "two", "three"],
}


def render(source: str, context: Mapping[str, object] = CONTEXT, **kwargs: Any) -> str:
    """Render in a thread and fail the test if it does not finish within five seconds."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["out"] = render_untrusted(source, context, **kwargs)
        except BaseException as exc:  # the test inspects what escaped
            result["exc"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), f"render did not finish: {source[:80]!r}"
    assert time.monotonic() - started < 5
    if "exc" in result:
        raise result["exc"]  # type: ignore[misc]
    return str(result["out"])


def refused(source: str, **kwargs: Any) -> str:
    with pytest.raises(TemplateError) as info:
        render(source, **kwargs)
    assert info.type is TemplateError
    return str(info.value)


# --- normal templates ------------------------------------------------------------------------


def test_variables_filters_and_loops_render() -> None:
    source = (
        "Hello {{ requester.name | title }},\n"
        "ticket {{ ticket.number }} ({{ ticket.subject | upper }}) in {{ queue.name }}.\n"
        "{% for item in items %}{{ loop.index }}. {{ item | capitalize }}\n{% endfor %}"
        "{% if ticket.priority > 2 %}urgent{% else %}normal{% endif %}\n"
        "{{ requester.nickname | default('friend') }} {{ 'a long sentence here' | truncate(9) }}\n"
        "{{ agent.name }}"
    )
    out = render(source)
    assert out == (
        "Hello Ann Lee,\nticket 2024061512 (SOMEONE KEEPS MESSAGING ME) in General help.\n"
        "1. One\n2. Two\n3. Three\nurgent\nfriend a...\nSam Agent"
    )


def test_wordwrap_join_replace_and_concat() -> None:
    out = render(
        "{{ 'one two three four' | wordwrap(9) }}|{{ items | join(', ') }}|"
        "{{ 'a-b' | replace('-', '+') }}|{{ 'x' ~ ticket.number }}|{{ range(3) | list }}"
    )
    assert out == "one two\nthree\nfour|one, two, three|a+b|x2024061512|[0, 1, 2]"


def test_undefined_names_render_empty() -> None:
    assert render("[{{ missing }}][{{ missing.deeper.still }}][{{ requester.nick }}]") == "[][][]"


def test_plain_text_is_not_escaped() -> None:
    assert render("{{ '<b>&' }}") == "<b>&"


def test_context_objects_are_copied_to_plain_data() -> None:
    class Secret:
        password = "hunter2"

        def __str__(self) -> str:
            return "secret object"

    out = render("{{ thing }}|{{ thing.password }}", {"thing": Secret()})
    assert out == "secret object|"


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match=r"^line 2: unexpected '}'"):
        check_untrusted("fine\n{{ broken }\n")
    check_untrusted("{{ ticket.number }}")


def test_variables_used() -> None:
    assert variables_used("{{ ticket.number }}{{ tikcet }}{% set x = 1 %}{{ x }}") == {
        "ticket",
        "tikcet",
    }


# --- escapes to Python internals -------------------------------------------------------------

ATTRIBUTE_WALKS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''['__class__'] }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ range.__self__ }}",
    "{{ requester.__class__ }}",
    "{{ config }}{{ config.items() }}{{ request.environ }}",
]


@pytest.mark.parametrize("source", ATTRIBUTE_WALKS)
def test_attribute_walks_fail(source: str) -> None:
    try:
        out = render(source)
    except TemplateError:
        return
    assert out == ""  # names that do not exist render as empty text, and reach nothing


@pytest.mark.parametrize(
    "source",
    [
        "{{ items | map(attribute='__class__') | list }}",
        "{{ items | selectattr('__class__') | list }}",
        "{% set n = '__class__' %}{{ requester[n] }}",
        "{{ requester.pop('name') }}",
        "{{ items.append(1) }}",
        "{{ cycler() }}{{ lipsum() }}{{ dict(a=1) }}",
        "{{ items | attr('__class__') }}",
    ],
)
def test_runtime_attribute_guards(source: str) -> None:
    refused(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ '{0.__class__}'.format(ticket) }}",
        "{{ '{0.__class__.__mro__}'.format_map({}) }}",
        "{{ '%s' % ticket }}",
        "{{ '%(a)s' % requester }}",
        "{% set f = 'x'.format %}{{ f }}",
        "{{ items | map(attribute='format') | list }}",
        "{{ 'x' | format(1) }}",
    ],
)
def test_format_string_tricks_fail(source: str) -> None:
    refused(source)


@pytest.mark.parametrize(
    "source",
    [
        "{% include 'x.html' %}",
        "{% extends 'base.html' %}",
        "{% import 'x.html' as x %}",
        "{% from 'x.html' import y %}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{% set x %}{{ 'y' }}{% endset %}",
        "{% filter upper %}x{% endfilter %}",
        "{% block b %}x{% endblock %}",
        "{% for x in items recursive %}{{ loop(items) }}{% endfor %}",
        "{% autoescape true %}x{% endautoescape %}",
    ],
)
def test_refused_statements(source: str) -> None:
    with pytest.raises(TemplateError, match="not available"):
        check_untrusted(source)
    refused(source)


# --- resource exhaustion ---------------------------------------------------------------------

EXHAUSTION = [
    "{% for i in range(10**9) %}{% endfor %}",
    "{% for i in range(999999999) %}x{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{% set s = 'x'.ljust(9000) %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "{% for a in range(10000) %}{% for b in items %}{% for c in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "{{ 'x' * 10**9 }}",
    "{{ 10**9 * 'x' }}",
    "{{ ['x'] * 10**9 }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'.rjust(999999999) }}",
    "{{ 'x'.center(999999999) }}",
    "{{ '1'.zfill(999999999) }}",
    "{{ 'a\tb'.expandtabs(999999999) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ 'x' | center(10**9) }}",
    "{{ 'x' | center(999999999) }}",
    "{{ 'x\ny' | indent(10**9) }}",
    "{{ 'x\ny' | indent(999999999) }}",
    "{{ 'x' | wordwrap(999999999) }}",
    "{{ 'x' | truncate(999999999) }}",
    "{% set s = 'xxxxxxxxxx' %}" + "{% set s = s | replace('x', s) %}" * 8 + "{{ s | length }}",
    "{% set s = 'xxxxxxxxxx' %}" + "{% set s = s.replace('x', s) %}" * 8 + "{{ s | length }}",
    "{% set s = 'x' * 100000 %}{{ s.replace('', s) }}",
    "{% set x = 'ab' %}" + "{% set x = x ~ x %}" * 40 + "{{ x | length }}",
    "{% set x = 'ab' %}" + "{% set x = x + x %}" * 40 + "{{ x | length }}",
    "{% set x = ['ab'] %}" + "{% set x = x + x %}" * 40 + "{{ x | length }}",
    "{% set x = 'x' * 100000 %}{{ [x] * 1000 }}",
    "{% set x = 'x' * 100000 %}{{ ([x] * 1000) | join }}",
    "{% set x = 'x' * 100000 %}{{ x.join([x, x, x]) }}",
    "{% set x = 'x' * 100000 %}{{ [x, x] ~ x }}",
    "{% set x = 'x' * 100000 %}{{ range(10000) | map('string') | join(x) }}",
    "{% set x = 'x' * 100000 %}{{ x.join(range(10000) | map('string')) }}",
    "{% set x = 'x' * 100000 %}{{ [x, x, x] | map('upper') | join }}",
    "{{ 10**(10**10) }}",
    "{{ 2**100000 }}",
    "{% set x = 99999999999 %}" + "{% set x = x * x %}" * 30 + "{{ x }}",
    "{{ 2.0 ** 100000 }}",
    "{% for i in range(10000) %}{{ 'x' * 100 }}{% endfor %}",
    "{{ '(' * 100001 }}",
]


@pytest.mark.parametrize("source", EXHAUSTION)
def test_resource_exhaustion_fails_fast(source: str) -> None:
    started = time.monotonic()
    refused(source)
    assert time.monotonic() - started < 3


def test_power_is_left_associative_and_bounded() -> None:
    # Jinja reads 10**10**10 as (10**10)**10: a 101-digit number, not a googol of digits.
    assert render("{{ 10**10**10 }}") == "1" + "0" * 100


def test_output_limit() -> None:
    assert render("{% for i in range(100) %}xxxxxxxxxx{% endfor %}", max_output=1000)
    message = refused("{% for i in range(101) %}xxxxxxxxxx{% endfor %}", max_output=1000)
    assert "longer than 1,000" in message


def test_time_limit() -> None:
    started = time.monotonic()
    message = refused(
        "{% for a in range(10000) %}{% for b in range(100) %}{% endfor %}{% endfor %}",
        time_limit=0.05,
    )
    assert "too long" in message
    assert time.monotonic() - started < 1


def test_deeply_nested_source() -> None:
    with pytest.raises(TemplateError):
        check_untrusted("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")


def test_source_size_limit() -> None:
    with pytest.raises(TemplateError, match="longer than"):
        check_untrusted("x" * 100_001)


def test_previous_tracer_is_restored() -> None:
    calls: list[str] = []

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        calls.append(event)

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        render_untrusted("{{ 1 }}", {})
        with pytest.raises(TemplateError):
            render_untrusted("{% for i in range(10**9) %}{% endfor %}", {})
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


def test_renders_from_many_threads_at_once() -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert render_untrusted("{{ requester.name }}", CONTEXT) == "ann lee"
                with pytest.raises(TemplateError):
                    render_untrusted("{% for i in range(10000) %}{{ 'x' * 99 }}{% endfor %}", {})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors
