"""What a feature package declares about itself, once: ``FEATURE = Feature(...)`` in its
``__init__.py``. The app keeps the one list (``bot.app.FEATURES``); ``build`` installs them,
``steward check`` runs their checks, the backtest writes their findings, ``steward demo`` shows their
sections and template checks render with their sample context. Nothing pushes itself into another
module's list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type-only: the app and its settings sit above the features
    from bot.app import App
    from bot.core.errors import Problem
    from bot.engine.loader import LoadedPlaybook

#: ``install(app)``: attach services, observers, policies and ``/steward`` commands to a built app
Install = Callable[["App"], None]
#: ``check(settings, playbooks) -> problems``: a ``steward check`` rule about config and playbooks
Check = Callable[[Any, "dict[str, LoadedPlaybook]"], "list[Problem]"]
#: ``await findings(app, platform)``: the community's state at the end of a backtest, one JSON object
#: per finding (native IDs throughout), written to findings.jsonl
Findings = Callable[["App", str], Awaitable[Iterable[dict]]]
#: ``await section(console, app)``: a section of ``steward demo``, shown after the replay
DemoSection = Callable[[Any, "App"], Awaitable[None]]


@dataclass(frozen=True)
class Feature:
    name: str
    #: the modules whose ``@scan``/``@condition``/``@action`` entries the feature brings (imported by the
    #: feature's package, listed here so the registries' contents can be read off the feature list)
    registers: tuple[ModuleType, ...] = ()
    install: Install | None = None
    checks: tuple[Check, ...] = ()
    findings: tuple[Findings, ...] = ()
    demo: tuple[DemoSection, ...] = ()
    #: ``sample_context(base) -> variables``: the template variables the feature's actions add to the
    #: engine's (``base``, whose sample member and channel it may reuse), with sample values that
    #: ``steward check`` renders every template with
    sample_context: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None)
