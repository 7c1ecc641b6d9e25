"""``steward dashboard``: the dashboard alone, on the same store as ``steward run`` (a read-mostly view:
decisions it takes queue in the outbox for the running bot to send)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer


def register(cli: typer.Typer, db_cli: typer.Typer) -> None:
    @cli.command("dashboard")
    def dashboard(
        config: Path = typer.Option(..., "--config", "-c", help="TOML config file"),
        host: str = typer.Option(None, help="listen on this address (default: [dashboard] host)"),
        port: int = typer.Option(None, help="listen on this port (default: [dashboard] port)"),
        link: str = typer.Option(None, "--link", help="also print a one-time sign-in link for this manager "
                                                      "(slack:U0123ABCD or discord:1122...)"),
    ) -> None:
        """Serve the web dashboard alone (managers sign in with /steward dashboard in chat, or --link)."""
        from bot.core.errors import StewardError
        from bot.settings import load_settings

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            settings = load_settings(config)
            asyncio.run(serve(settings, host=host, port=port, link=link))
        except StewardError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None


async def serve(settings, *, host: str | None = None, port: int | None = None, link: str | None = None,
                app=None, announce=print) -> None:
    """Serve until SIGINT/SIGTERM. ``app``: an app built already (the demo's)."""
    from bot.app import build
    from bot.core.errors import ConfigError
    from bot.dashboard import auth
    from bot.dashboard.server import Dashboard
    from bot.privacy import parse_member

    own = app is None
    if app is None:
        app = await build(settings)
        app.outbox.sender = None  # what is decided here waits in the outbox for the running bot
    dash = Dashboard(app, host=host, port=port)
    dash.standalone = own
    await dash.start()
    auth.install(dash)
    try:
        announce(f"Dashboard: {dash.base_url}/  (Ctrl-C stops it)")
        if link:
            ref = parse_member(link)
            if not await app.engine.roles.is_manager(ref.platform, ref.member_id):
                raise ConfigError(f"{link}: not a manager ([managers] in the config, or a platform admin)")
            announce(f"Sign in (once, within 10 minutes): "
                     f"{await auth.link_for(dash, ref.platform, ref.member_id)}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
        await stop.wait()
    finally:
        await dash.stop()
        if own:
            await app.close()
