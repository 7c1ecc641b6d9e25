"""``steward dashboard --config``: the dashboard alone on the bot's store. It prints where it is and,
with ``--link``, a sign-in link for a manager; decisions that need the platform are left to the bot's
own dashboard and the chat, and it says so."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ROOT
from tests.dashboard.conftest import csrf_of, sign_in

STEWARD = Path(sys.executable).with_name("steward")


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[community]
name = "Quiet Garden"
[storage]
url = "sqlite:///{tmp_path / 'steward.db'}"
[playbooks]
dir = "{ROOT / 'playbooks'}"
messages_dir = "{ROOT / 'messages'}"
[managers]
slack_user_ids = ["UMGR"]
[dashboard]
port = 0
""", encoding="utf-8")
    return cfg


def test_a_link_only_for_a_manager(tmp_path):
    proc = subprocess.run([str(STEWARD), "dashboard", "--config", str(_config(tmp_path)), "--link", "slack:UNOBODY"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 1
    assert "slack:UNOBODY: not a manager" in proc.stderr


@pytest.mark.slow
async def test_served_alone_it_shows_and_leaves_platform_decisions_to_the_bot(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        str(STEWARD), "dashboard", "--config", str(_config(tmp_path)), "--link", "slack:UMGR",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
    out: list[str] = []
    try:
        link = None
        while link is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "".join(out)
            out.append(line)
            m = re.search(r"Sign in \(once, within 10 minutes\): (http://\S+)", line)
            link = m.group(1) if m else None
        base = link.split("/login/")[0]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert (await sign_in(http, link)).status == 303
            async with http.get(base + "/ambassadors") as page:
                csrf = csrf_of(await page.text())
            for path, form in (("/ambassadors/decide", {"member": "U100", "decision": "approve"}),
                               ("/moderation/decide", {"case": "1", "decision": "case_warn"}),
                               ("/playbooks/change", {"verb": "disable", "id": "welcome"})):
                async with http.post(base + path, data={**form, "csrf": csrf}) as r:
                    assert "This dashboard runs alone (steward dashboard)" in await r.text(), path
            async with http.get(base + "/playbooks") as page:
                assert "welcome</code> · on" in await page.text()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
