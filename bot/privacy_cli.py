"""``steward forget``, ``steward export-member`` and ``steward prune``: the privacy commands."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer

from bot.core.errors import StewardError
from bot.storage.cli import ConfigOpt, _fail, _run, _settings, _with_store, console


def register(cli: typer.Typer, db_cli: typer.Typer) -> None:
    @cli.command("forget")
    def forget(
        member: str = typer.Argument(..., help="slack:U0123ABCD or discord:112233445566778899"),
        config: Path = ConfigOpt,
        yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
    ) -> None:
        """Erase a member's personal data (messages' text, profile, scores, preferences beyond an opt-out)."""
        from bot.privacy import forget_member, parse_member
        from bot.webhooks.queue import cli_queue

        try:
            ref = parse_member(member)
        except StewardError as e:
            _fail(str(e))
        if not yes and not typer.confirm(f"Erase the personal data of {ref.platform}:{ref.member_id}?"):
            raise typer.Exit(1)
        settings = _settings(config)
        report = _run(_with_store(settings.storage.url, lambda s: forget_member(
            s, ref, actor="cli", now=datetime.now(UTC), webhooks=cli_queue(s, settings))))
        print(f"forgot {ref.platform}:{ref.member_id}: {report.total} record(s) changed; "
              f"anonymous counts now refer to {report.pseudonym}")

    @cli.command("export-member")
    def export_member_cmd(
        member: str = typer.Argument(..., help="slack:U0123ABCD or discord:112233445566778899"),
        config: Path = ConfigOpt,
        out: Path = typer.Option(None, "--out", "-o", help="write to this file instead of standard output"),
    ) -> None:
        """Everything Steward stores about a member, as JSON."""
        from bot.privacy import export_member, parse_member

        try:
            ref = parse_member(member)
        except StewardError as e:
            _fail(str(e))
        settings = _settings(config)
        data = _run(_with_store(settings.storage.url, lambda s: export_member(s, ref, now=datetime.now(UTC))))
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        if out:
            out.write_text(text + "\n", encoding="utf-8")
            console.print(f"wrote {out}")
        else:
            sys.stdout.write(text + "\n")

    @cli.command("prune")
    def prune_cmd(
        config: Path = ConfigOpt,
        days: int = typer.Option(None, help="retention in days (default: storage.message_text_retention_days)"),
    ) -> None:
        """Erase message text older than the retention window (steward run does this daily)."""
        from bot.privacy import prune

        settings = _settings(config)
        keep = settings.storage.message_text_retention_days if days is None else days
        if keep < 0:
            _fail("--days must be 0 or more")
        done = _run(_with_store(settings.storage.url, lambda s: prune(s, keep, now=datetime.now(UTC))))
        print(f"erased the text of {done['messages']} message(s) and {done['outbox']} sent message(s) "
              f"older than {keep} day(s)")
