"""Discord → core events: pure functions over discord.py models and raw event payloads.

Nothing here calls the API or reads a cache; whatever a translation needs beyond the payload
(the current time, the parent of a thread) is passed in. Conventions, so the rest of Steward sees
Discord the way it sees Slack:

- a message in a thread (or a forum post) has ``channel_id`` = the parent channel and
  ``thread_id`` = the thread. A thread started from a message has that message's ID, so replies
  point at their root exactly as Slack's ``thread_ts`` does; a forum post's opening message has
  ``message_id == thread_id`` and ``kind = "forum"``.
- reactions carry the emoji's short name (``white_check_mark``, ``eyes``), the name Slack uses.
- bots, webhooks, system users and the bot itself are marked ``is_bot``: stored, never counted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import emoji as emoji_lib
from discord import ChannelType, MessageType

from bot.core.events import (
    ButtonClicked,
    CommandInvoked,
    DirectMessageReceived,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageReported,
    ReactionAdded,
    ReactionRemoved,
)
from bot.core.records import Channel, Member

PLATFORM = "discord"
CUSTOM_ID_PREFIX = "steward"
#: message types that are people talking; joins, pins, boosts and command echoes are not
_CONVERSATION = {MessageType.default, MessageType.reply}
_THREADS = {ChannelType.public_thread, ChannelType.private_thread, ChannelType.news_thread}
_FORUMS = {ChannelType.forum, getattr(ChannelType, "media", ChannelType.forum)}


@dataclass(frozen=True, slots=True)
class Place:
    """Where a message lives, in Steward's terms: the channel, and the thread inside it if any."""

    channel_id: str
    thread_id: str | None = None
    in_forum: bool = False
    channel_name: str | None = None


def place_of(channel: Any) -> Place:
    """The place of a discord.py channel object (a Thread maps to its parent plus itself)."""
    ctype = getattr(channel, "type", None)
    if ctype in _THREADS and getattr(channel, "parent_id", None):
        parent = getattr(channel, "parent", None)
        return Place(str(channel.parent_id), str(channel.id),
                     in_forum=getattr(parent, "type", None) in _FORUMS,
                     channel_name=getattr(parent, "name", None))
    return Place(str(channel.id), None, channel_name=getattr(channel, "name", None))


def _is_bot(user: Any, bot_id: int | None) -> bool:
    return bool(getattr(user, "bot", False) or getattr(user, "system", False)
                or (bot_id is not None and getattr(user, "id", None) == bot_id))


def member_joined(member: Any, *, now: datetime, bot_id: int | None = None) -> MemberJoined:
    """A guild member joined (``on_member_join``)."""
    return MemberJoined(PLATFORM, getattr(member, "joined_at", None) or now, member_id=str(member.id),
                        display_name=getattr(member, "display_name", "") or str(member.name),
                        is_bot=_is_bot(member, bot_id))


def member_record(member: Any, *, bot_id: int | None = None) -> Member:
    """A guild member as a stored record (role IDs without @everyone)."""
    roles = tuple(str(r.id) for r in getattr(member, "roles", ()) if not r.is_default())
    return Member(PLATFORM, str(member.id), getattr(member, "display_name", "") or str(member.name),
                  joined_at=getattr(member, "joined_at", None), is_bot=_is_bot(member, bot_id), roles=roles)


def member_from_payload(data: dict[str, Any], *, bot_id: int | None = None) -> Member | None:
    """A guild member object as the REST API lists it (``GET /guilds/{id}/members``) as a stored
    record; None without a user ID. The name is the one members see: nickname, display name, username."""
    user = data.get("user") or {}
    uid = user.get("id")
    if not uid:
        return None
    name = data.get("nick") or user.get("global_name") or user.get("username") or ""
    is_bot = bool(user.get("bot") or user.get("system")) or (bot_id is not None and str(uid) == str(bot_id))
    return Member(PLATFORM, str(uid), name, joined_at=_parse_time(data.get("joined_at")), is_bot=is_bot,
                  roles=tuple(str(r) for r in data.get("roles") or ()))


def channel_record(channel: Any) -> Channel | None:
    """A text, forum or voice channel as a stored record (threads and categories are not kept)."""
    kinds = {ChannelType.text: "text", ChannelType.news: "text", ChannelType.forum: "forum",
             ChannelType.voice: "voice", ChannelType.stage_voice: "voice"}
    kind = kinds.get(getattr(channel, "type", None))
    if kind is None:
        return None
    return Channel(PLATFORM, str(channel.id), channel.name, kind, getattr(channel, "topic", None) or "")


def member_left(user: Any, *, now: datetime) -> MemberLeft:
    """A member left or was removed (``on_raw_member_remove``: works without the member cache)."""
    return MemberLeft(PLATFORM, now, member_id=str(user.id))


def message_posted(message: Any, *, bot_id: int | None = None) -> MessagePosted | None:
    """A message in a guild channel, thread or forum post. None for DMs and system messages."""
    if getattr(message, "guild", None) is None or message.type not in _CONVERSATION:
        return None
    place = place_of(message.channel)
    mid = str(message.id)
    ref = getattr(message, "reference", None)
    reply_to = str(ref.message_id) if ref is not None and ref.message_id and message.type == MessageType.reply \
        else None
    kind = "forum" if place.in_forum and mid == place.thread_id else None
    author = message.author
    return MessagePosted(
        PLATFORM, message.created_at, channel_id=place.channel_id, message_id=mid, author_id=str(author.id),
        text=message.content or "", thread_id=place.thread_id, reply_to=reply_to,
        mentions=tuple(str(u.id) for u in getattr(message, "mentions", ()) or ()),
        is_bot=_is_bot(author, bot_id) or getattr(message, "webhook_id", None) is not None,
        author_name=getattr(author, "display_name", None), channel_name=place.channel_name, kind=kind,
    )


def direct_message(message: Any, *, bot_id: int | None = None) -> DirectMessageReceived | None:
    """A member's message in their DM with Steward (a reply such as "stop"). None for anything in a
    server, from a bot, or not typed by a person."""
    if getattr(message, "guild", None) is not None or message.type not in _CONVERSATION:
        return None
    if _is_bot(message.author, bot_id):
        return None
    return DirectMessageReceived(PLATFORM, message.created_at, member_id=str(message.author.id),
                                 channel_id=str(message.channel.id), message_id=str(message.id),
                                 text=message.content or "")


def message_edited(data: dict[str, Any], place: Place, *, now: datetime) -> MessageEdited | None:
    """A raw MESSAGE_UPDATE. None when the text did not change (embeds unfurling, pins)."""
    if "content" not in data or "author" not in data:
        return None
    at = _parse_time(data.get("edited_timestamp")) or now
    return MessageEdited(PLATFORM, at, channel_id=place.channel_id, message_id=str(data["id"]),
                         author_id=str(data["author"]["id"]), text=data.get("content") or "")


def message_deleted(message_id: int | str, place: Place, *, now: datetime) -> MessageDeleted:
    return MessageDeleted(PLATFORM, now, channel_id=place.channel_id, message_id=str(message_id))


def emoji_name(e: Any) -> str:
    """``✅`` → ``white_check_mark``; a custom emoji keeps its own name."""
    if getattr(e, "id", None):
        return str(e.name)
    name = str(getattr(e, "name", e) or "")
    short = emoji_lib.demojize(name, language="alias")
    if short.startswith(":") and short.endswith(":") and short.count(":") == 2:
        return short.strip(":")
    return name


def emoji_char(name: str) -> str:
    """The other way, for sending: ``white_check_mark`` → ``✅``; ``name:id`` and unicode pass through."""
    name = name.strip()
    if not name or not name.isascii() or ":" in name.strip(":"):
        return name
    out = emoji_lib.emojize(f":{name.strip(':')}:", language="alias")
    return out if not out.startswith(":") else name


def reaction(payload: Any, place: Place, *, now: datetime) -> ReactionAdded | ReactionRemoved:
    """A raw reaction add/remove (``RawReactionActionEvent``)."""
    common = dict(channel_id=place.channel_id, message_id=str(payload.message_id),
                  member_id=str(payload.user_id), emoji=emoji_name(payload.emoji))
    if getattr(payload, "event_type", "REACTION_ADD") == "REACTION_REMOVE":
        return ReactionRemoved(PLATFORM, now, **common)
    author = getattr(payload, "message_author_id", None)
    return ReactionAdded(PLATFORM, now, message_author_id=str(author) if author else None, **common)


# ------------------------------------------------------------------------------ interactions
def command_invoked(*, member_id: int | str, channel_id: int | str | None, command: str,
                    args: tuple[str, ...], role_ids: list[int] | tuple[int, ...], manage_guild: bool,
                    now: datetime) -> CommandInvoked:
    """``/steward <command> ...``: roles are the member's role IDs; Manage Server makes a platform admin."""
    return CommandInvoked(PLATFORM, now, member_id=str(member_id),
                          channel_id=str(channel_id) if channel_id is not None else None, command=command,
                          args=tuple(a for a in args if a), roles=tuple(str(r) for r in role_ids),
                          platform_admin=manage_guild)


def custom_id(action: str, value: str) -> str:
    """A button's persistent ID: ``steward:<action>:<value>`` (at most 100 characters)."""
    cid = f"{CUSTOM_ID_PREFIX}:{action}:{value}"
    if len(cid) > 100:
        raise ValueError(f"button value too long for a Discord custom_id: {cid[:40]}...")
    return cid


def parse_custom_id(cid: str) -> tuple[str, str] | None:
    parts = cid.split(":", 2)
    if len(parts) != 3 or parts[0] != CUSTOM_ID_PREFIX or not parts[1]:
        return None
    return parts[1], parts[2]


def button_clicked(cid: str, *, member_id: int | str, place: Place | None, message_id: int | str | None,
                   now: datetime, role_ids: list[int] | tuple[int, ...] = (),
                   manage_guild: bool = False, click_id: int | str = "") -> ButtonClicked | None:
    """A digest button click; the clicker's role IDs and Manage Server come with it (for role checks)."""
    parsed = parse_custom_id(cid)
    if parsed is None:
        return None
    action, value = parsed
    return ButtonClicked(PLATFORM, now, member_id=str(member_id), action=action, value=value,
                         channel_id=place.channel_id if place else None,
                         message_id=str(message_id) if message_id is not None else None,
                         roles=tuple(str(r) for r in role_ids), platform_admin=manage_guild,
                         click_id=str(click_id or ""))


def message_reported(message: Any, *, reporter_id: int | str, place: Place, now: datetime,
                     reason: str = "") -> MessageReported:
    """The "Report to moderators" message menu."""
    return MessageReported(PLATFORM, now, reporter_id=str(reporter_id), channel_id=place.channel_id,
                           message_id=str(message.id), author_id=str(message.author.id),
                           text=message.content or "", reason=reason)


def nonce_for(dedupe_key: str, part: int = 0) -> str | None:
    """Discord's message nonce (at most 25 characters) for an outbox row: with ``enforce_nonce`` the
    API returns the earlier message for a repeated nonce, so a retried send never posts twice."""
    if not dedupe_key:
        return None
    return hashlib.sha256(f"{dedupe_key}#{part}".encode()).hexdigest()[:25]


def _parse_time(s: str | None) -> datetime | None:
    if not s:
        return None
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        return None


# ---------------------------------------------------------------------- quoting a member's text
#: Discord's markup in message content: <@id> <@!id> (members), <@&id> (roles), <#id> (channels),
#: <:name:id> <a:name:id> (custom emoji), </name:id> (commands)
_MARKUP = re.compile(r"<(@!?|@&|#)(\d{1,25})>|<a?(:\w{1,32}:)\d{1,25}>|</([\w -]{1,100}):\d{1,25}>")


def referenced(text: str) -> tuple[list[str], list[str], list[str]]:
    """The member, channel and role IDs a message's content refers to (each once, in order)."""
    members: dict[str, None] = {}
    channels: dict[str, None] = {}
    roles: dict[str, None] = {}
    for m in _MARKUP.finditer(text or ""):
        kind = m.group(1)
        if kind:
            (channels if kind == "#" else roles if kind == "@&" else members)[m.group(2)] = None
    return list(members), list(channels), list(roles)


def readable(text: str, members: dict[str, str], channels: dict[str, str], roles: dict[str, str]) -> str:
    """Content as the Discord client shows it: ``<@id>`` as @name, ``<#id>`` as #name, ``<@&id>`` as
    @role, custom emoji as :name:. Plain text, for quoting; whoever sends it escapes it again."""

    def one(m: re.Match[str]) -> str:
        kind, i = m.group(1), m.group(2)
        if kind == "#":
            return "#" + channels.get(i, i)
        if kind == "@&":
            return "@" + roles.get(i, "role")
        if kind:
            return "@" + members.get(i, i)
        return m.group(3) or "/" + m.group(4)

    return _MARKUP.sub(one, text or "") if "<" in (text or "") else (text or "")
