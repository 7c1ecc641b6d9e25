"""Fixtures: the fake Slack, and the real bot (Bolt app, adapter, engine, outbox) pointed at it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable

import pytest
import pytest_asyncio

from tests.conftest import ROOT, T0, test_settings
from tests.fakes.slack_requests import HttpSender
from tests.fakes.slack_server import FakeSlack


@pytest_asyncio.fixture
async def fake():
    async with FakeSlack() as f:
        yield f


@pytest.fixture
def slack_env(monkeypatch, fake):
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake.bot_token)
    monkeypatch.setenv("SLACK_APP_TOKEN", fake.app_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", fake.signing_secret)


class Running:
    """One running bot on the fake Slack."""

    def __init__(self, app, adapter, fake: FakeSlack) -> None:
        self.app = app
        self.adapter = adapter
        self.fake = fake
        self.http = HttpSender(adapter.http_url, fake.signing_secret) if adapter.http_url else None
        #: every event the engine finished dispatching, in order
        self.dispatched: list = []
        self._inflight = 0
        engine_dispatch = app.engine.dispatch

        async def dispatch(ev, **kw):
            self._inflight += 1
            try:
                return await engine_dispatch(ev, **kw)
            finally:
                self._inflight -= 1
                self.dispatched.append(ev)

        app.engine.dispatch = dispatch

    async def settle(self, events: int = 1, timeout: float = 5.0) -> list:
        """Wait until ``events`` events have been dispatched completely (work goes on after the ack)."""
        await eventually(lambda: len(self.dispatched) >= events and self._inflight == 0, timeout)
        assert len(self.dispatched) >= events, f"only {len(self.dispatched)} event(s) reached the engine"
        return self.dispatched

    async def deliver(self) -> int:
        return await self.app.delivery.drain()

    async def later(self, **delta) -> int:
        """Move the bot's clock forward and deliver what became due."""
        from datetime import timedelta

        self.app.clock.advance_to(self.app.clock.now() + timedelta(**delta))
        return await self.deliver()


async def eventually(check: Callable[[], object], timeout: float = 5.0, interval: float = 0.02):
    """Wait until ``check()`` is truthy (work finishes after the ack); its last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        v = check()
        if v or loop.time() > end:
            return v
        await asyncio.sleep(interval)


@pytest_asyncio.fixture
async def start_bot(tmp_path, fake, slack_env):
    """Start the real bot in ``mode`` ("socket" or "http") against the fake; stopped afterwards."""
    from bot.adapters.slack import runtime
    from bot.app import build
    from bot.core.clock import SimulatedClock

    running: list[Running] = []

    async def _start(mode: str = "socket", *, pace: float = 0.0, playbooks: tuple[str, ...] = ("welcome",),
                     db_url: str | None = None, wait_for_members: bool = True, members_interval: float = 0.0,
                     messages_dir=None,
                     **settings_extra) -> Running:
        slack = {"enabled": True, "mode": mode, "api_base_url": fake.api_url, "http_host": "127.0.0.1",
                 "http_port": 0, **settings_extra.pop("slack", {})}
        settings = test_settings(db_url or f"sqlite:///{tmp_path / f'slack{len(running)}.db'}", slack=slack,
                                 **settings_extra)
        # only the named shipped playbooks, so what the fake records is what these tests expect
        pb_dir = tmp_path / f"playbooks{len(running)}"
        pb_dir.mkdir()
        for name in playbooks:
            shutil.copy(ROOT / "playbooks" / f"{name}.yaml", pb_dir)
        # a weekday morning, so quiet hours never hold a DM back whatever the time the tests run
        app = await build(settings, clock=SimulatedClock(T0),
                          gateways={}, auto_upgrade=True, playbooks_dir=pb_dir, messages_dir=messages_dir)
        adapter = runtime.create(app)
        adapter.gateway.pacer.interval = pace
        adapter.members.interval = members_interval
        app.outbox.gateways["slack"] = adapter.gateway
        app.adapters.append(adapter)
        await adapter.start()
        if mode == "socket":
            await asyncio.wait_for(fake.socket_connected.wait(), 5)
        if wait_for_members:
            # the workspace's member list (users.list) has been read: who is in the fake now is known
            await asyncio.wait_for(adapter.members_ready(), 10)
        r = Running(app, adapter, fake)
        running.append(r)
        return r

    yield _start
    for r in running:
        await r.adapter.stop()
        await r.app.close()


async def until(check, timeout: float = 5.0, interval: float = 0.02):
    """Like ``eventually`` for an async check (e.g. a store query)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        v = await check()
        if v or loop.time() > end:
            return v
        await asyncio.sleep(interval)
