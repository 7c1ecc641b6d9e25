"""``steward webhooks test ENDPOINT``: send a signed sample event to an endpoint, now, and say
what it answered."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import typer

from bot.storage.cli import ConfigOpt, _fail, _settings


def register(cli: typer.Typer, db_cli: typer.Typer) -> None:
    webhooks_cli = typer.Typer(help="Webhook endpoints ([features.webhooks] in the config).", no_args_is_help=True)
    cli.add_typer(webhooks_cli, name="webhooks")

    @webhooks_cli.command("test")
    def test_cmd(endpoint: str = typer.Argument(..., help="the endpoint's name in [features.webhooks.endpoints]"),
                 config: Path = ConfigOpt) -> None:
        """Send a signed sample event (type webhook.test) to ENDPOINT and print its answer."""
        from bot.core.clock import SystemClock
        from bot.webhooks.events import body
        from bot.webhooks.gateway import WebhookGateway
        from bot.webhooks.install import options_or_error

        settings = _settings(config)
        opts = options_or_error(settings)
        ep = opts.endpoints.get(endpoint)
        if ep is None:
            known = ", ".join(opts.endpoints) or "none configured"
            _fail(f"no webhook endpoint called {endpoint!r} (known: {known})")
        now = datetime.now(UTC)
        text = body("webhook.test", {"note": "a sample from steward webhooks test"},
                    key=f"test:{endpoint}:{now.timestamp()}", at=now, community=settings.community_name)

        async def go():
            gw = WebhookGateway(opts, SystemClock(), settings.secret)
            t0 = time.perf_counter()
            try:
                status, what = await gw.post(ep, text)
            finally:
                await gw.aclose()
            return status, what, time.perf_counter() - t0

        status, what, took = asyncio.run(go())
        if status is not None and 200 <= status < 300:
            print(f"{endpoint}: {ep.url} accepted the signed sample ({what}, {took * 1000:.0f} ms)")
            return
        _fail(f"{endpoint}: {ep.url} did not accept the signed sample: {what}")
