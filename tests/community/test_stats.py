"""``/steward stats``: the last 30 days' health for managers, as ``steward report`` counts it."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import CommandInvoked
from tests.community.helpers import START, Community, community_playbooks
from tests.conftest import T0


async def test_stats_sums_up_the_last_30_days_for_a_manager(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START,
                         managers={"slack_user_ids": ["UMOD"]})
    c = Community(app)
    for mid, name in (("UASK", "Ada Asker"), ("UHELP", "Hugo Helper"), ("UQUIET", "Quinn Quiet")):
        await c.join(mid, name, at=START)
    await c.say("UASK", "An old question from two months ago: how do I start?", at=START + timedelta(hours=1))
    asked = await c.say("UASK", "How do I configure the proxy for the build server?", at=T0)
    await c.say("UHELP", "Set HTTPS_PROXY before you run it, that should do it.", at=T0 + timedelta(minutes=12),
                thread=asked)
    await c.say("UASK", "Does anyone know why the nightly export fails on Mondays?", at=T0 + timedelta(hours=1))
    app.clock.advance_to(T0 + timedelta(hours=3))

    reply = await app.services.commands.handle(CommandInvoked("slack", app.clock.now(), member_id="UMOD",
                                                              command="stats", args=()))
    assert reply.text.splitlines() == [
        "**Community health, last 30 days**",
        "- members: 3, of whom 2 wrote or reacted",
        "- messages: 3",
        "- members who started conversations: 1; only replied or reacted: 1; only read: 1",
        "- questions: 2, answered 1 (50%), waiting 1",
        "- first answer: median 12 min, 9 in 10 within 12 min",
        "For the whole picture: `steward report`.",
    ]
    refused = await app.services.commands.handle(CommandInvoked("slack", app.clock.now(), member_id="UASK",
                                                                command="stats", args=()))
    assert refused.text.startswith("Sorry, that command is for community managers.")
