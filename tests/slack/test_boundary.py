"""Another Slack workspace (a second install of the same app): its events, commands and clicks are
refused at the edge, in HTTP and Socket Mode, with one log line each; unset, [slack] team_id is the bot
token's own workspace (auth.test)."""

from __future__ import annotations

import logging

import pytest

from bot.core.errors import ConfigError
from tests.fakes.slack_requests import block_actions, event_callback, slash_command, team_join
from tests.slack.conftest import eventually

OTHER = "T0OTHER"


async def _send(bot, mode: str, kind: str, payload: dict) -> None:
    if mode == "http":
        send = {"events_api": bot.http.event, "slash_commands": bot.http.command,
                "interactive": bot.http.interaction}[kind]
        status, _ = await send(payload)
        assert status == 200  # acknowledged, so Slack does not send it again
    else:
        await bot.fake.send_envelope(kind, payload)


def _foreign_command(text: str, user: str, response_url: str) -> dict:
    return {**slash_command(text, user_id=user, response_url=response_url), "team_id": OTHER}


def _foreign_click(user: str, value: str, response_url: str) -> dict:
    click = block_actions(user_id=user, action_id="steward:approve:0:0", value=value, response_url=response_url)
    click["team"] = {"id": OTHER, "domain": "other"}
    click["user"]["team_id"] = OTHER
    return click


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_another_workspace_is_refused_at_the_edge(start_bot, fake, mode, caplog):
    caplog.set_level(logging.WARNING, logger="steward.boundary")
    bot = await start_bot(mode, managers={"slack_user_ids": ["UMOD"]})
    assert bot.adapter.boundary.allowed == {"T0FAKE"}  # learned from auth.test

    await _send(bot, mode, "events_api", event_callback(team_join("U666", "Mallory"), team_id=OTHER))
    await _send(bot, mode, "slash_commands", _foreign_command("forget <@U100>", "UMOD", fake.response_url("cmd")))
    await _send(bot, mode, "interactive", _foreign_click("UMOD", "slack|U666", fake.response_url("click")))
    await _send(bot, mode, "events_api", event_callback(team_join("U100", "Rosa Jansen")))
    [ev] = await bot.settle()
    assert (ev.name, ev.member_id) == ("member_joined", "U100")
    assert [p["text"] for p in fake.posted("CWELCOME")] == ["Welcome, <@U100>! Glad you're here."]
    assert await bot.app.store.get_member("slack", "U666") is None
    assert fake.responses == [] and await bot.app.store.audit_log() == []
    lines = await eventually(lambda: [r.getMessage() for r in caplog.records if r.name == "steward.boundary"])
    assert [line.split(" (")[0] for line in lines] == [
        f"slack: refused event team_join from workspace {OTHER}",
        f"slack: refused slash command from workspace {OTHER}",
        f"slack: refused block_actions from workspace {OTHER}"]
    assert all("\n" not in line for line in lines)


async def test_a_configured_workspace_that_is_not_the_tokens_is_refused_at_start(start_bot):
    with pytest.raises(ConfigError, match=r"\[slack\] team_id is T0ELSE, but the bot token .* belongs to "
                                          r"workspace T0FAKE"):
        await start_bot("socket", slack={"team_id": "T0ELSE"})
