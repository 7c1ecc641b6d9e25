"""Who may click on Slack: the moderators channel is no proof of role; roles come from bot/core/roles.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.community.ambassadors import AMB
from tests.fakes.slack_requests import block_actions
from tests.slack.conftest import eventually

MANAGERS = {"slack_user_ids": ["UMOD"], "slack_usergroup": "S0MGRS"}


async def _click(bot, fake, user: str, action: str, value: str, key: str) -> dict:
    click = block_actions(user_id=user, action_id=f"steward:{action}:0:0", value=value, channel_id="CMODS",
                          label=action.title(), response_url=fake.response_url(key))
    if bot.http is not None:
        status, _ = await bot.http.interaction(click)
        assert status == 200
    else:
        await fake.send_envelope("interactive", click)
    answers = await eventually(lambda: [r for r in fake.responses if r["key"] == key])
    assert answers, f"no answer to the click of {user}"
    await bot.deliver()
    return answers[0]


async def _decisions(bot) -> list[tuple]:
    async with bot.app.store.database.connect() as conn:
        rows = (await conn.execute(select(AMB.c.member_id, AMB.c.decision, AMB.c.decided_by))).all()
    return [tuple(r) for r in rows if r.decision]


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_only_managers_approve_ambassadors_and_never_themselves(start_bot, fake, mode):
    fake.usergroups["S0MGRS"] = ["UHELP"]  # the candidate is a manager through the user group
    fake.usergroups["S0AMB"] = []
    bot = await start_bot(mode, managers=MANAGERS, slack={"ambassador_usergroup": "S0AMB"})

    # a member who can click in the moderators channel is not a manager: refused, politely, privately
    answer = await _click(bot, fake, "UMEMBER", "approve", "slack|UHELP", "member")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "Sorry, only community managers can use these buttons. Nothing was changed."
    # ... and the candidate, a manager, cannot approve themselves
    answer = await _click(bot, fake, "UHELP", "approve", "slack|UHELP", "self")
    assert answer["text"].startswith("You can't decide this one: it is about you.")
    assert answer["response_type"] == "ephemeral"
    assert await _decisions(bot) == []
    assert fake.usergroups["S0AMB"] == [] and fake.dms_to("UHELP") == []
    assert fake.posted("CMODS") == []  # no "approved" line either
    audit = [(a["actor"], a["action"]) for a in await bot.app.store.audit_log()]
    assert sorted(audit) == [("UHELP", "button:refused"), ("UMEMBER", "button:refused")]

    # a manager named in the config approves: the role, the invitation, the line for the moderators
    answer = await _click(bot, fake, "UMOD", "approve", "slack|UHELP", "manager")
    assert answer["text"] == "You chose *Approve*."
    assert await _decisions(bot) == [("UHELP", "approved", "UMOD")]
    assert fake.usergroups["S0AMB"] == ["UHELP"]
    assert len(fake.dms_to("UHELP")) == 1


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_a_case_about_yourself_is_not_yours_to_decide(start_bot, fake, mode):
    from bot.moderation.queue import service

    fake.usergroups["S0MGRS"] = ["UMIA"]
    bot = await start_bot(mode, managers=MANAGERS)
    mod = service(bot.app.engine)
    case, _ = await mod.cases.add(platform="slack", member_id="UMIA", key="slack:test:1",
                                  found=[("report", "reported: rude")], channel_id="CGEN", ref="CGEN/1.000001",
                                  excerpt="something rude", now=bot.app.clock.now())
    answer = await _click(bot, fake, "UMIA", "case_dismiss", str(case.id), "self")
    assert answer["text"].startswith("You can't decide this one: it is about you.")
    answer = await _click(bot, fake, "UOTHER", "case_dismiss", str(case.id), "member")
    assert answer["text"] == "Sorry, only community managers can use these buttons. Nothing was changed."
    assert (await mod.cases.get(case.id)).status == "open"
    answer = await _click(bot, fake, "UMOD", "case_dismiss", str(case.id), "manager")
    assert (await mod.cases.get(case.id)).status == "dismissed"
