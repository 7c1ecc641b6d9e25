"""The backtest's store writes the very rows the Store writes and reads the same answers: a replay
with every shipped playbook and feature leaves the same database behind, table by table, whichever
store ran it."""

from __future__ import annotations

from sqlalchemy import text

from bot.app import build
from bot.core.clock import SimulatedClock
from bot.replay.backtest import _fast_sqlite, _Feeder, open_export
from bot.replay.driver import replay
from bot.replay.store import ReplayStore
from bot.settings import load_settings
from bot.storage.models import Base
from tests.replay.exports import help_desk_export, slack_export


async def _tables(tmp_path, export, name: str, fast: bool) -> dict[str, list]:
    exp = open_export(export)
    start, end = exp.span()
    settings = load_settings(None, storage={"url": f"sqlite:///{tmp_path / name}.db"})
    settings.slack.enabled = True
    app = await build(settings, clock=SimulatedClock(start), dry_run=True, auto_upgrade=True)
    try:
        if fast:
            await _fast_sqlite(app)
            assert isinstance(app.store, ReplayStore)
        else:
            assert not isinstance(app.store, ReplayStore)
        feeder = _Feeder(app, settings, exp, "slack", set())
        await feeder.prepare()
        await replay(app.engine, feeder.events(), start=start, end=end)
        await feeder.finish()
        svc = app.engine.services.get("questions")
        if svc is not None:
            await svc.flush()
        out = {}
        async with app.store.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                out[table.name] = [tuple(r) for r in (await conn.execute(text(
                    f"SELECT * FROM {table.name} ORDER BY rowid"))).all()]
        return out
    finally:
        await app.close()
        if isinstance(app.store, ReplayStore):
            app.store.close()


async def test_replay_store_leaves_the_same_database(tmp_path):
    slack_export(tmp_path / "small")
    help_desk_export(tmp_path / "desk", days=16)
    for export in ("small", "desk"):
        plain = await _tables(tmp_path, tmp_path / export, f"{export}-plain", False)
        fast = await _tables(tmp_path, tmp_path / export, f"{export}-fast", True)
        for table, rows in plain.items():
            assert fast[table] == rows, (export, table)
        if export == "desk":
            # what the fast paths wrote is there: messages, runs, outbox rows of every kind of action
            assert len(plain["messages"]) > 500 and len(plain["playbook_runs"]) > 50
            assert {r[3] for r in plain["outbox"]} >= {"welcome", "unanswered", "unanswered_digest", "lurkers"}
            assert sum(1 for r in plain["messages"] if r[13] is not None) == 16 * 3  # every edit landed
    small = await _tables(tmp_path, tmp_path / "small", "again", True)
    by_text = {r[5]: r for r in small["messages"]}
    assert by_text["Run the installer"][13] is not None  # the edit landed on the buffered row
    assert len(small["reactions"]) == 2
