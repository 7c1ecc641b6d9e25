"""``steward run`` as a real process on the fake Slack, in both modes: a newcomer is greeted, /steward
answers, SIGTERM ends it cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fakes.slack_requests import HttpSender, event_callback, slash_command, team_join
from tests.slack.conftest import eventually

STEWARD = Path(sys.executable).with_name("steward")


def config(tmp_path: Path, fake, mode: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f"""
[community]
name = "Process Garden"
[storage]
url = "sqlite:///{tmp_path / 'steward.db'}"
[playbooks]
dir = "{ROOT / 'playbooks'}"
messages_dir = "{ROOT / 'messages'}"
[channels]
welcome = {{ slack = "CWELCOME" }}
moderators = {{ slack = "CMODS" }}
[slack]
enabled = true
mode = "{mode}"
api_base_url = "{fake.api_url}"
http_host = "127.0.0.1"
http_port = 0
""", encoding="utf-8")
    return p


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_steward_run_greets_and_answers(tmp_path, fake, mode):
    env = {**os.environ, "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_APP_TOKEN": fake.app_token,
           "SLACK_SIGNING_SECRET": fake.signing_secret}
    proc = await asyncio.create_subprocess_exec(str(STEWARD), "run", "--config", str(config(tmp_path, fake, mode)),
                                                env=env, stderr=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.DEVNULL)
    log: list[str] = []
    try:
        url = None
        while url is None and mode == "http":
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "steward run ended early:\n" + "".join(log)
            log.append(line)
            m = re.search(r"listening for events on (\S+)", line)
            url = m.group(1) if m else None
        reader = asyncio.create_task(_drain(proc.stderr, log))
        form = slash_command("help", user_id="U1", response_url=fake.response_url("help"))
        if mode == "http":
            sender = HttpSender(url, fake.signing_secret)
            assert (await sender.event(team_join("U321", "Noor")))[0] == 200
            assert (await sender.command(form))[0] == 200
        else:
            await asyncio.wait_for(fake.socket_connected.wait(), 30)
            await fake.send_envelope("events_api", event_callback(team_join("U321", "Noor")))
            await fake.send_envelope("slash_commands", form)
        greeted = await eventually(lambda: fake.posted("CWELCOME"), timeout=20)
        assert [p["text"] for p in greeted] == ["Welcome, <@U321>! Glad you're here."], "".join(log)
        answers = await eventually(lambda: fake.responses, timeout=20)
        assert "`/steward optout`" in answers[0]["text"]
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
