"""Building the discord.py bot: intents, sharding and where the API and gateway are."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.pacing import paced_trace
from bot.settings import Discord as DiscordSettings

if TYPE_CHECKING:
    from bot.adapters.discord.runtime import DiscordAdapter

log = logging.getLogger("steward.discord")

DEFAULT_API_BASE = Route.BASE
DEFAULT_GATEWAY = DiscordWebSocket.DEFAULT_GATEWAY

#: the privileged intents Steward asks for, and what stops working without each
PRIVILEGED = {
    "members": ("Server Members Intent",
                "welcomes for people who join, leave tracking, and the member list behind lurker and "
                "ambassador scans"),
    "message_content": ("Message Content Intent",
                        "message text: question detection, unanswered questions, moderation rules and the "
                        "text in reports (activity is still counted)"),
}


#: what the bot may do in a server; README → Connect to Discord explains each one
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, send_messages_in_threads=True, embed_links=True,
    read_message_history=True, add_reactions=True, manage_messages=True, moderate_members=True, manage_roles=True,
    create_private_threads=True,
)


def invite_url(application_id: int | str) -> str:
    """The URL that adds the bot to a server with the scopes and permissions Steward needs."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS,
                                   scopes=("bot", "applications.commands"))


def point_at(api_base_url: str | None, gateway_url: str | None) -> None:
    """Send REST calls and the gateway connection to a proxy or a test server.

    discord.py has no per-client option for either: both are class attributes it reads on every
    request (``Route.BASE``, also used for interaction callbacks and webhooks) and on every
    connect (``DiscordWebSocket.DEFAULT_GATEWAY``), so this is process-wide. Steward runs one
    Discord connection per process, and unset values restore Discord's own addresses.
    """
    Route.BASE = api_base_url.rstrip("/") if api_base_url else DEFAULT_API_BASE
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url) if gateway_url else DEFAULT_GATEWAY


def api_method(http_method: str, url: yarl.URL) -> str | None:
    """A request as the pacer names it; None for interaction callbacks and webhooks, which
    Discord's global limit does not cover (nor the gateway's websocket)."""
    path = url.path
    if url.scheme in ("ws", "wss") or "/interactions/" in path or "/webhooks/" in path:
        return None
    return f"{http_method} {path}"


def make_intents(enabled: set[str]) -> discord.Intents:
    """Everything unprivileged Steward needs, plus the privileged ones in ``enabled``."""
    intents = discord.Intents.default()
    intents.presences = False
    intents.typing = False
    intents.dm_typing = False
    intents.voice_states = False
    intents.members = "members" in enabled
    intents.message_content = "message_content" in enabled
    return intents


def allowed_by_portal(flags: Any) -> set[str]:
    """Privileged intents the application's flags say are switched on (or approved) in the portal."""
    out = set()
    if getattr(flags, "gateway_guild_members", False) or getattr(flags, "gateway_guild_members_limited", False):
        out.add("members")
    if getattr(flags, "gateway_message_content", False) or getattr(flags, "gateway_message_content_limited", False):
        out.add("message_content")
    return out


def missing_intents_message(missing: set[str], how: str) -> str:
    """What a person reading the log needs: what is off, why, and how to switch it on."""
    names = " and ".join(PRIVILEGED[m][0] for m in sorted(missing))
    lines = [f"Discord: the {names} {'is' if len(missing) == 1 else 'are'} not enabled for this bot ({how}). "
             "Steward is running without; these features are off:"]
    lines += [f"  - {PRIVILEGED[m][0]}: {PRIVILEGED[m][1]}" for m in sorted(missing)]
    lines.append("  Turn them on at https://discord.com/developers/applications → your app → Bot → "
                 "Privileged Gateway Intents, then restart Steward.")
    return "\n".join(lines)


class _Steward:
    """Mixed into the bot class: installs the cog, the button pattern and /steward on login."""

    steward_adapter: DiscordAdapter

    async def setup_hook(self) -> None:
        await self.steward_adapter.setup(self)

    async def steward_on_click(self, interaction: discord.Interaction, action: str, value: str, label: str) -> None:
        await self.steward_adapter.on_click(interaction, action, value, label)


class StewardBot(_Steward, commands.Bot):
    pass


class StewardShardedBot(_Steward, commands.AutoShardedBot):
    pass


def make_bot(adapter: DiscordAdapter, cfg: DiscordSettings, enabled: set[str], **options: Any) -> commands.Bot:
    """A bot with the given privileged intents; sharded when the config asks for it."""
    kwargs: dict[str, Any] = dict(
        command_prefix=commands.when_mentioned, help_command=None, intents=make_intents(enabled),
        # nothing pings unless a message names its members (the gateway sets this per message)
        allowed_mentions=discord.AllowedMentions.none(),
        # Steward reads members as they join; fetching every member at startup is not needed
        chunk_guilds_at_startup=False,
        # shorter waits are handled inside discord.py; longer ones return to the outbox
        max_ratelimit_timeout=30.0,
        # every request waits for its slot under the global limit (bot/adapters/pacing.py)
        # (and counts the 429s, which discord.py mostly waits out itself)
        http_trace=paced_trace("discord", lambda: adapter.app.delivery.pacer, api_method,
                               lambda: adapter.app.metrics.answered_429("discord")),
    )
    kwargs.update(options)
    sharded = cfg.auto_shard or cfg.shard_count is not None or cfg.shard_ids is not None
    if sharded:
        if cfg.shard_ids is not None and cfg.shard_count is None:
            raise ValueError("[discord] shard_ids needs shard_count (how many shards in total)")
        kwargs.update(shard_count=cfg.shard_count, shard_ids=cfg.shard_ids)
        bot: commands.Bot = StewardShardedBot(**kwargs)
    else:
        bot = StewardBot(**kwargs)
    bot.steward_adapter = adapter  # type: ignore[attr-defined]
    return bot
