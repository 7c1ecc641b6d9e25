"""The backtest's store writes the very rows the Store writes: same messages (threads, edits, bots,
mentions, times) and reactions, whichever path put them there."""

from __future__ import annotations

from sqlalchemy import text

from bot.app import build
from bot.core.clock import SimulatedClock
from bot.replay.backtest import _fast_sqlite, _Feeder, open_export
from bot.replay.driver import replay
from bot.replay.store import ReplayStore
from bot.settings import load_settings
from tests.replay.exports import help_desk_export, slack_export

COLUMNS = {
    "messages": "platform, channel_id, message_id, author_id, text, posted_at, thread_id, reply_to, mentions, "
                "is_bot, is_question, kind, edited_at, deleted",
    "reactions": "platform, channel_id, message_id, member_id, message_author_id, emoji, at, removed",
}


async def _rows(tmp_path, export, name: str, fast: bool) -> dict[str, list]:
    exp = open_export(export)
    start, end = exp.span()
    settings = load_settings(None, storage={"url": f"sqlite:///{tmp_path / name}.db"})
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
        out = {}
        async with app.store.engine.connect() as conn:
            for table, cols in COLUMNS.items():
                out[table] = [tuple(r) for r in (await conn.execute(text(
                    f"SELECT {cols} FROM {table} ORDER BY {cols}"))).all()]
        return out
    finally:
        await app.close()


async def test_replay_store_rows_equal_store_rows(tmp_path):
    slack_export(tmp_path / "small")
    help_desk_export(tmp_path / "desk", days=2)
    for export in ("small", "desk"):
        plain = await _rows(tmp_path, tmp_path / export, f"{export}-plain", False)
        fast = await _rows(tmp_path, tmp_path / export, f"{export}-fast", True)
        assert plain["messages"]
        assert fast == plain
    small = await _rows(tmp_path, tmp_path / "small", "again", True)
    by_text = {r[4]: r for r in small["messages"]}
    assert by_text["Run the installer"][12] is not None  # the edit landed on the buffered row
    assert len(small["reactions"]) == 2
