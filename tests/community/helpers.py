"""A small community built through the engine (real events), for the community tests."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import MemberJoined, MessagePosted
from tests.conftest import T0

#: when the scenario's members joined; build the app with ``start=START``
START = T0 - timedelta(days=60)


class Community:
    """Drives an app with real core events; message IDs are Slack-like ``ts`` strings."""

    def __init__(self, app, platform: str = "slack", help_channel: str = "CHELP") -> None:
        self.app, self.platform, self.help = app, platform, help_channel
        self.n = 0

    async def join(self, member_id: str, name: str, *, at=None, tz: str | None = None, locale: str | None = None,
                   bot: bool = False) -> None:
        at = at or T0
        self.app.clock.advance_to(at)
        await self.app.engine.dispatch(MemberJoined(self.platform, at, member_id=member_id, display_name=name,
                                                    timezone=tz, locale=locale, is_bot=bot))

    async def say(self, who: str, text: str, *, at, channel: str | None = None, thread: str | None = None,
                  mentions: tuple[str, ...] = (), bot: bool = False) -> str:
        self.n += 1
        mid = f"{int(at.timestamp())}.{self.n:06d}"
        self.app.clock.advance_to(at)
        await self.app.engine.dispatch(MessagePosted(self.platform, at, channel_id=channel or self.help,
                                                     message_id=mid, author_id=who, text=text, thread_id=thread,
                                                     mentions=mentions, is_bot=bot))
        return mid


async def quiet_community(app, *, lurker_tz: str = "UTC", platform: str = "slack"):
    """Two members who joined 60 days ago and never posted, an active asker with a fresh open question,
    and a helper; the app's clock must start at ``START``. Returns (community, now, question id)."""
    c = Community(app, platform, help_channel="CHELP" if platform == "slack" else "100000000000000003")
    for mid, name, tz in (("ULURK1", "Lena Quiet", lurker_tz), ("ULURK2", "Milan Still", "UTC"),
                          ("UASK", "Ada Asker", "UTC"), ("UHELP", "Hugo Helper", "UTC")):
        await c.join(mid, name, at=START, tz=tz)
    now = T0
    await c.say("UHELP", "Just shipped my first plugin, feedback welcome", at=now - timedelta(days=1),
                channel="CGENERAL")
    q = await c.say("UASK", "How do I configure the proxy for the installer?", at=now - timedelta(hours=3))
    app.engine.clock.advance_to(now)
    return c, now, q


def community_playbooks(tmp_path):
    """The shipped community playbooks alone (the welcome DM would use up a member's DM caps)."""
    import shutil

    from tests.conftest import ROOT

    d = tmp_path / "community-playbooks"
    d.mkdir(exist_ok=True)
    for name in ("unanswered.yaml", "unanswered_digest.yaml", "lurkers.yaml", "ambassadors.yaml"):
        shutil.copy(ROOT / "playbooks" / name, d / name)
    return d
