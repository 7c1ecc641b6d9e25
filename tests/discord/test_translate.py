"""Pure translation and formatting helpers of the Discord adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace as NS

import pytest
from discord import ChannelType, MessageType

from bot.adapters.discord import translate as tr
from bot.adapters.discord.views import render_digest, split_text
from bot.core.records import Button, Digest, DigestItem

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_emoji_names_match_slack_and_go_back_to_unicode():
    assert tr.emoji_name(NS(id=None, name="✅")) == "white_check_mark"
    assert tr.emoji_name(NS(id=None, name="👀")) == "eyes"
    assert tr.emoji_name(NS(id=123, name="partyparrot")) == "partyparrot"
    assert tr.emoji_char("white_check_mark") == "✅"
    assert tr.emoji_char(":wave:") == "👋"
    assert tr.emoji_char("partyparrot:123") == "partyparrot:123"
    assert tr.emoji_char("🎉") == "🎉"


def test_custom_ids_round_trip_and_refuse_what_discord_would():
    cid = tr.custom_id("approve", "amb:42")
    assert cid == "steward:approve:amb:42"
    assert tr.parse_custom_id(cid) == ("approve", "amb:42")
    assert tr.parse_custom_id("other:approve:1") is None
    with pytest.raises(ValueError, match="too long"):
        tr.custom_id("approve", "x" * 100)


def test_nonce_is_stable_per_key_and_part_and_fits_discord():
    a = tr.nonce_for("welcome:discord:42:once:1")
    assert a == tr.nonce_for("welcome:discord:42:once:1") and len(a) == 25
    assert a != tr.nonce_for("welcome:discord:42:once:1", 1)
    assert tr.nonce_for("") is None


def test_thread_place_is_parent_plus_thread():
    forum = NS(id=7, type=ChannelType.forum, name="questions")
    post = NS(id=9, type=ChannelType.public_thread, parent_id=7, parent=forum, name="Install fails")
    assert tr.place_of(post) == tr.Place("7", "9", in_forum=True, channel_name="questions")
    text = NS(id=5, type=ChannelType.text, name="general")
    assert tr.place_of(text) == tr.Place("5", None, channel_name="general")


def test_system_messages_and_dms_are_not_conversation():
    author = NS(id=1, bot=False, system=False, display_name="Rosa")
    chan = NS(id=5, type=ChannelType.text, name="general")
    base = dict(id=11, channel=chan, author=author, content="joined", created_at=NOW, reference=None,
                mentions=[], webhook_id=None)
    assert tr.message_posted(NS(guild=NS(id=3), type=MessageType.new_member, **base)) is None
    assert tr.message_posted(NS(guild=None, type=MessageType.default, **base)) is None
    ev = tr.message_posted(NS(guild=NS(id=3), type=MessageType.default, **{**base, "webhook_id": 99}))
    assert ev is not None and ev.is_bot  # webhooks never count as members


def test_edits_without_text_are_not_edits():
    assert tr.message_edited({"id": "1", "embeds": []}, tr.Place("5"), now=NOW) is None
    ev = tr.message_edited({"id": "1", "content": "new", "author": {"id": "2"},
                            "edited_timestamp": "2026-03-02T10:05:00+00:00"}, tr.Place("5", "9"), now=NOW)
    assert (ev.channel_id, ev.text, ev.at.minute) == ("5", "new", 5)


def test_long_text_is_split_at_line_breaks():
    text = "\n".join(f"line {i:04d} " + "x" * 80 for i in range(60))
    parts = split_text(text)
    assert all(len(p) <= 2000 for p in parts) and "\n".join(parts) == text


def test_digest_buttons_with_one_custom_id_appear_once():
    d = Digest("t", (DigestItem("a", (Button("resolve", "Resolve", "1"), Button("resolve", "Again", "1"))),))
    [(embed, view)] = render_digest(d)
    assert [c.custom_id for c in view.children[0:1]] == ["steward:resolve:1"] and len(view.children) == 1


def test_readme_invite_url_asks_for_what_the_code_needs():
    from pathlib import Path

    from bot.adapters.discord.client import invite_url

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert invite_url("APP_ID").replace("https://discord.com/oauth2/authorize?", "") in readme.replace(
        "https://discord.com/oauth2/authorize?", "")
