"""Replay fires scheduled playbooks at the simulated times their cron definitions give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.events import MessagePosted
from bot.replay.driver import replay

WEEKLY = """\
# yaml-language-server: $schema=../schema/playbook.schema.json
id: weekly
trigger:
  schedule:
    cron: "0 9 * * MON"
    timezone: Europe/Amsterdam
actions:
  - post_to_moderators: {template: welcome_channel}
"""


async def test_cron_ticks_in_replay_follow_the_time_zone(make_app, tmp_path):
    (tmp_path / "weekly.yaml").write_text(WEEKLY)
    start = datetime(2026, 3, 16, 0, 0, tzinfo=UTC)  # a Monday; summer time starts on Sunday 29 March
    app = await make_app(playbooks_dir=tmp_path, start=start, dry_run=True, slack={"enabled": True})
    seen = []
    app.outbox.listeners.append(seen.append)
    events = [MessagePosted("slack", start + timedelta(days=d, hours=12), channel_id="C1", message_id=str(d),
                            author_id="U1", text="hi") for d in range(0, 21)]
    n = await replay(app.engine, events, start=start, end=start + timedelta(days=21))
    assert n == 21
    times = [i.not_before for i in seen]
    assert times == [datetime(2026, 3, 16, 8, 0, tzinfo=UTC), datetime(2026, 3, 23, 8, 0, tzinfo=UTC),
                     datetime(2026, 3, 30, 7, 0, tzinfo=UTC)]
    assert {i.message.channel_id for i in seen} == {"CMODS"}
    assert all(i.status == "dry_run" for i in seen)


async def test_interval_ticks(make_app, tmp_path):
    (tmp_path / "every.yaml").write_text(WEEKLY.replace("id: weekly", "id: every").replace(
        '  schedule:\n    cron: "0 9 * * MON"\n    timezone: Europe/Amsterdam\n', "  interval:\n    every: 6h\n"))
    start = datetime(2026, 3, 16, 0, 0, tzinfo=UTC)
    app = await make_app(playbooks_dir=tmp_path, start=start, dry_run=True, discord={"enabled": True})
    seen = []
    app.outbox.listeners.append(seen.append)
    await replay(app.engine, [], start=start, end=start + timedelta(days=1))
    assert len(seen) == 4 and {i.message.platform for i in seen} == {"discord"}


async def test_idle_ticks_in_a_long_gap_are_coalesced(make_app, tmp_path):
    (tmp_path / "every.yaml").write_text(WEEKLY.replace("id: weekly", "id: every").replace(
        '  schedule:\n    cron: "0 9 * * MON"\n    timezone: Europe/Amsterdam\n', "  interval:\n    every: 1h\n"))
    start = datetime(2020, 1, 1, 0, 30, tzinfo=UTC)
    app = await make_app(playbooks_dir=tmp_path, start=start, dry_run=True, slack={"enabled": True})
    seen = []
    app.outbox.listeners.append(seen.append)
    later = start + timedelta(days=365)
    events = [MessagePosted("slack", t, channel_id="C1", message_id=str(i), author_id="U1", text="hi")
              for i, t in enumerate((start + timedelta(minutes=10), later))]
    await replay(app.engine, events, start=start, end=later + timedelta(minutes=90))
    times = [i.not_before for i in seen]
    # interval ticks run from the start (xx:30): first and last tick of the idle year, then the one after
    assert times == [start + timedelta(hours=1), later, later + timedelta(hours=1)]
