"""Backtests on real and hand-made exports: the four outputs, native IDs, counts a person can
check against the raw files, and what happens to broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.replay.backtest import run_backtest
from tests.replay.exports import discord_export, slack_export, zip_export
from tests.shared_paths import ubuntu_export

UBUNTU = ubuntu_export() / "slack-export"
NOTICES = {"channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "bot_message",
           "pinned_item", "tombstone"}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def count_member_messages(export: Path) -> int:
    """Counted straight from the raw JSON, independently of the importer."""
    bots = {u["id"] for u in json.loads((export / "users.json").read_text()) if u.get("is_bot")}
    n = 0
    for day in export.glob("*/*.json"):
        for m in json.loads(day.read_text()):
            if m.get("subtype") in NOTICES or "bot_id" in m or m.get("user") in bots:
                continue
            n += 1
    return n


@pytest.fixture(scope="module")
def ubuntu_run(tmp_path_factory):
    if not UBUNTU.is_dir():
        pytest.skip(f"{UBUNTU} is not here")
    out = tmp_path_factory.mktemp("bt")
    result = CliRunner().invoke(cli, ["backtest", str(UBUNTU), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_ubuntu_backtest_counts_every_member_message(ubuntu_run):
    out, output = ubuntu_run
    for name in ("actions.jsonl", "findings.jsonl", "health.json", "report.html"):
        assert (out / name).stat().st_size > 0, name
    health = json.loads((out / "health.json").read_text())
    expected = count_member_messages(UBUNTU)
    assert expected > 10_000
    assert health["messages"] == expected
    # 5 factoid bots are in users.json; they are not members
    users = json.loads((UBUNTU / "users.json").read_text())
    assert health["members"] == sum(1 for u in users if not u.get("is_bot"))
    p = health["participation"]
    assert p["creators"] + p["contributors"] + p["readers"] == health["members"]
    assert "nothing was skipped" in output


def test_ubuntu_actions_name_slack_ids(ubuntu_run):
    out, _ = ubuntu_run
    actions = _jsonl(out / "actions.jsonl")
    users = {u["id"] for u in json.loads((UBUNTU / "users.json").read_text())}
    welcomes = [a for a in actions if a["playbook"] == "welcome" and a["action"] == "journey_step"
                and a["reason"].endswith(": day0-welcome")]
    assert welcomes, "every joiner would have been welcomed"
    for a in welcomes:
        assert set(a) == {"at", "playbook", "action", "platform", "to", "text", "reason"}
        assert a["platform"] == "slack" and a["at"].endswith("Z")
        assert a["to"]["member"] in users
        assert "welcome" in a["text"].lower()
    joiners = set()
    for day in UBUNTU.glob("*/*.json"):
        joiners |= {m["user"] for m in json.loads(day.read_text()) if m.get("subtype") == "channel_join"}
    assert {a["to"]["member"] for a in welcomes} <= joiners


async def test_slack_export_hand_counts(tmp_path):
    counts = slack_export(tmp_path / "export")
    res = await run_backtest(tmp_path / "export", tmp_path / "out")
    c = res.summary.counts
    for k, v in counts.items():
        assert c[k] == v, k
    assert c["files_shared"] == 1 and c["notices"] == 1
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["messages"] == 9
    # the admin is staff, the bot is a bot: neither is a member figure
    assert health["members"] == 4
    findings = _jsonl(tmp_path / "out" / "findings.jsonl")
    newcomers = [f for f in findings if f["kind"] == "newcomer"]
    assert newcomers == [{"kind": "newcomer", "member": "UNEW", "joined_at": newcomers[0]["joined_at"],
                          "first_message_at": newcomers[0]["first_message_at"], "messages": 1, "status": "posted",
                          "direct_messages": 1}]
    assert newcomers[0]["joined_at"].startswith("2026-01-05T09:01")
    actions = _jsonl(tmp_path / "out" / "actions.jsonl")
    # the general channel stands in for a welcome channel this community does not have
    assert {"channel": "CGEN"} in [a["to"] for a in actions if a["action"] == "greet"]


async def test_slack_threads_reactions_edits_reach_the_store(tmp_path):
    from sqlalchemy import text

    from bot.app import build
    from bot.core.clock import SimulatedClock
    from bot.replay.backtest import _Feeder, open_export
    from bot.replay.driver import replay
    from bot.settings import load_settings

    slack_export(tmp_path / "export")
    exp = open_export(tmp_path / "export")
    start, end = exp.span()
    settings = load_settings(None, storage={"url": f"sqlite:///{tmp_path / 's.db'}"})
    app = await build(settings, clock=SimulatedClock(start), dry_run=True, auto_upgrade=True)
    try:
        feeder = _Feeder(app, settings, exp, "slack", set())
        await feeder.prepare()
        await replay(app.engine, feeder.events(), start=start, end=end)
        await feeder.finish()
        async with app.store.database.connect() as conn:
            rows = {r.text: r for r in (await conn.execute(text(
                "SELECT message_id, thread_id, text, edited_at, is_bot, kind FROM messages"))).all()}
            reactions = (await conn.execute(text("SELECT member_id, emoji, message_author_id FROM reactions"))).all()
            members = {r.member_id: r for r in (await conn.execute(text(
                "SELECT member_id, is_bot, is_staff, joined_at, timezone FROM members"))).all()}
        root = rows["How do I install the plugin?"]
        assert root.thread_id is None
        assert rows["Run the installer"].thread_id == root.message_id
        assert rows["Run the installer"].edited_at is not None
        assert rows["checks"].kind == "me"
        assert rows["Read the rules"].is_bot
        assert sorted((r.member_id, r.emoji, r.message_author_id) for r in reactions) == [
            ("UADA", "wave", "UBOB"), ("UCAT", "wave", "UBOB")]
        assert members["UBOT"].is_bot and members["UADMIN"].is_staff
        assert members["UNEW"].joined_at is not None and members["UADA"].joined_at is None
        assert members["UADA"].timezone == "Europe/Amsterdam"
    finally:
        await app.close()


async def test_slack_zip_equals_folder(tmp_path):
    slack_export(tmp_path / "export")
    zipped = zip_export(tmp_path / "export", tmp_path / "export.zip")
    a = await run_backtest(tmp_path / "export", tmp_path / "a")
    b = await run_backtest(zipped, tmp_path / "b")
    assert a.summary.counts == b.summary.counts
    assert (tmp_path / "a" / "actions.jsonl").read_text() == (tmp_path / "b" / "actions.jsonl").read_text()
    assert json.loads((tmp_path / "b" / "health.json").read_text())["messages"] == 9


def test_truncated_slack_day_file_is_reported_and_the_rest_imported(tmp_path):
    counts = slack_export(tmp_path / "export", truncated=True)
    res = CliRunner().invoke(cli, ["backtest", str(tmp_path / "export"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    bad = str(tmp_path / "export" / "help" / "2026-01-06.json")
    lines = [line for line in res.output.splitlines() if bad in line]
    assert lines, res.output
    # path:line:column, then what was kept
    assert lines[0].strip().startswith(f"{bad}:")
    assert "1 message(s) before the error imported" in lines[0]
    assert "skipped 1 unreadable part(s)" in res.output
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["messages"] == counts["messages"] == 8


async def test_discord_export(tmp_path):
    counts = discord_export(tmp_path / "dce")
    res = await run_backtest(tmp_path / "dce", tmp_path / "out")
    assert res.platform == "discord"
    for k, v in counts.items():
        assert res.summary.counts[k] == v, k
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["messages"] == 5
    assert health["members"] == 3  # the bot is not a member
    actions = _jsonl(tmp_path / "out" / "actions.jsonl")
    dms = [a for a in actions if a["action"] == "journey_step" and a["reason"].endswith(": day0-welcome")]
    assert [a["to"] for a in dms] == [{"member": "300000000000000003"}]
    assert dms[0]["platform"] == "discord"
    # a single channel file works too
    one = next((tmp_path / "dce").glob("*help*"))
    res1 = await run_backtest(one, tmp_path / "one", fmt="discord")
    assert res1.summary.counts["messages"] == 3


async def test_discord_reply_reference_reaches_the_store(tmp_path):
    from sqlalchemy import text

    discord_export(tmp_path / "dce")
    res = await run_backtest(tmp_path / "dce", tmp_path / "out", db_dir=tmp_path)
    assert res.summary.counts["reactions"] == 1
    # the scratch database is gone after the run; reply_to is checked through the importer
    from bot.replay.discord_export import DiscordExport

    evs = [r for r in DiscordExport(tmp_path / "dce").records() if getattr(r, "name", "") == "message_posted"]
    reply = next(e for e in evs if e.text.startswith("Settings"))
    assert reply.reply_to == "910000000000000001" and reply.channel_id == "700000000000000002"
    assert [e.at for e in evs] == sorted(e.at for e in evs)
    del text


def test_truncated_discord_file_reports_byte_offset(tmp_path):
    discord_export(tmp_path / "dce", truncated=True)
    res = CliRunner().invoke(cli, ["backtest", str(tmp_path / "dce"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if "help" in x and "byte" in x)
    assert "truncated JSON" in line and "2 message(s) before it imported" in line
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["messages"] == 4


def test_not_an_export_is_one_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    res = CliRunner().invoke(cli, ["backtest", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "not a Slack workspace export or DiscordChatExporter JSON" in res.output
