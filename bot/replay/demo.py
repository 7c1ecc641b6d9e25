"""``steward demo``: a generated community replayed through the shipped playbooks in dry-run."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.app import build, feature_demos
from bot.core.clock import SimulatedClock
from bot.core.records import OutboxItem
from bot.messaging.markdown import to_plain
from bot.replay.driver import replay
from bot.replay.sample import CHANNELS, generate
from bot.settings import load_settings

#: the demo community's manager (the dashboard link the demo prints signs in as them)
DEMO_MANAGER = "U0001DEMO"


def demo_settings(db_url: str):
    return load_settings(
        None,
        community={"name": "Open Garden", "default_locale": "en"},
        storage={"url": db_url},
        channels={name: {"slack": cid, "discord": str(900000000000000000 + i)}
                  for i, (name, cid) in enumerate(CHANNELS.items())},
        slack={"enabled": True},
        managers={"slack_user_ids": [DEMO_MANAGER]},
    )


async def simulate(db_url: str, *, seed: int, members: int, days: int):
    """Replay a generated community; returns (app, community, recorded outbox items)."""
    community = generate(seed, members, days)
    settings = demo_settings(db_url)
    clock = SimulatedClock(community.start)
    app = await build(settings, clock=clock, dry_run=True)
    for ch in community.channels:
        await app.store.upsert_channel(ch)
    names = {m.member_id: m.display_name for m in community.members}
    chan_names = {cid: name for name, cid in CHANNELS.items()}

    async def channel_name(platform: str, cid: str) -> str:
        return chan_names.get(cid, cid)

    app.services.channel_name = channel_name
    for m in community.members:
        if m.is_staff:
            await app.store.upsert_member(m)
    await _intros_on(app, community)
    recorded: list[OutboxItem] = []
    app.outbox.listeners.append(recorded.append)
    await replay(app.engine, community.events, start=community.start, end=community.end)
    return app, community, recorded, names, chan_names


async def _intros_on(app, community) -> None:
    """Every fourth member of the sample said yes to introductions (/steward intros on)."""
    from bot.community.intros_store import IntroStore

    store = IntroStore(app.store)
    people = [m for m in community.members if not m.is_bot and not m.is_staff]
    for m in people[::4]:
        await store.set_status(m.platform, m.member_id, "on", now=community.start)


async def run_demo(console: Console, *, seed: int = 7, members: int = 320, days: int = 90, limit: int = 60,
                   serve: bool = False, port: int | None = None) -> None:
    """Replay a generated community and print what Steward would have done; with ``serve``, then
    serve the demo community's dashboard (and a sign-in link for its manager) until Ctrl-C."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="steward-demo-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        app, community, recorded, names, chan_names = await simulate(url, seed=seed, members=members, days=days)
        problems = [p for p in app.engine.problems if p.severity == "error"]
        for p in problems:
            console.print(f"[red]{p}[/red]", highlight=False)
        console.rule(f"[bold]Steward demo: {app.settings.community.name}")
        n_msgs = sum(1 for e in community.events if e.name == "message_posted")
        console.print(f"{len(community.members)} members, {n_msgs} messages over {days} simulated days; "
                      f"{len(app.engine.playbooks)} playbooks, dry-run (nothing is sent)\n")

        def plain(text: str) -> str:
            return to_plain(text, member_name=lambda i: names.get(i, i), channel_name=lambda c: chan_names.get(c, c))

        recorded.sort(key=lambda i: (i.not_before, i.id))
        shown = recorded if not limit else _sample_timeline(recorded, limit)
        console.rule("Timeline: what Steward would have done")
        day = None
        for item in shown:
            m = item.message
            to = (names.get(m.member_id or "", m.member_id or "") if m.kind == "dm"
                  else " & ".join(names.get(x, x).split()[0] for x in m.mention_ids) if m.kind == "group"
                  else "#" + chan_names.get(m.channel_id or "", m.channel_id or ""))
            text = " ".join(plain(m.text).split()) if m.text else (m.digest.title if m.digest else f":{m.emoji}:")
            if m.digest and m.digest.items:
                text = f"{m.digest.title}: " + " | ".join(" ".join(plain(i.text).split()) for i in m.digest.items[:3])
            if item.not_before.date() != day:
                day = item.not_before.date()
                console.print(f"[bold]{item.not_before:%a %d %b %Y}[/bold]")
            width = max(40, console.width - 52)
            line = f"  {item.not_before:%H:%M}  {item.playbook_id:<12} {item.action:<18} → {to[:22]:<22} "
            console.print(line, end="", highlight=False, markup=False)
            console.print(text[:width] + ("…" if len(text) > width else ""), highlight=False, markup=False)
        if limit and len(recorded) > len(shown):
            console.print(f"[dim]showing {len(shown)} of {len(recorded)} actions; "
                          f"`steward demo --limit 0` shows all[/dim]")
        summary = Table(title="Summary")
        summary.add_column("playbook")
        summary.add_column("action")
        summary.add_column("count", justify="right")
        for (pb, act), n in sorted(Counter((i.playbook_id, i.action) for i in recorded).items()):
            summary.add_row(pb, act, str(n))
        console.print(summary)
        await _print_extras(console, app)
        console.print(f"[dim]done in {time.perf_counter() - t0:.1f} s[/dim]")
        try:
            if serve:
                await _serve_dashboard(console, app, port)
        finally:
            await app.close()


async def _serve_dashboard(console: Console, app, port: int | None) -> None:
    """The demo community's dashboard, signed in as its manager, until Ctrl-C (decisions there are
    dry-run like the rest of the demo: nothing is sent)."""
    from bot.dashboard.cli import serve

    console.rule("Dashboard")
    link = f"slack:{DEMO_MANAGER}"
    try:
        await serve(app.settings, app=app, port=port, link=link,
                    announce=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True))
    except OSError as e:  # the configured port is taken: any free one will do for a demo
        if port == 0:
            raise
        console.print(f"[dim]port {port if port is not None else app.settings.dashboard.port} is taken "
                      f"({e.strerror or e}); using a free one[/dim]")
        await serve(app.settings, app=app, port=0, link=link,
                    announce=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True))


def _sample_timeline(items: list[OutboxItem], limit: int) -> list[OutboxItem]:
    """A readable slice: the first few of every playbook/action, then the rest in time order."""
    per_kind: Counter = Counter()
    kinds = {(i.playbook_id, i.action) for i in items}
    cap = max(2, limit // max(1, len(kinds)))
    picked = []
    for it in items:
        k = (it.playbook_id, it.action)
        if per_kind[k] < cap:
            picked.append(it)
            per_kind[k] += 1
    picked = picked[:limit]
    return sorted(picked, key=lambda i: (i.not_before, i.id))


async def _print_extras(console: Console, app) -> None:
    """The features' own sections (bot/app.py ``FEATURES``)."""
    for fn in feature_demos():
        await fn(console, app)
