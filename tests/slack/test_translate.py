"""Slack payloads → core events (pure), and digests → Block Kit."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.adapters.slack.blocks import MAX_BLOCKS, digest_blocks
from bot.adapters.slack.translate import (
    Self,
    button_event,
    command_event,
    parse_action_id,
    parse_command_text,
    report_event,
    translate,
)
from bot.core.events import (
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from bot.core.records import Button, Digest, DigestItem
from tests.fakes.slack_requests import block_actions, message_shortcut, slash_command, team_join

ME = Self(user_id="UBOT", bot_id="BBOT")
TS = "1772445600.000100"  # 2026-03-02 10:00 UTC


def msg(**kw):
    return {"type": "message", "channel": "CHELP", "user": "U1", "text": "hi", "ts": TS, **kw}


def test_team_join_carries_name_locale_and_time_zone():
    ev = translate(team_join("U9", "Rosa Jansen", tz="Europe/Amsterdam", locale="nl-NL"), ME)
    assert isinstance(ev, MemberJoined)
    assert (ev.member_id, ev.display_name, ev.locale, ev.timezone, ev.is_bot, ev.channel_id) == \
        ("U9", "Rosa Jansen", "nl", "Europe/Amsterdam", False, None)


def test_a_joining_bot_is_a_bot():
    assert translate(team_join("U8", "helper", is_bot=True), ME).is_bot is True


def test_channel_joins_and_leaves():
    joined = translate({"type": "member_joined_channel", "user": "U1", "channel": "CHELP", "event_ts": TS}, ME)
    assert isinstance(joined, MemberJoined) and joined.channel_id == "CHELP"
    assert translate(msg(subtype="channel_join", text="<@U1> has joined the channel"), ME) == joined
    left = translate({"type": "member_left_channel", "user": "U1", "channel": "CHELP", "event_ts": TS}, ME)
    assert isinstance(left, MemberLeft) and left.channel_id == "CHELP"


def test_plain_message_thread_reply_and_thread_root():
    ev = translate(msg(text="How do I &lt;b&gt; &amp; <@U2|bea> ?"), ME)
    assert isinstance(ev, MessagePosted)
    assert ev.text == "How do I <b> & <@U2|bea> ?"
    assert ev.mentions == ("U2",)
    assert ev.at == datetime(2026, 3, 2, 10, 0, 0, 100, tzinfo=UTC)
    assert ev.thread_id is None
    reply = translate(msg(ts="1772445700.000200", thread_ts=TS), ME)
    assert reply.thread_id == TS and reply.message_id == "1772445700.000200"
    root = translate(msg(thread_ts=TS), ME)  # a root that has replies carries its own ts
    assert root.thread_id is None


def test_bot_messages_are_bots_and_me_messages_are_marked():
    ev = translate(msg(subtype="bot_message", user=None, bot_id="B77", username="ci"), ME)
    assert ev.is_bot and ev.author_id == "B77" and ev.author_name == "ci"
    assert translate(msg(subtype="me_message", text="waves"), ME).kind == "me"


def test_edits_and_deletes():
    ev = translate({"type": "message", "subtype": "message_changed", "channel": "CHELP", "event_ts": TS,
                    "message": {"user": "U1", "text": "fixed", "ts": "1.1", "edited": {"ts": TS}},
                    "previous_message": {"user": "U1", "text": "fxied", "ts": "1.1"}}, ME)
    assert isinstance(ev, MessageEdited) and (ev.message_id, ev.text) == ("1.1", "fixed")
    unfurl = {"type": "message", "subtype": "message_changed", "channel": "C", "event_ts": TS,
              "message": {"user": "U1", "text": "see x", "ts": "1.1"}, "previous_message": {"text": "see x"}}
    assert translate(unfurl, ME) is None
    gone = translate({"type": "message", "subtype": "message_deleted", "channel": "CHELP", "deleted_ts": "1.1",
                      "event_ts": TS}, ME)
    assert isinstance(gone, MessageDeleted) and gone.message_id == "1.1"


def test_reactions():
    base = {"user": "U3", "reaction": "tada", "item_user": "U1", "event_ts": TS,
            "item": {"type": "message", "channel": "CHELP", "ts": "1.1"}}
    added = translate({"type": "reaction_added", **base}, ME)
    assert isinstance(added, ReactionAdded) and (added.emoji, added.message_author_id) == ("tada", "U1")
    assert isinstance(translate({"type": "reaction_removed", **base}, ME), ReactionRemoved)
    file_reaction = {**base, "item": {"type": "file", "file": "F1"}}
    assert translate({"type": "reaction_added", **file_reaction}, ME) is None


def test_app_mention_is_the_same_message_as_its_message_event():
    mention = translate({**msg(text="<@UBOT> help"), "type": "app_mention"}, ME)
    assert mention == translate(msg(text="<@UBOT> help"), ME)


def test_own_events_are_ignored():
    assert translate(msg(user="UBOT"), ME) is None
    assert translate(msg(subtype="bot_message", user=None, bot_id="BBOT"), ME) is None
    assert translate({"type": "member_joined_channel", "user": "UBOT", "channel": "C1", "event_ts": TS}, ME) is None
    assert translate({"type": "reaction_added", "user": "UBOT", "reaction": "eyes", "event_ts": TS,
                      "item": {"type": "message", "channel": "C", "ts": "1"}}, ME) is None
    assert translate(msg(user="UBOT", subtype="message_changed"), ME) is None


def test_unknown_events_and_subtypes_are_none():
    assert translate({"type": "channel_rename", "channel": {}}, ME) is None
    assert translate(msg(subtype="channel_topic"), ME) is None


def test_command_text_parsing():
    assert parse_command_text("") == ("help", ())
    assert parse_command_text("Nudge <@U123|rosa>") == ("nudge", ("U123",))
    assert parse_command_text('playbooks preview "lurker nudge"') == ("playbooks", ("preview", "lurker nudge"))
    assert parse_command_text("language nl 'oops") == ("language", ("nl", "'oops"))
    ev = command_event(slash_command("stats <#CHELP|help>", user_id="U5", response_url="x"), roles=("S1",))
    assert (ev.member_id, ev.command, ev.args, ev.roles, ev.channel_id) == ("U5", "stats", ("CHELP",), ("S1",), "CHELP")


def test_button_click_and_report():
    ev = button_event(block_actions(user_id="U5", action_id="steward:not_now:2:1", value="case-7"))
    assert (ev.action, ev.value, ev.member_id, ev.channel_id) == ("not_now", "case-7", "U5", "CMODS")
    assert button_event(block_actions(user_id="U5", action_id="someone-else", value="x")) is None
    assert parse_action_id("steward:approve:0:0") == "approve"
    rep = report_event(message_shortcut(user_id="U5", channel_id="CGEN", message_ts="1.2", author_id="U6",
                                        text="buy &lt;stuff&gt;"))
    assert (rep.reporter_id, rep.channel_id, rep.message_id, rep.author_id, rep.text) == \
        ("U5", "CGEN", "1.2", "U6", "buy <stuff>")


def test_digest_blocks_carry_actions_and_stay_within_slack_limits():
    items = tuple(DigestItem(f"Question {i} from <@U{i}>", (Button("resolve", "Mark resolved", f"q{i}", "primary"),
                                                          Button("dismiss", "Dismiss", f"q{i}")))
                  for i in range(40))
    blocks = digest_blocks(Digest("Unanswered questions", items, footer="Sent every Monday"))
    assert len(blocks) <= MAX_BLOCKS
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Unanswered questions"}}
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert {parse_action_id(b["action_id"]) for b in buttons} == {"resolve", "dismiss"}
    assert len({b["action_id"] for b in buttons}) == len(buttons)
    assert buttons[0]["value"] == "q0" and buttons[0]["style"] == "primary"
    texts = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    shown = sum(1 for b in blocks if b["type"] == "actions")
    assert f"… and {40 - shown} more not shown here." in texts and "Sent every Monday" in texts


def test_digest_text_is_escaped():
    from bot.messaging.markdown import escape

    blocks = digest_blocks(Digest("Queue", (DigestItem(f"Reported: {escape('<!channel> *free* & more')}"),)))
    text = blocks[1]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "&amp;" in text
