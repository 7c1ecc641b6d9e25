"""Lurker nudges: what they point to, how they reach a member on each platform, and the check that
warns when a playbook could nudge past the caps (the caps themselves: tests/delivery/test_policies.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.messaging.markdown import to_plain
from tests.community.helpers import START, community_playbooks, quiet_community


def dms_to(app, member_id, platform="slack"):
    return [m for m in app.outbox.gateways[platform].sent if m.kind == "dm" and m.member_id == member_id]


async def test_lurker_gets_one_nudge_pointing_to_a_real_question(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    c, now, q = await quiet_community(app)
    await app.engine.fire_schedule("lurkers", now)
    [dm] = dms_to(app, "ULURK1")
    text = to_plain(dm.text, channel_name={"CHELP": "help"}.get)
    assert text.startswith("Hi Lena Quiet! Someone in #help asked this 3 h ago and is still waiting:")
    assert "How do I configure the proxy for the installer?" in text
    assert text.rstrip().endswith("Reply stop.")
    # one nudge, then silence
    app.clock.advance_to(now + timedelta(days=1))
    await app.engine.fire_schedule("lurkers", now + timedelta(days=1))
    assert len(dms_to(app, "ULURK1")) == 1


async def test_no_nudge_without_something_real_to_point_to(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    c, now, q = await quiet_community(app)
    await c.say("UHELP", "<@UASK>: set it under [network] in the config", at=now - timedelta(hours=2))
    await app.engine.fire_schedule("lurkers", now)
    assert dms_to(app, "ULURK1") == [] and dms_to(app, "ULURK2") == []


async def test_discord_nudges_mention_in_the_channel_unless_dms_are_on(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START)
    c, now, q = await quiet_community(app, platform="discord")
    await app.engine.fire_schedule("lurkers", now, "discord")
    gw = app.outbox.gateways["discord"]
    assert [m for m in gw.sent if m.kind == "dm"] == []
    posts = [m for m in gw.sent if m.kind == "channel"]
    assert {m.mention_ids for m in posts} == {("ULURK1",), ("ULURK2",)}
    assert all(m.channel_id == "100000000000000003" for m in posts)
    assert to_plain(posts[0].text).startswith("@ULURK")

    app2 = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START, discord={"lurker_dms": True})
    await quiet_community(app2, platform="discord")
    await app2.engine.fire_schedule("lurkers", now, "discord")
    assert len(dms_to(app2, "ULURK1", "discord")) == 1


def test_check_warns_when_a_playbook_could_exceed_the_caps(tmp_path):
    from bot.checks import run_checks
    from bot.settings import load_settings
    from tests.conftest import ROOT

    pdir = tmp_path / "playbooks"
    pdir.mkdir()
    (pdir / "chatty.yaml").write_text(
        "id: chatty\ntrigger:\n  interval:\n    every: 1h\nscan:\n  name: lurkers\nactions:\n"
        "  - send_nudge:\n      template: lurker_nudge\n      channel_template: lurker_nudge_channel\n")
    (pdir / "polite.yaml").write_text(
        "id: polite\ntrigger:\n  interval:\n    every: 1h\nscan:\n  name: lurkers\nlimits:\n"
        "  once_per_subject: true\nactions:\n"
        "  - send_nudge:\n      template: lurker_nudge\n      channel_template: lurker_nudge_channel\n")
    problems = [str(p) for p in run_checks(load_settings(None), pdir, ROOT / "messages")]
    assert any("chatty.yaml:1: chatty: warning: could DM a member more than 1 time(s) per 30 days" in p
               for p in problems)
    assert not any("polite" in p for p in problems)
