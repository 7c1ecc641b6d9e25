"""``steward backtest``, ``steward report`` and ``steward export members``."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bot.core.errors import StewardError

console = Console(stderr=True, soft_wrap=True)

EXPORT_FIELDS = ("platform", "member_id", "display_name", "first_seen", "last_active", "messages",
                 "replies_given", "reactions_given", "questions_asked", "questions_answered", "level")


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/red] {msg}", markup=True, highlight=False)
    raise typer.Exit(1)


def _when(s: str | None, what: str) -> datetime | None:
    if not s:
        return None
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        _fail(f"{what}: {s!r} is not a date (use YYYY-MM-DD or an ISO-8601 time)")
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def register(cli: typer.Typer, db_cli: typer.Typer) -> None:
    """Add the backtest, report and export commands to the ``steward`` command."""

    @cli.command()
    def backtest(
        source: Path = typer.Argument(..., help="Slack export (folder or .zip) or DiscordChatExporter JSON"),
        out: Path = typer.Option(..., "--out", "-o", help="folder for actions.jsonl, findings.jsonl, "
                                                          "health.json and report.html"),
        config: Path = typer.Option(None, "--config", "-c", help="TOML config (channels, managers, features)"),
        playbooks: Path = typer.Option(None, "--playbooks", help="playbook folder (default: the shipped ones)"),
        fmt: str = typer.Option(None, "--format", help="slack or discord (default: detected)"),
    ) -> None:
        """Replay a community's history through the playbooks in dry-run: what would Steward have done?"""
        from bot.replay.backtest import OUTPUTS, run_backtest

        if fmt not in (None, "slack", "discord"):
            _fail(f"--format {fmt}: use slack or discord")
        if not source.exists():
            _fail(f"{source}: no such file or folder")
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
                      disable=not console.is_terminal) as bar:
            task = bar.add_task("importing", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            try:
                result = asyncio.run(run_backtest(source, out, config=config, playbooks=playbooks, fmt=fmt,
                                                  progress=progress))
            except (StewardError, ValueError, FileNotFoundError) as e:
                _fail(str(e))
        for line in result.summary.lines():
            console.print(line, highlight=False, markup=False)
        for err in result.provider_errors:
            console.print(f"finding provider failed: {err}", highlight=False, markup=False)
        h = result.health
        console.print(
            f"replayed {result.events:,} events in {result.replay_seconds:.1f} s "
            f"({result.messages / max(result.replay_seconds, 1e-9):,.0f} messages/s); "
            f"{sum(result.actions.values()):,} action(s), {sum(result.findings.values()):,} finding(s); "
            f"{h.get('members', 0):,} members, {h.get('messages', 0):,} messages",
            highlight=False, markup=False)
        for name in OUTPUTS:
            print(out / name)

    @cli.command()
    def report(
        out: Path = typer.Option(..., "--out", "-o", help="folder for health.json, findings.jsonl, report.html"),
        config: Path = typer.Option(None, "--config", "-c", help="TOML config file"),
        since: str = typer.Option(None, help="window start (YYYY-MM-DD, default: all time)"),
        until: str = typer.Option(None, help="window end, exclusive (default: now)"),
        platform: str = typer.Option(None, help="slack or discord (default: both)"),
    ) -> None:
        """Write the community health report from the live store."""
        from bot.settings import load_settings

        try:
            settings = load_settings(config)
        except StewardError as e:
            _fail(str(e))
        paths = asyncio.run(_live_report(settings, out, _when(since, "--since"), _when(until, "--until"),
                                         platform))
        for p in paths:
            print(p)

    export_cli = typer.Typer(help="Export data for other tools.", no_args_is_help=True)
    cli.add_typer(export_cli, name="export")

    @export_cli.command("members")
    def export_members(
        fmt: str = typer.Option("csv", "--format", help="csv or jsonl"),
        out: Path = typer.Option(None, "--out", "-o", help="file to write (default: standard output)"),
        config: Path = typer.Option(None, "--config", "-c", help="TOML config file"),
        platform: str = typer.Option(None, help="slack or discord (default: both)"),
    ) -> None:
        """Per-member engagement for a CRM. Members who opted out are left out; bots and forgotten
        members are never exported."""
        from bot.settings import load_settings

        if fmt not in ("csv", "jsonl"):
            _fail(f"--format {fmt}: use csv or jsonl")
        try:
            settings = load_settings(config)
        except StewardError as e:
            _fail(str(e))
        rows = asyncio.run(_engagement(settings, platform))
        f = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            write_members(rows, f, fmt)
        finally:
            if out:
                f.close()
        if out:
            console.print(f"{len(rows):,} member(s) written to {out}", highlight=False)


def write_members(rows: list[dict], f, fmt: str) -> None:
    """Write engagement rows as CSV (with a header) or JSON lines."""
    if fmt == "csv":
        w = csv.DictWriter(f, fieldnames=list(EXPORT_FIELDS), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    else:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


async def _open_store(settings):
    from bot.storage import db
    from bot.storage.repositories import Store

    engine = db.create_engine(settings.storage.url)
    await db.ensure_schema(engine, auto_upgrade=engine.dialect.name == "sqlite")
    return Store(engine, retain_text=settings.storage.message_text_retention_days > 0)


async def _engagement(settings, platform: str | None) -> list[dict]:
    from bot.community.health import member_engagement

    store = await _open_store(settings)
    try:
        return await member_engagement(store, platform=platform)
    finally:
        await store.database.dispose()


async def _live_report(settings, out: Path, since: datetime | None, until: datetime | None,
                       platform: str | None) -> list[Path]:
    from collections import Counter

    from bot.app import build
    from bot.community.health import compute_health
    from bot.core.clock import iso
    from bot.replay.backtest import _write_findings
    from bot.replay.names import lookup_names
    from bot.replay.report import listed_questions, render_report

    out.mkdir(parents=True, exist_ok=True)
    # dry-run: building the app to read the store must never send anything
    app = await build(settings, dry_run=True)
    try:
        staff = tuple(sid for p in ("slack", "discord") for sid in app.engine.roles.staff_ids(p))
        health = await compute_health(app.store, platform=platform, start=since, end=until, staff_ids=staff)
        health["window"] = {"start": iso(since), "end": iso(until), "platform": platform}
        (out / "health.json").write_text(json.dumps(health, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

        class _R:
            findings: Counter = Counter()
            provider_errors: list[str] = []

        res = _R()
        plats = [platform] if platform else settings.enabled_platforms()
        findings = out / "findings.jsonl"
        findings.write_text("", encoding="utf-8")
        for plat in plats:
            part = out / f".findings-{plat}.jsonl"
            await _write_findings(app, plat, out, res, path=part)
            with open(findings, "a", encoding="utf-8") as dst, open(part, encoding="utf-8") as src:
                dst.write(src.read())
            part.unlink()
        names = await lookup_names(app.store, plats, listed_questions(findings))
        html = render_report(health, community=settings.community.name, source="live store",
                             platform=platform or " and ".join(plats), findings_path=findings, names=names,
                             import_lines=[f"finding provider failed: {e}" for e in res.provider_errors])
        (out / "report.html").write_text(html, encoding="utf-8")
    finally:
        await app.close()
    return [out / "health.json", findings, out / "report.html"]
