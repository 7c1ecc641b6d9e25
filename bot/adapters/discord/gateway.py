"""Sending to Discord: the outbox's ``Gateway`` plus the moderation methods.

Exactly once: discord.py waits out a 429 itself (``retry_after``) and repeats the request with the
same body, and it already sends a random nonce with ``enforce_nonce`` so its own repeats cannot
post twice. Steward's nonce is derived from the outbox dedupe key instead, so the guarantee also
holds across the outbox's retries: when a connection drops after Discord made the message, the
next attempt gets the message that already exists rather than a second one. Discord honours a
nonce for a few minutes only, so a send whose outcome is unknown is also looked up in the channel
(``already_sent``) before it goes again. Waits longer than
``max_ratelimit_timeout`` come back as ``SendResult(retry_after=...)`` for the outbox to keep.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.adapters.discord.threads import find_thread, start_private_thread
from bot.adapters.discord.translate import emoji_char, nonce_for
from bot.adapters.discord.views import discord_parts
from bot.core.records import OutboundMessage, OutboxItem, SendResult

if TYPE_CHECKING:
    from bot.adapters.discord.runtime import DiscordAdapter

log = logging.getLogger("steward.discord")

MAX_TIMEOUT = timedelta(days=28)  # the longest timeout Discord allows
#: members whose DM channel ID is remembered (discord.py keeps only the last 128 DM channels)
DM_CHANNELS_KEPT = 100_000
#: the requests a send may make besides creating its message, as the pacer names them
OPEN_DM = "POST /users/@me/channels"
FETCH_CHANNEL = "GET /channels/{channel_id}"
CREATE_MESSAGE = "POST /channels/{channel_id}/messages"
START_THREAD = "POST /channels/{channel_id}/threads"
ADD_THREAD_MEMBER = "PUT /channels/{channel_id}/thread-members/{user_id}"
NO_GUILD = SendResult(ok=False, error="the bot is not in the configured guild yet", retry_after=30.0)


def _thread_name(message: OutboundMessage) -> str:
    """An introduction's thread is named after the message's title (``thread_id``)."""
    return (message.thread_id or "Introduction").strip()[:100] or "Introduction"


def allowed_mentions(mention_ids: tuple[str, ...]) -> discord.AllowedMentions:
    """Ping exactly the members the message means to address; never @everyone, @here or roles."""
    users = [discord.Object(int(i)) for i in mention_ids if str(i).isdigit()]
    return discord.AllowedMentions(everyone=False, roles=False, users=users, replied_user=False)


def error_result(e: BaseException) -> SendResult:
    """A Discord failure as the outbox understands it: permanent, or worth another try later."""
    if isinstance(e, discord.RateLimited):
        return SendResult(ok=False, error=f"rate limited for {e.retry_after:.1f}s", retry_after=e.retry_after)
    if isinstance(e, discord.HTTPException):
        text = f"{e.code} {e.text}".strip() if e.code else f"HTTP {e.status} {e.text}".strip()
        if e.status == 429:
            return SendResult(ok=False, error=text)
        if e.status >= 500:  # says nothing about whether Discord made the message
            return SendResult(ok=False, error=text, unsure=True)
        # 403 (50007 DMs closed, 50013 missing permissions), 404 (unknown channel/user), 400: no retry helps
        return SendResult(ok=False, error=text, permanent=True)
    if isinstance(e, aiohttp.ClientConnectorError):  # never connected: nothing was sent
        return SendResult(ok=False, error=f"{type(e).__name__}: {e}")
    if isinstance(e, (aiohttp.ClientError, OSError, asyncio.TimeoutError)):
        return SendResult(ok=False, error=f"{type(e).__name__}: {e}", unsure=True)
    raise e


class DiscordGateway:
    """Sends ``OutboundMessage``s through discord.py and performs moderators' decisions."""

    platform = "discord"

    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter
        #: member ID → their DM channel's ID: a member's DM channel is opened once
        self._dm_channels: OrderedDict[str, int] = OrderedDict()

    @property
    def bot(self) -> Any:
        return self.adapter.bot

    def _connected(self) -> bool:
        bot = self.bot
        return bot is not None and bot.http.token is not None and not bot.is_closed()

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one outbox message (DM, channel post, thread reply, reaction, digest)."""
        if not self._connected():
            return SendResult(ok=False, error="not connected to Discord", retry_after=30.0)
        try:
            if message.kind == "reaction":
                return await self._react(message)
            if message.kind == "group":
                return await self._group(message)
            return await self._post(message)
        except ValueError as e:  # a message that cannot be addressed on Discord: no retry helps
            return SendResult(ok=False, error=str(e), permanent=True)
        except Exception as e:  # mapped to permanent / transient; a programming error re-raises
            result = error_result(e)
            if result.permanent:
                log.info("discord: %s to %s failed: %s", message.kind,
                         message.member_id or message.channel_id, result.error)
            return result

    def extra_requests(self, message: OutboundMessage) -> list[str]:
        """The requests a send makes besides creating its (first) message, so that the outbox
        reserves a slot for each under Discord's global limit: opening the member's DM channel
        the first time, looking a thread up, the further parts of a long message."""
        out: list[str] = []
        if message.kind in ("dm", "ephemeral") and message.member_id and message.member_id not in self._dm_channels:
            out.append(OPEN_DM)
        bot = self.bot
        if message.kind == "thread" and message.thread_id and bot is not None \
                and bot.get_channel(int(message.thread_id)) is None:
            out.append(FETCH_CHANNEL)
        if message.kind == "group":  # the thread, and each member added to it
            out += [START_THREAD] + [ADD_THREAD_MEMBER] * len(message.mention_ids)
        if message.digest is None and message.text:
            out += [CREATE_MESSAGE] * (len(discord_parts(message.text)) - 1)
        return out

    async def dm_channel(self, member_id: str) -> Any:
        """The DM channel with a member: opened once, then remembered by its ID."""
        bot = self.bot
        cid = self._dm_channels.get(member_id)
        if cid is not None:
            self._dm_channels.move_to_end(member_id)
            return bot.get_partial_messageable(cid, type=discord.ChannelType.private)
        channel = await bot.create_dm(discord.Object(int(member_id)))
        self._dm_channels[member_id] = channel.id
        if len(self._dm_channels) > DM_CHANNELS_KEPT:
            self._dm_channels.popitem(last=False)
        return channel

    async def _target(self, message: OutboundMessage) -> tuple[Any, discord.MessageReference | None]:
        bot = self.bot
        if message.kind in ("dm", "ephemeral"):
            # Discord has no ephemeral message outside an interaction: the nearest private place is a DM
            if not message.member_id:
                raise ValueError(f"{message.kind} message without member_id")
            return await self.dm_channel(message.member_id), None
        if not message.channel_id:
            raise ValueError(f"{message.kind} message without channel_id")
        if message.kind == "thread" and message.thread_id:
            thread = await self._thread(message.thread_id)
            if thread is not None:
                return thread, None
            # no thread on that message (yet): answer it with a reply, Discord's own way
            where = self.adapter.channel_of(message.thread_id, message.channel_id)
            ref = discord.MessageReference(message_id=int(message.thread_id), channel_id=int(where),
                                           fail_if_not_exists=False)
            return bot.get_partial_messageable(int(where)), ref
        return bot.get_channel(int(message.channel_id)) or bot.get_partial_messageable(int(message.channel_id)), None

    async def _thread(self, thread_id: str) -> discord.Thread | None:
        ch = self.bot.get_channel(int(thread_id))
        if isinstance(ch, discord.Thread):
            return ch
        if ch is not None:
            return None
        try:
            fetched = await self.bot.fetch_channel(int(thread_id))
        except discord.NotFound:
            return None
        return fetched if isinstance(fetched, discord.Thread) else None

    async def _post(self, message: OutboundMessage) -> SendResult:
        target, ref = await self._target(message)
        parts = discord_parts(message.text, message.digest, message.buttons)
        if not parts:
            return SendResult(ok=False, error="empty message", permanent=True)
        mentions = allowed_mentions(message.mention_ids)
        first = None
        for i, part in enumerate(parts):
            kwargs = {k: v for k, v in part.items() if v is not None}
            sent = await target.send(**kwargs, allowed_mentions=mentions,
                                     nonce=nonce_for(message.dedupe_key, i),
                                     reference=ref if i == 0 and ref is not None else None)
            first = first or sent
        assert first is not None
        return SendResult(ok=True, native_id=str(first.id), channel_id=str(first.channel.id))

    async def already_sent(self, item: OutboxItem) -> SendResult | None:
        """Whether a message whose answer was lost exists after all. A resend inside Discord's
        nonce window would get it back anyway; past the window (a long outage, a restart) it would
        make a second one, so the bot's messages in the target channel since the row was written
        are read: the first part's content (or its first embed's title) identifies it."""
        msg = item.message
        if msg.kind == "reaction":
            return None
        if not self._connected():
            raise ConnectionError("not connected to Discord")
        if msg.kind == "group":
            return await self._group_found(item)
        target, _ = await self._target(msg)
        parts = discord_parts(msg.text, msg.digest)
        content = parts[0].get("content") if parts else None
        embed = parts[0].get("embed") if parts else None
        title = embed.title if embed is not None and not content else None
        if content is None and title is None:
            return None
        nonce = nonce_for(msg.dedupe_key, 0)
        me = self.bot.user.id if self.bot.user is not None else None
        since = discord.Object(discord.utils.time_snowflake(item.created_at - timedelta(minutes=1)))
        async for m in target.history(after=since, limit=200, oldest_first=True):
            if m.author.id != me:
                continue
            if (nonce and str(m.nonce or "") == nonce) or (content is not None and m.content == content) or \
                    (title is not None and m.embeds and m.embeds[0].title == title):
                return SendResult(ok=True, native_id=str(m.id), channel_id=str(m.channel.id))
        return None

    async def _group(self, message: OutboundMessage) -> SendResult:
        """Bots cannot open group DMs on Discord: a private thread in ``channel_id`` (the intros
        channel), named after the message's first line, with the members it names added."""
        if not message.channel_id or len(message.mention_ids) < 2:
            raise ValueError("group message needs a channel and two members")
        thread = await start_private_thread(self.bot, message.channel_id, _thread_name(message))
        return await self._fill(message, str(thread["id"]))

    async def _fill(self, message: OutboundMessage, thread_id: str) -> SendResult:
        """Add the members to the thread (adding twice is harmless) and post the introduction."""
        for mid in message.mention_ids:
            await self.bot.http.add_user_to_thread(int(thread_id), int(mid))
        return await self._post(replace(message, kind="channel", channel_id=thread_id))

    async def _group_found(self, item: OutboxItem) -> SendResult | None:
        """The thread a lost attempt made, finished: its members added and the
        introduction posted unless the bot already posted in it (bot/adapters/discord/threads.py). None:
        no such thread: the retry makes it."""
        msg = item.message
        if not msg.channel_id:
            return None
        thread = await find_thread(self.bot, msg.channel_id, _thread_name(msg), item.created_at - timedelta(minutes=1))
        if thread is None:
            return None
        tid = str(thread["id"])
        me = self.bot.user.id if self.bot.user is not None else None
        async for m in self.bot.get_partial_messageable(int(tid)).history(limit=20, oldest_first=True):
            if m.author.id == me:
                for mid in msg.mention_ids:
                    await self.bot.http.add_user_to_thread(int(tid), int(mid))
                return SendResult(ok=True, native_id=str(m.id), channel_id=tid)
        return await self._fill(msg, tid)

    async def _react(self, message: OutboundMessage) -> SendResult:
        if not (message.channel_id and message.thread_id and message.emoji):
            return SendResult(ok=False, error="reaction needs channel, message and emoji", permanent=True)
        where = self.adapter.channel_of(message.thread_id, message.channel_id)
        msg = self.bot.get_partial_messageable(int(where)).get_partial_message(int(message.thread_id))
        await msg.add_reaction(emoji_char(message.emoji))
        return SendResult(ok=True, native_id=message.thread_id, channel_id=where)

    # ------------------------------------------------------------------ moderation (ModerationGateway)
    async def delete_message(self, channel_id: str, message_id: str) -> SendResult:
        """Delete a member's message (a moderator's decision). Already gone counts as done."""
        if not self._connected():
            return SendResult(ok=False, error="not connected to Discord", retry_after=30.0)
        where = self.adapter.channel_of(message_id, channel_id)
        try:
            await self.bot.get_partial_messageable(int(where)).get_partial_message(int(message_id)).delete()
        except discord.NotFound:
            return SendResult(ok=True, native_id=message_id, channel_id=where, error="already deleted")
        except Exception as e:
            return error_result(e)
        return SendResult(ok=True, native_id=message_id, channel_id=where)

    async def _member(self, member_id: str) -> discord.Member | None:
        guild = self.adapter.guild()
        if guild is None:
            return None
        return guild.get_member(int(member_id)) or await guild.fetch_member(int(member_id))

    async def timeout_member(self, member_id: str, seconds: int, reason: str = "") -> SendResult:
        """Time a member out (``communication_disabled_until``), at most Discord's 28 days."""
        if not self._connected():
            return SendResult(ok=False, error="not connected to Discord", retry_after=30.0)
        try:
            member = await self._member(member_id)
            if member is None:
                return NO_GUILD
            await member.timeout(min(timedelta(seconds=max(1, seconds)), MAX_TIMEOUT), reason=reason or None)
        except Exception as e:
            return error_result(e)
        return SendResult(ok=True, native_id=member_id)

    async def remove_from_channel(self, channel_id: str, member_id: str) -> SendResult:
        """Remove a member from a thread; Discord channels have no membership to remove from."""
        if not self._connected():
            return SendResult(ok=False, error="not connected to Discord", retry_after=30.0)
        thread = await self._thread(channel_id)
        if thread is None:
            return SendResult(ok=False, error="unsupported: Discord channels have no members to remove",
                              permanent=True)
        try:
            await thread.remove_user(discord.Object(int(member_id)))
        except Exception as e:
            return error_result(e)
        return SendResult(ok=True, native_id=member_id, channel_id=channel_id)

    async def grant_role(self, member_id: str, role: str) -> SendResult:
        """Give a member a role: a role ID, or ``ambassador`` for ``[discord] ambassador_role_id``."""
        if not self._connected():
            return SendResult(ok=False, error="not connected to Discord", retry_after=30.0)
        role_id = role if str(role).isdigit() else None
        if role_id is None and role in ("ambassador", "ambassadors", ""):
            role_id = self.adapter.settings.ambassador_role_id
        if not role_id:
            return SendResult(ok=False, permanent=True,
                              error="no Discord role to grant: set [discord] ambassador_role_id in the config")
        try:
            member = await self._member(member_id)
            if member is None:
                return NO_GUILD
            await member.add_roles(discord.Object(int(role_id)), reason="Steward: approved by a community manager")
        except Exception as e:
            return error_result(e)
        return SendResult(ok=True, native_id=member_id)

