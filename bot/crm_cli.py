"""``steward crm import FILE``: member attributes from a CRM export (CSV or JSON Lines)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from bot.storage.cli import ConfigOpt, _run, _settings


def register(cli: typer.Typer, db_cli: typer.Typer) -> None:
    crm_cli = typer.Typer(help="Member attributes from your CRM.", no_args_is_help=True)
    cli.add_typer(crm_cli, name="crm")

    @crm_cli.command("import")
    def import_cmd(file: Path = typer.Argument(..., help="a .csv or .jsonl file, one member per row"),
                   config: Path = ConfigOpt,
                   dry_run: bool = typer.Option(False, "--dry-run", help="match and report; write nothing")) -> None:
        """Match rows to members by slack_id, discord_id or email and store their attributes
        (membership, region, language, interests, start_date, ...). A file with any problem is
        refused whole; every row is reported as matched, unmatched or ambiguous."""
        settings = _settings(config)
        lookup = None
        if settings.slack.enabled:
            from bot.adapters.slack.emails import email_lookup

            lookup = email_lookup(settings)
        report = _run(_import(settings, file, lookup, dry_run))
        print("\n".join(report.lines()))
        if dry_run and not report.problems:
            print("(dry run: nothing was written)")
        if report.problems:
            raise typer.Exit(1)


async def _import(settings, file: Path, lookup, dry_run: bool):
    """With the app built, so the CRM's interests reach the interest service (its topics)."""
    from bot.app import build
    from bot.crm.importer import import_file

    app = await build(settings)
    try:
        return await import_file(app.store, file, now=datetime.now(UTC), email_lookup=lookup, dry_run=dry_run,
                                 interests=app.services.interests)
    finally:
        await app.store.flush()
        await app.close()
