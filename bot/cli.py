"""The ``steward`` command."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
from pathlib import Path

import typer
from rich.console import Console

from bot.core.errors import StewardError
from bot.replay.sample import MIN_MEMBERS

cli = typer.Typer(help="Steward: a community-manager bot for Slack and Discord.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_cli = typer.Typer(help="Database schema and data.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
console = Console()
err_console = Console(stderr=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="TOML config file (see config.example.toml)")


def _settings(config: Path | None, **overrides):
    from bot.settings import load_settings

    return load_settings(config, **overrides)


def _fail(msg: str, code: int = 1) -> None:
    from rich.markup import escape

    # the message is text, not markup: "[slack] ..." and "[dashboard] ..." must print as written
    err_console.print(f"[red]error:[/red] {escape(msg)}", highlight=False, markup=True)
    raise typer.Exit(code)


@cli.command()
def check(
    playbooks: Path = typer.Argument(None, help="playbook folder (default: the config's, or ./playbooks)"),
    config: Path = ConfigOpt,
    playbooks_opt: Path = typer.Option(None, "--playbooks", help="playbook folder"),
    messages: Path = typer.Option(None, "--messages", help="templates folder"),
) -> None:
    """Validate playbooks, templates and config: every problem as file:line: playbook-id: message."""
    from bot.checks import run_checks

    try:
        settings = _settings(config)
    except StewardError as e:
        print(str(e))
        raise typer.Exit(1) from None
    problems = run_checks(settings, playbooks_opt or playbooks, messages)
    for p in problems:
        print(str(p))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        raise typer.Exit(1)
    print("all playbooks and templates are valid", file=sys.stderr)


@cli.command()
def schema(what: str = typer.Argument("playbooks", help="playbooks (default) or webhooks")) -> None:
    """Print a JSON Schema: the playbook format, or (``webhooks``) the body of a webhook request."""
    if what == "webhooks":
        from bot.webhooks.events import json_schema as webhook_schema

        print(json.dumps(webhook_schema(), indent=2))
        return
    if what not in ("playbooks", "playbook"):
        _fail(f"no schema called {what!r}: say playbooks or webhooks")
    import bot.app  # noqa: F401 - its feature list brings the features' scans, conditions and actions
    from bot.engine.schema import json_schema

    print(json.dumps(json_schema(), indent=2))


@cli.command()
def demo(
    seed: int = typer.Option(7, help="seed of the generated community"),
    members: int = typer.Option(320, min=MIN_MEMBERS, help="members in the sample community (at least 130)"),
    days: int = typer.Option(90, help="simulated days"),
    limit: int = typer.Option(60, help="timeline lines to print (0: all)"),
    serve: bool = typer.Option(True, "--serve/--no-serve",
                               help="then serve the demo community's dashboard until Ctrl-C (--no-serve: just print)"),
    port: int = typer.Option(None, help="the dashboard's port (default 8750, or a free one when it is taken)"),
) -> None:
    """Generate a sample community, show what Steward would have done, then serve its dashboard (no tokens needed)."""
    from bot.replay.demo import run_demo

    asyncio.run(run_demo(console, seed=seed, members=members, days=days, limit=limit, serve=serve, port=port))


@cli.command()
def run(config: Path = typer.Option(..., "--config", "-c", help="TOML config file")) -> None:
    """Connect to the enabled platforms and run the playbooks live."""
    from bot import dashboard
    from bot.app import run as run_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_app(_settings(config), hooks=(dashboard.run_hook,)))
    except StewardError as e:
        _fail(str(e))


@db_cli.command("upgrade")
def db_upgrade(config: Path = ConfigOpt, url: str = typer.Option(None, help="database URL (overrides config)")) -> None:
    """Create or migrate the database schema to this version."""
    from bot.storage import db

    settings = _settings(config)
    target = url or settings.storage.url

    async def _go() -> None:
        eng = db.create_engine(target)
        try:
            await db.upgrade(eng)
            rev = await db.current_revision(eng)
        finally:
            await eng.dispose()
        print(f"database {db.redacted(target)} is at revision {rev}")

    asyncio.run(_go())


#: modules that add their own commands with ``register(cli, db_cli)``
CLI_MODULES = ("bot.dashboard.cli", "bot.replay.cli", "bot.storage.cli", "bot.privacy_cli", "bot.community.cli",
               "bot.moderation.cli", "bot.conversation.cli", "bot.webhooks.cli", "bot.crm_cli")
for _name in CLI_MODULES:
    try:
        importlib.import_module(_name).register(cli, db_cli)
    except ModuleNotFoundError as _e:
        if _e.name != _name:
            raise


def main() -> None:
    try:
        cli()
    except StewardError as e:
        err_console.print(f"error: {e}", markup=False)
        sys.exit(1)
