"""The Discord adapter: ``create(app)`` gives an object with ``platform``, ``gateway``, ``start()``
and ``stop()`` that ``bot.app.run`` drives.

Start-up: log in (which reads the application's flags), decide which privileged intents the
developer portal allows, say plainly which are missing and which features are then off, sync
``/steward`` to the configured guilds, connect, and return once the gateway is READY. If Discord
still closes the gateway with 4014 (disallowed intents), the bot reconnects without the privileged
intents and says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.boundary import Boundary
from bot.adapters.discord import translate as tr
from bot.adapters.discord.appcommands import NOT_HERE, build_commands
from bot.adapters.discord.client import (
    PRIVILEGED,
    allowed_by_portal,
    invite_url,
    make_bot,
    missing_intents_message,
    point_at,
)
from bot.adapters.discord.cog import StewardCog
from bot.adapters.discord.format import to_discord
from bot.adapters.discord.gateway import DiscordGateway
from bot.adapters.discord.members import MemberLists
from bot.adapters.discord.views import DigestButton
from bot.core.errors import ConfigError
from bot.core.records import MEMBER_BUTTONS
from bot.core.roles import CLICK_ANSWER
from bot.messaging.markdown import escape

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("steward.discord")

_REMEMBER = 50_000  # message → real channel entries kept for messages inside threads
#: at most this many names are looked up for one quote (a quote is a few hundred characters)
QUOTE_LOOKUPS = 50


class DiscordAdapter:
    """One Discord connection (possibly several shards) for one Steward app."""

    platform = "discord"

    def __init__(self, app: App, *, ready_timeout: float = 60.0, **bot_options: Any) -> None:
        self.app = app
        self.settings = app.settings.discord
        self.gateway = DiscordGateway(self)
        self.bot: Any = None
        self.ready_timeout = ready_timeout
        self.bot_options = bot_options
        self.guild_ids = {int(g) for g in self.settings.guild_ids}
        #: the servers served: [discord] guild_ids, else the one server the bot is in when it connects
        self.boundary = Boundary("discord", "server", self.settings.guild_ids)
        self._learned = bool(self.guild_ids)
        #: privileged intents in use, and those that are off (with the reason told at start-up)
        self.intents: set[str] = set(PRIVILEGED)
        self.missing_intents: set[str] = set()
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._token: str | None = None
        self._where: OrderedDict[str, str] = OrderedDict()
        #: when the current connection was first made (members who joined before it are bulk-stored)
        self.connected_at: datetime | None = None
        #: the member lists of the configured servers, loaded after connecting
        self.member_lists = MemberLists(self)
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # discord.py runs every listener as its own task; the engine gets the events one at a time,
        # in gateway order (listeners reach this FIFO lock without awaiting anything first), so a
        # flood rule sees the third message as the third, and an edit never overtakes its message
        self._in_order = asyncio.Lock()
        app.engine.readers["discord"] = self.readable

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Log in, settle the intents, sync commands, connect; returns when the gateway is READY."""
        token = self.app.settings.secret(self.settings.token_env)
        if not token:
            raise ConfigError(f"Discord: no bot token. Set the environment variable {self.settings.token_env} "
                              "(named by [discord] token_env) to the token from the developer portal → Bot.")
        self._token = token
        point_at(self.settings.api_base_url, self.settings.gateway_url)
        bot = await self._login(set(PRIVILEGED))
        allowed = allowed_by_portal(bot.application.flags) if bot.application else set(PRIVILEGED)
        missing = set(PRIVILEGED) - allowed
        if missing:
            log.warning(missing_intents_message(missing, "the application's settings say so"))
            await bot.close()
            bot = await self._login(set(PRIVILEGED) - missing)
        self.intents = set(PRIVILEGED) - missing
        self.missing_intents = missing
        log.info("Discord: to add the bot to a server, open %s", invite_url(bot.application_id))
        await self._sync_commands(bot)
        self.connected_at = datetime.now(UTC)
        self._task = asyncio.create_task(self._run(), name="discord-gateway")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, timeout=self.ready_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._task in done:
                self._task.result()  # raises the reason the connection ended
            log.warning("Discord: not READY after %.0fs; still trying in the background", self.ready_timeout)
            return
        log.info("Discord: connected as %s to %d server(s); privileged intents on: %s", self.bot.user,
                 len(self.bot.guilds), ", ".join(sorted(self.intents)) or "none")

    async def _login(self, intents: set[str]) -> Any:
        bot = make_bot(self, self.settings, intents, **self.bot_options)
        self.bot = bot
        try:
            await bot.login(self._token or "")
        except discord.LoginFailure as e:
            await bot.close()
            raise ConfigError(f"Discord refused the token in {self.settings.token_env}: {e}. Copy a fresh "
                              "token from the developer portal → Bot → Reset Token.") from e
        except BaseException:
            await bot.close()
            raise
        return bot

    async def _run(self) -> None:
        while True:
            bot = self.bot
            try:
                await bot.connect(reconnect=True)
                return
            except discord.PrivilegedIntentsRequired:
                if not self.intents:
                    raise
                # the portal settings looked fine but the gateway disagrees (e.g. a large bot that is
                # not yet approved): carry on without the privileged intents rather than not at all
                log.warning(missing_intents_message(set(self.intents), "the gateway closed with 4014"))
                self.missing_intents |= self.intents
                self.intents = set()
                await bot.close()
                await self._login(set())

    async def _sync_commands(self, bot: Any) -> None:
        try:
            if self.guild_ids:
                for gid in sorted(self.guild_ids):
                    await bot.tree.sync(guild=discord.Object(gid))
            else:
                await bot.tree.sync()
        except discord.HTTPException as e:
            # without the applications.commands scope the bot still runs; /steward just isn't there
            log.error("Discord: could not register /steward (%s). Was the bot invited with the "
                      "applications.commands scope? See README → Connect to Discord.", e)

    async def stop(self) -> None:
        """Close the connection; the outbox has already finished its in-flight sends."""
        await self.member_lists.stop()
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    # ------------------------------------------------------------------ called by the bot
    async def setup(self, bot: Any) -> None:
        """``setup_hook``: listeners, the persistent button pattern and the application commands."""
        await bot.add_cog(StewardCog(self))
        bot.add_dynamic_items(DigestButton)
        group, menu = build_commands(self)
        guilds = [discord.Object(g) for g in sorted(self.guild_ids)]
        if guilds:
            bot.tree.add_command(group, guilds=guilds)
            bot.tree.add_command(menu, guilds=guilds)
        else:
            bot.tree.add_command(group)
            bot.tree.add_command(menu)

    async def on_ready(self) -> None:
        self._ready.set()
        if not self._learned:
            self._learn_guild()

    async def on_click(self, interaction: discord.Interaction, action: str, value: str, label: str) -> None:
        """A digest button: acknowledge at once, hand ``ButtonClicked`` to the engine, confirm privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        msg = interaction.message
        place = self.place(interaction.channel_id) if interaction.channel_id else None
        ev = tr.button_clicked(tr.custom_id(action, value), member_id=interaction.user.id, place=place,
                               message_id=msg.id if msg is not None else None, now=self.app.clock.now(),
                               role_ids=[r.id for r in getattr(interaction.user, "roles", ()) if not r.is_default()],
                               manage_guild=bool(interaction.permissions.manage_guild), click_id=interaction.id)
        if ev is None:
            return
        # a member's own button in their DM (no server) acts on the clicker alone (MEMBER_BUTTONS)
        in_dm = interaction.guild_id is None and ev.action in MEMBER_BUTTONS
        if not in_dm and not self.wants_guild(interaction.guild_id, "click"):
            await interaction.edit_original_response(content=NOT_HERE)
            return
        try:
            facts = await self.handle(ev)
        except Exception:
            await interaction.edit_original_response(content="Sorry, that did not work; it has been logged.")
            return
        answer = (facts or {}).get(CLICK_ANSWER)
        if answer:  # turned down by the core (not a manager, about oneself): say why, privately
            await interaction.edit_original_response(content=to_discord(answer))
            return
        shown = label.split(" · ", 1)[-1] if label else action
        await interaction.edit_original_response(content=to_discord(f"Done: {escape(shown)}."))

    # ------------------------------------------------------------------ helpers for cog and gateway
    async def handle(self, ev: Any) -> dict[str, Any] | None:
        """Hand a core event to the engine (its facts come back); failures are logged, then raised."""
        if ev is None:
            return None
        self._inflight += 1
        self._idle.clear()
        try:
            async with self._in_order:
                return await self.app.engine.dispatch(ev)
        except Exception:
            log.exception("discord: handling %s failed", ev.name)
            raise
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no event is being handled (tests, and a clean shutdown)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    def wants_guild(self, guild_id: int | None, kind: str = "event") -> bool:
        """Whether something from ``guild_id`` is this community's: from a server other than the one(s)
        served it is refused (one log line); DMs carry no server and are not community events."""
        if guild_id is None:
            return False
        if not self._learned:
            self._learn_guild()
        return self.boundary.allows(guild_id, kind)

    def _learn_guild(self) -> None:
        """No ``guild_ids``: serve the one server the bot is in once connected; in several, serve none
        (one store and one list of managers cannot serve two communities) and say so."""
        # READY lists every server of the connection before any of them arrives, so the count is known
        guilds = list(self.bot.guilds) if self.bot is not None else []
        if not guilds:
            return
        self._learned = True
        if len(guilds) == 1:
            self.boundary.set([str(guilds[0].id)])
            log.info("Discord: serving %s (%s), the one server the bot is in; set [discord] guild_ids to "
                     "choose", guilds[0].name, guilds[0].id)
        else:
            log.error("Discord: the bot is in %d servers and [discord] guild_ids is empty; Steward serves "
                      "none of them until guild_ids names the one this community is (%s)", len(guilds),
                      ", ".join(str(g.id) for g in guilds[:10]))

    def guild(self) -> discord.Guild | None:
        if self.bot is None:
            return None
        if not self._learned:
            self._learn_guild()
        served = sorted(int(g) for g in self.boundary.allowed)
        return self.bot.get_guild(served[0]) if served else None

    async def readable(self, text: str) -> str:
        """Quoted content with the names Discord shows for its mentions (the member, channel and role
        caches of the connection, then the store)."""
        users, chans, role_ids = tr.referenced(text)
        guild = self.guild()
        members: dict[str, str] = {}
        for uid in users[:QUOTE_LOOKUPS]:
            m = guild.get_member(int(uid)) if guild is not None else None
            name = m.display_name if m is not None else None
            if not name:
                known = await self.app.store.get_member("discord", uid)
                name = known.display_name if known is not None else None
            if name:
                members[uid] = name
        channels: dict[str, str] = {}
        for cid in chans[:QUOTE_LOOKUPS]:
            ch = self.bot.get_channel(int(cid)) if self.bot is not None else None
            if ch is not None and getattr(ch, "name", None):
                channels[cid] = ch.name
        roles: dict[str, str] = {}
        for rid in role_ids[:QUOTE_LOOKUPS]:
            role = guild.get_role(int(rid)) if guild is not None else None
            if role is not None:
                roles[rid] = role.name
        return tr.readable(text, members, channels, roles)

    def place(self, channel_id: int | str) -> tr.Place:
        """Where a channel ID belongs in Steward's terms (a thread → its parent plus the thread)."""
        ch = self.bot.get_channel(int(channel_id)) if self.bot is not None else None
        return tr.place_of(ch) if ch is not None else tr.Place(str(channel_id))

    def remember(self, message_id: str, real_channel_id: str) -> None:
        """Messages in threads are stored under the parent; keep where they really are for replies."""
        self._where[message_id] = real_channel_id
        if len(self._where) > _REMEMBER:
            self._where.popitem(last=False)

    def channel_of(self, message_id: str, channel_id: str) -> str:
        return self._where.get(str(message_id), str(channel_id))


def create(app: App, **options: Any) -> DiscordAdapter:
    """The Discord adapter for ``app`` (options: ``ready_timeout``, and discord.py bot options)."""
    return DiscordAdapter(app, **options)
