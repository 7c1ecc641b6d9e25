"""``steward backtest``: replay a real export through the playbooks in dry-run and write what
Steward would have done (actions.jsonl), the community's state (findings.jsonl), health.json and
report.html."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

#: ``async def provider(app, platform) -> Iterable[dict]``: each returns findings (one JSON object
#: each, native IDs throughout) about the community's state at the end of the replay. Features
#: append their providers here from their ``install(app)`` hooks.
FindingProvider = Callable[[Any, str], Awaitable[Iterable[dict]]]
FINDING_PROVIDERS: list[FindingProvider] = []
