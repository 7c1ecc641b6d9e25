"""A render budget for the template sandbox: loop iterations, calls and time, and output size.

jinja2's sandbox keeps templates away from Python's internals but not from the CPU: two nested
``range(100000)`` loops, or a macro calling itself twice per level, render for hours, and an
operator such as ``"x" * 10**9`` allocates gigabytes. Templates are written by admins, rendered
by ``steward check`` and in the live loop, so every render here is given a budget: a template
past it fails with ``RenderBudgetExceeded`` (a ``TemplateError``, so it is reported with its
file and line like any other template error) instead of stalling everything else.

Counted as steps: each loop iteration (the code generator wraps every ``for`` loop's iterable),
each call of a function, macro or method from the template, each filter. Sizes: the rendered
output, the result of ``*``, ``+`` and ``**``, a value stored in a ``namespace``, the result of a
filter or call, and the width given to ``center``, ``indent`` and the like (those allocate before
any check of their result could run).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template
from jinja2.exceptions import TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace


@dataclass(frozen=True)
class Limits:
    #: loop iterations, calls and filters in one render (the shipped templates take under 200)
    steps: int = 100_000
    #: characters of output, and of any one string or list built on the way (Slack takes 40,000)
    size: int = 100_000
    #: seconds of wall time for one render
    seconds: float = 1.0


class RenderBudgetExceeded(TemplateRuntimeError):
    """A render went past its budget of steps, size or time."""


class _Budget:
    __slots__ = ("limits", "steps", "deadline")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.deadline = time.monotonic() + limits.seconds

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise RenderBudgetExceeded(f"render budget exceeded: more than {self.limits.steps:,} loop "
                                       "iterations and calls")
        if self.steps & 255 == 0 and time.monotonic() > self.deadline:
            raise RenderBudgetExceeded(f"render budget exceeded: rendering took more than "
                                       f"{self.limits.seconds:g} s")

    def size(self, value: Any, what: str = "a value") -> Any:
        if isinstance(value, str | list | tuple | dict) and len(value) > self.limits.size:
            raise RenderBudgetExceeded(f"render budget exceeded: {what} longer than {self.limits.size:,}")
        return value


_current: ContextVar[_Budget | None] = ContextVar("steward_render_budget", default=None)


def _budget(env: Any) -> _Budget:
    # outside Template.render (a stream, a module): a throwaway budget, so sizes are still checked
    return _current.get() or _Budget(env.limits)


#: filters and string methods whose numeric argument is a width or a count to allocate
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_widths(b: _Budget, args: Iterable[Any]) -> None:
    for a in args:
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > b.limits.size:
            raise RenderBudgetExceeded(f"render budget exceeded: a width or count of {a:,}")


class _BudgetCodeGenerator(CodeGenerator):
    """Compiles every ``{% for %}`` to iterate through ``environment.budget_iter``."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        wrapped = nodes.Call(nodes.EnvironmentAttribute("budget_iter"), [node.iter], [], None, None,
                             lineno=node.iter.lineno)
        node = nodes.For(node.target, wrapped, node.body, node.else_, node.test, node.recursive,
                         lineno=node.lineno)
        super().visit_For(node, frame)


class BudgetedTemplate(Template):
    """``render`` runs under a fresh budget and stops once the output passes the size limit."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        env: BudgetedSandbox = self.environment  # type: ignore[assignment]
        budget = _Budget(env.limits)
        token = _current.set(budget)
        try:
            out: list[str] = []
            size = 0
            for chunk in self.generate(*args, **kwargs):
                size += len(chunk)
                if size > env.limits.size:
                    raise RenderBudgetExceeded(f"render budget exceeded: output longer than "
                                               f"{env.limits.size:,} characters")
                out.append(chunk)
            return "".join(out)
        finally:
            _current.reset(token)


class _Filters(dict):
    """The environment's filters, each counted as a step and its result size-checked when looked up."""

    def __init__(self, env: BudgetedSandbox, filters: dict[str, Any]) -> None:
        super().__init__(filters)
        self._env = env

    def __getitem__(self, name: str) -> Any:
        return _budgeted_filter(self._env, name, super().__getitem__(name))

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default


def _budgeted_filter(env: BudgetedSandbox, name: str, fn: Any) -> Any:
    @wraps(fn)  # keeps jinja2's pass_context / pass_environment marks
    def run(*args: Any, **kwargs: Any) -> Any:
        b = _budget(env)
        b.step()
        if name in _WIDTH_FILTERS:
            _check_widths(b, (*args[1:], *kwargs.values()))
        return b.size(fn(*args, **kwargs), f"the result of |{name}")

    return run


class _BoundedNamespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        if (b := _current.get()) is not None:
            b.size(value, f"namespace value {name!r}")
        super().__setitem__(name, value)


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with a render budget (``limits``). Immutable: a template cannot grow a list or
    dict it was given (``append``, ``update``), so memory only grows through what is counted."""

    code_generator_class = _BudgetCodeGenerator
    template_class = BudgetedTemplate
    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, *args: Any, limits: Limits | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits or Limits()
        self.filters = _Filters(self, self.filters)
        self.globals["namespace"] = _BoundedNamespace

    def budget_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        b = _budget(self)
        for item in iterable:
            b.step()
            yield item

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if getattr(__obj, "__func__", None) is BudgetedSandbox.budget_iter:
            return super().call(__context, __obj, *args, **kwargs)
        b = _budget(__self)
        b.step()
        if isinstance(getattr(__obj, "__self__", None), str) and getattr(__obj, "__name__", "") in _WIDTH_METHODS:
            _check_widths(b, (*args, *kwargs.values()))
        return b.size(super().call(__context, __obj, *args, **kwargs), "the result of a call")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        b = _budget(self)
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > b.limits.size:
                    raise RenderBudgetExceeded(f"render budget exceeded: a value longer than {b.limits.size:,}")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 256:
                raise RenderBudgetExceeded(f"render budget exceeded: {left} ** {right}")
        elif operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            if len(left) + len(right) > b.limits.size:
                raise RenderBudgetExceeded(f"render budget exceeded: a value longer than {b.limits.size:,}")
        return super().call_binop(context, operator, left, right)
