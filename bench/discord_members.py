"""Day one on a large Discord server: the time to a complete member list, and peak memory, for a
server of ``--members`` (100,000) members served by the fake Discord.

Each party runs in a process of its own, with the fake in a third, so each one's resident memory
is its own:

- **Steward**: the real adapter (``chunk_guilds_at_startup=False``) loads the list over REST into its
  SQLite store, a page of 1,000 at a time (``bot/adapters/discord/members.py``). Run twice: with the
  fake's member-list bucket (``--route-limit``, 10 requests per 10 s by default; Discord announces
  its own in the headers) and with no bucket, which shows what the listing itself costs.
- **Reference, bare discord.py**: a plain ``discord.Client`` with the members intent that chunks the
  guild over the gateway (``guild.chunk()``: op 8, GUILD_MEMBERS_CHUNK events), holding every member
  as a ``Member`` in its cache, as a bot that starts with ``chunk_guilds_at_startup=True`` does.

Times run from the start of connecting to the complete list; "at READY" is resident memory once
connected, "peak" the high-water mark (VmHWM), "grew" the difference: what the list cost.

    .venv/bin/python bench/discord_members.py --members 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN_ENV = "STEWARD_BENCH_DISCORD_TOKEN"


def _mem_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _mib(kib: int) -> float:
    return kib / 1024


# ----------------------------------------------------------------------------- the fake, in its process
async def serve_fake(members: int, route_limit: str) -> None:
    from tests.fakes.discord_fixtures import standard_world
    from tests.fakes.discord_server import GUILD_ID, FakeDiscord

    fake = standard_world(FakeDiscord())
    fake.add_members(GUILD_ID, members)
    if route_limit != "none":
        n, per = route_limit.split("/")
        fake.member_list_limit = (int(n), float(per))
    else:
        fake.member_list_limit = (10**9, 1.0)
    await fake.start()
    print(json.dumps({"port": fake.port, "token": fake.token}), flush=True)
    # until the parent closes our stdin
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await fake.stop()


# ----------------------------------------------------------------------------- Steward
async def run_steward(port: int, token: str, members: int) -> dict:
    from bot.adapters.discord import runtime
    from bot.app import build
    from bot.settings import load_settings
    from tests.fakes.discord_server import API_PREFIX, GUILD_ID

    os.environ[TOKEN_ENV] = token
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            None, community={"name": "Bench"}, storage={"url": f"sqlite:///{tmp}/steward.db"},
            channels={"welcome": {"discord": "100000000000000001"}},
            discord={"enabled": True, "token_env": TOKEN_ENV, "guild_ids": [GUILD_ID],
                     "api_base_url": f"http://127.0.0.1:{port}{API_PREFIX}",
                     "gateway_url": f"ws://127.0.0.1:{port}/gateway"})
        app = await build(settings, dry_run=True)
        t0 = time.perf_counter()
        adapter = runtime.create(app, ready_timeout=60.0, guild_ready_timeout=0.05)
        app.adapters.append(adapter)
        app.outbox.gateways["discord"] = adapter.gateway
        await adapter.start()
        ready_s = time.perf_counter() - t0
        at_ready = _mem_kib("VmRSS")
        gid = int(GUILD_ID)
        while gid not in adapter.member_lists._tasks:
            await asyncio.sleep(0.01)
        await adapter.member_lists.wait(gid)
        total_s = time.perf_counter() - t0
        from sqlalchemy import func, select

        from bot.storage.models import MemberRow

        async with app.store.database.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(MemberRow.__table__))).scalar_one()
        peak = _mem_kib("VmHWM")
        await adapter.stop()
        await app.close()
    return {"seconds": total_s, "ready_s": ready_s, "members": rows, "at_ready": at_ready, "peak": peak}


# ----------------------------------------------------------------------------- bare discord.py
async def run_reference(port: int, token: str, members: int) -> dict:
    import discord
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    from tests.fakes.discord_server import API_PREFIX, GUILD_ID

    Route.BASE = f"http://127.0.0.1:{port}{API_PREFIX}"
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
    intents = discord.Intents.default()
    intents.members = True
    # as Steward: no chunking at startup, and no 2-second wait for GUILD_CREATEs that all come at once
    client = discord.Client(intents=intents, chunk_guilds_at_startup=False, guild_ready_timeout=0.05)
    ready = asyncio.Event()
    client.event(_set_on_ready(ready))
    t0 = time.perf_counter()
    await client.login(token)
    task = asyncio.create_task(client.connect())
    await asyncio.wait_for(ready.wait(), 60)
    ready_s = time.perf_counter() - t0
    at_ready = _mem_kib("VmRSS")
    guild = client.get_guild(int(GUILD_ID))
    await guild.chunk()
    total_s = time.perf_counter() - t0
    held = len(guild.members)
    peak = _mem_kib("VmHWM")
    await client.close()
    task.cancel()
    return {"seconds": total_s, "ready_s": ready_s, "members": held, "at_ready": at_ready, "peak": peak}


def _set_on_ready(ev: asyncio.Event):
    async def on_ready():
        ev.set()
    return on_ready


# ----------------------------------------------------------------------------- driver
def _child(*args: str, stdin=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=stdin, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)


def measure(role: str, members: int, route_limit: str) -> dict:
    fake = _child("--role", "fake", "--members", str(members), "--route-limit", route_limit, stdin=subprocess.PIPE)
    try:
        hello = json.loads(fake.stdout.readline())
        client = _child("--role", role, "--members", str(members), "--port", str(hello["port"]),
                        "--token", hello["token"])
        out, _ = client.communicate(timeout=1800)
        if client.returncode != 0:
            raise SystemExit(f"{role} failed (exit {client.returncode})")
        return json.loads(out.strip().splitlines()[-1])
    finally:
        fake.stdin.close()
        try:
            fake.wait(timeout=30)
        except subprocess.TimeoutExpired:
            fake.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--route-limit", default="10/10",
                    help="the fake's member-list bucket, REQUESTS/SECONDS per guild, or 'none'")
    ap.add_argument("--role", choices=("driver", "fake", "steward", "reference"), default="driver")
    ap.add_argument("--port", type=int)
    ap.add_argument("--token")
    a = ap.parse_args()
    if a.role == "fake":
        asyncio.run(serve_fake(a.members, a.route_limit))
        return
    if a.role in ("steward", "reference"):
        import logging

        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        run = run_steward if a.role == "steward" else run_reference
        print(json.dumps(asyncio.run(run(a.port, a.token, a.members))), flush=True)
        return

    want = a.members + 2  # and the server's owner and the bot
    rows = [
        (f"Steward, REST pages, bucket {a.route_limit}", measure("steward", a.members, a.route_limit)),
        ("Steward, REST pages, no bucket", measure("steward", a.members, "none")),
        ("reference: bare discord.py, guild.chunk()", measure("reference", a.members, a.route_limit)),
    ]
    print(f"\n{a.members:,} members in the fake guild ({want:,} with the owner and the bot)\n")
    print(f"{'':46} {'complete':>9} {'READY':>7} {'members':>9} {'RSS at READY':>13} {'peak':>9} {'grew':>9}")
    for name, r in rows:
        ok = "" if r["members"] == want else "  INCOMPLETE"
        print(f"{name:46} {r['seconds']:8.1f}s {r['ready_s']:6.1f}s {r['members']:9,} "
              f"{_mib(r['at_ready']):10.0f} MiB {_mib(r['peak']):5.0f} MiB {_mib(r['peak'] - r['at_ready']):5.0f} MiB{ok}")
    ref = rows[-1][1]
    st = rows[0][1]
    print(f"\nwhat the list cost in memory: Steward {_mib(st['peak'] - st['at_ready']):.0f} MiB "
          f"(members in its database, not in memory), bare discord.py {_mib(ref['peak'] - ref['at_ready']):.0f} MiB "
          "(every member held as a Member object)")


if __name__ == "__main__":
    main()
