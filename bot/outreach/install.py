"""Attaches consent by reply to a built app: a member who answers one of Steward's DMs with "stop"
is opted out, "start" opts them back in, on every platform, where they read the DM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.outreach.consent import DirectReplies
from bot.outreach.journeys import JourneyPolicy, Journeys

if TYPE_CHECKING:
    from bot.app import App


def install(app: App) -> None:
    """Wire replies to Steward's DMs into ``app`` (called once per build)."""
    replies = DirectReplies(app)
    app.engine.observers.append(replies.observe)
    journeys = app.services.journeys = Journeys(app)
    app.engine.observers.append(journeys.observe)
    app.services.timers.append(journeys.settle)
    app.services.member_caches.append(journeys)
    # right after opt-out: a stopped step must not take a place in the hourly budget first
    app.outbox.policies.insert(1, JourneyPolicy(journeys))


def sample_context(base: dict[str, Any]) -> dict[str, Any]:
    """A greeting's variables: the newcomers it names and how many more it counts."""
    channel = {"id": "C0SAMPLE", "name": "help"}
    return {"newcomers": [base["member"], {"id": "U0OTHER", "name": "Kim"}], "others": 3,
            "step": {"index": 2, "name": "day3", "of": 3, "channel": channel},
            "fit_channel": channel, "fit_topic": "Python"}
