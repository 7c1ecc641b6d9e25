"""Small exports written the way Slack and DiscordChatExporter write them, for the importer tests."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def ts(minutes: float) -> str:
    return f"{(T0 + timedelta(minutes=minutes)).timestamp():.6f}"


def slack_export(root: Path, *, truncated: bool = False) -> dict:
    """Two channels over two days: threads, a join and a leave, a bot, an edit, a file, reactions,
    a topic change. Returns what a person counting by hand would count."""
    root.mkdir(parents=True, exist_ok=True)
    users = [
        {"id": "UADA", "name": "ada", "profile": {"display_name": "Ada"}, "tz": "Europe/Amsterdam"},
        {"id": "UBOB", "name": "bob", "profile": {"display_name": "Bob", "real_name": "Bob B"}},
        {"id": "UCAT", "name": "cat", "profile": {"display_name": ""}, "real_name": "Cat"},
        {"id": "UNEW", "name": "newbie", "profile": {"display_name": "Newbie"}},
        {"id": "UBOT", "name": "helper", "is_bot": True, "profile": {"display_name": "helper"}},
        {"id": "UADMIN", "name": "admin", "is_admin": True, "profile": {"display_name": "Admin"}},
    ]
    (root / "users.json").write_text(json.dumps(users))
    (root / "channels.json").write_text(json.dumps([
        {"id": "CGEN", "name": "general", "is_general": True, "topic": {"value": "everything"}},
        {"id": "CHELP", "name": "help", "topic": {"value": "ask here"}},
    ]))
    day1 = [
        {"type": "message", "user": "UADA", "text": "Good morning all", "ts": ts(0)},
        {"type": "message", "subtype": "channel_join", "user": "UNEW", "text": "<@UNEW> has joined the channel",
         "ts": ts(1)},
        {"type": "message", "user": "UBOB", "text": "<@UNEW> welcome!", "ts": ts(2),
         "reactions": [{"name": "wave", "users": ["UADA", "UCAT"], "count": 2}]},
        {"type": "message", "subtype": "channel_topic", "user": "UADA", "text": "set the topic", "ts": ts(3)},
        {"type": "message", "subtype": "bot_message", "bot_id": "B01", "username": "helper",
         "text": "Read the rules", "ts": ts(4)},
        {"type": "message", "user": "UADMIN", "text": "Meetup on Friday", "ts": ts(5)},
    ]
    help1 = [
        {"type": "message", "user": "UCAT", "text": "How do I install the plugin?", "ts": ts(10),
         "thread_ts": ts(10), "reply_count": 2},
        {"type": "message", "user": "UADA", "text": "Run the installer", "ts": ts(12), "thread_ts": ts(10),
         "parent_user_id": "UCAT", "edited": {"user": "UADA", "ts": ts(13)}},
        {"type": "message", "user": "UCAT", "text": "thanks, that worked", "ts": ts(14), "thread_ts": ts(10),
         "files": [{"id": "F1", "name": "log.txt"}]},
        {"type": "message", "user": "UBOT", "text": "Ticket opened", "ts": ts(15), "bot_id": "B02"},
    ]
    day2 = [
        {"type": "message", "user": "UNEW", "text": "hello everyone", "ts": ts(24 * 60 + 5)},
        {"type": "message", "subtype": "channel_leave", "user": "UBOB", "text": "<@UBOB> has left the channel",
         "ts": ts(24 * 60 + 6)},
    ]
    help2 = [{"type": "message", "user": "UBOB", "text": "is the site down?", "ts": ts(24 * 60 + 30)},
             {"type": "message", "user": "UADA", "subtype": "me_message", "text": "checks", "ts": ts(24 * 60 + 31)}]
    d1, d2 = T0.date().isoformat(), (T0 + timedelta(days=1)).date().isoformat()
    for folder, day, msgs in (("general", d1, day1), ("help", d1, help1), ("general", d2, day2),
                              ("help", d2, help2)):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"{day}.json").write_text(json.dumps(msgs, indent=1))
    counts = {"messages": 9, "bot_messages": 2, "joins": 1, "leaves": 1, "reactions": 2, "edits": 1}
    if truncated:
        text = (root / "help" / f"{d2}.json").read_text()
        (root / "help" / f"{d2}.json").write_text(text[: text.index('"me_message"')])
        counts["messages"] -= 1  # the cut-off message is lost; the one before it is kept
    return counts


def zip_export(folder: Path, dest: Path) -> Path:
    """The .zip as Slack hands it out: the export's files at the top level."""
    with zipfile.ZipFile(dest, "w") as z:
        for p in sorted(folder.rglob("*.json")):
            z.write(p, p.relative_to(folder).as_posix())
    return dest


def _author(uid: str, name: str, bot: bool = False) -> dict:
    return {"id": uid, "name": name, "discriminator": "0000", "nickname": name.title(), "color": None,
            "isBot": bot, "roles": [], "avatarUrl": ""}


def dce_time(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="milliseconds")


def _msg(mid: str, minutes: float, author: dict, content: str, *, mtype: str = "Default", **extra) -> dict:
    m = {"id": mid, "type": mtype, "timestamp": dce_time(minutes), "timestampEdited": None,
         "callEndedTimestamp": None, "isPinned": False, "content": content, "author": author,
         "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": []}
    m.update(extra)
    return m


def discord_export(root: Path, *, truncated: bool = False) -> dict:
    """Two channel files as DiscordChatExporter writes them. Returns hand counts."""
    root.mkdir(parents=True, exist_ok=True)
    guild = {"id": "800000000000000001", "name": "Open Garden", "iconUrl": ""}
    ada, bob = _author("300000000000000001", "ada"), _author("300000000000000002", "bob")
    new, bot = _author("300000000000000003", "newbie"), _author("300000000000000009", "mee6", bot=True)
    general = [
        _msg("900000000000000001", 0, ada, "morning"),
        _msg("900000000000000002", 1, new, "", mtype="GuildMemberJoin"),
        _msg("900000000000000003", 2, bob, "welcome <@300000000000000003>",
             mentions=[{"id": new["id"], "name": "newbie"}],
             reactions=[{"emoji": {"id": None, "name": "👋", "code": "wave", "isAnimated": False, "imageUrl": ""},
                         "count": 1, "users": [{"id": ada["id"], "name": "ada", "isBot": False}]}]),
        _msg("900000000000000004", 3, bot, "GG bob, you reached level 2"),
        _msg("900000000000000005", 4, ada, "pinned a message", mtype="ChannelPinnedMessage"),
    ]
    help_ = [
        _msg("910000000000000001", 10, new, "how do I reset my password?"),
        _msg("910000000000000002", 12, ada, "Settings, then Account", mtype="Reply",
             reference={"messageId": "910000000000000001", "channelId": "700000000000000002",
                        "guildId": guild["id"]}, timestampEdited=dce_time(13)),
        _msg("910000000000000003", 14, new, "thanks!", attachments=[{"id": "1", "fileName": "shot.png"}]),
    ]
    for name, cid, msgs in (("general", "700000000000000001", general), ("help", "700000000000000002", help_)):
        doc = {"guild": guild,
               "channel": {"id": cid, "type": "GuildTextChat", "categoryId": "1", "category": "Text",
                           "name": name, "topic": None},
               "dateRange": {"after": None, "before": None}, "exportedAt": dce_time(60),
               "messages": msgs, "messageCount": len(msgs)}
        text = json.dumps(doc, indent=2, ensure_ascii=False)
        if truncated and name == "help":
            text = text[: text.index('"thanks!"')]
        (root / f"Open Garden - Text - {name} [{cid}].json").write_text(text, encoding="utf-8")
    counts = {"messages": 5, "bot_messages": 1, "joins": 1, "reactions": 1, "edits": 1}
    if truncated:
        counts["messages"] -= 1
    return counts


def help_desk_export(root: Path, *, days: int = 21, seed: int = 3, pause_after: int | None = None) -> None:
    """Three weeks of a help desk: questions in #help (and a few in #general) answered in their thread
    at once, after the 30-minute nudge, after the 4-hour digest, or never; chatter, joins of members
    who then stay silent, and a #moderators channel for the digests. ``pause_after``: the days after
    that one come 60 days later (the community went silent for two months)."""
    import random

    rng = random.Random(seed)
    users = [{"id": f"U{i:03d}", "name": f"member{i}", "profile": {"display_name": f"Member {i}"}} for i in range(40)]
    (root).mkdir(parents=True, exist_ok=True)
    (root / "users.json").write_text(json.dumps(users))
    (root / "channels.json").write_text(json.dumps([
        {"id": "CGEN", "name": "general", "is_general": True}, {"id": "CHELP", "name": "help"},
        {"id": "CMODS", "name": "moderators"}]))
    regulars = [u["id"] for u in users[:25]]
    topics = ["the proxy", "the installer", "the kernel driver", "my screen", "the release notes", "the plugin"]
    for d in range(days):
        files: dict[str, list[dict]] = {"general": [], "help": []}
        base = (d + (60 if pause_after is not None and d > pause_after else 0)) * 24 * 60
        for j in (25 + d, 32 + d % 8):  # joins; members 25.. never post
            if j < len(users) and d < 8:
                files["general"].append({"type": "message", "subtype": "channel_join", "user": f"U{j:03d}",
                                         "text": f"<@U{j:03d}> has joined the channel", "ts": ts(base + 60 + j)})
        for k in range(30):
            files["general"].append({"type": "message", "user": rng.choice(regulars),
                                     "text": f"chatting about {rng.choice(topics)} {k}",
                                     "ts": ts(base + 8 * 60 + k * 17 + rng.random())})
        for k in range(7):
            asker = rng.choice(regulars)
            at = base + 7 * 60 + k * 95 + rng.randrange(30)
            ch = "general" if k == 6 else "help"
            q = {"type": "message", "user": asker, "text": f"how do I configure {rng.choice(topics)}?", "ts": ts(at)}
            files[ch].append(q)
            fate = rng.random()
            delay = 5 if fate < 0.4 else 50 if fate < 0.6 else 300 if fate < 0.8 else None
            if delay is not None:
                helper = rng.choice([u for u in regulars if u != asker])
                files[ch].append({"type": "message", "user": helper, "text": "try the settings page, that fixes it",
                                  "ts": ts(at + delay + rng.random()), "thread_ts": q["ts"]})
            if k % 3 == 0:  # edited a few minutes or a few hours later
                q["edited"] = {"user": asker, "ts": ts(at + (4 if k % 2 else 200))}
                q["text"] += " (edited)"
        day = (T0 + timedelta(minutes=base)).date().isoformat()
        for folder, msgs in files.items():
            msgs.sort(key=lambda m: float(m["ts"]))
            (root / folder).mkdir(exist_ok=True)
            (root / folder / f"{day}.json").write_text(json.dumps(msgs))
