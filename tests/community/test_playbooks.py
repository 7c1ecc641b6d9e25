"""The shipped community playbooks end to end: tier 1 pointing to helpers, the moderators' digest with
its resolve button, the weekly ambassador digest with approve / not now."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import ButtonClicked, ReactionAdded
from bot.core.ports import RecordingGateway
from bot.core.records import SendResult
from bot.messaging.markdown import to_plain
from tests.community.helpers import START, Community, community_playbooks
from tests.conftest import T0

NAMES = {"CHELP": "help", "CMODS": "moderators"}.get


class RoleGateway(RecordingGateway):
    def __init__(self, platform: str) -> None:
        super().__init__(platform)
        self.roles: list[tuple[str, str]] = []

    async def grant_role(self, member_id: str, role: str) -> SendResult:
        self.roles.append((member_id, role))
        return SendResult(ok=True)


async def _people(c: Community) -> None:
    for mid, name in (("UASK", "Ada Asker"), ("UHELP", "Hugo Helper"), ("UOTHER", "Omar Other"),
                      ("UMOD", "Mia Moderator")):
        await c.join(mid, name, at=START)


async def test_waiting_question_goes_to_helpers_then_to_the_moderators_digest(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START,
                         managers={"slack_user_ids": ["UMOD"]})
    gw = app.outbox.gateways["slack"]
    c = Community(app)
    await _people(c)
    earlier = await c.say("UOTHER", "How do I configure the proxy for the build server?", at=START + timedelta(days=1))
    await c.say("UHELP", "<@UOTHER>: set the proxy under [network] in the config", at=START + timedelta(days=1, minutes=5))
    q = await c.say("UASK", "Anyone know how to configure the proxy for the installer?", at=T0)
    assert earlier != q

    app.clock.advance_to(T0 + timedelta(minutes=20))
    await app.engine.fire_schedule("unanswered", T0 + timedelta(minutes=20))
    assert gw.sent == []  # not yet 30 minutes
    app.clock.advance_to(T0 + timedelta(minutes=35))
    await app.engine.fire_schedule("unanswered", T0 + timedelta(minutes=35))
    [nudge] = gw.sent
    assert nudge.kind == "thread" and nudge.channel_id == "CHELP" and nudge.thread_id == q
    assert nudge.mention_ids == ("UHELP",)
    assert to_plain(nudge.text) == ("This question has been waiting for 35 min.\n"
                                    "@UHELP: you answered something similar before. Could you take a look?")
    await app.engine.fire_schedule("unanswered", T0 + timedelta(minutes=50))
    assert len(gw.sent) == 1  # once per question

    app.clock.advance_to(T0 + timedelta(hours=5))
    await app.engine.fire_schedule("unanswered_digest", T0 + timedelta(hours=5))
    digest = gw.sent[-1]
    assert digest.channel_id == "CMODS" and digest.digest is not None
    assert to_plain(digest.digest.title) == "1 question(s) still without an answer"
    [item] = digest.digest.items
    assert to_plain(item.text, channel_name=NAMES) == (
        '@UASK in #help (topic: installing and setting up), waiting 5 h: '
        '"Anyone know how to configure the proxy for the installer?"')
    [button] = item.buttons
    assert (button.action, button.label, button.value) == ("resolve", "Resolved", f"slack|CHELP/{q}")

    await app.engine.dispatch(ButtonClicked("slack", T0 + timedelta(hours=5, minutes=2), member_id="UMOD",
                                            action="resolve", value=button.value, channel_id="CMODS"))
    assert to_plain(gw.sent[-1].text, channel_name=NAMES) == "@UMOD marked a question in #help as resolved."
    n = len(gw.sent)
    app.clock.advance_to(T0 + timedelta(hours=9))
    await app.engine.fire_schedule("unanswered_digest", T0 + timedelta(hours=9))
    assert len(gw.sent) == n


async def test_answered_questions_are_left_alone(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    gw = app.outbox.gateways["slack"]
    c = Community(app)
    await _people(c)
    q1 = await c.say("UASK", "How do I export my data to CSV?", at=T0)
    await c.say("UHELP", "use the export command", at=T0 + timedelta(minutes=3), thread=q1)
    q2 = await c.say("UOTHER", "Which version should I use for production right now?", at=T0 + timedelta(minutes=4))
    await app.engine.dispatch(ReactionAdded("slack", T0 + timedelta(minutes=6), channel_id="CHELP", message_id=q2,
                                            member_id="UOTHER", emoji="white_check_mark"))
    app.clock.advance_to(T0 + timedelta(hours=1))
    await app.engine.fire_schedule("unanswered", T0 + timedelta(hours=1))
    assert gw.sent == []


async def test_weekly_ambassador_digest_approve_and_not_now(tmp_path, make_app):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START,
                         managers={"slack_user_ids": ["UMOD"]}, slack={"ambassador_usergroup": "S0AMB"},
                         features={"ambassadors": {"min_score": 5}})
    gw = RoleGateway("slack")
    app.outbox.gateways["slack"] = gw
    c = Community(app)
    await c.join("UHELP", "Hugo Helper", at=START)
    await c.join("UOTHER", "Omar Other", at=START)
    await c.join("UMOD", "Mia Moderator", at=START)
    day = T0 - timedelta(days=20)
    for i in range(4):
        asker = f"UNEW{i}"
        await c.join(asker, f"Newcomer {i}", at=day + timedelta(days=i))
        q = await c.say(asker, f"How do I set up plugin number {i}?", at=day + timedelta(days=i, hours=1))
        await c.say("UHELP", f"<@{asker}>: put it in the plugins folder", at=day + timedelta(days=i, hours=1, minutes=4))
        if i < 2:
            q2 = await c.say(asker, "and how do I update it later?", at=day + timedelta(days=i, hours=2))
            await c.say("UOTHER", "pull and restart", at=day + timedelta(days=i, hours=2, minutes=2), thread=q2)
        assert q
    monday = T0 + timedelta(days=7)  # T0 is a Monday
    app.clock.advance_to(monday)
    await app.engine.fire_schedule("ambassadors", monday)
    digest = gw.sent[-1].digest
    assert to_plain(digest.title) == "Ambassador candidates this week (2)"
    first = digest.items[0]
    assert to_plain(first.text, channel_name=NAMES) == (
        "1. @UHELP: answered 4 questions from 4 members in #help; helped 4 newcomers; active on 4 days; "
        "member for 2 months")
    assert [(b.action, b.label, b.value) for b in first.buttons] == [
        ("approve", "Approve", "slack|UHELP"), ("not_now", "Not now", "slack|UHELP")]

    await app.engine.dispatch(ButtonClicked("slack", monday + timedelta(minutes=5), member_id="UMOD",
                                            action="approve", value="slack|UHELP", channel_id="CMODS"))
    assert gw.roles == [("UHELP", "S0AMB")]
    app.clock.advance_to(monday + timedelta(minutes=6))
    await app.delivery.drain()
    [invite] = [m for m in gw.sent if m.kind == "dm"]
    text = to_plain(invite.text)
    assert invite.member_id == "UHELP"
    assert text.startswith("Hi Hugo Helper! The moderators of Test Garden noticed how often you help others here")
    assert text.rstrip().endswith("Reply stop.")
    await app.engine.dispatch(ButtonClicked("slack", monday + timedelta(minutes=7), member_id="UMOD",
                                            action="not_now", value="slack|UOTHER", channel_id="CMODS"))
    assert to_plain(gw.sent[-1].text) == "@UMOD: @UOTHER won't be suggested again for 90 days."

    n = len(gw.sent)
    next_monday = monday + timedelta(days=7)
    app.clock.advance_to(next_monday)
    await app.engine.fire_schedule("ambassadors", next_monday)
    assert len(gw.sent) == n  # approved and snoozed: nobody left to suggest


async def test_a_non_moderator_click_changes_nothing(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START,
                         managers={"slack_user_ids": ["UMOD"]})
    gw = RoleGateway("slack")
    app.outbox.gateways["slack"] = gw
    c = Community(app)
    await _people(c)
    await app.engine.dispatch(ButtonClicked("slack", T0, member_id="UASK", action="approve", value="slack|UHELP",
                                            channel_id="CGENERAL"))
    assert gw.roles == [] and gw.sent == []
