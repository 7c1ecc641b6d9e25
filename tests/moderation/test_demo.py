"""The sample community's rule-breakers (a flood, a mass mention, link spam) become three cases,
and ordinary members' messages none."""

from __future__ import annotations

import shutil

from bot.core.events import MemberJoined, MessagePosted
from bot.moderation.queue import service
from bot.replay.sample import generate
from tests.conftest import ROOT


async def test_sample_community_produces_the_three_cases(make_app, tmp_path):
    pb = tmp_path / "playbooks"
    pb.mkdir()
    shutil.copy(ROOT / "playbooks" / "moderation.yaml", pb)
    community = generate(7, 140, 50)
    app = await make_app(playbooks_dir=pb, start=community.start)
    breakers = {mid for mid, persona in community.roles.items() if persona == "rulebreaker"}
    # every rule-breaker's event, and a slice of everyone else's ordinary chat
    events = [e for e in community.events if isinstance(e, (MemberJoined, MessagePosted))]
    others = [e for e in events if isinstance(e, MessagePosted) and e.author_id not in breakers][:600]
    picked = sorted([e for e in events if isinstance(e, MemberJoined) or getattr(e, "author_id", "") in breakers]
                    + others, key=lambda e: e.at)
    for ev in picked:
        app.clock.advance_to(ev.at)
        await app.engine.dispatch(ev)
    cases = await service(app.engine).cases.all()
    assert {c.member_id for c in cases} == breakers
    assert sorted(c.rule for c in cases) == ["invite_links,new_member_links,terms", "mass_mention", "terms,flood"]
    flood = next(c for c in cases if "flood" in c.rule)
    assert flood.hits == 9 and flood.reason == "term: cheap followers; 3 identical messages in 10s"
    posted = [i for i in await app.store.outbox(playbook_id="moderation") if i.action == "open_case"]
    assert len(posted) == 3 and all(i.message.digest is not None for i in posted)
