"""``steward failures`` and ``steward db copy``; the helpers other commands over the database share."""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

import typer
from rich.console import Console

from bot.core.errors import StewardError

console = Console(stderr=True)
ConfigOpt = typer.Option(None, "--config", "-c", help="TOML config file (its [storage] url is used)")


def _fail(msg: str) -> None:
    from bot.redaction import redact

    console.print(f"[red]error:[/red] {redact(msg)}", markup=True, highlight=False)
    raise typer.Exit(1)


def _settings(config: Path | None):
    from bot.settings import load_settings

    return load_settings(config)


async def _with_store(url: str, fn):
    from bot.storage import db
    from bot.storage.repositories import Store

    eng = db.create_engine(url)
    try:
        await db.ensure_schema(eng, auto_upgrade=eng.dialect.name == "sqlite")
        store = Store(eng)
        result = await fn(store)
        await store.flush()
        return result
    finally:
        await eng.dispose()


def _run(coro):
    try:
        return asyncio.run(coro)
    except StewardError as e:
        _fail(str(e))


async def failure_report(store, *, limit: int = 50) -> list[str]:
    """What Steward gave up on, newest first, one line each: incoming events whose handling kept
    failing, and messages that could not be sent (with the platform's reason)."""
    from bot.storage.inbox import failures

    def when(dt) -> str:
        return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

    lines = [(f.failed_at, f"{when(f.failed_at)}  event  {f.platform} {f.event_type}"
                           f"{' ' + f.event_id if f.event_id else ''}: {f.error}")
             for f in await failures(store, limit=limit)]
    for item in (await store.outbox(status="failed"))[-limit:]:
        m = item.message
        if m.kind == "webhook":  # an event an endpoint never accepted: which event, which endpoint
            lines.append((item.not_before, f"{when(item.not_before)}  webhook {item.action} to endpoint "
                                           f"{m.channel_id}: {item.error or 'refused'}"))
            continue
        to = f"to {m.member_id}" if m.kind == "dm" else f"in {m.channel_id}"
        lines.append((item.not_before, f"{when(item.not_before)}  send   {m.platform} {m.kind} {to} "
                                       f"({item.playbook_id}): {item.error or 'refused'}"))
    lines.sort(key=lambda x: x[0], reverse=True)
    return [text for _, text in lines[:limit]]


def register(cli: typer.Typer, db_cli: typer.Typer) -> None:
    @cli.command("failures")
    def failures_cmd(
        config: Path = ConfigOpt,
        limit: int = typer.Option(50, help="show at most this many, newest first"),
    ) -> None:
        """Events Steward gave up on and messages it could not send, with the reason."""
        settings = _settings(config)
        lines = _run(_with_store(settings.storage.url, lambda s: failure_report(s, limit=limit)))
        print("\n".join(lines) if lines else "nothing has failed for good")

    @db_cli.command("copy")
    def db_copy(
        src: str = typer.Option(..., "--from", help="source database URL, e.g. sqlite:///steward.db"),
        dst: str = typer.Option(..., "--to", help="target database URL (empty), e.g. postgresql://u@host/steward"),
    ) -> None:
        """Copy every table from one database to another, e.g. from SQLite to PostgreSQL."""
        from bot.storage import db
        from bot.storage.copy import copy_database

        console.print(f"copying {db.redacted(src)} → {db.redacted(dst)}")
        counts = _run(copy_database(src, dst))
        for name, n in counts.items():
            print(f"{name}: {n}")
        print(f"copied {sum(counts.values())} rows in {len(counts)} tables; row counts match")
