"""``steward backtest``: replay a real export through the playbooks in dry-run and write what
Steward would have done (actions.jsonl), the community's state (findings.jsonl), health.json and
report.html."""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import feature_findings
from bot.core.clock import SimulatedClock, iso
from bot.core.events import Event, MemberJoined, MessagePosted
from bot.core.records import Channel, Member, OutboxItem
from bot.replay.importing import ImportSummary

log = logging.getLogger("steward.backtest")

OUTPUTS = ("actions.jsonl", "findings.jsonl", "health.json", "report.html")


@dataclass
class BacktestResult:
    out: Path
    platform: str
    summary: ImportSummary
    actions: Counter = field(default_factory=Counter)
    findings: Counter = field(default_factory=Counter)
    health: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    replay_seconds: float = 0.0
    total_seconds: float = 0.0
    provider_errors: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return self.summary.counts["messages"] + self.summary.counts["bot_messages"]


def detect_format(source: Path) -> str:
    """``slack`` for a Slack workspace export (folder or zip), ``discord`` for DiscordChatExporter JSON."""
    from bot.replay.discord_export import looks_like_discord
    from bot.replay.slack_export import looks_like_slack

    if looks_like_slack(source):
        return "slack"
    if looks_like_discord(source):
        return "discord"
    raise ValueError(f"{source}: not a Slack workspace export or DiscordChatExporter JSON "
                     "(say which with --format slack|discord)")


def open_export(source: Path, fmt: str | None = None, progress: Callable[[int, int], None] | None = None):
    """The importer for ``source``: it has ``records()``, ``span()``, ``summary`` and ``platform``."""
    fmt = fmt or detect_format(source)
    if fmt == "slack":
        from bot.replay.slack_export import SlackExport

        return SlackExport(source, progress=progress)
    if fmt == "discord":
        from bot.replay.discord_export import DiscordExport

        return DiscordExport(source, progress=progress)
    raise ValueError(f"unknown export format {fmt!r}: use slack or discord")


def _member_of(ev: Event) -> str | None:
    if isinstance(ev, MessagePosted):
        return ev.author_id or None
    return getattr(ev, "member_id", None) or None


def action_record(item: OutboxItem) -> dict[str, Any]:
    """One line of actions.jsonl for an outbox item recorded in dry-run."""
    m = item.message
    if m.kind in ("dm", "ephemeral"):
        to = {"member": m.member_id}
    else:
        to = {"channel": m.channel_id}
    if m.text:
        text = m.text
    elif m.digest is not None:
        text = "\n".join([m.digest.title, *(i.text for i in m.digest.items), m.digest.footer]).strip()
    else:
        text = f":{m.emoji}:" if m.emoji else ""
    return {"at": iso(item.not_before), "playbook": item.playbook_id, "action": item.action,
            "platform": m.platform, "to": to, "text": text, "reason": item.reason}


async def run_backtest(source: str | Path, out: str | Path, *, config: str | Path | None = None,
                       playbooks: str | Path | None = None, fmt: str | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       db_dir: str | Path | None = None) -> BacktestResult:
    """Replay ``source`` through the playbooks in dry-run and write the four outputs into ``out``."""
    from bot.app import build
    from bot.community.health import compute_health
    from bot.replay.driver import replay
    from bot.replay.names import lookup_names
    from bot.replay.report import listed_questions, write_report
    from bot.settings import load_settings

    t_start = time.perf_counter()
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exp = open_export(source, fmt, progress)
    platform = exp.platform
    start, end = exp.span()
    settings = load_settings(config)
    with tempfile.TemporaryDirectory(prefix="steward-backtest-", dir=db_dir) as tmp:
        settings.storage.url = f"sqlite:///{Path(tmp) / 'backtest.db'}"
        settings.playbooks.dry_run = True
        getattr(settings, platform).enabled = True
        app = await build(settings, clock=SimulatedClock(start), dry_run=True,
                          playbooks_dir=Path(playbooks) if playbooks else None, auto_upgrade=True, scratch_db=True)
        try:
            for p in app.engine.problems:
                if p.severity == "error":
                    log.error("%s", p)
            # bigger batches: the replay writes far more messages than a live community per second
            app.store.batch_size = max(app.store.batch_size, 5000)
            result = BacktestResult(out=out, platform=platform, summary=exp.summary)
            staff = set(app.engine.roles.staff_ids(platform))
            with open(out / "actions.jsonl", "w", encoding="utf-8") as actions_f:

                def _record_action(item: OutboxItem) -> None:
                    result.actions[(item.playbook_id, item.action)] += 1
                    actions_f.write(json.dumps(action_record(item), ensure_ascii=False) + "\n")

                app.outbox.listeners.append(_record_action)
                t_replay = time.perf_counter()
                feeder = _Feeder(app, settings, exp, platform, staff)
                await feeder.prepare()
                result.events = await _replay_segments(app.engine, replay, feeder.events(),
                                                       segments(exp, start, end))
                await feeder.finish()
                result.replay_seconds = time.perf_counter() - t_replay
            await _write_findings(app, platform, out, result)
            result.health = await compute_health(app.store, platform=platform, start=start, end=end,
                                                 staff_ids=tuple(sorted(staff)))
            result.health["window"] = {"start": iso(start), "end": iso(end), "platform": platform}
            (out / "health.json").write_text(json.dumps(result.health, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
            result.total_seconds = time.perf_counter() - t_start
            names = await lookup_names(app.store, [platform], listed_questions(out / "findings.jsonl"))
            write_report(out / "report.html", result, findings_path=out / "findings.jsonl",
                         community=settings.community.name, source=str(source), names=names)
        finally:
            await app.close()
    return result


#: a stretch this long without any activity in the export is not ticked through
IDLE_GAP = timedelta(days=30)
#: scheduled playbooks still run this long after the last activity before a gap
GAP_GRACE = timedelta(days=7)


def segments(exp, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Stretches of the export's history to replay with schedule ticks. Scheduled playbooks are
    not ticked through long silences (a sample of days spread over years would otherwise tick
    hourly scans for years over an unchanged community); a week after the last activity still is."""
    days_fn = getattr(exp, "active_days", None)
    days = days_fn() if days_fn else []
    if not days:
        return [(start, end)]
    out: list[tuple[datetime, datetime]] = []
    seg_start = days[0]
    prev = days[0]
    for d in days[1:]:
        if d - prev > IDLE_GAP:
            out.append((seg_start, prev + timedelta(days=1) + GAP_GRACE))
            seg_start = d
        prev = d
    out.append((seg_start, max(end, prev + timedelta(days=1))))
    out[0] = (min(start, out[0][0]), out[0][1])
    return out


class _Peek:
    """One async iterator shared by the segments: each takes events until the next segment's start."""

    def __init__(self, it: AsyncIterator[Event]) -> None:
        self.it = it
        self.head: Event | None = None
        self.done = False

    async def until(self, t: datetime | None) -> AsyncIterator[Event]:
        while True:
            if self.head is None:
                if self.done:
                    return
                try:
                    self.head = await self.it.__anext__()
                except StopAsyncIteration:
                    self.done = True
                    return
            if t is not None and self.head.at >= t:
                return
            ev, self.head = self.head, None
            yield ev


async def _replay_segments(engine, replay, events: AsyncIterator[Event],
                           segs: list[tuple[datetime, datetime]]) -> int:
    peek = _Peek(events)
    n = 0
    for i, (s, e) in enumerate(segs):
        nxt = segs[i + 1][0] if i + 1 < len(segs) else None
        engine.clock.advance_to(s)
        n += await replay(engine, peek.until(nxt), start=s, end=e)
    return n


class _Feeder:
    """Turns the importer's records into the driver's events. Member records are written to the
    store just before the member's first event, so a first join still counts as one; members
    who never appear are added in bulk at the end."""

    def __init__(self, app, settings, exp, platform: str, staff: set[str]) -> None:
        self.app, self.settings, self.exp, self.platform, self.staff = app, settings, exp, platform, staff
        self.records: Iterator = exp.records()
        self.known: dict[str, Member] = {}
        self.seen: set[str] = set()
        self.pending: list = []
        #: members whose first event is a join (None: not known, so every member waits for its first event)
        self.joiners: set[str] | None = None

    async def prepare(self) -> None:
        """Read the channels (every importer yields them first) and map channel names to them."""
        settings, platform = self.settings, self.platform
        if hasattr(self.exp, "joiners"):
            self.joiners = self.exp.joiners()
        for rec in self.records:
            if not isinstance(rec, Channel):
                self.pending.append(rec)
                break
            await self.app.store.upsert_channel(rec)
            settings.channels.setdefault(rec.name, {}).setdefault(platform, rec.channel_id)
        general = getattr(self.exp, "general_channel", None)
        if general and "welcome" not in settings.channels:
            # no welcome channel in this community: greetings go where newcomers land
            settings.channels["welcome"] = {platform: general}

    def _all(self) -> Iterator:
        yield from self.pending
        self.pending = []
        yield from self.records

    async def events(self) -> AsyncIterator[Event]:
        store, known, seen, staff = self.app.store, self.known, self.seen, self.staff
        enrich: list[Member] = []
        joiners = self.joiners
        bulk: list[Member] = []
        for rec in self._all():
            if enrich:
                for m in enrich:
                    await store.upsert_member(m)
                enrich.clear()
            if isinstance(rec, Member):
                if rec.member_id in staff and not rec.is_staff:
                    rec = dataclasses.replace(rec, is_staff=True)
                if joiners is not None and rec.member_id not in joiners:
                    # a member before the export began: written in bulk, no join to wait for
                    seen.add(rec.member_id)
                    bulk.append(rec)
                    if len(bulk) >= 5000:
                        await store.add_members_bulk(bulk)
                        bulk.clear()
                else:
                    known[rec.member_id] = rec
                continue
            if bulk:
                await store.add_members_bulk(bulk)
                bulk.clear()
            if isinstance(rec, Channel):
                await store.upsert_channel(rec)
                continue
            mid = _member_of(rec)
            if mid and mid not in seen:
                seen.add(mid)
                m = known.get(mid)
                if isinstance(rec, MemberJoined):
                    # the join creates the member (a first join); the record then adds what it knows
                    if m is not None and (m.is_staff or m.roles):
                        enrich.append(m)
                else:
                    if m is None:
                        m = Member(self.platform, mid, display_name=getattr(rec, "author_name", None) or "",
                                   is_bot=bool(getattr(rec, "is_bot", False)), is_staff=mid in staff)
                    await store.upsert_member(m)
            yield rec
        for m in enrich:
            await store.upsert_member(m)

    async def finish(self) -> None:
        await self.app.store.flush()
        await self.app.store.add_members_bulk(m for mid, m in self.known.items() if mid not in self.seen)


async def _write_findings(app, platform: str, out: Path, result: BacktestResult, *,
                          path: Path | None = None) -> None:
    with open(path or out / "findings.jsonl", "w", encoding="utf-8") as f:
        for prov in feature_findings():
            name = getattr(prov, "__qualname__", repr(prov))
            try:
                found = await prov(app, platform)
                for item in found or ():
                    f.write(json.dumps(item, ensure_ascii=False, default=_json_default) + "\n")
                    result.findings[item.get("kind", "?")] += 1
            except Exception as e:  # one broken provider must not lose the others' findings
                log.exception("finding provider %s failed", name)
                result.provider_errors.append(f"{name}: {e}")


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return iso(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")
