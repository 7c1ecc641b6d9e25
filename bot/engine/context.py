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
    #: where actions write: the engine's outbox, or in a preview one that records and keeps nothing
    outbox: Any = None
    #: a preview: the run shows what it would do; nothing is claimed, kept or changed
    preview: bool = False
    #: what the playbook's rules found (``rules:``), for its actions
    hits: list[Any] = field(default_factory=list)
    #: what the run's actions share (the template variables, read once for all of them)
    shared: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outbox is None:
            self.outbox = self.engine.outbox

    @property
    def platform(self) -> str:
        return self.subject.platform
