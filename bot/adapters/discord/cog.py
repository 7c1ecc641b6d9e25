"""Gateway listeners: each one translates (``translate.py``) and hands the core event to the engine."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.adapters.discord import translate as tr
from bot.core.events import Event

if TYPE_CHECKING:
    from bot.adapters.discord.runtime import DiscordAdapter

log = logging.getLogger("steward.discord")


class StewardCog(commands.Cog, name="Steward"):
    """Listens to the gateway for the community's events."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter

    @property
    def _bot_id(self) -> int | None:
        bot = self.adapter.bot
        return bot.user.id if bot is not None and bot.user is not None else None

    def _now(self):
        return self.adapter.app.clock.now()

    async def _dispatch(self, ev: Event | None) -> None:
        try:
            await self.adapter.handle(ev)
        except Exception:
            pass  # logged by handle(); a listener must not take the connection down

    # ------------------------------------------------------------------ members
    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        if self.adapter.wants_guild(member.guild.id, "join"):
            await self._dispatch(tr.member_joined(member, now=self._now(), bot_id=self._bot_id))

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        if self.adapter.wants_guild(payload.guild_id, "leave") and payload.user.id != self._bot_id:
            await self._dispatch(tr.member_left(payload.user, now=self._now()))

    # ------------------------------------------------------------------ messages
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None:
            # a member writing to Steward in a DM: replies such as "stop" (bot/outreach/consent.py)
            await self._dispatch(tr.direct_message(message, bot_id=self._bot_id))
            return
        if not self.adapter.wants_guild(message.guild.id, "message"):
            return
        ev = tr.message_posted(message, bot_id=self._bot_id)
        if ev is not None and ev.thread_id is not None:
            self.adapter.remember(ev.message_id, str(message.channel.id))
        await self._dispatch(ev)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if not self.adapter.wants_guild(payload.guild_id, "edit"):
            return
        author = payload.data.get("author") or {}
        if author.get("bot") or author.get("id") == str(self._bot_id):
            return
        await self._dispatch(tr.message_edited(payload.data, self.adapter.place(payload.channel_id), now=self._now()))

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if self.adapter.wants_guild(payload.guild_id, "delete"):
            await self._dispatch(tr.message_deleted(payload.message_id, self.adapter.place(payload.channel_id),
                                                    now=self._now()))

    # ------------------------------------------------------------------ reactions
    async def _reaction(self, payload: discord.RawReactionActionEvent) -> None:
        if not self.adapter.wants_guild(payload.guild_id, "reaction") or payload.user_id == self._bot_id:
            return
        member: Any = payload.member or (self.adapter.bot.get_user(payload.user_id) if self.adapter.bot else None)
        if getattr(member, "bot", False):
            return
        await self._dispatch(tr.reaction(payload, self.adapter.place(payload.channel_id), now=self._now()))

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload)

    # ------------------------------------------------------------------ connection
    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self.adapter.on_ready()

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Keep channel names in the store (so digests and reports can say ``#help``), and load the
        members who were already here (known, not welcomed; ``members.py``) in the background."""
        if not self.adapter.wants_guild(guild.id, "server snapshot"):
            return
        self.adapter.member_lists.start(guild.id)
        channels = [tr.channel_record(ch) for ch in guild.channels]
        try:
            for ch in channels:
                if ch is not None:
                    await self.adapter.app.store.upsert_channel(ch)
        except Exception:
            log.exception("discord: storing the channels of %s failed", guild.id)
