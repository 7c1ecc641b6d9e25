"""Real processes for the fault tests and the load benchmark: the fake Slack server, ``steward run``
instances in Slack HTTP mode on one PostgreSQL database, and a sender that plays Slack plus a load
balancer (a request an instance did not answer is retried on another, as Slack retries events)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bot.delivery.rates import SLACK_METHOD_TIERS

ROOT = Path(__file__).resolve().parents[2]
STEWARD = str(ROOT / ".venv" / "bin" / "steward")
if not Path(STEWARD).exists():  # an installed steward on PATH
    STEWARD = "steward"

#: welcome as a DM at once (no channel greeting): every member is its own channel, so the fault
#: tests are about delivery and not about Slack's one-message-a-second-per-channel limit
WELCOME_NOW = """\
id: welcome
description: a welcome DM at once
platforms: [slack]
trigger:
  event: member_joined
  filters: {first_join: true}
conditions:
  - not_bot
limits:
  once_per_subject: true
actions:
  - send_dm: {template: welcome_dm}
"""


class Proc:
    """A child process whose output is collected (to a file and a list) by a reader thread."""

    def __init__(self, args: list[str], *, env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.log = log
        self.lines: list[str] = []
        self.fh = open(log, "a", encoding="utf-8")  # noqa: SIM115 - closed in wait()
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                  text=True, bufsize=1)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line)
            self.fh.write(line)
            self.fh.flush()

    async def wait_for_line(self, pattern: str, timeout: float = 60) -> re.Match:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                m = rx.search(line)
                if m:
                    return m
            seen = len(self.lines)
            if self.p.poll() is not None and seen == len(self.lines):
                raise RuntimeError(f"process exited ({self.p.returncode}) before {pattern!r}:\n"
                                   + "".join(self.lines[-30:]))
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no line matching {pattern!r} within {timeout}s:\n" + "".join(self.lines[-30:]))

    def kill9(self) -> None:
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()

    def stop(self, timeout: float = 30) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._t.join(5)
        self.fh.close()
        return self.p.returncode


class FakeSlackProc:
    """``python -m tests.fakes.slack_server`` and its control endpoints."""

    def __init__(self, workdir: Path, *, limits: bool = False) -> None:
        # these tests are about crashes, databases and exactly-once delivery of a thousand welcomes;
        # Slack's limits are enforced in the in-process tests (tests/slack/test_limits.py)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = [sys.executable, "-m", "tests.fakes.slack_server", "--port", "0"]
        if not limits:
            args.append("--no-limits")
        self.proc = Proc(args, env=env, log=workdir / "fake_slack.log")
        self.api_url = ""
        self.tokens: dict[str, str] = {}

    async def start(self) -> FakeSlackProc:
        m = await self.proc.wait_for_line(r"FAKE_SLACK_URL=(\S+)")
        self.api_url = m.group(1)
        for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
            self.tokens[key] = (await self.proc.wait_for_line(key + r"=(\S+)")).group(1)
        return self

    @property
    def base(self) -> str:
        return self.api_url.rsplit("/api/", 1)[0]

    async def ctl(self, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as s:
            if body is None:
                async with s.get(self.base + path) as r:
                    return await r.json()
            async with s.post(self.base + path, json=body) as r:
                return await r.json()

    async def stored_dms(self) -> Counter:
        """DMs Slack holds per member, whatever the answers to the posts said."""
        stored = await self.ctl("/_fake/stored")
        return Counter({ch[1:]: n for ch, n in stored.items() if ch.startswith("D")})

    async def dms(self) -> Counter:
        """Successful DMs per member (the fake's DM channel is ``D`` + the member ID)."""
        calls = await self.ctl("/_fake/calls?method=chat.postMessage")
        return Counter(c["params"]["channel"][1:] for c in calls
                       if c["response"].get("ok") and str(c["params"].get("channel", "")).startswith("D"))

    def stop(self) -> None:
        self.proc.stop()


def write_config(workdir: Path, *, db_url: str, api_url: str, playbooks: str = WELCOME_NOW,
                 delivery: dict[str, Any] | None = None) -> Path:
    pb = workdir / "playbooks"
    pb.mkdir(exist_ok=True)
    (pb / "welcome.yaml").write_text(playbooks)
    lines = [
        '[community]', 'name = "Load Garden"', '',
        '[storage]', f'url = "{db_url}"', '',
        '[playbooks]', f'dir = "{pb}"', f'messages_dir = "{ROOT / "messages"}"', '',
        '[channels]',
        'welcome = { slack = "CWELCOME" }', 'introductions = { slack = "CINTRO" }',
        'help = { slack = "CHELP" }', 'announcements = { slack = "CNEWS" }', 'moderators = { slack = "CMODS" }', '',
        '[slack]', 'enabled = true', 'mode = "http"', 'http_host = "127.0.0.1"', 'http_port = 0',
        f'api_base_url = "{api_url}"', '',
        # the members of a burst all join at once: no quiet hours, no hourly outreach budget here
        '[outreach]', 'quiet_hours = "off"', 'hourly_budget = 1000000', '',
        '[features.delivery]',
    ]
    # Steward paces each Slack method by its tier (conversations.open: 50 a minute); a thousand
    # welcomes at once would take twenty minutes, and the fake here does not enforce the tiers, so
    # these runs lift the tier limits (``per_s = inf``)
    delivery = dict(delivery or {})
    limits = {**delivery.get("limits", {})}
    slack = {**limits.get("slack", {})}
    slack["methods"] = {**{m: {"per_s": math.inf, "burst": 1} for m in SLACK_METHOD_TIERS},
                        **slack.get("methods", {})}
    limits["slack"] = slack
    delivery["limits"] = limits
    for k, v in (delivery or {}).items():
        if isinstance(v, dict):
            continue
        lines.append(f"{k} = {json.dumps(v)}")
    for k, v in (delivery or {}).items():
        if isinstance(v, dict):  # limits.slack = {...}
            for plat, lim in v.items():
                lines.append(f"[features.delivery.{k}.{plat}]")
                for lk, lv in lim.items():
                    if isinstance(lv, dict) and any(isinstance(x, dict) for x in lv.values()):
                        lines.append(f"{lk} = {{ " + ", ".join(
                            f"\"{mk}\" = {{ per_s = {mv['per_s']}, burst = {mv.get('burst', 1)} }}"
                            for mk, mv in lv.items()) + " }")
                    else:
                        lines.append(f"{lk} = {{ per_s = {lv['per_s']}, burst = {lv.get('burst', 1)} }}")
    cfg = workdir / "config.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


class Instance:
    """One ``steward run`` process."""

    def __init__(self, name: str, config: Path, fake: FakeSlackProc, workdir: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.name = name
        self.config = config
        self.env = {**os.environ, **fake.tokens, "STEWARD_INSTANCE": name, **(extra_env or {})}
        self.workdir = workdir
        self.proc: Proc | None = None
        self.url = ""

    async def start(self) -> Instance:
        self.proc = Proc([STEWARD, "run", "--config", str(self.config)], env=self.env,
                         log=self.workdir / f"instance_{self.name}.log")
        m = await self.proc.wait_for_line(r"listening for events on (\S+)")
        self.url = m.group(1)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill9()

    def stop(self) -> int:
        return self.proc.stop() if self.proc else 0


class Sender:
    """Slack plus a load balancer: POSTs signed events round-robin; an instance that does not answer
    200 (dead, or failing) gets the event again on the next instance, as Slack retries it."""

    def __init__(self, signing_secret: str, instances: list[Instance], *, timeout: float = 120) -> None:
        self.secret = signing_secret
        self.instances = instances
        self.timeout = timeout
        self.retries = 0
        self.latencies: list[float] = []
        self.sent_at: dict[str, float] = {}

    async def post_all(self, events: list[dict[str, Any]], *, concurrency: int = 32,
                       on_progress=None) -> None:
        from tests.fakes.slack_requests import event_callback, sign

        sem = asyncio.Semaphore(concurrency)
        conn = aiohttp.TCPConnector(limit=concurrency * 2)
        async with aiohttp.ClientSession(connector=conn,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as s:
            async def one(i: int, ev: dict[str, Any]) -> None:
                body = json.dumps(event_callback(ev))
                async with sem:
                    deadline = time.monotonic() + self.timeout * 2
                    k = i
                    while True:
                        inst = self.instances[k % len(self.instances)]
                        t0 = time.monotonic()
                        try:
                            headers = {"Content-Type": "application/json", **sign(self.secret, body)}
                            async with s.post(inst.url, data=body, headers=headers) as r:
                                await r.read()
                                if r.status == 200:
                                    self.latencies.append(time.monotonic() - t0)
                                    break
                        except (aiohttp.ClientError, TimeoutError, OSError):
                            pass
                        self.retries += 1
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"event {i} was never accepted")
                        k += 1
                        await asyncio.sleep(0.05)
                if on_progress:
                    on_progress(i)

            await asyncio.gather(*(one(i, ev) for i, ev in enumerate(events)))


def pg_counts(db_url: str) -> dict[str, int]:
    import psycopg2

    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, count(*) FROM outbox GROUP BY status")
            out = {r[0]: int(r[1]) for r in cur.fetchall()}
            cur.execute("SELECT count(*) FROM members WHERE is_bot = false")
            out["members"] = int(cur.fetchone()[0])
        return out
    finally:
        conn.close()


async def until(fn, timeout: float, every: float = 0.25):
    """Poll ``fn`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(every)
    raise TimeoutError(f"condition not met within {timeout}s (last: {last!r})")
