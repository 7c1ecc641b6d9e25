"""Installing into an existing workspace: the members already there (users.list) are known, not
newcomers; the list is read page by page, paced, resumable; names come from the payloads; a
proxy's error page neither crashes a lookup nor loses a welcome; the order in which a member's
first events are processed does not decide whether they are welcomed."""

from __future__ import annotations

import time

import pytest

from tests.fakes.slack_requests import event_callback, message, team_join
from tests.slack.conftest import eventually, until

OLD = [f"U{n:04d}" for n in range(1000, 1450)]  # 450 accounts, years old: three pages of 200
PROXY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def old_members(fake, ids=OLD):
    for uid in ids:
        fake.add_user(uid, f"Old Timer {uid}")


async def send(bot, event: dict) -> None:
    if bot.http is not None:
        status, _ = await bot.http.event(event)
        assert status == 200
    else:
        await bot.fake.send_envelope("events_api", event_callback(event))


def channel_join(user: str, channel: str, ts: float | None = None) -> dict:
    return {"type": "member_joined_channel", "user": user, "channel": channel, "channel_type": "C",
            "event_ts": f"{ts or time.time():.6f}"}


def channel_leave(user: str, channel: str, ts: float | None = None) -> dict:
    return {"type": "member_left_channel", "user": user, "channel": channel, "channel_type": "C",
            "event_ts": f"{ts or time.time():.6f}"}


def welcomes(fake) -> list[str]:
    return [p["text"] for p in fake.posted("CWELCOME")]


def users_list_cursors(fake) -> list[str | None]:
    return [c.params.get("cursor") for c in fake.calls_to("users.list")]


# ---------------------------------------------------------------------- members already there
@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_members_already_in_the_workspace_are_not_welcomed(start_bot, fake, mode):
    old_members(fake)
    bot = await start_bot(mode)
    # the whole list was read, a page at a time, each page from the cursor the last one gave
    calls = fake.calls_to("users.list")
    assert [c.params.get("limit") for c in calls] == ["200", "200", "200"]
    assert users_list_cursors(fake)[0] is None
    assert users_list_cursors(fake)[1:] == [c.response["response_metadata"]["next_cursor"] for c in calls[:-1]]
    assert calls[-1].response["response_metadata"]["next_cursor"] == ""
    # the creator of a channel joins it, another old member joins a channel, a third posts
    await send(bot, channel_join("U1001", "CNEW"))
    await send(bot, message("CGEN", "U1002", "first post in a while", subtype="channel_join"))
    await send(bot, channel_join("U1002", "CGEN"))
    await send(bot, message("CGEN", "U1003", "morning all"))
    await bot.settle(4)
    await bot.later(minutes=10)
    assert welcomes(fake) == []
    assert [uid for uid in ("U1001", "U1002", "U1003") if fake.dms_to(uid)] == []
    member = await bot.app.store.get_member("slack", "U1449")
    assert member is not None and member.display_name == "Old Timer U1449"
    # a newcomer is still welcomed
    await send(bot, team_join("U2000", "Rosa Jansen"))
    await bot.settle(5)
    assert welcomes(fake) == ["Welcome, <@U2000>! Glad you're here."]


async def test_a_member_who_joins_after_the_list_was_read_is_a_newcomer(start_bot, fake):
    old_members(fake, OLD[:3])
    bot = await start_bot("socket")
    fake.add_user("U2001", "Bea")  # joined after Steward was installed; the team_join went missing
    await send(bot, channel_join("U2001", "CGEN"))
    await bot.settle()
    assert welcomes(fake) == ["Welcome, <@U2001>! Glad you're here."]


async def test_a_restart_mid_paging_continues_from_the_stored_cursor(start_bot, fake, tmp_path):
    old_members(fake, [f"U{n:04d}" for n in range(1000, 1650)])  # 651 with the bot: four pages
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    fault = fake.rate_limit("users.list", retry_after=3600, after=2)  # the third page waits an hour
    first = await start_bot("http", db_url=db, wait_for_members=False)
    await eventually(lambda: len(fake.calls_to("users.list")) == 3, timeout=10)
    assert [c.status for c in fake.calls_to("users.list")] == [200, 200, 429]
    waiting_at = fake.calls_to("users.list")[2].params["cursor"]
    await first.adapter.stop()  # the process goes away while it waits
    fault.times = 0
    fake.calls.clear()

    second = await start_bot("http", db_url=db)
    # the second run picks up at the page the first was waiting for: two calls, not four
    assert users_list_cursors(fake) == [waiting_at, fake.calls_to("users.list")[0].response[
        "response_metadata"]["next_cursor"]]
    for uid in ("U1000", "U1399", "U1400", "U1649"):
        assert await second.app.store.get_member("slack", uid) is not None
    state = await second.app.store.member_list("slack", fake.team_id)
    assert (state.cursor, state.members) == (None, 651) and state.completed_at is not None
    await send(second, channel_join("U1600", "CGEN"))
    await second.settle()
    assert welcomes(fake) == []


@pytest.mark.parametrize("fault", ["429", "proxy 502"])
async def test_a_refused_page_is_waited_out_and_read_again(start_bot, fake, fault):
    old_members(fake)
    if fault == "429":
        fake.rate_limit("users.list", retry_after=1, after=1)
    else:
        fake.fail("users.list", "bad_gateway", status=502, raw_body=PROXY_PAGE, content_type="text/plain", after=1)
    bot = await start_bot("socket")
    calls = fake.calls_to("users.list")
    assert [c.status for c in calls] == [200, 429 if fault == "429" else 502, 200, 200]
    # the refused page is asked for again, with the same cursor: nothing skipped, nothing twice
    assert calls[1].params["cursor"] == calls[2].params["cursor"]
    assert (await bot.app.store.member_list("slack", fake.team_id)).members == 451
    await send(bot, channel_join("U1300", "CGEN"))
    await bot.settle()
    assert welcomes(fake) == []


# ---------------------------------------------------------------------- names
async def test_a_team_join_is_greeted_by_the_name_it_carries_without_users_info(start_bot, fake):
    bot = await start_bot("socket")
    fake.fail("users.info", "user_not_found", times=None)  # were it asked, it would not know her
    event = team_join("U2100", "Rosa Jansen")
    del event["user"]["tz"]  # not every account has a time zone set
    await send(bot, event)
    await bot.settle()
    await bot.later(minutes=10)
    [dm] = fake.dms_to("U2100")
    assert dm["text"].startswith("Hi Rosa Jansen, welcome to *Test Garden*!")
    assert fake.calls_to("users.info") == []


async def test_no_member_is_greeted_by_an_id(start_bot, fake):
    bot = await start_bot("socket")
    # an account whose only name is its handle, which Slack made from the ID
    event = team_join("U92MB9B8Q", "u92mb9b8q")
    event["user"]["profile"] = {"display_name": "", "real_name": ""}
    event["user"]["real_name"] = ""
    await send(bot, event)
    # a channel join of someone users.info cannot describe
    fake.fail("users.info", "user_not_found", times=None)
    await send(bot, channel_join("U2200", "CGEN"))
    await bot.settle(2)
    await bot.later(minutes=10)
    for uid in ("U92MB9B8Q", "U2200"):
        [dm] = fake.dms_to(uid)
        assert dm["text"].startswith("Hi, welcome to *Test Garden*!"), dm["text"]
        assert uid.lower() not in dm["text"].lower()


# ---------------------------------------------------------------------- error pages
@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
async def test_a_proxy_error_page_does_not_lose_the_welcome(start_bot, fake, content_type):
    bot = await start_bot("socket")
    for method in ("users.info", "conversations.info"):
        fake.fail(method, "bad_gateway", status=502, raw_body=PROXY_PAGE, content_type=content_type, times=None)
    await send(bot, channel_join("U2300", "CGEN"))
    await bot.settle()
    assert welcomes(fake) == ["Welcome, <@U2300>! Glad you're here."]
    await bot.later(minutes=10)
    [dm] = fake.dms_to("U2300")
    assert dm["text"].startswith("Hi, welcome to *Test Garden*!")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "text/html"])
async def test_the_directory_says_a_proxy_error_page_is_transient(start_bot, fake, content_type):
    from bot.adapters.slack.directory import SlackUnavailable
    from bot.core.errors import TransientError

    bot = await start_bot("socket")
    fake.fail("users.info", "bad_gateway", status=502, raw_body=PROXY_PAGE, content_type=content_type)
    with pytest.raises(SlackUnavailable) as err:
        await bot.adapter.directory.user("U2400")
    assert isinstance(err.value, TransientError)
    assert str(err.value) == "Slack users.info failed for now (http 502); it will be tried again"
    # not remembered: the next lookup asks again and gets the answer
    assert (await bot.adapter.directory.user("U2400"))["id"] == "U2400"


# ---------------------------------------------------------------------- order of first events
async def test_a_message_processed_before_its_join_does_not_cost_the_welcome(start_bot, fake):
    bot = await start_bot("socket")
    fake.add_user("U2500", "Cas")  # a newcomer: joins #general and says hello at once
    joined = time.time()
    await send(bot, message("CGEN", "U2500", "hello!", ts=f"{joined + 1:.6f}"))
    await bot.settle()
    await send(bot, channel_join("U2500", "CGEN", ts=joined))
    await bot.settle(2)
    assert welcomes(fake) == ["Welcome, <@U2500>! Glad you're here."]


async def test_a_member_first_seen_leaving_a_channel_is_not_welcomed_when_they_come_back(start_bot, fake):
    bot = await start_bot("socket")
    # not in the list Steward read (their team_join went missing), but their leave shows they were here
    fake.add_user("U2600", "Dirk")
    now = time.time()
    await send(bot, channel_leave("U2600", "CGEN", ts=now))
    await bot.settle()
    await send(bot, channel_join("U2600", "CRANDOM", ts=now + 60))
    await bot.settle(2)
    assert welcomes(fake) == []


async def test_a_join_processed_after_a_later_leave_is_still_a_first_join(start_bot, fake):
    bot = await start_bot("socket")
    fake.add_user("U2700", "Eva")
    now = time.time()
    # she joined #general, then left it a minute later; the two events are handled the other way round
    await send(bot, channel_leave("U2700", "CGEN", ts=now + 60))
    await bot.settle()
    await send(bot, channel_join("U2700", "CGEN", ts=now))
    await bot.settle(2)
    assert welcomes(fake) == ["Welcome, <@U2700>! Glad you're here."]


async def test_a_proxy_error_page_at_start_is_not_called_a_bad_token(start_bot, fake):
    from bot.adapters.slack.directory import SlackUnavailable

    fake.fail("auth.test", "bad_gateway", status=502, raw_body=PROXY_PAGE, content_type="text/plain")
    with pytest.raises(SlackUnavailable) as err:
        await start_bot("socket")
    assert str(err.value) == ("Slack did not answer auth.test (http 502); is api_base_url right? "
                              "Try again in a moment")


async def test_a_socket_mode_reconnect_reads_the_list_again(start_bot, fake):
    old_members(fake, OLD[:3])
    bot = await start_bot("socket")
    assert len(fake.calls_to("users.list")) == 1
    # someone joins while the connection is down: their team_join never arrives
    fake.add_user("U3000", "Fleur")
    await fake.sockets[-1].close()
    await eventually(lambda: len(fake.calls_to("users.list")) == 2, timeout=20)
    await eventually(lambda: fake.socket_connected.is_set(), timeout=10)
    member = await until(lambda: bot.app.store.get_member("slack", "U3000"), timeout=10)
    assert member is not None and member.display_name == "Fleur"
