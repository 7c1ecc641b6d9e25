"""Attaches consent by reply to a built app: a member who answers one of Steward's DMs with "stop"
is opted out, "start" opts them back in, on every platform, where they read the DM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.outreach.consent import DirectReplies

if TYPE_CHECKING:
    from bot.app import App


def install(app: App) -> None:
    """Wire replies to Steward's DMs into ``app`` (called once per build)."""
    replies = DirectReplies(app)
    app.engine.observers.append(replies.observe)


def sample_context(base: dict[str, Any]) -> dict[str, Any]:
    """A greeting's variables: the newcomers it names and how many more it counts."""
    return {"newcomers": [base["member"], {"id": "U0OTHER", "name": "Kim"}], "others": 3}
