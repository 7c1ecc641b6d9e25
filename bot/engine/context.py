"""What a condition, scan or action sees when it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.events import Event

if TYPE_CHECKING:
    from bot.engine.loader import LoadedPlaybook
    from bot.engine.runner import Engine


@dataclass(frozen=True)
class Subject:
    """Who or what one run of a playbook is about. ``key`` goes into the dedupe key."""

    platform: str
    key: str
    member_id: str | None = None
    channel_id: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    vars: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    reason: str = ""


@dataclass
class RunContext:
    engine: Engine
    playbook: LoadedPlaybook
    event: Event
    subject: Subject
    facts: dict[str, Any]
    now: datetime
    run_key: str = ""
    period: str = ""
    action_index: int = 0
    #: where actions write; a preview run gives a capturing outbox so nothing is kept or sent
    outbox: Any = None
    #: what the run's actions share (the template variables, read once for all of them)
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def platform(self) -> str:
        return self.subject.platform

    @property
    def dry_run(self) -> bool:
        return self.engine.dry_run
