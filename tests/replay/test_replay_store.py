"""The backtest's store writes the very rows the Store writes and reads the same answers: a replay
with every shipped playbook and feature leaves the same database behind, table by table, whichever
store ran it."""

from __future__ import annotations

from sqlalchemy import text

from bot.app import build
from bot.core.clock import SimulatedClock
from bot.replay.backtest import _Feeder, open_export
from bot.replay.driver import replay
from bot.settings import load_settings
from bot.storage import db, scratch
from bot.storage.models import Base
from tests.replay.exports import help_desk_export, slack_export


async def _tables(tmp_path, export, name: str, fast: bool) -> dict[str, list]:
    exp = open_export(export)
    start, end = exp.span()
    settings = load_settings(None, storage={"url": f"sqlite:///{tmp_path / name}.db"})
    settings.slack.enabled = True
    app = await build(settings, clock=SimulatedClock(start), dry_run=True, auto_upgrade=True, scratch_db=fast)
    try:
        assert app.store.scratch is fast
        feeder = _Feeder(app, settings, exp, "slack", set())
        await feeder.prepare()
        await replay(app.engine, feeder.events(), start=start, end=end)
        await feeder.finish()
        await app.store.flush()
        out = {}
        async with app.store.database.connect() as conn:
            for table in Base.metadata.sorted_tables:
                out[table.name] = [tuple(r) for r in (await conn.execute(text(
                    f"SELECT * FROM {table.name} ORDER BY rowid"))).all()]
        return out
    finally:
        await app.close()


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


async def test_replay_store_answers_the_outreach_caps_as_the_store_does(tmp_path):
    """The caps' counts, the hourly budget and open cases: the backtest's plain-SQL answers are the
    Store's, row for row, on one database with outbox rows of every kind, status, age and action."""
    from datetime import timedelta

    from sqlalchemy import insert

    from bot.core.records import OutboundMessage
    from bot.storage.models import ModerationCaseRow
    from bot.storage.repositories import Store
    from tests.conftest import T0

    settings = load_settings(None, storage={"url": f"sqlite:///{tmp_path / 'caps'}.db"})
    app = await build(settings, clock=SimulatedClock(T0), dry_run=True, auto_upgrade=True)
    store = app.store
    try:
        n = 0
        for member in ("U1", "U2"):
            for i, (kind, action, status, automated) in enumerate([
                    ("dm", "send_nudge", "dry_run", True), ("dm", "send_dm", "sent", True),
                    ("dm", "send_dm", "skipped", True), ("channel", "send_nudge", "pending", True),
                    ("dm", "send_dm", "pending", False), ("dm", "send_nudge", "failed", True),
                    ("dm", "send_dm", "sending", True)]):
                n += 1
                at = T0 + timedelta(hours=3 * i)
                msg = OutboundMessage(platform="slack", kind=kind, text="hi", member_id=member,
                                      channel_id="C1" if kind == "channel" else None, dedupe_key=f"k{n}")
                item = await store.enqueue(msg, playbook_id="p", action=action, reason="r", status=status,
                                           not_before=at, now=at, automated=automated)
                if status == "sent":
                    await store.mark_outbox(item, status="sent", now=at + timedelta(minutes=1))
        async with store.database.begin() as conn:
            await conn.execute(insert(ModerationCaseRow.__table__).values(
                platform="slack", member_id="U1", incident_key="i1", rule="spam", status="open", opened_at=T0,
                updated_at=T0))
            await conn.execute(insert(ModerationCaseRow.__table__).values(
                platform="slack", member_id="U2", incident_key="i2", rule="spam", status="closed", opened_at=T0,
                updated_at=T0))
        counted = ("pending", "sending", "sent", "dry_run")
        asks = []
        for member in ("U1", "U2", "U3"):
            for since in (T0 - timedelta(days=1), T0 + timedelta(hours=4), T0 + timedelta(days=2)):
                for kw in ({"actions": ("send_nudge",)}, {"kind": "dm", "automated_only": True},
                           {"actions": ("send_nudge",), "automated_only": True, "before_id": 4},
                           {"kind": "dm", "automated_only": True, "before_id": 12}):
                    asks.append(("outbox_count", ("slack", member, since), {"statuses": counted, **kw}))
            asks.append(("has_open_case", ("slack", member), {}))
        plain = [await getattr(store, name)(*a, **kw) for name, a, kw in asks]
        engine = db.create_engine(settings.storage.url)
        assert await scratch.prepare(engine)
        fast_store = Store(engine, scratch=True)
        try:
            fast = [await getattr(fast_store, name)(*a, **kw) for name, a, kw in asks]
        finally:
            await fast_store.close()
        assert fast == plain
        # the answers are not all alike: the counts and the case tell members and times apart
        assert plain[:4] == [2, 3, 1, 3]  # U1 since the day before: nudges, automated DMs, before 4, before 12
        assert plain[12] is True and plain[25] is False
    finally:
        await app.close()
