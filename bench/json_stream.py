"""Export reading benchmark: the importers' ``JsonStream`` (one value at a time through the standard
library's C decoder) beside ``ijson.items`` (yajl2_c), the streaming parser it replaced, on the same
bytes in the same run: a DiscordChatExporter channel file, a Slack ``users.json``, and a hostile file
(a message nested 60,000 deep) with peak traced memory.

    .venv/bin/python bench/json_stream.py [--messages 100000] [--users 100000]

ijson is only run on the hostile file under a 1 GiB address-space limit in a child process (it
builds a prefix string per level: it used to go past 8 GB); its line says how it ended.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ijson  # noqa: E402

from bot.replay.importing import JsonError, JsonStream  # noqa: E402


def discord_file(n: int) -> bytes:
    msgs = [{"id": str(10**17 + i), "type": "Default", "timestamp": "2024-01-01T00:00:00+00:00",
             "timestampEdited": None, "content": f"message {i}: how do I configure the proxy for the build?",
             "author": {"id": str(10**17 + i % 997), "name": f"member{i % 997}", "nickname": None,
                        "isBot": False, "roles": [{"id": "1", "name": "member"}]},
             "reactions": [{"emoji": {"code": "wave", "name": "👋"}, "count": 1,
                            "users": [{"id": "1", "name": "ada"}]}],
             "mentions": [], "attachments": [], "reference": None} for i in range(n)]
    return json.dumps({"guild": {"id": "1", "name": "g"}, "channel": {"id": "2", "name": "general"},
                       "messages": msgs, "messageCount": n}, indent=2).encode()


def users_file(n: int) -> bytes:
    return json.dumps([{"id": f"U{i:08d}", "name": f"user{i}", "real_name": f"User {i}", "tz": "Europe/Amsterdam",
                        "is_bot": False, "profile": {"display_name": f"User {i}", "real_name": f"User {i}"}}
                       for i in range(n)]).encode()


def timed(fn) -> tuple[float, int]:
    t = time.perf_counter()
    n = fn()
    return time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=100_000)
    args = ap.parse_args()

    dce = discord_file(args.messages)
    users = users_file(args.users)
    cases = [
        (f"Discord channel file, {args.messages:,} messages ({len(dce) / 2**20:.0f} MiB)", dce,
         lambda b: sum(1 for k, _ in JsonStream(io.BytesIO(b)).members("messages") if k == "messages"),
         lambda b: sum(1 for _ in ijson.items(io.BytesIO(b), "messages.item", use_float=True))),
        (f"Slack users.json, {args.users:,} members ({len(users) / 2**20:.0f} MiB)", users,
         lambda b: sum(1 for _ in JsonStream(io.BytesIO(b)).array()),
         lambda b: sum(1 for _ in ijson.items(io.BytesIO(b), "item", use_float=True))),
    ]
    for title, data, ours, ref in cases:
        t_ours, n_ours = timed(lambda: ours(data))  # noqa: B023
        t_ref, n_ref = timed(lambda: ref(data))  # noqa: B023
        assert n_ours == n_ref, (n_ours, n_ref)
        print(f"{title}: JsonStream {n_ours / t_ours:,.0f} values/s ({t_ours:.2f} s), "
              f"ijson.items {n_ref / t_ref:,.0f} values/s ({t_ref:.2f} s)")

    hostile = b'{"guild": {}, "channel": {"id": "2"}, "messages": [{"id": "1", "content": ' \
              + b"[" * 60_000 + b"]" * 60_000 + b"}]}"
    tracemalloc.start()
    t = time.perf_counter()
    try:
        for _ in JsonStream(io.BytesIO(hostile)).members("messages"):
            pass
        outcome = "read"
    except JsonError as e:
        outcome = f"refused ({e.message}, byte {e.offset})"
    took = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"hostile file ({len(hostile) / 1024:.0f} KiB, nested 60,000 deep): JsonStream {outcome} in "
          f"{took * 1000:.0f} ms, peak {peak / 2**20:.1f} MiB traced")
    child = subprocess.run([sys.executable, "-c", _IJSON_CHILD], input=hostile, capture_output=True,
                           timeout=600, preexec_fn=_limit)
    print(f"  ijson.items on the same file, limited to 1 GiB: {child.stdout.decode().strip() or child.stderr.decode().strip().splitlines()[-1]}")


_IJSON_CHILD = """
import io, sys, time, ijson
data = sys.stdin.buffer.read()
t = time.perf_counter()
try:
    for _ in ijson.items(io.BytesIO(data), "messages.item"):
        pass
    print(f"read in {time.perf_counter() - t:.1f} s")
except MemoryError:
    print(f"MemoryError after {time.perf_counter() - t:.1f} s")
"""


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


if __name__ == "__main__":
    main()
