"""``steward model``: fit the reply-link model on annotated logs."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(cli: typer.Typer, db_cli: typer.Typer) -> None:
    model_cli = typer.Typer(help="The reply-link model (who replies to whom in flat channels).",
                            no_args_is_help=True)
    cli.add_typer(model_cli, name="model")

    @model_cli.command("train")
    def train(
        data: Path = typer.Option(..., "--data", help="annotated export: DIR/slack-export and DIR/gold.json"),
        out: Path = typer.Option(..., "--out", help="model file to write (JSON)"),
        folds: int = typer.Option(5, help="cross-validation folds, grouped by log, for the thresholds"),
    ) -> None:
        """Fit the model on DIR (needs the [train] extra) and write it with the data and settings it
        came from; the thresholds are chosen by cross-validation grouped by log."""
        try:
            from bot.conversation.training import train_file
        except ModuleNotFoundError as e:
            raise typer.BadParameter(f"{e.name} is missing: pip install 'community-steward[train]'") from None
        doc = train_file(data, out, folds=folds, log=lambda s: typer.echo(s, err=True))
        typer.echo(json.dumps({"out": str(out), "threshold": doc["threshold"],
                               "link_threshold": doc["link_threshold"],
                               "selection": doc["trained"]["selection"]}, indent=1))
