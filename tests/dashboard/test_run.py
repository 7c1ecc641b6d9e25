"""``steward run`` serves the dashboard beside the bot: a real process on the fake Slack, a manager
asks for a link in Slack and signs in with it; SIGTERM stops both."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ROOT
from tests.dashboard.conftest import sign_in
from tests.fakes.slack_requests import HttpSender, slash_command
from tests.slack.conftest import eventually, fake  # noqa: F401 - the fake Slack fixture

STEWARD = Path(sys.executable).with_name("steward")


@pytest.mark.slow
async def test_steward_run_serves_the_dashboard(tmp_path, fake):  # noqa: F811
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[community]
name = "Process Garden"
[storage]
url = "sqlite:///{tmp_path / 'steward.db'}"
[playbooks]
dir = "{ROOT / 'playbooks'}"
messages_dir = "{ROOT / 'messages'}"
[managers]
slack_user_ids = ["UMGR"]
[slack]
enabled = true
mode = "http"
api_base_url = "{fake.api_url}"
http_host = "127.0.0.1"
http_port = 0
[dashboard]
port = 0
""", encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": fake.signing_secret}
    proc = await asyncio.create_subprocess_exec(str(STEWARD), "run", "--config", str(cfg), env=env,
                                                stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
    log: list[str] = []
    try:
        events = dash = None
        while events is None or dash is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "steward run ended early:\n" + "".join(log)
            log.append(line)
            if m := re.search(r"listening for events on (\S+)", line):
                events = m.group(1)
            if m := re.search(r"dashboard on (http://\S+)", line):
                dash = m.group(1)
        reader = asyncio.create_task(_drain(proc.stderr, log))
        await HttpSender(events, fake.signing_secret).command(
            slash_command("dashboard", user_id="UMGR", response_url=fake.response_url("dash")))
        answers = await eventually(lambda: fake.responses, timeout=20)
        link = re.search(r"(http://\S+/login/[\w-]+)", answers[0]["text"]).group(1)
        assert link.startswith(dash + "/login/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert (await sign_in(http, link)).status == 303
            async with http.get(dash + "/") as page:
                assert page.status == 200 and "Steward · Process Garden" in await page.text()
            async with http.get(dash + "/healthz") as r:
                assert await r.json() == {"ok": True}
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, "".join(log)
        await reader
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode())
