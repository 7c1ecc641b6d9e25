"""Moderation rule benchmark: the time the shipped moderation playbook's rules take per message, at
p50 and p99, on ordinary chat mixed with hostile text, beside a plain ``re`` keyword scan of the same
messages for the same terms measured in the same run.

    .venv/bin/python bench/rules.py [--messages 20000] [--hostile 0.05]

The reference does much less (no normalisation, no flood window, no links, no RE2 patterns); the
figure to read is how far the rules stay within a small multiple of it, and that the hostile p99
stays bounded (milliseconds, not seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build  # noqa: E402
from bot.core.clock import SimulatedClock  # noqa: E402
from bot.core.events import MessagePosted  # noqa: E402
from bot.engine.context import RunContext  # noqa: E402
from bot.engine.runner import subject_from_event  # noqa: E402
from bot.moderation.terms import list_path, load_list  # noqa: E402
from bot.replay.demo import demo_settings  # noqa: E402

WORDS = ("the build works now thanks for the help how do I configure proxy install upgrade release "
         "docs plugin error version config test deploy meetup welcome hello https://example.org/docs").split()

HOSTILE = [
    lambda i: "\u200b".join("kill yourself") + " " + "x" * 100,
    lambda i: "ραуρаl ѕсаm 詐欺 مرحبا कुछ भी " * 800,
    lambda i: ("a" * 39_990) + " kys",
    lambda i: " ".join(f"<@U{k:06d}>" for k in range(3000)),
    lambda i: "**_~~`" * 3000 + "kys" + "`~~_**" * 3000,
    lambda i: "k̸̡̢̛̗̪̙̰̝ỵ̷̢̧̛̗̪̙s̴̢̧̛̗̪ " * 2000,
    lambda i: " ".join(f"https://x{k}.example/" for k in range(2000)),
    lambda i: "@everyone " * 4000,
]


def make_messages(n: int, hostile: float, seed: int = 3) -> list[MessagePosted]:
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        t = t0 + timedelta(seconds=i * 0.5)
        if rng.random() < hostile:
            text = HOSTILE[i % len(HOSTILE)](i)
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30)))
        out.append(MessagePosted("slack", t, channel_id="C0001", message_id=f"{t.timestamp():.6f}",
                                 author_id=f"U{rng.randint(1, 500):04d}", text=text))
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def main(n: int, hostile: float) -> None:
    msgs = make_messages(n, hostile)
    with tempfile.TemporaryDirectory() as tmp:
        app = await build(demo_settings(f"sqlite:///{tmp}/bench.db"), clock=SimulatedClock(msgs[0].at), dry_run=True)
        pb = app.engine.playbooks["moderation"]
        rules = pb.rules
        ours: list[float] = []
        hits = 0
        # the first message builds the term automaton and compiles the patterns once: not a per-message cost
        warm = MessagePosted("slack", msgs[0].at, channel_id="C0", message_id="0", author_id="U0", text="warm up ñ")
        wctx = RunContext(app.engine, pb, warm, subject_from_event(warm), {}, warm.at)
        for step in rules:
            r = step.entry.fn(wctx, step.params)
            if asyncio.iscoroutine(r):
                await r
        for ev in msgs:
            ctx = RunContext(app.engine, pb, ev, subject_from_event(ev), {}, ev.at)
            t = time.perf_counter()
            found = False
            for step in rules:
                r = step.entry.fn(ctx, step.params)
                if asyncio.iscoroutine(r):
                    r = await r
                found = found or r is not None
            ours.append(time.perf_counter() - t)
            hits += found
        await app.close()

    # the reference: a case-insensitive keyword scan of the raw text for the same terms
    terms = [t.text for loc in ("en", "nl") for t in load_list(list_path(loc))]
    rx = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + r")\b", re.I)
    ref: list[float] = []
    ref_hits = 0
    for ev in msgs:
        t = time.perf_counter()
        found = rx.search(ev.text) is not None
        ref.append(time.perf_counter() - t)
        ref_hits += found

    us = 1e6
    print(f"{n} messages ({hostile:.0%} hostile: zero-width, mixed scripts, 40,000 chars, thousands of mentions, "
          f"nested markdown, zalgo, links, @everyone); {len(rules)} rules")
    print(f"{'':28}{'p50':>10}{'p99':>10}{'max':>10}{'mean':>10}   flagged")
    print(f"{'steward rules (µs/message)':28}{pct(ours, 50) * us:>10.1f}{pct(ours, 99) * us:>10.1f}"
          f"{max(ours) * us:>10.1f}{statistics.fmean(ours) * us:>10.1f}   {hits}")
    print(f"{'plain re term scan (µs)':28}{pct(ref, 50) * us:>10.1f}{pct(ref, 99) * us:>10.1f}"
          f"{max(ref) * us:>10.1f}{statistics.fmean(ref) * us:>10.1f}   {ref_hits}")
    print(f"ratio at p50: {pct(ours, 50) / pct(ref, 50):.1f}x, at p99: {pct(ours, 99) / pct(ref, 99):.1f}x")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--hostile", type=float, default=0.05)
    a = ap.parse_args()
    asyncio.run(main(a.messages, a.hostile))
