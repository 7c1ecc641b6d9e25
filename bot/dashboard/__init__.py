"""The web dashboard for community managers: served by ``steward run`` on ``[dashboard] host:port``
(127.0.0.1:8750 by default), or alone by ``steward dashboard``. An edge, like the adapters: it reads
the store and acts through the same engine, commands and buttons as the chat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from bot.dashboard.server import Dashboard

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("steward.dashboard")

__all__ = ["Dashboard", "run_hook", "start"]


async def start(app: App, **kw) -> Dashboard | None:
    """Serve the dashboard for ``app`` and answer ``/steward dashboard``; None when it is off or
    its address is taken (the bot runs on without it, and says so)."""
    from bot.dashboard import auth

    if not app.settings.dashboard.enabled:
        return None
    dash = Dashboard(app, **kw)
    try:
        await dash.start()
    except OSError as e:
        log.error("dashboard: cannot listen on %s:%s (%s); Steward runs without it", dash.host, dash.port,
                  e.strerror or e)
        return None
    auth.install(dash)
    return dash


async def run_hook(app: App, stop: asyncio.Event) -> asyncio.Task | None:
    """For ``bot.app.run``: the dashboard lives until ``stop`` is set."""
    dash = await start(app)
    if dash is None:
        return None

    async def _serve() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await stop.wait()
        await dash.stop()

    return asyncio.create_task(_serve())
