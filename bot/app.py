"""Composition root: settings → database → templates → outbox → engine → features → adapters → scheduler.

The one list of features (``FEATURES``) is here: ``build`` installs them, and ``steward check``, the
backtest and ``steward demo`` ask this module for their checks, findings and sections."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot import community, crm, moderation, outreach, people, reliability, webhooks
from bot.core.clock import Clock, SystemClock
from bot.core.metrics import Metrics
from bot.core.ports import Gateway
from bot.delivery.options import options_from
from bot.delivery.outbox import Outbox
from bot.delivery.policies import OptOutPolicy
from bot.delivery.worker import DeliveryWorker
from bot.engine.feature import Feature
from bot.engine.loader import CheckContext
from bot.engine.runner import Engine
from bot.engine.services import Services
from bot.messaging.templates import Templates
from bot.settings import Settings
from bot.storage import db, scratch
from bot.storage.repositories import Store

log = logging.getLogger("steward")

#: where the shipped playbooks and messages live (the repository / install root)
ROOT = Path(__file__).resolve().parent.parent


class Adapter(Protocol):
    platform: str
    gateway: Gateway

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


#: the features, in the order they are installed (and their checks, findings and demo sections run);
#: importing each registers its scans, conditions and actions
FEATURES: tuple[Feature, ...] = (
    community.FEATURE,
    outreach.FEATURE,
    moderation.FEATURE,
    reliability.FEATURE,
    webhooks.FEATURE,
    crm.FEATURE,
    people.FEATURE,
)


def feature_checks() -> list:
    """``steward check`` rules: ``check(settings, playbooks) -> problems``, every feature's."""
    return [c for f in FEATURES for c in f.checks]


def feature_findings() -> list:
    """Backtest findings: ``await findings(app, platform)``, every feature's."""
    return [p for f in FEATURES for p in f.findings]


def feature_demos() -> list:
    """``steward demo`` sections: ``await section(console, app)``, every feature's."""
    return [d for f in FEATURES for d in f.demo]


def templates_for(root: Path, default_locale: str = "en") -> Templates:
    """Templates that ``steward check`` renders with the engine's and every feature's sample variables."""
    return Templates(root, default_locale, samples=[f.sample_context for f in FEATURES if f.sample_context])


def resolve_dir(settings: Settings, configured: str, default: str) -> Path:
    p = settings.path(configured)
    if p.is_dir():
        return p
    return ROOT / default


def check_context(settings: Settings, templates: Templates) -> CheckContext:
    from bot.scheduling import parse_schedule

    return CheckContext(
        template_exists=templates.exists,
        render_sample=templates.check_one,
        channel_names=settings.channel_names() if settings.channels else None,
        parse_schedule=parse_schedule,
        settings=settings,
    )


@dataclass
class App:
    settings: Settings
    store: Store
    outbox: Outbox
    templates: Templates
    engine: Engine
    clock: Clock
    #: the one thing that sends: its loop in ``steward run``, its ``drain()`` elsewhere (tests)
    delivery: DeliveryWorker
    #: what the features and adapters attach (typed; the engine carries the same object)
    services: Services = field(default_factory=Services)
    adapters: list[Any] = field(default_factory=list)
    #: the app's Prometheus counts (bot/core/metrics.py), on a registry of its own; ``/metrics``
    #: on the dashboard server serves ``metrics.exposition()``
    metrics: Metrics = field(default_factory=Metrics)
    #: ``async fn(app, stop)`` called by ``run()`` before the adapters start; may return a task that
    #: ends once ``stop`` is set (maintenance, log redaction)
    run_hooks: list[Any] = field(default_factory=list)

    async def forget_in_memory(self, platform: str, member_id: str) -> None:
        """After a forget: every service that holds members in memory (the question tracker, the
        moderation rules' windows, the Slack directory's caches) lets go of this one."""
        s = self.services
        for svc in (s.questions, s.moderation_state, *s.member_caches):
            if svc is not None:
                out = svc.forget_member(platform, member_id)
                if inspect.isawaitable(out):
                    await out

    async def close(self) -> None:
        for gw in list(self.outbox.gateways.values()):
            closer = getattr(gw, "aclose", None)  # a gateway holding connections of its own (webhooks)
            if closer is not None:
                await closer()
        await self.store.close()


#: live, buffered rows reach the database at least this often, so a crash loses at most this much
#: message metadata (DMs never wait in a buffer: the outbox commits each at once)
FLUSH_EVERY_S = 2.0


async def _flush_periodically(app: App, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=FLUSH_EVERY_S)
        try:
            await app.store.flush()
        except Exception as e:  # the database is away: the rows stay buffered for the next try
            log.warning("could not write buffered rows (%s); will retry", type(e).__name__)


async def build(settings: Settings, *, clock: Clock | None = None, dry_run: bool | None = None,
                gateways: dict[str, Gateway] | None = None, playbooks_dir: Path | None = None,
                messages_dir: Path | None = None, auto_upgrade: bool | None = None, scratch_db: bool = False) -> App:
    """Wire everything. SQLite is migrated in place; other databases must be upgraded explicitly.
    ``scratch_db``: the database is a scratch SQLite file only this process uses, one thing at a
    time (the backtest's): it trades durability for speed and the store uses its scratch repositories."""
    clock = clock or SystemClock()
    dry = settings.playbooks.dry_run if dry_run is None else dry_run
    database = db.create_engine(settings.storage.url)
    if auto_upgrade is None:
        auto_upgrade = database.dialect.name == "sqlite"
    await db.ensure_schema(database, auto_upgrade=auto_upgrade)
    store = Store(database, retain_text=settings.storage.message_text_retention_days > 0,
                  scratch=scratch_db and await scratch.prepare(database))
    templates = templates_for(messages_dir or resolve_dir(settings, settings.playbooks.messages_dir, "messages"),
                              settings.community.default_locale)
    metrics = Metrics()
    metrics.count_outbox(store.outbox_status_counts)
    outbox = Outbox(store, clock, gateways or {}, dry_run=dry, policies=[OptOutPolicy(store)], metrics=metrics)
    # a bad [features.delivery] section fails here, naming the key
    delivery = DeliveryWorker(outbox, options_from(settings))
    outbox.sender = delivery  # no loop runs yet: a due row is sent at once (see Outbox.sender)
    services = Services()
    engine = Engine(store=store, outbox=outbox, templates=templates, clock=clock, settings=settings,
                    playbooks_dir=playbooks_dir or resolve_dir(settings, settings.playbooks.dir, "playbooks"),
                    dry_run=dry, check_context=check_context(settings, templates), services=services,
                    metrics=metrics)
    app = App(settings, store, outbox, templates, engine, clock, delivery, services=services, metrics=metrics)
    for feature in FEATURES:
        if feature.install is not None:
            feature.install(app)
    engine.load()
    return app


def adapter_modules(settings: Settings) -> list[str]:
    mods = []
    if settings.slack.enabled:
        mods.append("bot.adapters.slack.runtime")
    if settings.discord.enabled:
        mods.append("bot.adapters.discord.runtime")
    return mods


async def run(settings: Settings, *, hooks: tuple[Any, ...] = ()) -> None:
    """``steward run``: adapters, scheduler, delivery; SIGTERM/Ctrl-C finishes in-flight sends.
    ``hooks``: more run hooks from the edges (the dashboard), run after the features' own."""
    from bot.scheduling import LiveScheduler

    app = await build(settings)
    app.run_hooks.extend(hooks)
    bad = [str(p) for p in app.engine.problems if p.severity == "error"]
    for line in bad:
        log.error(line)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover
            pass
    app.outbox.sender = None  # from now on the delivery loop sends every row
    background = [t for hook in app.run_hooks if (t := await hook(app, stop)) is not None]
    background.append(asyncio.create_task(_flush_periodically(app, stop)))
    for modname in adapter_modules(settings):
        mod = importlib.import_module(modname)
        adapter = mod.create(app)
        app.adapters.append(adapter)
        app.outbox.gateways[adapter.platform] = adapter.gateway
    if not app.adapters:
        log.warning("no platform is enabled in the config ([slack] or [discord] enabled = true)")
    for a in app.adapters:
        await a.start()
    scheduler = LiveScheduler(app.engine)
    app.engine.on_reload.append(scheduler.sync)
    scheduler.start()
    delivery = asyncio.create_task(app.delivery.run(stop))
    log.info("Steward is running with %d playbook(s)", len(app.engine.playbooks))
    await stop.wait()
    log.info("stopping: finishing in-flight sends")
    scheduler.shutdown()
    await delivery
    await asyncio.gather(*background, return_exceptions=True)
    for a in app.adapters:
        await a.stop()
    await app.close()
