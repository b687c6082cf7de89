"""Render templates that staff edit in the browser, safely (Jinja2's immutable sandbox, bounded).

Reply templates, their subjects and queue signatures are typed by people in a web form, so they
are untrusted code: they must not reach Python objects, files or configuration, and they must
not hang the worker or exhaust its memory. Files under templates/ are trusted and are rendered
elsewhere (queues.mailtemplates); only this module renders text from the database.

The API:

- ``check_untrusted(source)`` checks the syntax and the allowed constructs; raises
  ``TemplateError`` with a message fit to show to staff ("line 3: unexpected '}'").
- ``render_untrusted(source, context, max_output=..., time_limit=...)`` renders plain text
  (autoescape is off: the result is the body of a text/plain mail) or raises ``TemplateError``.

The language is Jinja2 with these limits:

- Variables that are not defined render as empty text, and so do their attributes
  (``{{ requester.nickname }}`` with no nickname is ""). Use ``{{ x | default("...") }}`` for
  a fallback. ``variables_used(source)`` lists the top-level names a template reads, so a
  form can warn about a typo.
- Allowed statements: ``{{ ... }}``, ``{% if %}``, ``{% for %}`` (not ``recursive``),
  ``{% set x = ... %}``, ``{% with %}`` and comments. Refused when checked: ``include``,
  ``extends``, ``import``, ``from``, ``macro``, ``call``, ``filter`` blocks, block ``set``,
  ``block`` and ``autoescape`` (there is no loader, and the buffering statements could build
  unbounded text before it is counted), and any name or attribute that starts with ``_``.
- Globals: only ``range`` (at most 10,000 items). No ``lipsum``, ``cycler``, ``joiner``,
  ``namespace`` or ``dict``.
- Filters: a whitelist of text and list filters (``upper``, ``lower``, ``title``,
  ``capitalize``, ``trim``, ``default``/``d``, ``truncate``, ``wordwrap``, ``center``,
  ``indent``, ``replace``, ``join``, ``length``/``count``, ``first``, ``last``, ``sort``,
  ``unique``, ``reverse``, ``list``, ``string``, ``int``, ``float``, ``abs``, ``round``,
  ``min``, ``max``, ``sum``, ``wordcount``, ``striptags``, ``urlencode``, ``e``/``escape``,
  ``safe``, ``dictsort``, ``items``, ``map``, ``select``, ``reject``, ``selectattr``,
  ``rejectattr``, ``groupby``, ``filesizeformat``). Integer arguments are at most 10,000.
- ``str.format``/``format_map`` and the ``%`` operator on text are refused (format specs can
  ask for gigabytes of padding, and ``{0.__class__}`` walks attributes). ``*``, ``**``, ``+``
  and ``~`` check the size of their result before computing it: text and lists stay under
  ``MAX_VALUE`` characters/items, integers under ``MAX_INT_BITS`` bits.
- Time: a tracer on the template's own compiled code stops it past ``time_limit`` seconds or
  ``MAX_STEPS`` lines; the output is counted as it is generated and stops past ``max_output``.
- The context is copied into plain data first (dicts, lists, text, numbers, dates, booleans,
  None; anything else becomes its text), so no ORM object or function is reachable from it.

The context a reply is rendered with (queues.replies.template_context; the staff preview in
webui.staff_templates uses it too, or sample data of the same shape), which the seeded
templates (queues.seed.DEFAULT_REPLY_TEMPLATES) rely on::

    ticket    {number, tag, subject, queue, state, priority, created}   queue: the queue's name
    requester {name, email}                     name may be "": use default('there', true)
    agent     {signature_name, name, email}     the agent replying, by their public
                                                signature name only (name is an alias of
                                                it); email is the queue's sender address
    queue     {name, slug}
    organisation, emergency_text                from the settings
    number, tag, subject, requester_name, requester_email, agent_name, queue_name
                                                flat aliases of the above

Queue signatures are rendered with the same context and rules.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import enum
import functools
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.runtime import ChainableUndefined, Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "MAX_INT_ARG",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "MAX_RANGE",
    "MAX_SOURCE",
    "MAX_STEPS",
    "MAX_VALUE",
    "TemplateError",
    "check_untrusted",
    "render_untrusted",
    "variables_used",
]

MAX_SOURCE = 100_000  # characters of template source
MAX_VALUE = 200_000  # characters of any intermediate text (or estimated text of a list)
MAX_RANGE = 10_000  # items from one range()
MAX_INT_ARG = 10_000  # any integer passed to a filter or method call
MAX_INT_BITS = 4_096  # size of an integer made by * or **
MAX_STEPS = 2_000_000  # lines of template code executed
MAX_ITEMS = 200_000  # items of a lazy sequence (|map, |select) given to a filter or call
_FILENAME = "<switchboard-untrusted-template>"


class TemplateError(Exception):
    """A template is invalid or broke a limit; the message is safe to show to staff."""


class _Refused(BaseException):
    """A limit was hit inside a render.

    A BaseException, so that no ``except Exception`` inside Jinja's runtime or a filter can
    swallow it (and with it the tracer, which Python unsets when a trace function raises).
    ``render_untrusted`` turns it into a TemplateError.
    """


@dataclass
class _Budget:
    deadline: float
    max_output: int
    steps: int = 0
    expired: bool = field(default=False)


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "switchboard_sandbox_budget", default=None
)


# --- sizes -----------------------------------------------------------------------------------


def _text_size(value: object, limit: int) -> int:
    """Estimate len(str(value)) without building it; stops counting once past `limit`."""
    total = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 25
        elif isinstance(item, (bytes, bytearray)):
            total += 4 * len(item) + 3
        elif isinstance(item, Mapping):
            if depth > 20:
                raise _Refused("the value is nested too deeply")
            total += 2 + 4 * len(item)
            for key, sub in item.items():
                stack.append((key, depth + 1))
                stack.append((sub, depth + 1))
        elif isinstance(item, (list, tuple, set, frozenset)):
            if depth > 20:
                raise _Refused("the value is nested too deeply")
            total += 2 + 2 * len(item)
            stack.extend((sub, depth + 1) for sub in item)
        else:
            total += 40  # dates, Undefined, loop objects: small reprs
        if total > limit:
            return total
    return total


def _check_text(value: object, what: str = "the text") -> None:
    if _text_size(value, MAX_VALUE) > MAX_VALUE:
        raise _Refused(f"{what} would be longer than {MAX_VALUE:,} characters")


def _check_int_arg(value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARG:
        raise _Refused(f"numbers passed to a filter or call must be at most {MAX_INT_ARG:,}")


def _tick() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        budget.expired = True
        raise _Refused("the template took too long")


# --- globals and filters ---------------------------------------------------------------------


def _range(*args: int) -> range:
    for arg in args:
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise _Refused("range() takes whole numbers")
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise _Refused(f"range() may give at most {MAX_RANGE:,} numbers")
    return result


def _precheck_replace(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Before s.replace(old, new[, count]) or |replace: the result size must fit."""
    if len(args) < 3:
        return
    value, old, new = str(args[0]), str(args[1]), str(args[2])
    _check_text(value)
    count = value.count(old) if old else len(value) + 1
    limit = args[3] if len(args) > 3 else kwargs.get("count")
    if isinstance(limit, int) and 0 <= limit < count:
        count = limit
    if len(value) + count * max(0, len(new) - len(old)) > MAX_VALUE:
        raise _Refused(f"the text would be longer than {MAX_VALUE:,} characters")


def _precheck_indent(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    if not args:
        return
    value = str(args[0])
    _check_text(value)
    width = args[1] if len(args) > 1 else kwargs.get("width", 4)
    width_len = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
    if len(value) + (value.count("\n") + 1) * abs(width_len) > MAX_VALUE:
        raise _Refused(f"the text would be longer than {MAX_VALUE:,} characters")


def _materialize(value: object) -> object:
    """A lazy sequence (``|map``, ``|select``...) as a list, so its size can be checked before
    a join or a method builds text from it; at most MAX_ITEMS items."""
    if not isinstance(value, Iterator):
        return value
    items = []
    for item in value:
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise _Refused(f"a sequence may have at most {MAX_ITEMS:,} items")
    return items


def _precheck_join(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Before |join(items, sep): estimated size of every item plus the separators."""
    if len(args) < 2:
        return
    items = args[1]
    sep = args[2] if len(args) > 2 else kwargs.get("d", "")
    if isinstance(items, (list, tuple, set, frozenset, str, Mapping)):
        n = len(items)
        if _text_size(items, MAX_VALUE) + n * len(str(sep)) > MAX_VALUE:
            raise _Refused(f"the text would be longer than {MAX_VALUE:,} characters")


_ALLOWED_FILTERS = [
    *("abs", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape"),
    *("filesizeformat", "first", "float", "groupby", "indent", "int", "items", "join", "last"),
    *("length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace"),
    *("reverse", "round", "safe", "select", "selectattr", "sort", "string", "striptags", "sum"),
    *("title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount", "wordwrap"),
]

# Size checks made before a filter runs, on its positional arguments as Jinja passes them.
_PRECHECKS: dict[str, Callable[[tuple[Any, ...], Mapping[str, Any]], None]] = {
    "replace": lambda a, k: _precheck_replace(a[1:], k),  # (eval_ctx, s, old, new, count)
    "indent": _precheck_indent,
    "join": _precheck_join,  # (eval_ctx, value, d, attribute)
}


def _wrap_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    precheck = _PRECHECKS.get(name)
    # The filtered value is the first positional argument, after the context, eval context
    # or environment for filters that take one; only the arguments after it are checked.
    first_arg = 2 if hasattr(func, "jinja_pass_arg") else 1

    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context, pass_eval_context, ...)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        for arg in (*args[first_arg:], *kwargs.values()):
            _check_int_arg(arg)
        args = tuple(_materialize(arg) for arg in args)
        if precheck is not None:
            precheck(args, kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, (str, list, tuple, dict)):
            _check_text(result)
        return result

    return guarded


def _safe_filters() -> dict[str, Callable[..., Any]]:
    return {name: _wrap_filter(name, DEFAULT_FILTERS[name]) for name in _ALLOWED_FILTERS}


# --- the environment -------------------------------------------------------------------------


class _CodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a size-checked join instead of Jinja's unchecked str_join, and
    folds only literal text at compile time (Jinja otherwise evaluates constant ``{{ }}``
    expressions while compiling, outside the time and size budget)."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if not isinstance(node, (nodes.TemplateData, nodes.Const)):
            raise nodes.Impossible()
        if isinstance(node, nodes.Const) and not isinstance(node.value, str):
            raise nodes.Impossible()
        return str(super()._output_child_to_const(node, frame, finalize))

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.sandbox_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Undefined(ChainableUndefined):
    """Undefined names and attributes render as empty text (and chain: ``a.b.c`` is "")."""

    __slots__ = ()


_STR_METHOD_PRECHECK: dict[str, Callable[[tuple[Any, ...], Mapping[str, Any]], None]] = {
    "replace": _precheck_replace,
}


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with the limits described in the module docstring."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+", "//", "/"})

    def __init__(self) -> None:
        super().__init__(
            autoescape=False,
            undefined=_Undefined,
            optimized=False,  # no constant folding: every operation runs under the checks
            finalize=self._finalize,
            keep_trailing_newline=True,
            auto_reload=False,
            cache_size=0,
        )
        self.globals.clear()
        self.globals["range"] = _range
        self.filters.clear()
        self.filters.update(_safe_filters())

    @staticmethod
    def _finalize(value: object) -> object:
        if not isinstance(value, str):
            _check_text(value, "the value")
        return value

    @staticmethod
    def sandbox_concat(values: tuple[object, ...]) -> str:
        total = 0
        for value in values:
            total += _text_size(value, MAX_VALUE)
            if total > MAX_VALUE:
                raise _Refused(f"the text would be longer than {MAX_VALUE:,} characters")
        return "".join(str(value) for value in values)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is not None:
            raise _Refused("str.format is not available; use ~ to join text")
        return None

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise _Refused(f"the attribute {attribute!r} of {type(obj).__name__} is not available")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "%" and isinstance(left, (str, bytes)):
            raise _Refused("the % operator is only for numbers; use ~ to join text")
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "+":
            _check_sum(left, right)
        try:
            return self.binop_table[operator](left, right)
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise _Refused(f"{operator}: {exc}") from None

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        if __obj is not _range:  # range() bounds its length itself
            for arg in (*args, *kwargs.values()):
                _check_int_arg(arg)
        args = tuple(_materialize(arg) for arg in args)
        if isinstance(getattr(__obj, "__self__", None), str):
            name = getattr(__obj, "__name__", "")
            if name in ("format", "format_map"):
                raise _Refused("str.format is not available; use ~ to join text")
            if name == "join" and args:
                _precheck_join(("", args[0], __obj.__self__), {})
            precheck = _STR_METHOD_PRECHECK.get(name)
            if precheck is not None:
                precheck((__obj.__self__, *args), kwargs)
        result = ImmutableSandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        if isinstance(result, (str, list, tuple, dict)):
            _check_text(result)
        return result


def _check_power(left: Any, right: Any) -> None:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and right > 0
        and max(1, abs(left).bit_length()) * right > MAX_INT_BITS
    ):
        raise _Refused(f"the number would be larger than {MAX_INT_BITS:,} bits")


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise _Refused(f"the number would be larger than {MAX_INT_BITS:,} bits")
        return
    for seq, times in ((left, right), (right, left)):
        if (
            isinstance(seq, (str, bytes, list, tuple))
            and isinstance(times, int)
            and times > 0
            and _text_size(seq, MAX_VALUE) * times > MAX_VALUE
        ):
            raise _Refused(f"the value would be longer than {MAX_VALUE:,} characters")


def _check_sum(left: Any, right: Any) -> None:
    sized = (str, bytes, list, tuple)
    if (
        isinstance(left, sized)
        and isinstance(right, sized)
        and _text_size(left, MAX_VALUE) + _text_size(right, MAX_VALUE) > MAX_VALUE
    ):
        raise _Refused(f"the value would be longer than {MAX_VALUE:,} characters")


_env = _Environment()

_REFUSED_NODES: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.FilterBlock: "filter blocks",
    nodes.AssignBlock: "block set",
    nodes.Block: "block",
    nodes.ScopedEvalContextModifier: "autoescape",
    nodes.EvalContextModifier: "autoescape",
    nodes.ExprStmt: "do",
}


def _refuse_constructs(tree: nodes.Template) -> None:
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", 0)
        for kind, label in _REFUSED_NODES.items():
            if isinstance(node, kind):
                raise TemplateError(f"line {line}: {{% {label} %}} is not available here")
        if isinstance(node, nodes.For) and node.recursive:
            raise TemplateError(f"line {line}: recursive loops are not available here")
        name = None
        if isinstance(node, nodes.Name):
            name = node.name
        elif isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name is not None and name.startswith("_"):
            raise TemplateError(f"line {line}: names starting with '_' are not available")
        if isinstance(node, nodes.Filter) and node.name not in _env.filters:
            raise TemplateError(f"line {line}: there is no filter named '{node.name}'")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    if isinstance(exc, RecursionError):
        return "the template is nested too deeply"
    message = str(exc).strip() or type(exc).__name__
    return message[:300]


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    if not isinstance(source, str):
        raise TemplateError("a template is text")
    if len(source) > MAX_SOURCE:
        raise TemplateError(f"the template is longer than {MAX_SOURCE:,} characters")
    try:
        tree = _env.parse(source)
        _refuse_constructs(tree)
        code = _env.compile(tree, filename=_FILENAME)
    except TemplateError:
        raise
    except _Refused as exc:
        raise TemplateError(str(exc)) from None
    except (Exception, RecursionError) as exc:
        raise TemplateError(_describe(exc)) from None
    return _env.template_class.from_code(_env, code, _env.make_globals(None))


def check_untrusted(source: str) -> None:
    """Check syntax and allowed constructs; raise TemplateError with a message for staff."""
    _compile(source)


def variables_used(source: str) -> set[str]:
    """Top-level names a template reads (``ticket``, ``requester``, ...); raises TemplateError."""
    from jinja2 import meta

    _compile(source)
    return set(meta.find_undeclared_variables(_env.parse(source))) - set(_env.globals)


# --- the context -----------------------------------------------------------------------------


def _plain(value: object, depth: int = 0) -> object:
    """A copy of `value` made only of plain data, so nothing else is reachable from it."""
    if depth > 10:
        return ""
    if value is None or isinstance(value, (bool, int, float, str, dt.date, dt.time)):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value, depth + 1)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


# --- the time limit --------------------------------------------------------------------------


def _make_tracer(budget: _Budget) -> Callable[[FrameType, str, Any], Any]:
    """A trace function that only follows frames of compiled untrusted template code."""

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            budget.steps += 1
            if budget.steps > MAX_STEPS:
                budget.expired = True
                raise _Refused("the template runs too many steps")
            if budget.steps & 63 == 0 and time.monotonic() > budget.deadline:
                budget.expired = True
                raise _Refused("the template took too long")
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename == _FILENAME:
            return local
        return None

    return global_


def render_untrusted(
    source: str,
    context: Mapping[str, object],
    *,
    max_output: int = 100_000,
    time_limit: float = 1.0,
) -> str:
    """Render an untrusted template to plain text within the limits; raise TemplateError."""
    template = _compile(source)
    budget = _Budget(deadline=time.monotonic() + time_limit, max_output=max_output)
    plain = {str(k): _plain(v) for k, v in context.items()}
    token = _budget.set(budget)
    previous = sys.gettrace()
    sys.settrace(_make_tracer(budget))
    parts: list[str] = []
    size = 0
    stream: Iterator[str] | None = None
    try:
        stream = template.generate(plain)
        for part in stream:
            size += len(part)
            if size > max_output:
                raise TemplateError(f"the result is longer than {max_output:,} characters")
            parts.append(part)
            if time.monotonic() > budget.deadline:
                raise TemplateError("the template took too long")
    except TemplateError:
        raise
    except _Refused as exc:
        raise TemplateError(str(exc)) from None
    except (Exception, RecursionError) as exc:
        raise TemplateError(_describe(exc)) from None
    finally:
        sys.settrace(previous)
        if stream is not None:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        _budget.reset(token)
    return "".join(parts)
