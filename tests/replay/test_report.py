"""report.html as a person sees it (headless Chromium), health SQL on SQLite and PostgreSQL, and
the CRM export."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.core.events import MemberJoined, MessagePosted, ReactionAdded
from bot.replay.backtest import run_backtest
from tests.conftest import T0
from tests.replay.exports import slack_export


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=600)
        exe = shutil.which("chromium")
    if not exe:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    import asyncio

    base = tmp_path_factory.mktemp("rep")
    slack_export(base / "export")
    asyncio.run(run_backtest(base / "export", base / "out"))
    return base / "out"


def test_report_renders_in_headless_chromium_without_console_errors(report_dir, tmp_path):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "<script" not in html
    shot = tmp_path / "report.png"
    res = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--window-size=1100,2400", f"--screenshot={shot}",
         (report_dir / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line]
    assert console == []


def test_report_gives_the_chart_facts_as_text_and_tables(report_dir):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    health = json.loads((report_dir / "health.json").read_text())
    svgs = re.findall(r"<svg[^>]*>.*?</svg>", html, re.S)
    assert len(svgs) >= 4
    for svg in svgs:
        assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    p = health["participation"]
    pyramid = next(s for s in svgs if "Participation pyramid" in s)
    assert f"creators: {p['creators']} members" in pyramid
    # the same numbers in a table a screen reader can walk
    assert re.search(rf"<td>creators</td><td class=\"n\">{p['creators']}</td>", html)
    assert "<caption>Activity per week</caption>" in html
    for w in health["weekly"]:
        assert f"<td>{w['week']}</td><td class=\"n\">{w['messages']:,}</td>" in html
    assert "@media print" in html
    assert "Messages</dt><dd>9</dd>" in html


async def _seed(app):
    """A month of a small community: joins, messages, a reply, a reaction, a question answered."""
    from sqlalchemy import insert

    from bot.storage.models import QuestionRow

    s = app.store
    for i, mid in enumerate(("U1", "U2", "U3", "U4")):
        await app.engine.dispatch(MemberJoined("slack", T0 + timedelta(hours=i), member_id=mid, display_name=mid))
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="UBOT", is_bot=True))
    # U2 answers U1 twice: in a thread, then in the channel minutes after U1 spoke (the reply model
    # links it to U1's line; a message days later would start a conversation of its own)
    posts = [("U1", 1, None, ()), ("U2", 2, "1.0", ()), ("U1", 40, None, ()), ("U2", 40.002, None, ("U1",)),
             ("UBOT", 41, None, ())]
    for n, (who, day, thread, mentions) in enumerate(posts):
        await app.engine.dispatch(MessagePosted(
            "slack", T0 + timedelta(days=day), channel_id="CHELP", message_id=f"{n + 1}.0", author_id=who,
            text="hi", thread_id=thread, mentions=mentions, is_bot=who == "UBOT"))
    await app.engine.dispatch(ReactionAdded("slack", T0 + timedelta(days=3), channel_id="CHELP", message_id="1.0",
                                            member_id="U3", emoji="+1", message_author_id="U1"))
    await s.flush()
    async with s.database.begin() as conn:
        await conn.execute(insert(QuestionRow.__table__), [
            {"platform": "slack", "channel_id": "CHELP", "message_id": "1.0", "author_id": "U1",
             "asked_at": T0 + timedelta(days=1), "status": "answered", "answered_by": ["U2"],
             "first_response_at": T0 + timedelta(days=1, minutes=10), "tier": 0},
            {"platform": "slack", "channel_id": "CHELP", "message_id": "3.0", "author_id": "U1",
             "asked_at": T0 + timedelta(days=40), "status": "open", "answered_by": [], "tier": 0,
             "first_response_at": None}])


async def test_health_sql_same_on_sqlite_and_postgres(db_url, make_app):
    from bot.community.health import compute_health

    app = await make_app(db_url, dry_run=True)
    await _seed(app)
    h = await compute_health(app.store, platform="slack", end=T0 + timedelta(days=100))
    assert h["members"] == 4 and h["messages"] == 4 and h["active_members"] == 3
    assert h["participation"] == {"creators": 1, "contributors": 2, "readers": 1, "creators_pct": 25.0,
                                  "contributors_pct": 50.0, "readers_pct": 25.0}
    assert h["questions"] == 2 and h["answered_rate"] == 0.5
    assert h["median_time_to_first_response_s"] == 600.0
    assert h["retention"] == [{"cohort": "2026-03", "joined": 4, "eligible_30d": 4, "retained_30d": 2,
                               "rate_30d": 0.5, "eligible_90d": 4, "retained_90d": 0, "rate_90d": 0.0}]
    assert sum(w["messages"] for w in h["weekly"]) == 4
    # a window: only the first week
    w = await compute_health(app.store, platform="slack", start=T0, end=T0 + timedelta(days=7))
    assert w["messages"] == 2 and w["questions"] == 1


def _seeded_config(tmp_path: Path, *, opt_out: str | None = None) -> Path:
    import asyncio

    from bot.app import build
    from bot.settings import load_settings

    url = f"sqlite:///{tmp_path / 'live.db'}"

    async def _go():
        app = await build(load_settings(None, storage={"url": url}), dry_run=True)
        await _seed(app)
        if opt_out:
            await app.store.set_preferences("slack", opt_out, now=T0, opted_out=True)
        await app.close()

    asyncio.run(_go())
    cfg = tmp_path / "steward.toml"
    cfg.write_text(f'[storage]\nurl = "{url}"\n')
    return cfg


def test_export_members_leaves_out_opted_out_members(tmp_path):
    cfg = _seeded_config(tmp_path, opt_out="U3")
    res = CliRunner().invoke(cli, ["export", "members", "--format", "csv", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    by_id = {r["member_id"]: r for r in rows}
    assert set(by_id) == {"U1", "U2", "U4"}  # U3 opted out, UBOT is a bot
    assert by_id["U1"]["messages"] == "2" and by_id["U1"]["questions_asked"] == "2"
    assert by_id["U2"]["replies_given"] == "2" and by_id["U2"]["questions_answered"] == "1"
    assert by_id["U4"]["level"] in ("reader", "newcomer") and by_id["U4"]["last_active"] == ""
    res = CliRunner().invoke(cli, ["export", "members", "--format", "jsonl", "--config", str(cfg)])
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x["member_id"] for x in lines] == ["U1", "U2", "U4"]


def test_live_report_command(tmp_path):
    cfg = _seeded_config(tmp_path)
    res = CliRunner().invoke(cli, ["report", "--out", str(tmp_path / "rep"), "--config", str(cfg),
                                   "--since", "2026-03-01"])
    assert res.exit_code == 0, res.output
    h = json.loads((tmp_path / "rep" / "health.json").read_text())
    assert h["messages"] == 4 and h["window"]["start"] == "2026-03-01T00:00:00Z"
    assert (tmp_path / "rep" / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert Path(tmp_path / "rep" / "findings.jsonl").exists()


def test_backtest_report_shows_names_and_question_text_not_ids(tmp_path):
    """The unanswered question reads as the community saw it: #general, the asker's name, the text
    (mentions as names, markup escaped), and none of the platform's IDs or message timestamps."""
    import asyncio

    from tests.replay.exports import ts

    root = tmp_path / "export"
    root.mkdir()
    (root / "users.json").write_text(json.dumps([
        {"id": "UQ7ASKER", "name": "rosa", "profile": {"display_name": "Rosa Jansen"}},
        {"id": "UQ7BAS", "name": "bas", "profile": {"display_name": "Bas"}}]))
    (root / "channels.json").write_text(json.dumps([
        {"id": "CQ7GENERAL", "name": "general", "is_general": True},
        {"id": "CQ7HELP", "name": "help"}]))
    question = ("How do I reset my password for the wiki? <@UQ7BAS> said to ask in <#CQ7HELP|help> "
                "but &lt;script&gt;alert(1)&lt;/script&gt; is all I see")
    (root / "general").mkdir()
    (root / "general" / "2026-01-05.json").write_text(json.dumps([
        {"type": "message", "user": "UQ7BAS", "text": "Morning all", "ts": ts(0)},
        {"type": "message", "user": "UQ7ASKER", "text": question, "ts": ts(5)}]))
    asyncio.run(run_backtest(root, tmp_path / "out"))
    findings = [json.loads(x) for x in (tmp_path / "out" / "findings.jsonl").read_text().splitlines()]
    assert [q["status"] for q in findings if q["kind"] == "question"] == ["unanswered"]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="s-unans"'):html.index('id="s-amb"')]
    row = re.search(r"<tbody><tr>(.*?)</tr>", section).group(1)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert cells[:4] == ["2026-01-05 09:05", "#general", "Rosa Jansen",
                         "How do I reset my password for the wiki? @Bas said to ask in #help but "
                         "&lt;script&gt;alert(1)&lt;/script&gt; is all I see"]
    for raw in ("UQ7ASKER", "UQ7BAS", "CQ7GENERAL", "CQ7HELP", ts(5)):
        assert raw not in html
    # still one self-contained page: nothing fetched, no script, the member's markup inert
    assert "<script" not in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
