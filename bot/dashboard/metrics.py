"""``/metrics`` on the dashboard server: the app's Prometheus page (bot/core/metrics.py).

Off unless ``[dashboard] metrics = true`` (then there is no such page: 404). With
``metrics_token_env`` naming an environment variable, only a request that carries
``Authorization: Bearer <its value>`` gets the page; any other gets 401. Without it, the page is
open to whoever can reach the dashboard's address (127.0.0.1 by default)."""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.core.errors import ConfigError
from bot.core.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from bot.dashboard.server import Dashboard

log = logging.getLogger("steward.dashboard")

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def add_routes(router: web.UrlDispatcher, dash: Dashboard) -> None:
    """Add ``GET /metrics`` when the config turns it on. A token variable that is named but not
    set stops the start with a clear error rather than serving the page to anyone."""
    cfg = dash.app.settings.dashboard
    if not cfg.metrics:
        return
    token: bytes | None = None
    if cfg.metrics_token_env:
        value = dash.app.settings.secret(cfg.metrics_token_env)
        if not value:
            raise ConfigError(f"[dashboard] metrics_token_env: the environment variable {cfg.metrics_token_env} "
                              "is not set: set it to the token Prometheus sends (Authorization: Bearer ...), "
                              "or leave metrics_token_env out to serve /metrics without one")
        token = value.encode()
    elif dash.host not in _LOOPBACK:
        log.warning("dashboard: /metrics is served without a token on %s; set [dashboard] metrics_token_env "
                    "to ask for one", dash.host)

    async def metrics(request: web.Request) -> web.Response:
        if token is not None and not _bearer_is(request, token):
            return web.Response(status=401, text="401: /metrics needs its bearer token\n",
                                headers={"WWW-Authenticate": 'Bearer realm="steward metrics"'})
        body = await dash.app.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    router.add_get("/metrics", metrics)


def _bearer_is(request: web.Request, token: bytes) -> bool:
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token)
