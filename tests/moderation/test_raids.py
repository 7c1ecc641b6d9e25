"""Raids: many joins in a short window alert the moderators once per wave."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import MemberJoined
from tests.conftest import ROOT, T0
from tests.moderation.conftest import mod_posts, plain


async def _joins(app, n, start, every_s=2.0, prefix="R"):
    for i in range(n):
        at = start + timedelta(seconds=i * every_s)
        app.clock.advance_to(at)
        await app.engine.dispatch(MemberJoined("discord", at, member_id=f"{prefix}{i}", display_name=f"raider {i}"))


async def _raid_app(mod_app, tmp_path):
    """Only the raids playbook: the welcome of every raider is another test's business."""
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "raids.yaml").write_text((ROOT / "playbooks" / "raids.yaml").read_text())
    return await mod_app(playbooks_dir=pb)


async def test_a_wave_of_joins_alerts_once(mod_app, tmp_path):
    app = await _raid_app(mod_app, tmp_path)
    await _joins(app, 9, T0, every_s=10)  # nine joins in 80 s: ordinary
    assert mod_posts(app, "discord") == []
    await _joins(app, 40, T0 + timedelta(minutes=5), every_s=1)
    (alert,) = mod_posts(app, "discord")
    text = plain(alert)
    assert text.startswith("Possible raid: 10 members joined within 60s.")
    assert "@R9" in text and "@R0" in text
    assert alert.mention_ids == ()
    # quiet for longer than `quiet`, then a new wave: one more alert
    await _joins(app, 12, T0 + timedelta(minutes=30), every_s=1, prefix="S")
    assert len(mod_posts(app, "discord")) == 2


async def test_a_redelivered_join_is_not_a_second_join(mod_app, tmp_path):
    app = await _raid_app(mod_app, tmp_path)
    ev = MemberJoined("discord", T0, member_id="X", display_name="x")
    for _ in range(12):
        await app.engine.dispatch(ev)
    assert mod_posts(app, "discord") == []
