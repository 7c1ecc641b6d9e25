"""The weekly ambassador digest as moderators read it: the weights in ``ambassadors.yaml`` decide the order
and the evidence names what was counted; members are listed at once and dropped only slowly; a member with
an open moderation case is never in the digest."""

from __future__ import annotations

from datetime import timedelta

from bot.messaging.markdown import to_plain
from bot.moderation.cases import Cases
from tests.community.helpers import START, Community, community_playbooks
from tests.community.test_playbooks import NAMES, RoleGateway
from tests.conftest import T0

MONDAY = T0 + timedelta(days=7)  # T0 is a Monday


def _weights(playbooks, **weights) -> None:
    path = playbooks / "ambassadors.yaml"
    text = path.read_text()
    for name, value in weights.items():
        before = text
        text = "\n".join(f"{line.split(':')[0]}: {value}" if line.strip().startswith(f"{name}:") else line
                         for line in text.splitlines()) + "\n"
        assert text != before, name
    path.write_text(text)


async def _digest(app, gw, at) -> list[str] | None:
    """The items of the digest the scheduled playbook posts at ``at`` (None when it posts none)."""
    n = len(gw.sent)
    app.clock.advance_to(at)
    await app.engine.fire_schedule("ambassadors", at)
    if len(gw.sent) == n:
        return None
    return [to_plain(i.text, channel_name=NAMES) for i in gw.sent[-1].digest.items]


async def _answerer_and_replier(c: Community) -> None:
    """UANS answers two members' questions; URE replies to three members who asked nothing."""
    for mid, name in (("UANS", "Ann Answer"), ("URE", "Rex Reply"), ("UA", "Ada"), ("UB", "Bo"), ("UC", "Cy"),
                      ("UD", "Di"), ("UE", "Ed")):
        await c.join(mid, name, at=START)
    day = T0 - timedelta(days=10)
    for i, asker in enumerate(("UA", "UB")):
        at = day + timedelta(days=i)
        await c.say(asker, "How do I reset my password on the wiki?", at=at)
        await c.say("UANS", f"<@{asker}>: the account page has a reset link", at=at + timedelta(minutes=3))
    for i, who in enumerate(("UC", "UD", "UE")):
        at = day + timedelta(days=3 + i)
        await c.say(who, "finally got the printer working after the update", at=at)
        await c.say("URE", f"<@{who}>: nice work, good to hear", at=at + timedelta(minutes=3))


async def test_weights_in_the_playbook_decide_the_order_and_the_evidence(make_app, tmp_path):
    texts = []
    for i, weights in enumerate(({}, {"members_answered": 4.0}, {"members_answered": 0, "tenure": 0})):
        (tmp_path / f"w{i}").mkdir()
        pbs = community_playbooks(tmp_path / f"w{i}")
        _weights(pbs, **weights)
        app = await make_app(playbooks_dir=pbs, start=START, managers={"slack_user_ids": ["UMOD"]},
                             features={"ambassadors": {"min_score": 5}})
        gw = RoleGateway("slack")
        app.outbox.gateways["slack"] = gw
        await _answerer_and_replier(Community(app))
        texts.append(await _digest(app, gw, MONDAY))
    default, answers_weigh_more, no_answers = texts
    # by default helping three members outweighs answering two
    assert default == [
        "1. @URE: replied to 3 members in #help; active on 3 days; member for 2 months",
        "2. @UANS: answered 2 questions from 2 members in #help; active on 2 days; member for 2 months"]
    assert answers_weigh_more == [default[1].replace("2. ", "1. "), default[0].replace("1. ", "2. ")]
    # a signal left out of the score is left out of the evidence too
    assert no_answers == ["1. @URE: replied to 3 members in #help; active on 3 days",
                          "2. @UANS: replied to 2 members in #help; active on 2 days"]


async def test_listed_at_once_dropped_only_after_weeks_below_the_bar(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START,
                         managers={"slack_user_ids": ["UMOD"]},
                         features={"ambassadors": {"min_score": 6, "window_days": 7, "drop_after_days": 10}})
    gw = RoleGateway("slack")
    app.outbox.gateways["slack"] = gw
    c = Community(app)
    for mid, name in (("UHELP", "Hugo Helper"), ("ULATE", "Lea Late"), ("UA", "Ada"), ("UB", "Bo"),
                      ("UC", "Cy")):
        await c.join(mid, name, at=START)

    async def helps(helper: str, start) -> None:
        for i, asker in enumerate(("UA", "UB", "UC")):
            at = start + timedelta(days=i)
            await c.say(asker, f"How do I enable plugin {i} for my project?", at=at)
            await c.say(helper, f"<@{asker}>: turn it on in the settings", at=at + timedelta(minutes=2))

    await helps("UHELP", MONDAY - timedelta(days=5))
    first = await _digest(app, gw, MONDAY)
    assert [t.split(":")[0] for t in first] == ["1. @UHELP"]  # listed the first Monday after passing the bar

    await helps("ULATE", MONDAY + timedelta(days=2))
    second = await _digest(app, gw, MONDAY + timedelta(days=7))
    # ULATE is listed at once; UHELP, with nothing in the window any more, stays for now
    assert [t.split(":")[0] for t in second] == ["1. @ULATE", "2. @UHELP"]
    assert second[1] == "2. @UHELP: replied to 0 members; active on 0 days; member for 2 months"

    third = await _digest(app, gw, MONDAY + timedelta(days=14))
    # both are under the bar now; a week below it is not long enough to drop UHELP (drop_after_days = 10) ...
    assert [t.split(":")[0] for t in third] == ["1. @UHELP", "2. @ULATE"]
    assert await _digest(app, gw, MONDAY + timedelta(days=21)) == [
        # ... two weeks is; ULATE's help left the window a week ago, UHELP's two
        "1. @ULATE: replied to 0 members; active on 0 days; member for 2 months"]


async def test_an_open_moderation_case_takes_a_listed_member_out_of_the_digest(make_app, tmp_path):
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START,
                         managers={"slack_user_ids": ["UMOD"]}, features={"ambassadors": {"min_score": 6}})
    gw = RoleGateway("slack")
    app.outbox.gateways["slack"] = gw
    c = Community(app)
    await _answerer_and_replier(c)
    assert [t.split(":")[0] for t in await _digest(app, gw, MONDAY)] == ["1. @URE", "2. @UANS"]
    await Cases(app.store).add(platform="slack", member_id="URE", key="flood:URE:1", found=[("flood", "flooding")],
                               channel_id="CHELP", ref=None, excerpt="...", now=MONDAY + timedelta(days=1))
    # still above the bar, still on the list, but not suggested while the case is open
    assert [t.split(":")[0] for t in await _digest(app, gw, MONDAY + timedelta(days=7))] == ["1. @UANS"]


async def test_the_ambassadors_command_ranks_with_the_playbook_weights(make_app, tmp_path):
    """``/steward ambassadors`` shows what the weekly digest would: the same weights, the same words."""
    from bot.core.events import CommandInvoked

    pbs = community_playbooks(tmp_path)
    _weights(pbs, members_answered=4.0)
    app = await make_app(playbooks_dir=pbs, start=START, managers={"slack_user_ids": ["UMOD"]},
                         features={"ambassadors": {"min_score": 5}})
    gw = RoleGateway("slack")
    app.outbox.gateways["slack"] = gw
    await _answerer_and_replier(Community(app))
    app.clock.advance_to(MONDAY)
    reply = await app.services.commands.handle(CommandInvoked(
        "slack", MONDAY, member_id="UMOD", command="ambassadors", args=(), platform_admin=True))
    items = [to_plain(i.text, channel_name=NAMES) for i in reply.digest.items]
    assert [i.split(":", 1)[0] for i in items] == ["1. @UANS", "2. @URE"]
    assert items[0].endswith("answered 2 questions from 2 members in #help; active on 2 days; member for 2 months")


async def test_candidates_read_in_several_batches_rank_and_read_the_same(make_app, db_url, tmp_path, monkeypatch):
    """The signals are read for many candidates at once; split over batches of one member, each
    candidate still gets only their own helps, activity and reactors (on SQLite and PostgreSQL)."""
    from sqlalchemy import select

    from bot.community import ambassadors
    from bot.core.events import ReactionAdded

    monkeypatch.setattr(ambassadors, "_CHUNK", 1)
    app = await make_app(db_url, playbooks_dir=community_playbooks(tmp_path), start=START,
                         managers={"slack_user_ids": ["UMOD"]}, features={"ambassadors": {"min_score": 5}})
    gw = RoleGateway("slack")
    app.outbox.gateways["slack"] = gw
    c = Community(app)
    await _answerer_and_replier(c)
    at = T0 - timedelta(days=2)
    mid = await c.say("URE", "the printer docs are updated now", at=at)
    for who in ("UA", "UB", "URE"):  # reacting to one's own message is not appreciation
        await app.engine.dispatch(ReactionAdded("slack", at + timedelta(minutes=5), channel_id="CHELP", message_id=mid,
                                                member_id=who, emoji="tada", message_author_id="URE"))
    assert await _digest(app, gw, MONDAY) == [
        "1. @URE: replied to 3 members in #help; appreciated by 2 members with reactions; active on 4 days; "
        "member for 2 months",
        "2. @UANS: answered 2 questions from 2 members in #help; active on 2 days; member for 2 months"]
    # a week later the stored listing is rewritten with the new tenure (and only what changed is written)
    await _digest(app, gw, MONDAY + timedelta(days=7))
    async with app.store.database.connect() as conn:
        stored = {r.member_id: (r.score, r.evidence["tenure_days"], r.listed_since is not None) for r in
                  (await conn.execute(select(ambassadors.AMB).order_by(ambassadors.AMB.c.member_id))).all()}
    assert {m: (t, listed) for m, (_, t, listed) in stored.items()} == {"UANS": (74, True), "URE": (74, True)}
    assert stored["URE"][0] > stored["UANS"][0] >= 5
