"""Hostile files in an export: reported with their path (and line or byte), skipped, the rest imported,
memory flat. A 120 KB day file of nested brackets once took the importer past 8 GB; a zip member that
expands a thousandfold crashed it."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import cli
from bot.replay.discord_export import DiscordExport
from bot.replay.slack_export import SlackExport
from tests.replay.exports import discord_export, slack_export, ts, zip_export

DEEP = "[" * 60_000 + "]" * 60_000  # 120 KB


def _backtest(source: Path, out: Path) -> list[str]:
    res = CliRunner().invoke(cli, ["backtest", str(source), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return res.output.splitlines()


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _hostile_slack(root: Path) -> dict:
    counts = slack_export(root)
    # day two of #general: its first message, then a value nested 60,000 deep where the leave was
    hello = {"type": "message", "user": "UNEW", "text": "hello everyone", "ts": ts(24 * 60 + 5)}
    (root / "general" / "2026-01-06.json").write_text("[" + json.dumps(hello) + ",\n" + DEEP + "]")
    # users.json: the members, then a deeply nested one
    users = json.loads((root / "users.json").read_text())
    (root / "users.json").write_text("[" + ", ".join(json.dumps(u) for u in users) + ", " + DEEP + "]")
    counts["leaves"] = 0
    return counts


def test_a_deeply_nested_slack_day_file_is_reported_with_its_line_and_skipped(tmp_path):
    counts = _hostile_slack(tmp_path / "export")
    peak = _peak(lambda: list(SlackExport(tmp_path / "export").records()))
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"

    out = _backtest(tmp_path / "export", tmp_path / "out")
    day = str(tmp_path / "export" / "general" / "2026-01-06.json")
    assert [ln.strip() for ln in out if day in ln] == [
        f"{day}:2:1025: malformed JSON (depth limit exceeded); 1 message(s) before the error imported, "
        "the rest of the file skipped"]
    users = [ln.strip() for ln in out if "users.json" in ln]
    assert len(users) == 1 and "nested too deeply; 6 member(s) read before it" in users[0], users
    assert users[0].startswith(f"{tmp_path / 'export' / 'users.json'} (byte ")
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["messages"] == counts["messages"] == 9


def test_a_zip_bomb_in_a_slack_export_is_reported_and_skipped(tmp_path):
    counts = slack_export(tmp_path / "export")
    bomb = zip_export(tmp_path / "export", tmp_path / "export.zip")
    # a third day in #help: 256 MiB of spaces packed into a few hundred KB
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as z, z.open("help/2026-01-07.json", "w") as f:
        chunk = b" " * (1 << 20)
        for _ in range(256):
            f.write(chunk)
    assert bomb.stat().st_size < 2 * 2**20
    peak = _peak(lambda: list(SlackExport(bomb).records()))
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"

    out = _backtest(bomb, tmp_path / "out")
    lines = [ln.strip() for ln in out if "2026-01-07.json" in ln]
    assert len(lines) == 1, out
    assert lines[0].startswith(f"{bomb}!help/2026-01-07.json: expands from ")
    assert lines[0].endswith("to 268,435,456 bytes in the zip (more than 200 times: a zip bomb?); file skipped")
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["messages"] == counts["messages"]


def test_a_zip_member_that_lies_about_its_contents_is_reported_and_skipped(tmp_path):
    counts = slack_export(tmp_path / "export")
    z = zip_export(tmp_path / "export", tmp_path / "export.zip")
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr("help/2026-01-07.json", json.dumps([{"type": "message", "user": "UADA", "text": "x",
                                                          "ts": ts(3 * 24 * 60)}]))
    data = bytearray(z.read_bytes())
    at = data.rindex(b'"text": "x"')  # stored, not packed: flip a byte of the member's JSON
    data[at + 9] = ord("y")
    z.write_bytes(bytes(data))
    out = _backtest(z, tmp_path / "out")
    lines = [ln.strip() for ln in out if "2026-01-07.json" in ln]
    assert len(lines) == 1 and "unreadable in the zip (Bad CRC-32" in lines[0], out
    assert json.loads((tmp_path / "out" / "health.json").read_text())["messages"] == counts["messages"]


def test_a_deeply_nested_discord_message_is_reported_with_its_byte_and_the_rest_imported(tmp_path):
    counts = discord_export(tmp_path / "dce")
    path = next((tmp_path / "dce").glob("*help*"))
    doc = json.loads(path.read_text(encoding="utf-8"))
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    # the third message's content becomes a value nested 60,000 deep
    text = text.replace('"content": "thanks!"', '"content": ' + DEEP)
    path.write_text(text, encoding="utf-8")
    peak = _peak(lambda: list(DiscordExport(tmp_path / "dce").records()))
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"

    out = _backtest(tmp_path / "dce", tmp_path / "out")
    lines = [ln.strip() for ln in out if str(path) in ln]
    assert len(lines) == 1, out
    assert lines[0].startswith(f"{path} (byte ")
    assert lines[0].endswith(": nested too deeply; 2 message(s) before it imported, the rest of the file skipped")
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["messages"] == counts["messages"] - 1 == 4
