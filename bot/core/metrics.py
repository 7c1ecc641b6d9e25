"""What Steward counts, in Prometheus' terms: events handled and their lag, sends, 429s, failures,
scan durations, and the outbox's depth by state (counted in the database at each scrape).

One ``Metrics`` per app, on a registry of its own (not prometheus-client's global one), so several
apps in one process (tests, a backtest beside a live bot) keep their own counts. ``exposition()``
gives the text a Prometheus server scrapes; the dashboard server serves it at ``/metrics`` when the
config asks for it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

import prometheus_client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("steward.metrics")

# the ``*_created`` series (a timestamp beside every counter) tell a person reading the page nothing
prometheus_client.disable_created_metrics()

#: the content type of ``exposition()``'s text
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: event lag, in seconds: most events are handled within a second; a backlog shows as minutes
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
#: scan durations, in seconds: the scans are SQL over the store, from milliseconds to a minute
SCAN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: outbox states always shown (0 when none), so an alert on one of them has a series to read
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "skipped")

#: ``await counts()`` → {state: rows}
OutboxCounts = Callable[[], Awaitable[dict[str, int]]]


class OutboxDepth(Collector):
    """``steward_outbox_depth{state}``: outbox rows by state, as the database has them at the scrape.
    A scrape is async (the store is), so ``refresh()`` asks the store and ``collect()`` reports that
    answer; when the database does not answer, the series is left out rather than shown stale."""

    def __init__(self) -> None:
        self.query: OutboxCounts | None = None
        self._counts: dict[str, int] | None = None

    async def refresh(self) -> None:
        if self.query is None:
            self._counts = None
            return
        try:
            self._counts = await self.query()
        except Exception as e:  # the database is away: the rest of the page is still worth reading
            log.warning("metrics: could not count the outbox (%s)", type(e).__name__)
            self._counts = None

    def collect(self) -> Iterable[Metric]:
        g = GaugeMetricFamily("steward_outbox_depth", "Outbox rows by state, counted at the scrape",
                              labels=["state"])
        if self._counts is not None:
            for state in sorted({*OUTBOX_STATES, *self._counts}):
                g.add_metric([state], float(self._counts.get(state, 0)))
        yield g


class Metrics:
    """The app's counters and histograms, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("steward_events_handled", "Events the engine handled (stored, playbooks run)",
                              ["platform", "event"], registry=r)
        self.event_lag = Histogram("steward_event_lag_seconds",
                                   "From the event's time on the platform to the end of its handling",
                                   ["platform"], buckets=LAG_BUCKETS, registry=r)
        self.sends = Counter("steward_sends", "Outbox messages the platform accepted", ["platform"], registry=r)
        self.rate_limited = Counter("steward_rate_limited",
                                    "Answers 429 (rate limited) from the platform's API, to any request",
                                    ["platform"], registry=r)
        self.send_failures = Counter(
            "steward_send_failures",
            "Sends that failed (429s aside): outcome=retry is tried again later, outcome=failed is given up",
            ["platform", "outcome"], registry=r)
        self.playbook_errors = Counter("steward_playbook_errors", "Playbook runs that raised an error",
                                       ["playbook"], registry=r)
        self.scan_seconds = Histogram("steward_scan_duration_seconds", "How long a scheduled playbook's scan took",
                                      ["playbook", "scan"], buckets=SCAN_BUCKETS, registry=r)
        self.outbox = OutboxDepth()
        r.register(self.outbox)
        # label children by key: the event path skips the library's label validation each time
        self._handled: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    def count_outbox(self, counts: OutboxCounts) -> None:
        """Where ``steward_outbox_depth`` asks, at each scrape (the store's ``outbox_status_counts``)."""
        self.outbox.query = counts

    def handled(self, platform: str, event: str, at: datetime, now: datetime) -> None:
        """One event handled at ``now``; ``at`` is when it happened on the platform."""
        key = (platform, event)
        pair = self._handled.get(key)
        if pair is None:
            pair = self._handled[key] = (self.events.labels(platform, event), self.event_lag.labels(platform))
        pair[0].inc()
        pair[1].observe(max(0.0, (now - at).total_seconds()))

    def sent(self, platform: str) -> None:
        self.sends.labels(platform).inc()

    def failed(self, platform: str, *, final: bool) -> None:
        self.send_failures.labels(platform, "failed" if final else "retry").inc()

    def answered_429(self, platform: str) -> None:
        self.rate_limited.labels(platform).inc()

    def playbook_error(self, playbook_id: str) -> None:
        self.playbook_errors.labels(playbook_id).inc()

    def scanned(self, playbook_id: str, scan: str, seconds: float) -> None:
        self.scan_seconds.labels(playbook_id, scan).observe(seconds)

    async def exposition(self) -> bytes:
        """The Prometheus text format of everything counted, the outbox counted now."""
        await self.outbox.refresh()
        return generate_latest(self.registry)
